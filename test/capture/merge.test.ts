import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { openCapture } from '../../src/capture/open.js';
import { mergeSources } from '../../src/capture/merge.js';
import type { CaptureInfo, Frame, FrameSource } from '../../src/core/frame.js';
import {
  buildPcap, concatBytes, gzip, keepFrame, ngEPB, ngIDB, ngSHB, payload, tempDir, type KeptFrame, type PcapRecordSpec,
} from '../helpers/capture-builders.js';

const tmp = tempDir('flowdemux-merge-');
afterAll(() => tmp.cleanup());

async function collect(batches: AsyncIterable<Frame[]>): Promise<KeptFrame[]> {
  const out: KeptFrame[] = [];
  for await (const b of batches) for (const f of b) out.push(keepFrame(f));
  return out;
}

describe('mergeSources over real files', () => {
  it('three captures (pcap, gzip pcap, pcapng) with interleaved timestamps and ties', async () => {
    // ts in ms: source 0 at 0,3,6,..., source 1 at 1,4,7,..., source 2 at 2,5,8,...; plus a tie at 30.
    const rec = (ms: number, seed: number): PcapRecordSpec => ({ tsSec: Math.floor(ms / 1000), tsFrac: (ms % 1000) * 1000, data: payload(20, seed) });
    const a = [0, 3, 6, 9, 30].map((ms) => rec(ms, 0));
    const b = [1, 4, 7, 10, 30, 31].map((ms) => rec(ms, 1));
    const cMs = [2, 5, 8, 30, 2000];
    const pa = tmp.write('a.pcap', buildPcap({}, a));
    const pb = tmp.write('b.pcap.gz', gzip(buildPcap({ byteOrder: 'BE', precision: 'ns' }, b.map((r) => ({ ...r, tsFrac: r.tsFrac * 1000 })))));
    const pc = tmp.write('c.pcapng', concatBytes(
      ngSHB('LE'),
      ngIDB('LE', { linkType: 101 }),
      ...cMs.map((ms) => ngEPB('LE', { iface: 0, ts: BigInt(ms) * 1000n, data: payload(20, 2) })),
    ));
    // Opened in the order c, a, b but with sourceIndex 2, 0, 1: ties go by sourceIndex.
    const sources = [await openCapture(pc, 2), await openCapture(pa, 0), await openCapture(pb, 1)];
    const merged = await collect(mergeSources(sources));
    const got = merged.map((f) => `${f.sourceIndex}#${f.number}@${f.tsSec * 1000 + f.tsNsec / 1e6}`);
    expect(got).toEqual([
      '0#1@0', '1#1@1', '2#1@2', '0#2@3', '1#2@4', '2#2@5', '0#3@6', '1#3@7', '2#3@8', '0#4@9', '1#4@10',
      '0#5@30', '1#5@30', '2#4@30', '1#6@31', '2#5@2000',
    ]);
    expect(merged.map((f) => f.bytes[0])).toEqual(merged.map((f) => f.sourceIndex));
    expect(merged.find((f) => f.sourceIndex === 2)!.linkType).toBe(101);
  });

  it('captures larger than one read: every frame arrives valid and in order', async () => {
    // Three ~1.6 MB files, timestamps interleaved frame by frame, so every merged batch mixes
    // sources and each source is refilled several times.
    const n = 6000;
    const paths: string[] = [];
    for (let s = 0; s < 3; s++) {
      const recs: PcapRecordSpec[] = [];
      for (let i = 0; i < n; i++) recs.push({ tsSec: i, tsFrac: s * 10, data: payload(250, s * 7 + i) });
      paths.push(tmp.write(`big${s}.pcap`, buildPcap({}, recs)));
    }
    const sources = await Promise.all(paths.map((p, i) => openCapture(p, i)));
    const merged = await collect(mergeSources(sources));
    expect(merged).toHaveLength(3 * n);
    const wrong: number[] = [];
    merged.forEach((f, k) => {
      const i = Math.floor(k / 3);
      const s = k % 3;
      const ok = f.sourceIndex === s && f.number === i + 1 && f.tsSec === i && f.tsNsec === s * 10_000 &&
        Buffer.from(f.bytes).equals(Buffer.from(payload(250, s * 7 + i)));
      if (!ok) wrong.push(k);
    });
    expect(wrong).toEqual([]);
  });
});

/** An in-memory FrameSource that marks a batch stale as soon as the next one is asked for. */
class MemorySource implements FrameSource {
  readonly info: CaptureInfo;
  closed = false;
  constructor(
    private readonly list: Frame[][],
    private readonly stale: Set<Frame>,
  ) {
    this.info = { path: 'mem', format: 'pcap', compressed: false, byteOrder: 'LE', precision: 'us', linkTypes: [1], snapLength: 0, packets: 0, warnings: [] };
  }
  async *batches(): AsyncGenerator<Frame[]> {
    try {
      for (const b of this.list) {
        yield b;
        for (const f of b) this.stale.add(f);
      }
    } finally {
      this.closed = true;
    }
  }
}

function frame(sourceIndex: number, number: number, tsSec: number, tsNsec: number): Frame {
  return {
    linkType: 1, tsSec, tsNsec, capturedLength: 0, originalLength: 0, bytes: new Uint8Array(0),
    offset: 0, interfaceId: 0, sourceIndex, number, fileOffset: 0,
  };
}

/** Frames of one source: time steps of 0..2 s (0 makes ties), cut into batches (some empty). */
const sourceArb = fc.record({
  steps: fc.array(fc.record({ dSec: fc.integer({ min: 0, max: 2 }), nsec: fc.integer({ min: 0, max: 2 }) }), { maxLength: 40 }),
  cuts: fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 8 }),
});

