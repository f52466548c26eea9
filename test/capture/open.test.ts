import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, createWriteStream, existsSync, mkdirSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { openCapture } from '../../src/capture/open.js';
import { CaptureError } from '../../src/core/frame.js';
import {
  buildPcap, concatBytes, gzip, ngEPB, ngIDB, ngSHB, payload, readAll, tempDir, type PcapRecordSpec,
} from '../helpers/capture-builders.js';

const tmp = tempDir('flowdemux-open-');
afterAll(() => tmp.cleanup());

async function openError(path: string, opts?: Parameters<typeof openCapture>[2]): Promise<CaptureError> {
  const err = await openCapture(path, 0, opts).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CaptureError);
  const ce = err as CaptureError;
  expect(ce.path).toBe(path);
  expect(ce.message).toBe(`${path}: ${ce.reason}`);
  expect(ce.message).not.toContain('\n');
  return ce;
}

const records: PcapRecordSpec[] = Array.from({ length: 5 }, (_, i) => ({
  tsSec: 100 + i, tsFrac: i * 1000, data: payload(40 + i, i),
}));
const pcapBytes = buildPcap({ precision: 'ns' }, records);
const pcapngBytes = concatBytes(
  ngSHB('BE'),
  ngIDB('BE', { linkType: 1 }),
  ngIDB('BE', { linkType: 276, tsresol: 9 }),
  ...records.map((r, i) => ngEPB('BE', { iface: i % 2, ts: i % 2 ? BigInt(r.tsSec) * 1_000_000_000n : BigInt(r.tsSec) * 1_000_000n, data: r.data })),
);

describe('openCapture: errors before any frame, one line each', () => {
  it('no such file', async () => {
    expect((await openError(tmp.path('missing.pcap'))).reason).toBe('no such file');
  });

  it('is a directory', async () => {
    const dir = tmp.path('adir');
    mkdirSync(dir);
    expect((await openError(dir)).reason).toBe('is a directory');
  });

  it('permission denied', async () => {
    const path = tmp.write('secret.pcap', pcapBytes);
    chmodSync(path, 0o000);
    // As root (CI runs as root) a mode-000 file is still readable: nothing to assert then.
    let readable = true;
    try {
      const fd = openSync(path, 'r');
      readSync(fd, Buffer.alloc(1));
      closeSync(fd);
    } catch {
      readable = false;
    }
    if (readable) {
      console.log('permission test skipped: this user can read a mode-000 file (root)');
      const src = await openCapture(path, 0);
      expect((await readAll(src)).length).toBe(5);
      return;
    }
    expect((await openError(path)).reason).toBe('permission denied');
  });

  it('empty file', async () => {
    expect((await openError(tmp.write('empty.pcap', new Uint8Array(0)))).reason).toBe('empty file');
  });

  it('not a capture file, naming its first bytes', async () => {
    const html = new TextEncoder().encode('<!DOCTYPE html><html></html>');
    expect((await openError(tmp.write('page.pcap', html))).reason).toBe('not a capture file (starts with 3c 21 44 4f)');
    expect((await openError(tmp.write('two.pcap', Uint8Array.of(0x42, 0x43)))).reason).toBe('not a capture file (starts with 42 43)');
  });

  it('too short for a header', async () => {
    expect((await openError(tmp.write('short.pcap', pcapBytes.subarray(0, 10)))).reason).toBe(
      'too short for a pcap header (10 of 24 bytes)',
    );
    expect((await openError(tmp.write('short.pcapng', pcapngBytes.subarray(0, 20)))).reason).toBe(
      'too short for a pcapng section header (20 of 28 bytes)',
    );
    expect((await openError(tmp.write('tiny.pcap', pcapBytes.subarray(0, 3)))).reason).toBe(
      'too short for a capture header (3 bytes)',
    );
  });

  it('unsupported pcap version', async () => {
    const path = tmp.write('v1.pcap', buildPcap({ versionMajor: 1, versionMinor: 4 }, records));
    expect((await openError(path)).reason).toBe('unsupported pcap version 1.4 (archaic: flowdemux reads 2.0 and later)');
  });

  it('modified (Kuznetzov) pcap is named, not read', async () => {
    const path = tmp.write('kuz.pcap', buildPcap({ magic: 0xa1b2cd34 }, records));
    expect((await openError(path)).reason).toBe('unsupported pcap variant (modified/Kuznetzov pcap, magic a1b2cd34)');
  });

  it('pcapng: bad byte-order magic, unsupported version', async () => {
    const shb = Uint8Array.from(pcapngBytes);
    shb.set([0xde, 0xad, 0xbe, 0xef], 8);
    expect((await openError(tmp.write('bom.pcapng', shb))).reason).toBe(
      'pcapng section header has an unknown byte-order magic (deadbeef)',
    );
    const v2 = concatBytes(ngSHB('LE', { major: 2 }), ngIDB('LE', { linkType: 1 }));
    expect((await openError(tmp.write('v2.pcapng', v2))).reason).toBe('unsupported pcapng version 2.0 (flowdemux reads 1.x)');
  });

  it('corrupt gzip', async () => {
    const junk = concatBytes(Uint8Array.of(0x1f, 0x8b), payload(60, 200));
    expect((await openError(tmp.write('junk.pcap.gz', junk))).reason).toMatch(/^gzip data is corrupt: \S/);
    // Cut inside the gzip header: nothing at all can be decompressed.
    const cut = gzip(pcapBytes).subarray(0, 6);
    expect((await openError(tmp.write('cut.pcap.gz', cut))).reason).toBe('gzip data is corrupt: unexpected end of file');
  });

  it('gzip of something that is not a capture', async () => {
    const path = tmp.write('text.gz', gzip(new TextEncoder().encode('hello world')));
    expect((await openError(path)).reason).toBe('not a capture file inside gzip (starts with 68 65 6c 6c)');
    expect((await openError(tmp.write('empty.gz', gzip(new Uint8Array(0))))).reason).toBe(
      'empty file (the gzip stream holds no data)',
    );
  });
});

