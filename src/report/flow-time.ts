/**
 * Times and counts of a flow as every report prints them: fraction digits, durations (exact,
 * from integer units, as Zeek and the JSON write them), missed bytes.
 */
import type { DirectionCounters, Flow, Timestamp } from '../core/flow.js';

/** Fraction digits of printed times: 6 (µs captures) or 9 (ns captures). */
export interface TimeOptions {
  digits?: number;
}

export function digitsOf(opts: TimeOptions | undefined): number {
  return clampDigits(opts?.digits ?? 6);
}

export function clampDigits(d: number): number {
  return d >= 9 ? 9 : d <= 0 ? 0 : Math.floor(d);
}

/**
 * end − start as an exact count of 10^-digits units: both times are truncated to `digits` first,
 * like the printed start and end, so the three always agree.
 */
export function durationUnits(start: Timestamp, end: Timestamp, digits: number): number {
  const q = POW10[9 - digits] ?? 10 ** (9 - digits);
  return (end.sec - start.sec) * (POW10[digits] ?? 10 ** digits) + (Math.floor(end.nsec / q) - Math.floor(start.nsec / q));
}

/** Powers of ten up to 10^15 (a table: `10 ** k` is a call to pow). */
export const POW10 = Array.from({ length: 16 }, (_, i) => 10 ** i);

/** Duration in seconds, rounded to the printed precision (a JSON number). */
export function durationSeconds(flow: Flow, digits = 6): number {
  return durationUnits(flow.start, flow.end, digits) / 10 ** digits;
}

/** Duration as fixed text with `digits` fraction digits, from integers (no float noise). */
export function durationText(flow: Flow, digits: number): string {
  return spanText(flow.start, flow.end, digits);
}

/** end − start as fixed text with `digits` fraction digits (durationText for any two times). */
export function spanText(start: Timestamp, end: Timestamp, digits: number): string {
  const units = durationUnits(start, end, digits);
  if (digits === 0) return String(units);
  const scale = 10 ** digits;
  const whole = Math.floor(units / scale);
  return `${whole}.${String(units - whole * scale).padStart(digits, '0')}`;
}

/** `missedBytes`, 0 for counters made before it existed (a caller's own Flow records). */
export function missedOf(c: DirectionCounters): number {
  return c.missedBytes ?? 0;
}

/**
 * A time of the TCP analysis (seconds, made as a whole count of nanoseconds / 1e9) back to its
 * whole nanoseconds (ECS and Parquet write them so).
 */
export function analysisNanos(seconds: number): number {
  return Math.round(seconds * 1e9);
}
