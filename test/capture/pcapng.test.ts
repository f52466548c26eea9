import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { openCapture } from '../../src/capture/open.js';
import {
  concatBytes, ngBlock, ngEPB, ngIDB, ngPB, ngSHB, ngSPB, payload, readAll, tempDir, type ByteOrder,
} from '../helpers/capture-builders.js';

const tmp = tempDir('flowdemux-pcapng-');
afterAll(() => tmp.cleanup());

let fileNo = 0;
function write(bytes: Uint8Array): string {
  return tmp.write(`f${fileNo++}.pcapng`, bytes);
}

async function read(bytes: Uint8Array, sourceIndex = 0) {
  const path = write(bytes);
  const src = await openCapture(path, sourceIndex);
  const frames = await readAll(src);
  return { path, frames, info: src.info };
}

const NS = 1_000_000_000n;

describe('pcapng: sections, interfaces, packet blocks', () => {
  for (const order of ['LE', 'BE'] as ByteOrder[]) {
    const other: ByteOrder = order === 'LE' ? 'BE' : 'LE';
    it(`${order} first section, ${other} second: every field of every frame`, async () => {
      const blocks: Uint8Array[] = [];
      const offsets: number[] = [];
      let at = 0;
      const add = (b: Uint8Array) => {
        offsets.push(at);
        blocks.push(b);
        at += b.length;
        return offsets.length - 1;
      };
      add(ngSHB(order));
      add(ngIDB(order, { linkType: 1, snapLength: 65535, tsresol: 9 }));
      add(ngIDB(order, { linkType: 101, snapLength: 0, tsresol: 0x80 | 10, tsoffset: 1000n }));
      const e1 = add(ngEPB(order, { iface: 0, ts: 1_700_000_000n * NS + 123_456_789n, data: payload(60, 1), origLen: 1514 }));
      add(ngBlock(order, 0x00000bad, payload(10))); // unknown block type
      const e2 = add(ngEPB(order, { iface: 1, ts: 5000n * 1024n + 1n, data: payload(41, 2) }));
      add(ngBlock(order, 5, payload(24))); // interface statistics
      const s1 = add(ngSPB(order, { data: payload(40, 3), origLen: 1000 }));
      const p1 = add(ngPB(order, { iface: 1, ts: 7n * 1024n + 512n, data: payload(33, 4) }));
      const e3 = add(ngEPB(order, { iface: 0, ts: 0xffffffffn * NS + 999_999_999n, data: payload(1, 5) }));
      const e4 = add(ngEPB(order, { iface: 0, ts: (1n << 33n) * NS + 5n, data: payload(2, 6) }));
      add(ngSHB(other));
      add(ngIDB(other, { linkType: 113, snapLength: 262144, tsoffset: -10n }));
      const e5 = add(ngEPB(other, { iface: 0, ts: 2_000_000_500_000n, data: payload(70, 7) }));
      const bad = add(ngEPB(other, { iface: 1, ts: 1n, data: payload(5) })); // no interface 1 in this section
      const e6 = add(ngEPB(other, { iface: 0, ts: 2_000_001_000_001n, data: payload(0) }));

      const { path, frames, info } = await read(concatBytes(...blocks), 2);
      const expected = [
        { at: e1, linkType: 1, iface: 0, sec: 1_700_000_000, nsec: 123_456_789, data: payload(60, 1), orig: 1514 },
        { at: e2, linkType: 101, iface: 1, sec: 6000, nsec: 976_562, data: payload(41, 2), orig: 41 },
        { at: s1, linkType: 1, iface: 0, sec: 6000, nsec: 976_562, data: payload(40, 3), orig: 1000 },
        { at: p1, linkType: 101, iface: 1, sec: 1007, nsec: 500_000_000, data: payload(33, 4), orig: 33 },
        { at: e3, linkType: 1, iface: 0, sec: 0xffffffff, nsec: 999_999_999, data: payload(1, 5), orig: 1 },
        { at: e4, linkType: 1, iface: 0, sec: 2 ** 33, nsec: 5, data: payload(2, 6), orig: 2 },
        { at: e5, linkType: 113, iface: 0, sec: 1_999_990, nsec: 500_000_000, data: payload(70, 7), orig: 70 },
        { at: e6, linkType: 113, iface: 0, sec: 1_999_991, nsec: 1000, data: payload(0), orig: 0 },
      ];
      expect(frames).toHaveLength(expected.length);
      expected.forEach((x, i) => {
        const f = frames[i]!;
        expect(f.linkType).toBe(x.linkType);
        expect(f.interfaceId).toBe(x.iface);
        expect([f.tsSec, f.tsNsec]).toEqual([x.sec, x.nsec]);
        expect(f.capturedLength).toBe(x.data.length);
        expect(f.originalLength).toBe(x.orig);
        expect(f.bytes).toEqual(x.data);
        expect(f.sourceIndex).toBe(2);
        expect(f.number).toBe(i + 1);
        expect(f.fileOffset).toBe(offsets[x.at]);
      });
      expect(info).toEqual({
        path,
        format: 'pcapng',
        compressed: false,
        byteOrder: order,
        precision: 'ns',
        linkTypes: [1, 101, 113],
        snapLength: 65535,
        packets: expected.length,
        warnings: [
          `1 packet referred to an interface not described in the section and was skipped (first at offset ${offsets[bad]})`,
          `1 simple packet block carries no timestamp and was given the previous packet's time (first at offset ${offsets[s1]})`,
        ],
      });
    });
  }

  it('SPB: captured length is min(original, block data, snap length)', async () => {
    const { frames } = await read(concatBytes(
      ngSHB('LE'),
      ngIDB('LE', { linkType: 1, snapLength: 32 }),
      ngSPB('LE', { data: payload(40), origLen: 1000 }), // snap length cuts
      ngSPB('LE', { data: payload(12), origLen: 10 }), // original length cuts the padding
      ngSPB('LE', { data: payload(20), origLen: 900 }), // block data cuts
    ));
    expect(frames.map((f) => [f.capturedLength, f.originalLength])).toEqual([[32, 1000], [10, 10], [20, 900]]);
    expect(frames[0]!.bytes).toEqual(payload(32));
  });

  it('a section with no packets, and an empty file after the section header', async () => {
    const { frames, info } = await read(ngSHB('BE'));
    expect(frames).toEqual([]);
    expect(info).toMatchObject({ format: 'pcapng', byteOrder: 'BE', linkTypes: [], packets: 0, warnings: [], precision: null });
  });

  it('a packet before any interface description is skipped with a warning', async () => {
    const epb = ngEPB('LE', { iface: 0, ts: 1n, data: payload(4) });
    const { frames, info } = await read(concatBytes(ngSHB('LE'), epb, ngIDB('LE', { linkType: 1 }), epb));
    expect(frames).toHaveLength(1);
    expect(frames[0]!.number).toBe(1);
    expect(info.warnings).toEqual([
      '1 packet referred to an interface not described in the section and was skipped (first at offset 28)',
    ]);
  });

  it('many packets across reads, and a 3 MiB block, arrive whole', async () => {
    const parts: Uint8Array[] = [ngSHB('BE'), ngIDB('BE', { linkType: 1, tsresol: 6 })];
    const datas: Uint8Array[] = [];
    for (let i = 0; i < 3000; i++) {
      const d = i === 1500 ? payload(3 << 20, 9) : payload((i * 7919) % 1515, i);
      datas.push(d);
      parts.push(ngEPB('BE', { iface: 0, ts: BigInt(i) * 1_000_001n, data: d }));
    }
    const { frames, info } = await read(concatBytes(...parts));
    expect(info.warnings).toEqual([]);
    expect(frames).toHaveLength(3000);
    const wrong: number[] = [];
    frames.forEach((f, i) => {
      const ok = f.number === i + 1 && f.tsSec === i && f.tsNsec === i * 1000 &&
        Buffer.from(f.bytes).equals(Buffer.from(datas[i]!));
      if (!ok) wrong.push(i);
    });
    expect(wrong).toEqual([]);
  });
});

