/**
 * Capture time as text, from integer seconds + nanoseconds (no float rounding anywhere).
 */
import type { CaptureInfo } from '../core/frame.js';

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

/**
 * "00" to "99" as little-endian 16-bit words (the tens digit first in memory): numbers are
 * written two digits per store.
 */
export const DIGIT_PAIRS = Uint16Array.from({ length: 100 }, (_, i) => (0x30 + Math.floor(i / 10)) | ((0x30 + (i % 10)) << 8));

/** First second of the year 10000: Date's ISO text turns to six-digit years there. */
const YEAR_10000 = 253402300800;
// Fraction divisors: nsec / FRACTION_UNIT[digits] keeps `digits` fraction digits (truncated).
const FRACTION_UNIT = [1e9, 1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 1e2, 10, 1];

// `YYYY-MM-DDTHH:MM:SS.` of the last two seconds written, as five little-endian 32-bit words:
// a flow's start and end are often in the same or a recent second, as with secondText.
const wordsSec = [NaN, NaN];
const wordsCache = new Uint32Array(10);
let wordsNext = 0;
const wordsScratch = new DataView(new ArrayBuffer(20));

/**
 * `isoTime(sec, nsec, digits)` as ASCII bytes at `pos` of `view`; returns the end (at most 40
 * bytes). Dates from 1970 to 9999 are computed from integers (days to civil date, Hinnant's
 * algorithm: the proleptic Gregorian calendar of Date, without leap seconds), so the JSON
 * reports make no string per time; anything else takes isoTime's text. The view must have the
 * room: a store past its end throws.
 */
export function writeIsoTime(view: DataView, pos: number, sec: number, nsec: number, digits: number): number {
  let slot = sec === wordsSec[0] ? 0 : sec === wordsSec[1] ? 1 : -1;
  if (slot < 0) {
    if (!(sec >= 0 && sec < YEAR_10000 && Math.floor(sec) === sec)) return writeIsoTimeText(view, pos, sec, nsec, digits);
    slot = cacheSecond(sec);
  }
  if (!(nsec >= 0 && nsec < 1e9 && Math.floor(nsec) === nsec && digits >= 0 && digits <= 9 && Math.floor(digits) === digits)) {
    return writeIsoTimeText(view, pos, sec, nsec, digits);
  }
  const w = slot * 5;
  view.setUint32(pos, wordsCache[w]!, true);
  view.setUint32(pos + 4, wordsCache[w + 1]!, true);
  view.setUint32(pos + 8, wordsCache[w + 2]!, true);
  view.setUint32(pos + 12, wordsCache[w + 3]!, true);
  view.setUint32(pos + 16, wordsCache[w + 4]!, true); // ends with the '.'
  if (digits === 0) {
    view.setUint8(pos + 19, 0x5a); // Z over the '.'
    return pos + 20;
  }
  let frac = Math.floor(nsec / FRACTION_UNIT[digits]!);
  let p = pos + 20 + digits; // the digits are written from the last one back
  view.setUint8(p, 0x5a); // Z
  while (p - 2 >= pos + 20) {
    const q = Math.floor(frac / 100);
    p -= 2;
    view.setUint16(p, DIGIT_PAIRS[frac - q * 100]!, true);
    frac = q;
  }
  if (p > pos + 20) view.setUint8(pos + 20, 0x30 + frac);
  return pos + 21 + digits;
}

/** Computes `YYYY-MM-DDTHH:MM:SS.` of a second in 1970..9999 into a cache slot; returns the slot. */
function cacheSecond(sec: number): number {
  const days = Math.floor(sec / 86400);
  const sod = sec - days * 86400;
  const z = days + 719468; // days since 0000-03-01
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const b = wordsScratch;
  b.setUint16(0, DIGIT_PAIRS[Math.floor(year / 100)]!, true);
  b.setUint16(2, DIGIT_PAIRS[year % 100]!, true);
  b.setUint8(4, 0x2d); // -
  b.setUint16(5, DIGIT_PAIRS[month]!, true);
  b.setUint8(7, 0x2d);
  b.setUint16(8, DIGIT_PAIRS[day]!, true);
  b.setUint8(10, 0x54); // T
  b.setUint16(11, DIGIT_PAIRS[Math.floor(sod / 3600)]!, true);
  b.setUint8(13, 0x3a); // :
  b.setUint16(14, DIGIT_PAIRS[Math.floor(sod / 60) % 60]!, true);
  b.setUint8(16, 0x3a);
  b.setUint16(17, DIGIT_PAIRS[sod % 60]!, true);
  b.setUint8(19, 0x2e); // .
  const slot = wordsNext;
  wordsNext ^= 1;
  wordsSec[slot] = sec;
  for (let i = 0; i < 5; i++) wordsCache[slot * 5 + i] = b.getUint32(i * 4, true);
  return slot;
}

/** isoTime's text, ASCII (digits, signs, letters), for the times the fast path leaves out. */
function writeIsoTimeText(view: DataView, pos: number, sec: number, nsec: number, digits: number): number {
  const s = isoTime(sec, nsec, digits);
  for (let i = 0; i < s.length; i++) view.setUint8(pos + i, s.charCodeAt(i));
  return pos + s.length;
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

/** Fraction digits for times: nanoseconds when any capture has them. */
export function timeDigits(captures: readonly CaptureInfo[]): number {
  return captures.some((c) => c.precision !== null && c.precision !== 'us' && c.precision !== 'ms') ? 9 : 6;
}
