/** ISO text with 6 or 9 fraction digits (the reports' times) to integer ns since the epoch (BigInt: exact). */
export function isoNanos(t: string): bigint {
  const m = /^(.*T\d\d:\d\d:\d\d)\.(\d+)Z$/.exec(t)!;
  return BigInt(Date.parse(`${m[1]}Z`)) * 1_000_000n + BigInt(m[2]!.padEnd(9, '0'));
}
