/**
 * Streaming input, end to end: the built CLI reads a pipe (stdin, a named FIFO, gzip through a
 * pipe) that the test writes a record at a time, as `tcpdump -U -w -` does. Every test waits
 * for the output a record must cause *before* it writes the next record or closes the input:
 * a line that only came out at the end of the input (or when a buffer filled) would never
 * arrive, and the test would fail on vitest's timeout. Nothing is decided by the clock.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, createWriteStream, openSync, readFileSync } from 'node:fs';
import { createGzip } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/capture-builders.js';
import { FIXTURES } from '../helpers/fixture-files.js';
import { BIN } from '../helpers/hang-up.js';
import { pcapRecords, startPiped } from '../helpers/piped-cli.js';

const FIXTURE = `${FIXTURES}demux-lo.pcap`;
const { header, records } = pcapRecords(readFileSync(FIXTURE));
const tmp = tempDir('flowdemux-stream-');
afterAll(() => tmp.cleanup());

/** The lines the CLI prints for the fixture read as a file. */
function fileLines(args: string[]): string[] {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  return r.stdout.trim().split('\n');
}

const write = (stream: NodeJS.WritableStream, bytes: Uint8Array) => new Promise<void>((resolve) => stream.write(bytes, () => resolve()));

describe('streaming input: a line for each record as it arrives', () => {
  it('packets - : each packet is printed while the pipe stays open, the lines a file read gives', async () => {
    const expected = fileLines(['packets', FIXTURE, '--format', 'ndjson']);
    const cli = startPiped(['packets', '-', '--format', 'ndjson']);
    await write(cli.stdin, header);
    for (let i = 0; i < records.length; i++) {
      await write(cli.stdin, records[i]!);
      // Waits for this record's line; the input is still open.
      expect(await cli.nextLine()).toBe(expected[i]);
    }
    cli.stdin.end();
    const r = await cli.done;
    expect(r).toMatchObject({ code: 0, stderr: '', rest: [] });
  }, 60_000);

  it('a record written in two pieces is printed once its last byte has arrived', async () => {
    const cli = startPiped(['packets', '-', '--format', 'ndjson']);
    const rec = records[0]!;
    await write(cli.stdin, header);
    await write(cli.stdin, rec.subarray(0, 20)); // record header and a few bytes
    await write(cli.stdin, rec.subarray(20));
    expect(JSON.parse(await cli.nextLine())).toMatchObject({ frame: 1 });
    cli.stdin.end();
    expect((await cli.done).code).toBe(0);
  });

  it('packets on a named FIFO streams as stdin does', async () => {
    const fifo = tmp.path('capture.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const cli = startPiped(['packets', fifo], 'ignore');
    // Opening for writing waits until flowdemux has opened the FIFO for reading.
    const writer = createWriteStream(fifo);
    await write(writer, header);
    await write(writer, records[0]!);
    const first = await cli.nextLine(); // the table's header line comes with the first packet
    expect(first).toMatch(/^No\.\s+Time/);
    expect(await cli.nextLine()).toMatch(/^1\s+0\.000000 EN10MB\s+127\.0\.0\.2:9157\s+127\.0\.0\.1:80/);
    await write(writer, records[1]!);
    expect(await cli.nextLine()).toMatch(/^2\s+0\.0000\d\d EN10MB\s+127\.0\.0\.1:80\s+127\.0\.0\.2:9157/);
    writer.end();
    expect(await cli.done).toMatchObject({ code: 0, stderr: '', rest: [] });
  });

  it('gzip through a pipe streams when the writer flushes its deflate stream after each record', async () => {
    const cli = startPiped(['packets', '-', '--format', 'ndjson']);
    const gz = createGzip();
    gz.pipe(cli.stdin);
    const flushed = (bytes: Uint8Array) => new Promise<void>((resolve) => {
      gz.write(bytes);
      gz.flush(() => resolve());
    });
    await flushed(header);
    for (let i = 0; i < 3; i++) {
      await flushed(records[i]!);
      expect(JSON.parse(await cli.nextLine())).toMatchObject({ frame: i + 1 });
    }
    gz.end();
    expect(await cli.done).toMatchObject({ code: 0, stderr: '', rest: [] });
  });

  it('| head: the reader goes away while the pipe is open; flowdemux ends quietly at its next line', async () => {
    const cli = startPiped(['packets', '-']);
    await write(cli.stdin, header);
    await write(cli.stdin, records[0]!);
    expect(await cli.nextLine()).toMatch(/^No\./);
    cli.child.stdout!.destroy();
    // The next packet's line meets the closed pipe: flowdemux stops reading and exits 0.
    for (let i = 1; i < records.length && cli.child.exitCode === null; i++) await write(cli.stdin, records[i]!);
    const r = await cli.done;
    expect(r).toMatchObject({ code: 0, signal: null, stderr: '' });
  });

  it('stdin redirected from a regular file is read as the file is: the same bytes, in the same order', () => {
    const fd = openSync(FIXTURE, 'r');
    try {
      const r = spawnSync(process.execPath, [BIN, 'flows', '-', '--format', 'ndjson'], { stdio: [fd, 'pipe', 'pipe'], encoding: 'utf8' });
      expect(r.status).toBe(0);
      // In a file, a closed connection is written when it is released: flow 3 when flow 4's SYN
      // reuses its tuple, flows 1 and 2 only at the end.
      expect(r.stdout.trim().split('\n')).toEqual(fileLines(['flows', FIXTURE, '--format', 'ndjson']));
      expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l).id)).toEqual([3, 4, 1, 2, 5, 6, 7]);
    } finally {
      closeSync(fd);
    }
  });
});

describe('streaming input: flows --format ndjson writes a connection when it is over', () => {
  it('each TCP connection comes out at its last packet (final ACK, or RST), the record a file read gives', async () => {
    const expected = new Map(fileLines(['flows', FIXTURE, '--format', 'ndjson']).map((l) => [JSON.parse(l).id as number, l]));
    // The frame each TCP flow ends with, from the file's own view of the packets.
    const packets = fileLines(['packets', FIXTURE, '--format', 'ndjson']).map((l) => JSON.parse(l));
    const lastFrame = new Map<number, number>();
    for (const p of packets) if (p.proto === 'tcp' && p.flow) lastFrame.set(p.flow.id, p.frame);
    const closesAt = new Map([...lastFrame].map(([id, frame]) => [frame, id]));
    expect(closesAt.size).toBe(5); // flows 1-5 of the teaching picture

    const cli = startPiped(['flows', '-', '--format', 'ndjson']);
    await write(cli.stdin, header);
    const seen: number[] = [];
    for (let i = 0; i < records.length; i++) {
      await write(cli.stdin, records[i]!);
      const closed = closesAt.get(i + 1);
      if (closed === undefined) continue;
      const line = await cli.nextLine();
      expect(line).toBe(expected.get(closed));
      seen.push(closed);
    }
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect(cli.queued).toBe(0);
    // The UDP flows end with the input (no close; the idle timeout is a minute of capture time).
    cli.stdin.end();
    const r = await cli.done;
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.rest).toEqual([expected.get(6), expected.get(7)]);
  }, 60_000);
});
