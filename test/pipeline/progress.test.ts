/**
 * The progress line (src/pipeline/progress.ts) driven by a clock the test moves: what it says
 * (percent, packets, rate, time left, the phase after reading), when it draws, and that it is
 * cleared and its Ctrl-C handler is installed only while the line shows.
 */
import { describe, expect, it } from 'vitest';
import { Progress, clockText, rateText } from '../../src/pipeline/progress.js';

function setup(eager = false) {
  let now = 10_000;
  const writes: string[] = [];
  const progress = new Progress({ enabled: true, eager, stream: { write: (t: string) => writes.push(t) }, clock: () => now });
  return { progress, writes, at: (ms: number) => (now = 10_000 + ms) };
}

describe('Progress', () => {
  it('percent, packets, rate and time left when the size is known', () => {
    const { progress, writes, at } = setup();
    at(4100);
    progress.update(1_234_567, { size: 1000, bytesRead: 410 });
    // 41% in 4.1 s: 5.9 s left at that pace.
    expect(writes).toEqual(['\r\x1b[Kreading: 41% 1,234,567 packets, 301.1 K/s, 0:06 left']);
    progress.done();
  });

  it('packets and rate only, when the size is not known (a pipe)', () => {
    const { progress, writes, at } = setup();
    at(2000);
    progress.update(3000);
    expect(writes).toEqual(['\r\x1b[Kreading: 3,000 packets, 1,500/s']);
    progress.done();
  });

  it('quiet for the first half second unless eager; at most four draws a second', () => {
    const { progress, writes, at } = setup();
    at(499);
    progress.update(10, { size: 100, bytesRead: 1 });
    expect(writes).toEqual([]);
    at(500);
    progress.update(20, { size: 100, bytesRead: 2 });
    at(749);
    progress.update(30, { size: 100, bytesRead: 3 });
    expect(writes).toHaveLength(1);
    at(750);
    progress.update(40, { size: 100, bytesRead: 4 });
    expect(writes).toHaveLength(2);
    expect(writes[1]).toMatch(/^\r\x1b\[Kreading: 4% 40 packets, /);
    progress.done();

    const eager = setup(true);
    eager.progress.update(60, { size: 100, bytesRead: 100 });
    expect(eager.writes).toEqual(['\r\x1b[Kreading: 100% 60 packets, 60.0 K/s, 0:00 left']);
    eager.progress.done();
  });

  it('names the phase after reading, and clears the line at the end', () => {
    const { progress, writes, at } = setup();
    at(1000);
    progress.update(5);
    progress.phase('writing report');
    progress.done();
    progress.done();
    expect(writes.slice(1)).toEqual(['\r\x1b[Kwriting report...', '\r\x1b[K']);
  });

  it('a read too short for a line has no phase line and nothing to clear', () => {
    const { progress, writes } = setup();
    progress.update(5);
    progress.phase('writing report');
    progress.done();
    expect(writes).toEqual([]);
  });

  it('holds a SIGINT handler only while the line shows', () => {
    const before = process.listenerCount('SIGINT');
    const { progress, at } = setup();
    at(1000);
    progress.update(5);
    expect(process.listenerCount('SIGINT')).toBe(before + 1);
    at(2000);
    progress.update(6);
    expect(process.listenerCount('SIGINT')).toBe(before + 1);
    progress.done();
    expect(process.listenerCount('SIGINT')).toBe(before);
  });

  it('disabled: nothing at all', () => {
    const writes: string[] = [];
    const p = new Progress({ enabled: false, eager: true, stream: { write: (t: string) => writes.push(t) }, clock: () => 0 });
    p.update(1, { size: 1, bytesRead: 1 });
    p.phase('writing report');
    p.done();
    expect(writes).toEqual([]);
  });

  it('formats rates and times as tools do', () => {
    expect(rateText(950)).toBe('950/s');
    expect(rateText(12_345)).toBe('12.3 K/s');
    expect(rateText(1_234_567)).toBe('1.2 M/s');
    expect(clockText(7.2)).toBe('0:08');
    expect(clockText(3725)).toBe('1:02:05');
  });
});
