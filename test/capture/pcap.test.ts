import { afterAll, describe, expect, it, vi } from 'vitest';
import { createRequire } from 'node:module';
import { openCapture } from '../../src/capture/open.js';
import { CaptureError } from '../../src/core/frame.js';
import { pcapRecordLimit } from '../../src/capture/pcap.js';
import { CHUNK_SIZE, FileInput } from '../../src/capture/reader.js';
import {
  buildPcap, concatBytes, payload, pcapHeader, pcapRecord, readAll, tempDir,
  type ByteOrder, type PcapRecordSpec,
} from '../helpers/capture-builders.js';

const tmp = tempDir('flowdemux-pcap-');
afterAll(() => tmp.cleanup());

let fileNo = 0;
function write(bytes: Uint8Array): string {
  return tmp.write(`f${fileNo++}.pcap`, bytes);
}

async function warningsOf(path: string) {
  const src = await openCapture(path, 0);
  const frames = await readAll(src);
  return { frames, info: src.info };
}

describe('classic pcap: the four magics', () => {
  const records: PcapRecordSpec[] = [
    { tsSec: 1_700_000_000, tsFrac: 0, data: payload(60, 1) },
    { tsSec: 1_700_000_000, tsFrac: 999_999, data: payload(1514, 2) },
    { tsSec: 1_700_000_001, tsFrac: 123_456, data: payload(100, 3), origLen: 1500 },
    { tsSec: 0xffffffff, tsFrac: 1, data: payload(0, 4) },
    { tsSec: 0, tsFrac: 42, data: payload(7, 5) },
  ];

  for (const byteOrder of ['LE', 'BE'] as ByteOrder[]) {
    for (const precision of ['us', 'ns'] as const) {
      it(`${precision} ${byteOrder}: every field of every frame`, async () => {
        const path = write(buildPcap({ byteOrder, precision, snapLength: 65535, linkType: 1 }, records));
        const src = await openCapture(path, 3);
        const frames = await readAll(src);
        expect(frames).toHaveLength(records.length);
        let offset = 24;
        records.forEach((r, i) => {
          const f = frames[i]!;
          expect(f.linkType).toBe(1);
          expect(f.tsSec).toBe(r.tsSec);
          expect(f.tsNsec).toBe(precision === 'us' ? r.tsFrac * 1000 : r.tsFrac);
          expect(f.capturedLength).toBe(r.data.length);
          expect(f.originalLength).toBe(r.origLen ?? r.data.length);
          expect(f.bytes).toEqual(r.data);
          expect(f.interfaceId).toBe(0);
          expect(f.sourceIndex).toBe(3);
          expect(f.number).toBe(i + 1);
          expect(f.fileOffset).toBe(offset);
          offset += 16 + r.data.length;
        });
        expect(src.info).toEqual({
          path,
          format: 'pcap',
          compressed: false,
          byteOrder,
          precision,
          linkTypes: [1],
          snapLength: 65535,
          packets: records.length,
          warnings: [],
        });
      });
    }
  }

  it('goes through pcap-parser (the package the user asked for)', async () => {
    const require = createRequire(import.meta.url);
    const mod = require('pcap-parser') as { parse: (s: unknown) => unknown };
    const spy = vi.spyOn(mod, 'parse');
    try {
      const path = write(buildPcap({}, [{ tsSec: 1, tsFrac: 2, data: payload(20) }]));
      const { frames } = await warningsOf(path);
      expect(frames).toHaveLength(1);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });

  it('a capture with no packets is fine', async () => {
    const { frames, info } = await warningsOf(write(pcapHeader({ precision: 'ns', byteOrder: 'BE' })));
    expect(frames).toEqual([]);
    expect(info.packets).toBe(0);
    expect(info.warnings).toEqual([]);
    expect(info.precision).toBe('ns');
  });

  it('link type is the low 16 bits (upper bits carry FCS information)', async () => {
    const { frames, info } = await warningsOf(write(buildPcap({ linkType: 0x04000001 }, [{ tsSec: 1, tsFrac: 0, data: payload(14) }])));
    expect(info.linkTypes).toEqual([1]);
    expect(frames[0]!.linkType).toBe(1);
  });
});

describe('classic pcap: timestamps', () => {
  it('a µs fraction of a second or more is carried into the seconds, exactly', async () => {
    const { frames, info } = await warningsOf(
      write(buildPcap({ precision: 'us' }, [
        { tsSec: 10, tsFrac: 2_500_000, data: payload(1) },
        { tsSec: 10, tsFrac: 1_000_000, data: payload(1) },
        { tsSec: 0xffffffff, tsFrac: 0xffffffff, data: payload(1) },
      ])),
    );
    expect(frames.map((f) => [f.tsSec, f.tsNsec])).toEqual([
      [12, 500_000_000],
      [11, 0],
      [0xffffffff + 4294, 967_295_000],
    ]);
    expect(info.warnings).toEqual([
      '3 records had a sub-second timestamp field of a second or more, carried into the seconds (first at offset 24)',
    ]);
  });

  it('an ns fraction of a second or more is carried too', async () => {
    const { frames } = await warningsOf(
      write(buildPcap({ precision: 'ns', byteOrder: 'BE' }, [
        { tsSec: 5, tsFrac: 4_000_000_001, data: payload(1) },
        { tsSec: 5, tsFrac: 999_999_999, data: payload(1) },
      ])),
    );
    expect(frames.map((f) => [f.tsSec, f.tsNsec])).toEqual([
      [9, 1],
      [5, 999_999_999],
    ]);
  });
});

describe('classic pcap: versions', () => {
  for (const [major, minor] of [[1, 0], [0, 4]] as const) {
    it(`refuses the archaic version ${major}.${minor} at open`, async () => {
      const path = write(buildPcap({ versionMajor: major, versionMinor: minor }, [{ tsSec: 1, tsFrac: 0, data: payload(20) }]));
      const err = await openCapture(path, 0).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CaptureError);
      const reason = `unsupported pcap version ${major}.${minor} (archaic: flowdemux reads 2.0 and later)`;
      expect((err as CaptureError).reason).toBe(reason);
      expect((err as CaptureError).message).toBe(`${path}: ${reason}`);
    });
  }

  for (const [major, minor, order] of [[3, 4, 'LE'], [2, 5, 'BE'], [9, 9, 'LE']] as const) {
    it(`reads the newer version ${major}.${minor} (${order}) with the 2.4 layout and a warning, as libpcap and tshark`, async () => {
      const path = write(buildPcap({ versionMajor: major, versionMinor: minor, byteOrder: order }, [
        { tsSec: 1, tsFrac: 5, data: payload(20), origLen: 60 },
        { tsSec: 2, tsFrac: 6, data: payload(30) },
      ]));
      const src = await openCapture(path, 0);
      const frames = await readAll(src);
      expect(frames.map((f) => [f.tsSec, f.capturedLength, f.originalLength])).toEqual([[1, 20, 60], [2, 30, 30]]);
      expect(src.info.warnings).toEqual([`pcap version ${major}.${minor} is newer than 2.4; read with the 2.4 layout, as libpcap and tshark do`]);
    });
  }

  it('2.2: caplen and len are in the old order and are swapped back', async () => {
    // Written as an old libpcap did: len first, then caplen.
    const old = (caplen: number, len: number, data: Uint8Array) => pcapRecord({ tsSec: 1, tsFrac: 0, data, capLen: len, origLen: caplen });
    const path = write(concatBytes(pcapHeader({ versionMinor: 2 }), old(30, 1500, payload(30, 9)), old(10, 10, payload(10, 1))));
    const { frames, info } = await warningsOf(path);
    expect(frames.map((f) => [f.capturedLength, f.originalLength])).toEqual([[30, 1500], [10, 10]]);
    expect(frames[0]!.bytes).toEqual(payload(30, 9));
    expect(frames[1]!.bytes).toEqual(payload(10, 1));
    expect(info.warnings).toEqual(['pcap version 2.2 is older than 2.4; caplen/len order handled as libpcap does']);
  });

  it('2.3: lengths swapped only where caplen > len (libpcap MAYBE_SWAPPED)', async () => {
    const path = write(concatBytes(
      pcapHeader({ versionMinor: 3, byteOrder: 'BE' }),
      pcapRecord({ tsSec: 1, tsFrac: 0, data: payload(40), capLen: 40, origLen: 60 }, 'BE'),
      pcapRecord({ tsSec: 1, tsFrac: 0, data: payload(20), capLen: 1000, origLen: 20 }, 'BE'),
    ));
    const { frames, info } = await warningsOf(path);
    expect(frames.map((f) => [f.capturedLength, f.originalLength])).toEqual([[40, 60], [20, 1000]]);
    expect(info.warnings).toEqual([
      'pcap version 2.3 is older than 2.4; caplen/len order handled as libpcap does',
      '1 record had caplen and len in the pre-2.3 order and was swapped (first at offset 80)',
    ]);
  });
});