function buildSource(sourceIndex: number, spec: { steps: { dSec: number; nsec: number }[]; cuts: number[] }, monotonic: boolean): Frame[][] {
  const frames: Frame[] = [];
  let sec = 0;
  spec.steps.forEach((s, i) => {
    sec = monotonic ? sec + s.dSec : s.dSec * 3;
    frames.push(frame(sourceIndex, i + 1, sec, monotonic ? 0 : s.nsec));
  });
  const cuts = [...new Set(spec.cuts.map((c) => Math.min(c, frames.length)))].sort((x, y) => x - y);
  const batches: Frame[][] = [];
  let from = 0;
  for (const c of [...cuts, frames.length]) {
    batches.push(frames.slice(from, c));
    from = c;
  }
  return batches;
}

describe('mergeSources: order and frame validity (property)', () => {
  it('monotonic sources: a stable sort by (time, sourceIndex), and no frame is delivered stale', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(sourceArb, { minLength: 2, maxLength: 4 }), async (specs) => {
        const stale = new Set<Frame>();
        const lists = specs.map((s, i) => buildSource(i, s, true));
        const sources = lists.map((l) => new MemorySource(l, stale));
        const order: string[] = [];
        for await (const batch of mergeSources(sources)) {
          for (const f of batch) {
            expect(stale.has(f)).toBe(false);
            order.push(`${f.sourceIndex}:${f.number}`);
          }
        }
        const expected = lists
          .flat(2)
          .map((f, k) => ({ f, k }))
          .sort((x, y) => x.f.tsSec - y.f.tsSec || x.f.tsNsec - y.f.tsNsec || x.f.sourceIndex - y.f.sourceIndex || x.k - y.k)
          .map(({ f }) => `${f.sourceIndex}:${f.number}`);
        expect(order).toEqual(expected);
        expect(sources.every((s) => s.closed)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('timestamps going backwards inside a capture: its file order is kept', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(sourceArb, { minLength: 2, maxLength: 3 }), async (specs) => {
        const stale = new Set<Frame>();
        const lists = specs.map((s, i) => buildSource(i, s, false));
        const seen: Frame[] = [];
        for await (const batch of mergeSources(lists.map((l) => new MemorySource(l, stale)))) {
          for (const f of batch) {
            expect(stale.has(f)).toBe(false);
            seen.push(f);
          }
        }
        expect(seen).toHaveLength(lists.flat(2).length);
        for (let s = 0; s < lists.length; s++) {
          expect(seen.filter((f) => f.sourceIndex === s).map((f) => f.number)).toEqual(lists[s]!.flat().map((f) => f.number));
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('mergeSources: plumbing', () => {
  it('a single source passes its batch arrays straight through', async () => {
    const stale = new Set<Frame>();
    const list = [[frame(0, 1, 5, 0), frame(0, 2, 4, 0)], [frame(0, 3, 1, 0)]];
    const got: Frame[][] = [];
    for await (const b of mergeSources([new MemorySource(list, stale)])) got.push(b);
    expect(got).toHaveLength(2);
    expect(got[0]).toBe(list[0]);
    expect(got[1]).toBe(list[1]);
  });

  it('no sources: nothing', async () => {
    expect(await collect(mergeSources([]))).toEqual([]);
  });

  it('non-overlapping captures (rotation) go out as whole batches', async () => {
    const stale = new Set<Frame>();
    const first = [[frame(0, 1, 1, 0), frame(0, 2, 2, 0)], [frame(0, 3, 3, 0)]];
    const second = [[frame(1, 1, 10, 0), frame(1, 2, 11, 0)]];
    const got: Frame[][] = [];
    for await (const b of mergeSources([new MemorySource(first, stale), new MemorySource(second, stale)])) got.push(b);
    expect(got).toHaveLength(3);
    expect(got[0]).toBe(first[0]);
    expect(got[1]).toBe(first[1]);
    expect(got[2]).toBe(second[0]);
  });

  it('stopping early closes every source', async () => {
    const stale = new Set<Frame>();
    const sources = [0, 1, 2].map((s) => new MemorySource([[frame(s, 1, s, 0)], [frame(s, 2, 10 + s, 0)]], stale));
    for await (const b of mergeSources(sources)) {
      expect(b.length).toBeGreaterThan(0);
      break;
    }
    expect(sources.map((s) => s.closed)).toEqual([true, true, true]);
  });

  it('stopping early closes real files too (their batches() ends)', async () => {
    const recs = [{ tsSec: 1, tsFrac: 0, data: payload(10) }, { tsSec: 2, tsFrac: 0, data: payload(10) }];
    const p1 = tmp.write('s1.pcap', buildPcap({}, recs));
    const p2 = tmp.write('s2.pcap', buildPcap({}, recs));
    // Which of our two files this process holds open (Linux: /proc/self/fd).
    const openFiles = () =>
      existsSync('/proc/self/fd')
        ? readdirSync('/proc/self/fd').filter((fd) => {
            try {
              const target = readlinkSync(`/proc/self/fd/${fd}`);
              return target === p1 || target === p2;
            } catch {
              return false;
            }
          }).length
        : -1;
    const sources = [await openCapture(p1, 0), await openCapture(p2, 1)];
    if (openFiles() !== -1) expect(openFiles()).toBe(2);
    for await (const b of mergeSources(sources)) {
      expect(b[0]!.number).toBe(1);
      break;
    }
    if (openFiles() !== -1) expect(openFiles()).toBe(0);
  });
});
