/**
 * Capture time as text, from integer seconds + nanoseconds (no float rounding anywhere).
 */

const pad = (n: number, width: number) => String(n).padStart(width, '0');

// The date-and-time part of the last two seconds formatted: packets and flows come in time
// order and a flow's start and end are close, so most calls skip Date's formatting (a third of
// the JSON report's time without it).
const cachedSec = [NaN, NaN];
const cachedBase = ['', ''];
let nextSlot = 0;

function secondText(sec: number): string | null {
  if (sec === cachedSec[0]) return cachedBase[0]!;
  if (sec === cachedSec[1]) return cachedBase[1]!;
  const d = new Date(sec * 1000);
  if (Number.isNaN(d.getTime())) return null;
  const text = d.toISOString().slice(0, 19);
  cachedSec[nextSlot] = sec;
  cachedBase[nextSlot] = text;
  nextSlot ^= 1;
  return text;
}

/** `2026-11-25T07:43:22.900203Z` with `digits` fraction digits (6 for µs captures, 9 for ns). */
export function isoTime(sec: number, nsec: number, digits = 6): string {
  const base = secondText(sec);
  if (base === null) return `${sec}.${pad(nsec, 9).slice(0, digits)}`;
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