describe('classic pcap: damage', () => {
  const good: PcapRecordSpec[] = [
    { tsSec: 1, tsFrac: 1, data: payload(100, 1) },
    { tsSec: 2, tsFrac: 2, data: payload(200, 2) },
  ];
  const whole = buildPcap({}, [...good, { tsSec: 3, tsFrac: 3, data: payload(300, 3) }]);
  const thirdAt = 24 + 116 + 216;

  it('file cut inside the last record header: frames before, warning with offset and missing bytes', async () => {
    const { frames, info } = await warningsOf(write(whole.subarray(0, thirdAt + 10)));
    expect(frames.map((f) => f.number)).toEqual([1, 2]);
    expect(frames[1]!.bytes).toEqual(payload(200, 2));
    expect(info.packets).toBe(2);
    expect(info.warnings).toEqual([`file ends inside the record header at offset ${thirdAt}: 10 of 16 bytes present, 6 missing`]);
  });

  it('file cut inside the last record body', async () => {
    const { frames, info } = await warningsOf(write(whole.subarray(0, thirdAt + 16 + 120)));
    expect(frames).toHaveLength(2);
    expect(info.warnings).toEqual([
      `last record at offset ${thirdAt} is cut short: captured length 300, 120 bytes present, 180 missing`,
    ]);
  });

  it('an absurd captured length is refused before buffering; frames before it are kept', async () => {
    const bad = pcapRecord({ tsSec: 3, tsFrac: 0, data: payload(50), capLen: 0x7fff0000 });
    const path = write(concatBytes(buildPcap({ snapLength: 65535 }, good), bad, pcapRecord({ tsSec: 4, tsFrac: 0, data: payload(5) })));
    const { frames, info } = await warningsOf(path);
    expect(frames.map((f) => f.capturedLength)).toEqual([100, 200]);
    expect(info.warnings).toEqual([
      `record at offset ${thirdAt} claims a captured length of ${0x7fff0000} bytes (limit ${pcapRecordLimit(65535)}); stopped reading there`,
    ]);
  });

  it('the limit: four times max(snaplen, 262144), at most 256 MiB', () => {
    expect(pcapRecordLimit(65535)).toBe(1 << 20);
    expect(pcapRecordLimit(0)).toBe(1 << 20);
    expect(pcapRecordLimit(16 << 20)).toBe(64 << 20);
    expect(pcapRecordLimit(0xffffffff)).toBe(256 << 20);
  });

  it('caplen > snaplen and caplen > len are read and counted once per file', async () => {
    const path = write(buildPcap({ snapLength: 64 }, [
      { tsSec: 1, tsFrac: 0, data: payload(64) },
      { tsSec: 1, tsFrac: 0, data: payload(80), origLen: 80 },
      { tsSec: 1, tsFrac: 0, data: payload(90), origLen: 70 },
      { tsSec: 1, tsFrac: 0, data: payload(100), origLen: 100 },
    ]));
    const { frames, info } = await warningsOf(path);
    expect(frames.map((f) => [f.capturedLength, f.originalLength])).toEqual([[64, 64], [80, 80], [90, 70], [100, 100]]);
    expect(frames[3]!.bytes).toEqual(payload(100));
    expect(info.warnings).toEqual([
      `1 record had a captured length greater than the original length (first at offset ${24 + 80 + 96})`,
      `3 records had a captured length greater than the snap length 64 (first at offset ${24 + 80})`,
    ]);
  });
});