describe('pcapng: timestamps are exact for every resolution', () => {
  // if_tsresol values: decimal 10^-n and binary 2^-n (high bit), including the BigInt ones.
  const resolutions = [0, 1, 3, 4, 6, 9, 10, 12, 0x80, 0x80 | 1, 0x80 | 10, 0x80 | 20, 0x80 | 23, 0x80 | 24, 0x80 | 31, 0x80 | 32, 0x80 | 40];
  for (const tsresol of resolutions) {
    it(`if_tsresol 0x${tsresol.toString(16)} against a BigInt reference`, async () => {
      const perSec = tsresol & 0x80 ? 1n << BigInt(tsresol & 0x7f) : 10n ** BigInt(tsresol);
      // Keep seconds below 2^53 so the reference is an exact number too.
      const cap = (1n << 53n) * perSec;
      const edges = [0n, 1n, perSec - 1n, perSec, perSec + 1n, 0xffffffffn, 1n << 32n, (1n << 32n) + 1n, (1n << 64n) - 1n];
      const random = fc.sample(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { numRuns: 300, seed: 42 + tsresol });
      const stamps = [...edges, ...random].map((t) => (t >= cap ? t % cap : t));
      const offset = -3n;
      const parts = [ngSHB('LE'), ngIDB('LE', { linkType: 1, tsresol, tsoffset: offset })];
      for (const ts of stamps) parts.push(ngEPB('LE', { iface: 0, ts, data: payload(1) }));
      const { frames } = await read(concatBytes(...parts));
      const got = frames.map((f) => `${f.tsSec}.${f.tsNsec}`);
      const want = stamps.map((ts) => `${Number(ts / perSec + offset)}.${Number(((ts % perSec) * NS) / perSec)}`);
      expect(got).toEqual(want);
    });
  }

  it('precision names the finest resolution', async () => {
    const { info } = await read(concatBytes(
      ngSHB('LE'),
      ngIDB('LE', { linkType: 1, tsresol: 0x80 | 10 }),
      ngIDB('LE', { linkType: 1, tsresol: 4 }),
    ));
    expect(info.precision).toBe('1e-4');
  });
});

