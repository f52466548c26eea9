/**
 * Capture reading on a worker thread (src/capture/worker-reader.ts): the frames, infos, errors
 * and warnings must be exactly those of the in-thread read (openCapture + mergeSources), the
 * worker may run only AHEAD batches ahead, and stopping or failing must not hang.
 *
 * The producer side is exercised in this thread over a MessageChannel (vitest runs the
 * TypeScript sources, which a worker thread cannot load); the real worker thread runs the
 * compiled dist/ (built by `npm test`'s pretest), through ThreadedCaptures.start and through
 * the CLI binary with FLOWDEMUX_READ_THREAD=0 and 1.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { firstLineThenHangUp } from '../helpers/hang-up.js';
import type { CaptureInfo, Frame } from '../../src/core/frame.js';
import { mergeSources } from '../../src/capture/merge.js';
import { openCapture } from '../../src/capture/open.js';
import {
  AHEAD, BATCH_BYTES, ThreadedCaptures, openErrorText, produceFrames, useReadThread, type ToMain,
} from '../../src/capture/worker-reader.js';
import {
  buildPcap, concatBytes, gzip, ngBlock, ngEPB, ngIDB, ngSHB, payload, pcapHeader, pcapRecord, tempDir, type PcapRecordSpec,
} from '../helpers/capture-builders.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/flowdemux.js');
const FIXTURES = join(ROOT, 'fixtures');
const tmp = tempDir('flowdemux-worker-');
afterAll(() => tmp.cleanup());

/** A frame with only its own bytes, comparable whatever buffer it came in. */
interface Kept extends Omit<Frame, 'bytes' | 'offset'> {
  bytes: number[];
}
function keep(f: Frame): Kept {
  const { bytes, offset, ...rest } = f;
  return { ...rest, bytes: Array.from(bytes.subarray(offset, offset + f.capturedLength)) };
}

interface Read {
  captures: CaptureInfo[];
  errors: string[];
  frames: Kept[];
}

/** What readCaptures does in-thread: open each path (errors as one line), merge, read to the end. */
async function readInThread(paths: string[]): Promise<Read> {
  const sources = [];
  const errors: string[] = [];
  for (let i = 0; i < paths.length; i++) {
    try {
      sources.push(await openCapture(paths[i]!, i));
    } catch (err) {
      errors.push(openErrorText(paths[i]!, err));
    }
  }
  const frames: Kept[] = [];
  if (sources.length > 0) for await (const b of mergeSources(sources)) for (const f of b) frames.push(keep(f));
  return { captures: sources.map((s) => s.info), errors, frames };
}

/** The same through produceFrames and ThreadedCaptures, over a MessageChannel. */
async function readOverChannel(paths: string[]): Promise<Read & { batches: number }> {
  const { port1, port2 } = new MessageChannel();
  const producing = produceFrames(port1, paths);
  try {
    const t = await ThreadedCaptures.over(port2);
    const frames: Kept[] = [];
    let batches = 0;
    for await (const b of t.batches()) {
      batches++;
      for (const f of b) frames.push(keep(f));
    }
    await producing;
    return { captures: t.captures, errors: t.errors, frames, batches };
  } finally {
    port1.close();
    port2.close();
  }
}

function fixtureCaptures(dir: string): string[] {
  return readdirSync(join(FIXTURES, dir))
    .filter((n) => !n.endsWith('.json') && !n.endsWith('.tsv') && n !== 'README.md' && n !== 'golden' && n !== 'rotated' &&
      n !== 'crafted' && n !== 'damaged')
    .map((n) => join(FIXTURES, dir, n));
}

const rotated = fixtureCaptures('rotated');

/** ~`mb` MB of 1000-byte frames (one contiguous run per read buffer). */
function bigPcap(name: string, mb: number): string {
  const frame = payload(1000, 7);
  const n = Math.ceil((mb * 1e6) / 1016);
  const rec = pcapRecord({ tsSec: 1_700_000_000, tsFrac: 0, data: frame });
  const out = new Uint8Array(24 + n * rec.length);
  out.set(pcapHeader({}), 0);
  const dv = new DataView(rec.buffer);
  for (let i = 0; i < n; i++) {
    dv.setUint32(4, i % 1_000_000, true);
    rec[16] = i & 0xff; // each frame recognisable
    out.set(rec, 24 + i * rec.length);
  }
  return tmp.write(name, out);
}

