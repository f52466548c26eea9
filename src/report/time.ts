/**
 * Capture time as text, from integer seconds + nanoseconds (no float rounding anywhere).
 */

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** `2026-11-25T07:43:22.900203Z` with `digits` fraction digits (6 for µs captures, 9 for ns). */
export function isoTime(sec: number, nsec: number, digits = 6): string {
  const d = new Date(sec * 1000);
  if (Number.isNaN(d.getTime())) return `${sec}.${pad(nsec, 9).slice(0, digits)}`;
  const base = d.toISOString().slice(0, 19);
  return digits > 0 ? `${base}.${pad(nsec, 9).slice(0, digits)}Z` : `${base}Z`;
}

/** `1764056602.900203000` style epoch text with `digits` fraction digits. */
export function epochText(sec: number, nsec: number, digits = 9): string {
  return digits > 0 ? `${sec}.${pad(nsec, 9).slice(0, digits)}` : String(sec);
}

/** (a − b) in seconds as a number, computed from integer parts (exact to the nanosecond for spans under ~100 days). */
export function secondsBetween(aSec: number, aNsec: number, bSec: number, bNsec: number): number {
  return aSec - bSec + (aNsec - bNsec) / 1e9;
}

/** Relative time as fixed text with `digits` fraction digits, exact from integer parts. */
export function relativeText(sec: number, nsec: number, baseSec: number, baseNsec: number, digits = 6): string {
  let s = sec - baseSec;
  let ns = nsec - baseNsec;
  let sign = '';
  if (s < 0 || (s === 0 && ns < 0)) {
    sign = '-';
    s = -s;
    ns = -ns;
  }
  if (ns < 0) {
    s -= 1;
    ns += 1e9;
  }
  return `${sign}${s}.${pad(ns, 9).slice(0, digits)}`;
}