describe('pcapng: damage', () => {
  const head = concatBytes(ngSHB('LE'), ngIDB('LE', { linkType: 1 }));
  const good = concatBytes(
    ngEPB('LE', { iface: 0, ts: 1n, data: payload(10) }),
    ngEPB('LE', { iface: 0, ts: 2n, data: payload(20) }),
  );
  const badAt = head.length + good.length;

  function withLength(block: Uint8Array, length: number, trailing = length): Uint8Array {
    const b = Uint8Array.from(block);
    const dv = new DataView(b.buffer);
    dv.setUint32(4, length, true);
    dv.setUint32(b.length - 4, trailing, true);
    return b;
  }
  const third = ngEPB('LE', { iface: 0, ts: 3n, data: payload(30) });
  const fourth = ngEPB('LE', { iface: 0, ts: 4n, data: payload(4) });

  it('a block length that is not a multiple of 4 stops reading; frames before are kept', async () => {
    const { frames, info } = await read(concatBytes(head, good, withLength(third, 70), fourth));
    expect(frames.map((f) => f.capturedLength)).toEqual([10, 20]);
    expect(info.warnings).toEqual([`block at offset ${badAt} (type 0x6) has a bad length 70; stopped reading there`]);
  });

  it('a block length under 12', async () => {
    const { frames, info } = await read(concatBytes(head, good, withLength(third, 8), fourth));
    expect(frames).toHaveLength(2);
    expect(info.warnings).toEqual([`block at offset ${badAt} (type 0x6) has a bad length 8; stopped reading there`]);
  });

  it('a huge block length is refused before buffering', async () => {
    const { frames, info } = await read(concatBytes(head, good, withLength(third, 0x7ffffff0), fourth));
    expect(frames).toHaveLength(2);
    expect(info.warnings).toEqual([`block at offset ${badAt} (type 0x6) has a bad length ${0x7ffffff0}; stopped reading there`]);
  });

  it('a trailing length that differs from the leading one', async () => {
    const { frames, info } = await read(concatBytes(head, good, withLength(third, third.length, third.length + 4), fourth));
    expect(frames).toHaveLength(2);
    expect(info.warnings).toEqual([
      `block at offset ${badAt} (type 0x6) has a trailing length ${third.length + 4} that differs from its length ${third.length}; stopped reading there`,
    ]);
  });

  it('a file cut inside the last block', async () => {
    const { frames, info } = await read(concatBytes(head, good, third.subarray(0, 40)));
    expect(frames).toHaveLength(2);
    expect(info.warnings).toEqual([`last block at offset ${badAt} is cut short: block length ${third.length}, 40 bytes present, ${third.length - 40} missing`]);
  });

  it('a file cut inside a block header', async () => {
    const { frames, info } = await read(concatBytes(head, good, third.subarray(0, 5)));
    expect(frames).toHaveLength(2);
    expect(info.warnings).toEqual([`file ends inside a block header at offset ${badAt}: 5 of 12 bytes present, 7 missing`]);
  });

  it('a packet claiming more data than its block holds is skipped, reading goes on', async () => {
    const liar = ngEPB('LE', { iface: 0, ts: 3n, data: payload(8), capLen: 500 });
    const { frames, info } = await read(concatBytes(head, good, liar, fourth));
    expect(frames.map((f) => [f.capturedLength, f.number])).toEqual([[10, 1], [20, 2], [4, 3]]);
    expect(info.warnings).toEqual([
      `1 packet block claimed more packet data than the block holds and was skipped (first at offset ${badAt})`,
    ]);
  });

  it('caplen > original length and > snap length are counted', async () => {
    const { frames, info } = await read(concatBytes(
      ngSHB('BE'),
      ngIDB('BE', { linkType: 1, snapLength: 16 }),
      ngEPB('BE', { iface: 0, ts: 1n, data: payload(20), origLen: 18 }),
      ngEPB('BE', { iface: 0, ts: 1n, data: payload(17), origLen: 100 }),
    ));
    expect(frames).toHaveLength(2);
    expect(info.warnings).toEqual([
      '1 packet had a captured length greater than the original length (first at offset 48)',
      "2 packets had a captured length greater than the interface's snap length (first at offset 48)",
    ]);
  });

  it('interface descriptions: options running past the block, and a block too short', async () => {
    // if_tsresol 9, then an option claiming 200 bytes: the resolution before it still counts.
    const opts = concatBytes(Uint8Array.of(9, 0, 1, 0, 9, 0, 0, 0), Uint8Array.of(2, 0, 200, 0));
    const idb0 = ngBlock('LE', 1, concatBytes(Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0), opts));
    const idb1 = ngBlock('LE', 1, Uint8Array.of(1, 0, 0, 0)); // 16 bytes: no snap length
    const { frames, info } = await read(concatBytes(
      ngSHB('LE'), idb0, idb1,
      ngEPB('LE', { iface: 0, ts: 1_500_000_000n, data: payload(3) }),
      ngEPB('LE', { iface: 1, ts: 2_000_000n, data: payload(4) }),
    ));
    expect(frames.map((f) => [f.interfaceId, f.linkType, f.tsSec, f.tsNsec])).toEqual([[0, 1, 1, 500_000_000], [1, 65535, 2, 0]]);
    expect(info.linkTypes).toEqual([1, 65535]);
    expect(info.warnings).toEqual([
      '1 interface description had malformed options, read up to the damage (first at offset 28)',
      `1 interface description was too short to hold a link type and got 65535 (first at offset ${28 + idb0.length})`,
    ]);
  });

  it('a later section header with a bad byte-order magic stops reading', async () => {
    const shb = Uint8Array.from(ngSHB('LE'));
    shb.set([1, 2, 3, 4], 8);
    const { frames, info } = await read(concatBytes(head, good, shb, fourth));
    expect(frames).toHaveLength(2);
    expect(info.warnings).toEqual([
      `section header at offset ${badAt} has an unknown byte-order magic (01020304); stopped reading there`,
    ]);
  });
});