describe('frames over the channel equal the in-thread read', () => {
  const cases: Array<[string, string[]]> = [
    ...fixtureCaptures('.').map((p): [string, string[]] => [p.slice(FIXTURES.length + 1), [p]]),
    ...fixtureCaptures('damaged').map((p): [string, string[]] => [p.slice(FIXTURES.length + 1), [p]]),
    ['rotated set as one timeline', rotated],
    ['rotated set with a missing file and a non-capture among them', [rotated[0]!, join(FIXTURES, 'no-such.pcap'), rotated[1]!, join(FIXTURES, 'damaged/not-a-capture.txt'), rotated[2]!]],
    ['nothing opens', [join(FIXTURES, 'no-such.pcap'), join(FIXTURES, 'damaged/zero-bytes.pcap')]],
  ];
  it.each(cases)('%s', async (_name, paths) => {
    const want = await readInThread(paths);
    const got = await readOverChannel(paths);
    expect(got.errors).toEqual(want.errors);
    expect(got.captures).toEqual(want.captures);
    expect(got.frames).toEqual(want.frames);
  });

  it('damage warnings come through in order (cut record, caplen > snaplen)', async () => {
    const recs: PcapRecordSpec[] = [];
    for (let i = 0; i < 50; i++) recs.push({ tsSec: 100 + i, tsFrac: i, data: payload(120, i) });
    const bytes = buildPcap({ snapLength: 100, versionMinor: 3 }, recs);
    const path = tmp.write('damaged.pcap', bytes.subarray(0, bytes.length - 30));
    const want = await readInThread([path]);
    const got = await readOverChannel([path]);
    expect(want.captures[0]!.warnings.length).toBeGreaterThanOrEqual(2);
    expect(got.captures).toEqual(want.captures);
    expect(got.frames).toEqual(want.frames);
  });

  it('a gzip pcap, a pcapng with options between packets, and a frame larger than a batch', async () => {
    const recs: PcapRecordSpec[] = [];
    for (let i = 0; i < 3000; i++) recs.push({ tsSec: 1000 + i, tsFrac: 0, data: payload(400 + (i % 300), i) });
    recs.splice(1500, 0, { tsSec: 2499, tsFrac: 5, data: payload(BATCH_BYTES + 12345, 3) });
    const gz = tmp.write('big.pcap.gz', gzip(buildPcap({ snapLength: 4 << 20 }, recs)));
    const ng = tmp.write('opts.pcapng', concatBytes(
      ngSHB('LE'),
      ngIDB('LE', { linkType: 1 }),
      // A 212-byte custom block before every third packet: a gap too large for one run.
      ...Array.from({ length: 2000 }, (_, i) => concatBytes(
        i % 3 === 0 ? ngBlock('LE', 0x40000bad, new Uint8Array(200)) : new Uint8Array(0),
        ngEPB('LE', { iface: 0, ts: BigInt(1000 + 2 * i) * 1_000_000n, data: payload(60 + (i % 40), i) }),
      )),
    ));
    for (const paths of [[gz], [ng], [gz, ng]]) {
      const want = await readInThread(paths);
      const got = await readOverChannel(paths);
      expect(got.captures).toEqual(want.captures);
      expect(got.frames.length).toBe(want.frames.length);
      expect(got.frames).toEqual(want.frames);
    }
  });

  it('batches hold about BATCH_BYTES of frames', async () => {
    const path = bigPcap('six.pcap', 6);
    const got = await readOverChannel([path]);
    const bytes = got.frames.reduce((n, f) => n + f.capturedLength, 0);
    // Record headers ride along inside a run, so a batch holds a little less than BATCH_BYTES of frames.
    expect(got.batches).toBeGreaterThanOrEqual(Math.ceil(bytes / BATCH_BYTES));
    expect(got.batches).toBeLessThanOrEqual(Math.ceil(bytes / BATCH_BYTES) + 2);
  });
});

