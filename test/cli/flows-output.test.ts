/**
 * `flows --format json|ndjson` through the byte paths, in-process on real captures: the JSON
 * document written from the page store (no --sort/--limit) is byte for byte the document of
 * the chunk path (flowsJsonChunks, still used with --limit), with and without filters; the
 * streamed NDJSON holds the same lines; a slow reader gets the same bytes in 64 KiB pieces;
 * a reader that goes away ends the run quietly.
 */
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureFiles, FIXTURES } from '../helpers/fixture-files.js';
import { run } from '../../src/cli/main.js';
import { writeSynFlood } from '../fuzz/flood.js';
import { tempDir } from '../helpers/capture-builders.js';
import { runCli } from '../helpers/run-cli.js';

/** Larger than any capture here has flows: takes the chunk path without dropping any. */
const NO_LIMIT = ['--limit', '1000000000'];


/** The flow lines of a JSON document (one flow a line, `,` after all but the last). */
function docFlowLines(doc: string): string[] {
  return doc.split('\n').filter((l) => l.startsWith('{"id":')).map((l) => l.replace(/,$/, ''));
}

const byId = (a: string, b: string) => Number(/^\{"id":(\d+)/.exec(a)![1]) - Number(/^\{"id":(\d+)/.exec(b)![1]);

/** Collects bytes as they come, each write in its own piece; `slow` answers each write later. */
class Sink extends Writable {
  pieces: Buffer[] = [];
  isTTY = false;
  constructor(private readonly slow = false, highWaterMark = 16 * 1024) {
    super({ highWaterMark });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    // A copy: a piece handed over must not change afterwards, and this checks it did not.
    this.pieces.push(Buffer.from(chunk));
    if (this.slow) setImmediate(cb);
    else cb();
  }
  get bytes(): Buffer {
    return Buffer.concat(this.pieces);
  }
}

async function runWith(args: string[], stdout: Writable & { isTTY?: boolean }): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const err = new Writable({
    write(chunk: Buffer, _e, cb) {
      stderr += chunk.toString();
      cb();
    },
  });
  const stdin = new PassThrough();
  stdin.end();
  const code = await run(args, { stdout, stderr: err, stdin });
  return { code, stderr };
}

describe('flows --format json: the page store writes the chunk path\'s document', () => {
  const files = captureFiles(FIXTURES);
  const filters: string[][] = [[], ['--proto', 'udp'], ['--port', '80'], ['--host', '127.0.0.1'], ['--proto', 'icmp']];
  it('on every fixture capture, with each filter', async () => {
    expect(files.length).toBeGreaterThan(40);
    let flows = 0;
    for (const file of files) {
      for (const filter of filters) {
        const stored = await runCli(['flows', file, '--format', 'json', ...filter]);
        const chunked = await runCli(['flows', file, '--format', 'json', ...filter, ...NO_LIMIT]);
        const what = `${file} ${filter.join(' ')}`;
        expect(stored.stdout, what).toBe(chunked.stdout);
        expect(stored.stderr, what).toBe(chunked.stderr);
        expect(stored.code, what).toBe(chunked.code);
        flows += docFlowLines(stored.stdout).length;
      }
    }
    expect(flows).toBeGreaterThan(200);
  }, 600_000); // a hang guard: ~900 runs of the CLI, minutes on a loaded machine

  it('a capture without flows: an empty array, as before', async () => {
    const file = join(FIXTURES, 'crafted/empty-header-only.pcap');
    const stored = await runCli(['flows', file, '--format', 'json']);
    expect(stored.stdout).toBe((await runCli(['flows', file, '--format', 'json', ...NO_LIMIT])).stdout);
    expect(JSON.parse(stored.stdout).flows).toEqual([]);
    expect(stored.stdout).toContain('"flows":[],\n');
  });
});

describe('flows --format ndjson: streamed lines', () => {
  it('are the flows of the JSON document, one a line, on every fixture capture', async () => {
    for (const file of captureFiles(FIXTURES)) {
      for (const filter of [[], ['--port', '80']]) {
        const streamed = await runCli(['flows', file, '--format', 'ndjson', ...filter]);
        const ordered = await runCli(['flows', file, '--format', 'ndjson', ...filter, ...NO_LIMIT]);
        const doc = await runCli(['flows', file, '--format', 'json', ...filter]);
        const lines = streamed.stdout === '' ? [] : streamed.stdout.replace(/\n$/, '').split('\n');
        expect(streamed.stdout === '' || streamed.stdout.endsWith('\n')).toBe(true);
        expect(ordered.stdout, file).toBe(lines.slice().sort(byId).map((l) => l + '\n').join(''));
        expect(lines.slice().sort(byId), file).toEqual(docFlowLines(doc.stdout));
      }
    }
  }, 120_000);
});

describe('many flows (a SYN flood): pages, 64 KiB pieces, backpressure, a closed pipe', () => {
  const tmp = tempDir('flowdemux-output-');
  let flood = '';
  const COUNT = 20_000; // ~11 MB of JSON: a dozen store pages, ~170 output pieces
  beforeAll(() => {
    flood = tmp.path('flood.pcap');
    writeSynFlood(flood, COUNT);
  });
  afterAll(() => tmp.cleanup());

  it('the store path and the chunk path write the same document; a slow reader gets it in 64 KiB pieces', async () => {
    const fast = new Sink();
    const slow = new Sink(true);
    const chunked = new Sink();
    expect((await runWith(['flows', flood, '--format', 'json'], fast)).code).toBe(0);
    expect((await runWith(['flows', flood, '--format', 'json'], slow)).code).toBe(0);
    expect((await runWith(['flows', flood, '--format', 'json', ...NO_LIMIT], chunked)).code).toBe(0);
    expect(fast.bytes.equals(chunked.bytes)).toBe(true);
    expect(slow.bytes.equals(chunked.bytes)).toBe(true);
    const doc = JSON.parse(fast.bytes.toString('utf8'));
    expect(doc.flows).toHaveLength(COUNT);
    expect(doc.flows.map((f: { id: number }) => f.id)).toEqual(Array.from({ length: COUNT }, (_, i) => i + 1));
    const pieces = slow.pieces.filter((p) => p.length > 0);
    expect(pieces.length).toBeGreaterThan(100);
    for (const p of pieces.slice(0, -1)) expect(p.length).toBeGreaterThanOrEqual(64 * 1024);
  }, 60_000);

  it('ndjson streams the same flows while the capture is read (--max-flows makes them end early)', async () => {
    const streamed = new Sink(true);
    const doc = new Sink();
    expect((await runWith(['flows', flood, '--format', 'ndjson', '--max-flows', '100'], streamed)).code).toBe(0);
    expect((await runWith(['flows', flood, '--format', 'json', '--max-flows', '100'], doc)).code).toBe(0);
    const lines = streamed.bytes.toString('utf8').replace(/\n$/, '').split('\n');
    expect(lines).toHaveLength(COUNT);
    expect(lines.slice().sort(byId)).toEqual(docFlowLines(doc.bytes.toString('utf8')));
  }, 60_000);

  for (const format of ['json', 'ndjson']) {
    it(`${format}: a reader that goes away (EPIPE) ends the run quietly with exit 0`, async () => {
      let received = 0;
      const gone = new Writable({
        write(chunk: Buffer, _e, cb) {
          received += chunk.length;
          const err = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
          setImmediate(() => cb(err));
        },
      });
      const r = await runWith(['flows', flood, '--format', format], gone);
      expect(r.code).toBe(0);
      expect(r.stderr).not.toMatch(/cannot write|EPIPE/);
      expect(received).toBeGreaterThan(0);
      expect(received).toBeLessThan(1024 * 1024); // stopped at the first failed piece, not after 11 MB
    }, 60_000);

    it(`${format}: a stream that fails otherwise (disk full) is reported once, exit 1`, async () => {
      const full = new Writable({
        write(_chunk: Buffer, _e, cb) {
          setImmediate(() => cb(Object.assign(new Error('write ENOSPC'), { code: 'ENOSPC' })));
        },
      });
      const r = await runWith(['flows', flood, '--format', format], full);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^flowdemux: cannot write output: .*ENOSPC/);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    }, 60_000);
  }
});