describe('openCapture: formats by content', () => {
  async function framesOf(path: string, opts?: Parameters<typeof openCapture>[2]) {
    const src = await openCapture(path, 0, opts);
    return { frames: await readAll(src), info: src.info };
  }

  it('a pcap named .pcapng and a pcapng named .pcap are both read', async () => {
    const a = await framesOf(tmp.write('really-pcap.pcapng', pcapBytes));
    const b = await framesOf(tmp.write('really-ng.pcap', pcapngBytes));
    expect(a.info.format).toBe('pcap');
    expect(b.info.format).toBe('pcapng');
    expect(a.frames.map((f) => f.bytes)).toEqual(records.map((r) => r.data));
    expect(b.frames.map((f) => f.bytes)).toEqual(records.map((r) => r.data));
    expect(b.frames.map((f) => f.linkType)).toEqual([1, 276, 1, 276, 1]);
    expect(b.frames.map((f) => f.tsSec)).toEqual(records.map((r) => r.tsSec));
  });

  for (const [name, bytes, format] of [['pcap', pcapBytes, 'pcap'], ['pcapng', pcapngBytes, 'pcapng']] as const) {
    it(`gzip of ${name}: same frames, compressed flag`, async () => {
      const plain = await framesOf(tmp.write(`plain.${name}`, bytes));
      const packed = await framesOf(tmp.write(`packed.${name}.gz`, gzip(bytes)));
      expect(packed.info.compressed).toBe(true);
      expect(packed.info.format).toBe(format);
      expect(packed.info.warnings).toEqual([]);
      expect(packed.frames).toEqual(plain.frames);
    });
  }

  it('truncated gzip mid-way: frames before the damage, then a warning', async () => {
    const many: PcapRecordSpec[] = [];
    let x = 99;
    for (let i = 0; i < 20000; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      // Incompressible-ish data so the compressed file is large enough to cut in the middle.
      const d = new Uint8Array(200);
      for (let k = 0; k < d.length; k++) {
        x = (x * 1103515245 + 12345) >>> 0;
        d[k] = x >>> 24;
      }
      many.push({ tsSec: i, tsFrac: 0, data: d });
    }
    const plain = buildPcap({}, many);
    const z = gzip(plain);
    const { frames, info } = await framesOf(tmp.write('trunc.pcap.gz', z.subarray(0, Math.floor(z.length / 2))));
    expect(frames.length).toBeGreaterThan(1000);
    expect(frames.length).toBeLessThan(many.length);
    const wrong = frames.filter((f, i) => f.number !== i + 1 || !Buffer.from(f.bytes).equals(Buffer.from(many[i]!.data)));
    expect(wrong).toEqual([]);
    expect(info.compressed).toBe(true);
    expect(info.warnings).toHaveLength(1);
    expect(info.warnings[0]).toMatch(/^gzip data is corrupt: unexpected end of file at offset \d+; stopped reading there$/);
  });

  it('stdin: "-" reads the given stream, fed in small pieces', async () => {
    const stdin = new PassThrough();
    const opened = openCapture('-', 4, { stdin });
    // Dribble the file in 7-byte pieces, asynchronously, as a slow pipe would.
    void (async () => {
      for (let i = 0; i < pcapngBytes.length; i += 7) {
        stdin.write(pcapngBytes.subarray(i, i + 7));
        await new Promise((r) => setImmediate(r));
      }
      stdin.end();
    })();
    const src = await opened;
    const frames = await readAll(src);
    expect(src.info.path).toBe('-');
    expect(src.info.format).toBe('pcapng');
    expect(frames.map((f) => f.bytes)).toEqual(records.map((r) => r.data));
    expect(frames.every((f) => f.sourceIndex === 4)).toBe(true);
  });

  it('streaming: stdin and a FIFO stream, a file does not; a pcapng block is a batch once its bytes are there', async () => {
    const file = await openCapture(tmp.write('plain.pcapng', pcapngBytes), 0);
    expect(file.streaming).toBe(false);
    await file.close?.();

    const stdin = new PassThrough();
    const blocks = [ngSHB('BE'), ngIDB('BE', { linkType: 1 }), ...records.map((r) => ngEPB('BE', { iface: 0, ts: BigInt(r.tsSec) * 1_000_000n, data: r.data }))];
    stdin.write(concatBytes(blocks[0]!, blocks[1]!));
    const src = await openCapture('-', 0, { stdin });
    expect(src.streaming).toBe(true);
    const it = src.batches()[Symbol.asyncIterator]();
    for (let i = 0; i < records.length; i++) {
      // The block in two writes: nothing is waited for beyond its last byte (the input stays open).
      const block = blocks[2 + i]!;
      stdin.write(block.subarray(0, 10));
      stdin.write(block.subarray(10));
      const r = await it.next();
      expect(r.done).toBe(false);
      expect(r.value!.map((f) => f.number)).toEqual([i + 1]);
    }
    stdin.end();
    expect((await it.next()).done).toBe(true);

    const fifo = tmp.path('open.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const writer = createWriteStream(fifo);
    writer.write(pcapBytes);
    const fromFifo = await openCapture(fifo, 0);
    expect(fromFifo.streaming).toBe(true);
    writer.end();
    expect((await readAll(fromFifo)).map((f) => f.bytes)).toEqual(records.map((r) => r.data));
  });

  it('stdin: gzip of a pcap', async () => {
    const stdin = new PassThrough();
    stdin.end(gzip(pcapBytes));
    const { frames, info } = await framesOf('-', { stdin });
    expect(info).toMatchObject({ format: 'pcap', compressed: true, precision: 'ns', packets: 5, warnings: [] });
    expect(frames.map((f) => [f.tsSec, f.tsNsec])).toEqual(records.map((r) => [r.tsSec, r.tsFrac]));
  });

  it('stdin: empty input and a cut-off record', async () => {
    const empty = new PassThrough();
    empty.end();
    expect((await openError('-', { stdin: empty })).reason).toBe('empty file');
    const cut = new PassThrough();
    cut.end(pcapBytes.subarray(0, pcapBytes.length - 5));
    const { frames, info } = await framesOf('-', { stdin: cut });
    expect(frames).toHaveLength(4);
    expect(info.warnings).toEqual([`last record at offset ${pcapBytes.length - 16 - 44} is cut short: captured length 44, 39 bytes present, 5 missing`]);
  });

  it('a stream error mid-way becomes a warning', async () => {
    const stdin = new PassThrough();
    const src = openCapture('-', 0, { stdin });
    stdin.write(pcapBytes.subarray(0, 24 + 56 + 10));
    const opened = await src;
    setImmediate(() => stdin.destroy(new Error('device went away')));
    const frames = await readAll(opened);
    expect(frames).toHaveLength(1);
    expect(opened.info.warnings).toEqual([`read error: device went away at offset ${24 + 56 + 10}; stopped reading there`]);
  });

  it('close() releases a source that is never iterated (plain and gzip)', async () => {
    if (!existsSync('/proc/self/fd')) return; // the check below needs Linux's /proc
    // Big and incompressible, so that opening does not read the gzip file to its end (a
    // fully read input is closed at once).
    const noise = new Uint8Array(6 << 20);
    let x = 1;
    for (let i = 0; i < noise.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      noise[i] = x >>> 24;
    }
    const big = buildPcap({ snapLength: 8 << 20 }, [{ tsSec: 1, tsFrac: 0, data: noise }]);
    const plain = tmp.write('closeme.pcap', big);
    const packed = tmp.write('closeme.pcap.gz', gzip(big));
    const held = () =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          const t = readlinkSync(`/proc/self/fd/${fd}`);
          return t === plain || t === packed;
        } catch {
          return false;
        }
      }).length;
    const a = await openCapture(plain, 0);
    const b = await openCapture(packed, 1);
    expect(held()).toBe(2);
    await a.close?.();
    await b.close?.();
    expect(held()).toBe(0);
  });
});