describe('flow control', () => {
  /** Until `test` holds: checked at each turn of the event loop (the messages arrive on it). */
  async function until(test: () => boolean): Promise<void> {
    while (!test()) await new Promise((r) => setImmediate(r));
  }

  /**
   * Turns of the event loop in which the producer (in this thread, on a MessageChannel) could
   * read and post more if nothing held it back: the proof that it waits for an ack is that
   * nothing more arrives in them. Counted, not timed.
   */
  async function turns(n = 500): Promise<void> {
    for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
  }

  it(`the worker sends at most ${AHEAD} batches before an acknowledgement, one more per ack, and stops when told`, async () => {
    const path = bigPcap('ten.pcap', 10);
    const { port1, port2 } = new MessageChannel();
    const got: ToMain[] = [];
    port2.on('message', (m: ToMain) => got.push(m));
    let finished = false;
    const producing = produceFrames(port1, [path]).then(() => (finished = true));
    try {
      await until(() => got.length >= 1 + AHEAD);
      await turns();
      expect(got.map((m) => m.t)).toEqual(['open', ...Array<string>(AHEAD).fill('batch')]);
      expect(finished).toBe(false);

      const first = got[1] as Extract<ToMain, { t: 'batch' }>;
      port2.postMessage({ t: 'ack', bytes: first.bytes, meta: first.meta }, [first.bytes, first.meta]);
      await until(() => got.length >= 2 + AHEAD);
      await turns();
      expect(got.map((m) => m.t)).toEqual(['open', ...Array<string>(AHEAD + 1).fill('batch')]);

      port2.postMessage({ t: 'stop' });
      await producing;
      await until(() => got[got.length - 1]!.t === 'end'); // posted last, delivered asynchronously
      const end = got[got.length - 1]!;
      expect(end.t).toBe('end');
      // The file was read only in part: the final info counts what the source had yielded.
      const packets = (end as Extract<ToMain, { t: 'end' }>).infos[0]!.packets;
      expect(packets).toBeGreaterThan(0);
      expect(packets).toBeLessThan(10e6 / 1016);
    } finally {
      port1.close();
      port2.close();
    }
  });
});

describe('the worker thread (compiled dist/)', () => {
  it('reads the rotated set, a missing file among them, as in-thread', async () => {
    const paths = [rotated[0]!, join(FIXTURES, 'no-such.pcap'), rotated[1]!, rotated[2]!];
    const want = await readInThread(paths);
    const t = await ThreadedCaptures.start(paths);
    const frames: Kept[] = [];
    const infosAtStart = t.captures;
    const packetsAtStart = t.captures.map((c) => c.packets);
    for await (const b of t.batches()) for (const f of b) frames.push(keep(f));
    expect(t.errors).toEqual(want.errors);
    expect(frames).toEqual(want.frames);
    // The objects handed out at open now hold the final values.
    expect(packetsAtStart).toEqual([0, 0, 0]);
    expect(t.captures).toBe(infosAtStart);
    expect(t.captures).toEqual(want.captures);
  });

  it('stops when the consumer leaves early, with the infos read so far', async () => {
    const path = bigPcap('stop.pcap', 8);
    const t = await ThreadedCaptures.start([path]);
    let seen = 0;
    for await (const b of t.batches()) {
      seen += b.length;
      break;
    }
    expect(seen).toBeGreaterThan(0);
    expect(t.captures[0]!.packets).toBeGreaterThanOrEqual(seen);
    expect(t.captures[0]!.packets).toBeLessThan(8e6 / 1016);
  });

  it('an exception in the worker rejects, with its message', async () => {
    const bad = tmp.path('throws.mjs');
    writeFileSync(bad, "throw new Error('reader bug: 42');\n");
    await expect(ThreadedCaptures.start(['x.pcap'], new URL(`file://${bad}`))).rejects.toThrow('reader bug: 42');

    // Dies after opening: the read ends with an error, not a hang.
    const dies = tmp.path('dies.mjs');
    writeFileSync(dies, [
      "import { parentPort } from 'node:worker_threads';",
      "parentPort.postMessage({ t: 'open', infos: [{ path: 'a', format: 'pcap', compressed: false, byteOrder: 'LE', precision: 'us', linkTypes: [1], snapLength: 0, packets: 0, warnings: [] }], errors: [] });",
      'setTimeout(() => process.exit(3), 50);',
    ].join('\n'));
    const t = await ThreadedCaptures.start(['a'], new URL(`file://${dies}`));
    const reading = (async () => {
      for await (const _ of t.batches()) void _;
    })();
    await expect(reading).rejects.toThrow('exit code 3');
  });
});

