/** ISO text with 6 or 9 fraction digits (the reports' times) to integer ns since the epoch (BigInt: exact). */
export function isoNanos(t: string): bigint {
  const m = /^(.*T\d\d:\d\d:\d\d)\.(\d+)Z$/.exec(t)!;
  return BigInt(Date.parse(`${m[1]}Z`)) * 1_000_000n + BigInt(m[2]!.padEnd(9, '0'));
}

/** Seconds as the JSON writes the TCP analysis's times (whole ns / 1e9) to whole ns, by their 9-digit text. */
export function secondsNanos(seconds: number): number {
  return Number(seconds.toFixed(9).replace('.', ''));
}