describe('classic pcap: records across reads', () => {
  it('thousands of records over several 1 MiB reads keep bytes, numbers and offsets', async () => {
    const recs: PcapRecordSpec[] = [];
    let x = 7;
    for (let i = 0; i < 4000; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      recs.push({ tsSec: 1000 + i, tsFrac: x % 1_000_000, data: payload(x % 1515, i) });
    }
    const bytes = buildPcap({ byteOrder: 'BE' }, recs);
    expect(bytes.length).toBeGreaterThan(2.5 * (1 << 20));
    const { frames, info } = await warningsOf(write(bytes));
    expect(info.warnings).toEqual([]);
    expect(frames).toHaveLength(recs.length);
    // One comparison at the end: thousands of expect() calls would dominate the test time.
    const wrong: number[] = [];
    let off = 24;
    for (let i = 0; i < recs.length; i++) {
      const f = frames[i]!;
      const r = recs[i]!;
      const ok = f.number === i + 1 && f.fileOffset === off && f.tsSec === 1000 + i &&
        f.tsNsec === r.tsFrac * 1000 && Buffer.from(f.bytes).equals(Buffer.from(r.data));
      if (!ok) wrong.push(i);
      off += 16 + r.data.length;
    }
    expect(wrong).toEqual([]);
  });

  it('whole read-ahead chunks become the window (no second copy), around records of any size', async () => {
    // Records from 40 bytes to 300 KiB (more than the headroom kept in front of a chunk), so
    // that some chunk boundaries fall inside records longer than HEADROOM: those windows are
    // copied, and the reading falls back in step with the chunks afterwards.
    const recs: PcapRecordSpec[] = [];
    let x = 3;
    for (let i = 0; i < 1200; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      const len = i % 100 === 7 ? 300 * 1024 + (x % 4096) : 40 + (x % 3000);
      recs.push({ tsSec: 1 + i, tsFrac: 0, data: payload(len, i) });
    }
    const bytes = buildPcap({ snapLength: 1 << 20 }, recs);
    expect(bytes.length).toBeGreaterThan(4 * CHUNK_SIZE);
    const taken = vi.spyOn(FileInput.prototype, 'takeChunk');
    const copied = vi.spyOn(FileInput.prototype, 'readInto');
    try {
      const { frames, info } = await warningsOf(write(bytes));
      expect(info.warnings).toEqual([]);
      const wrong = recs.map((r, i) => i).filter((i) => !Buffer.from(frames[i]!.bytes).equals(Buffer.from(recs[i]!.data)));
      expect(frames).toHaveLength(recs.length);
      expect(wrong).toEqual([]);
      // Most chunks go over whole; the copies are the probe, the long records and the catch-ups.
      const chunks = Math.ceil(bytes.length / CHUNK_SIZE);
      expect(taken.mock.calls.length).toBeGreaterThan(chunks / 2);
      expect(copied.mock.calls.length).toBeLessThan(chunks);
    } finally {
      taken.mockRestore();
      copied.mockRestore();
    }
  });

  it('a record larger than a read (3 MiB) arrives whole', async () => {
    const big = payload(3 << 20, 11);
    const path = write(buildPcap({ snapLength: 4 << 20 }, [
      { tsSec: 1, tsFrac: 0, data: payload(10) },
      { tsSec: 2, tsFrac: 0, data: big },
      { tsSec: 3, tsFrac: 0, data: payload(10, 1) },
    ]));
    const { frames, info } = await warningsOf(path);
    expect(info.warnings).toEqual([]);
    expect(frames.map((f) => f.capturedLength)).toEqual([10, 3 << 20, 10]);
    expect(Buffer.from(frames[1]!.bytes).equals(Buffer.from(big))).toBe(true);
    expect(frames[2]!.bytes).toEqual(payload(10, 1));
  });
});