describe('when the worker is used', () => {
  it('regular files of 16 MiB and more, not one plain pcap; never stdin; FLOWDEMUX_READ_THREAD forces', () => {
    const small = join(FIXTURES, 'demux-lo.pcap');
    const sized = (name: string, head: Uint8Array) => {
      const p = tmp.path(name);
      writeFileSync(p, head);
      truncateSync(p, 16 << 20); // sparse: only the size and the first bytes matter here
      return p;
    };
    const large = sized('large.pcap.gz', Uint8Array.of(0x1f, 0x8b, 8, 0));
    const plain = sized('plain.pcap', pcapHeader({}));
    const plainBe = sized('plain-be.pcap', Uint8Array.of(0xa1, 0xb2, 0x3c, 0x4d));
    expect(useReadThread([small], {})).toBe(false);
    expect(useReadThread([large], {})).toBe(true);
    // One classic pcap is walked faster than a worker can hand it over; several are merged.
    expect(useReadThread([plain], {})).toBe(false);
    expect(useReadThread([plainBe], {})).toBe(false);
    expect(useReadThread([plain, plainBe], {})).toBe(true);
    expect(useReadThread([plain], { FLOWDEMUX_READ_THREAD: '1' })).toBe(true);
    expect(useReadThread([large, join(FIXTURES, 'no-such.pcap')], {})).toBe(false);
    expect(useReadThread([large, FIXTURES], {})).toBe(false);
    expect(useReadThread([large], { FLOWDEMUX_READ_THREAD: '0' })).toBe(false);
    expect(useReadThread([small, join(FIXTURES, 'no-such.pcap')], { FLOWDEMUX_READ_THREAD: '1' })).toBe(true);
    expect(useReadThread([small, '-'], { FLOWDEMUX_READ_THREAD: '1' })).toBe(false);
    const fifo = tmp.path('stream.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    expect(useReadThread([small, fifo], { FLOWDEMUX_READ_THREAD: '1' })).toBe(false);
  });
});

describe('the CLI with and without the reader thread', () => {
  function cli(args: string[], thread: '0' | '1') {
    const r = spawnSync(process.execPath, [BIN, ...args], {
      encoding: 'utf8', timeout: 30_000, env: { ...process.env, FLOWDEMUX_READ_THREAD: thread },
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }
  const f = (p: string) => join(FIXTURES, p);
  const runs: string[][] = [
    ['packets', ...rotated],
    ['flows', '--format', 'json', ...rotated],
    ['demux', '--format', 'json', ...rotated],
    ['packets', '--format', 'ndjson', f('demux-lo.pcap.gz'), f('demux-lo.pcapng')],
    ['flows', '--format', 'json', f('demux-lo-ns.pcap'), f('no-such.pcap'), f('damaged/truncated.pcap.gz')],
    ['packets', f('damaged/cut-record.pcap'), f('damaged/pcap-version-9-9.pcap'), f('damaged/record-caplen-2gb.pcap')],
    ['flows', f('damaged/not-a-capture.txt'), f('damaged/zero-bytes.pcap')],
  ];
  it.each(runs.map((a) => [a.map((x) => x.replace(FIXTURES + '/', '')).join(' '), a]))('%s', (_name, args) => {
    const a = cli(args as string[], '0');
    const b = cli(args as string[], '1');
    expect(b).toEqual(a);
    expect(a.stdout.length + a.stderr.length).toBeGreaterThan(0);
  });

  it('ends quietly and promptly when the reader of its output goes away (| head -1)', async () => {
    const file = bigPcap('head.pcap', 40);
    const r = await firstLineThenHangUp(['packets', '--format', 'ndjson', file], { ...process.env, FLOWDEMUX_READ_THREAD: '1' });
    expect(JSON.parse(r.firstLine)).toMatchObject({ frame: 1 });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    // Reading all 40 MB (~39,000 lines of NDJSON) takes far longer than stopping after one batch.
    expect(r.ms).toBeLessThan(5000);
  });
});
