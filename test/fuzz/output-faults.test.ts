/**
 * Output faults (issue 7), on the compiled CLI as a real process: standard output on a full
 * disk (/dev/full), a -w file on a full disk or at a path that cannot be written, stderr on a
 * full disk, and a reader that goes away (`| head -1`). Each must end with one `flowdemux:`
 * line (or none, for a closed pipe) and a clean exit code, never a stack trace and never a
 * process that keeps running.
 */
import { spawn, type StdioOptions } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firstLineThenHangUp } from '../helpers/hang-up.js';
import { buildPcap, tempDir } from '../helpers/capture-builders.js';
import { buildUdp, ethernet } from '../helpers/packet-builders.js';
import { stderrProblems } from './checks.js';
import { writeSynFlood } from './flood.js';

const BIN = new URL('../../bin/flowdemux.js', import.meta.url).pathname;
const SEED = new URL('../../fixtures/demux-lo.pcap', import.meta.url).pathname;
/** Anything still running after this is hung. */
const HANG_MS = 15_000;
const isRoot = process.getuid?.() === 0;

const tmp = tempDir('flowdemux-faults-');
let flood = '';
let cut = '';
beforeAll(() => {
  // 60,000 flows: every output is far larger than a pipe's 64 KiB buffer.
  flood = tmp.path('flood.pcap');
  writeSynFlood(flood, 60_000);
  // A capture that reads with a warning (its last record is cut short).
  const whole = buildPcap({}, [
    { tsSec: 1, tsFrac: 0, data: ethernet(buildUdp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 5000, dport: 53, payload: 'q' })) },
    { tsSec: 2, tsFrac: 0, data: ethernet(buildUdp({ src: '10.0.0.2', dst: '10.0.0.1', sport: 53, dport: 5000, payload: 'answer' })) },
  ]);
  cut = tmp.write('cut.pcap', whole.subarray(0, whole.length - 5));
});
afterAll(() => tmp.cleanup());

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the binary with the given stdio for fds 1 and 2 ('pipe' to collect), killing it if it hangs. */
function flowdemux(args: string[], out: 'pipe' | number = 'pipe', err: 'pipe' | number = 'pipe'): Promise<Ended> {
  const t0 = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', out, err] as StdioOptions });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), HANG_MS);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    }),
  );
}

/** Opens /dev/full for writing, runs `fn` with its fd, closes it. */
async function withDevFull<T>(fn: (fd: number) => Promise<T>): Promise<T> {
  const fd = openSync('/dev/full', 'w');
  try {
    return await fn(fd);
  } finally {
    closeSync(fd);
  }
}

function expectOneLine(r: Ended, pattern: RegExp): void {
  expect(r.signal, 'the process ended by itself').toBe(null);
  expect(stderrProblems(r.stderr)).toEqual([]);
  expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
}

describe('fuzz: output faults', () => {
  describe('standard output on a full disk (/dev/full)', () => {
    const commands: [string, string[]][] = [
      ['packets table', ['packets', '%flood']],
      ['packets ndjson', ['packets', '%flood', '--format', 'ndjson']],
      ['flows json', ['flows', '%flood', '--format', 'json']],
      ['flows ndjson (streaming)', ['flows', '%flood', '--format', 'ndjson', '--max-flows', '100']],
      ['flows table', ['flows', SEED, '--format', 'table']],
      ['demux table', ['demux', SEED]],
      ['demux json', ['demux', '%flood', '--format', 'json']],
      ['ladder', ['ladder', SEED, '--flow', '1']],
    ];
    for (const [name, args] of commands) {
      it(`${name}: "cannot write output: disk full", exit 1`, async () => {
        const r = await withDevFull((fd) => flowdemux(args.map((a) => (a === '%flood' ? flood : a)), fd));
        expectOneLine(r, /^flowdemux: cannot write output: disk full \(ENOSPC\)\n$/);
        expect(r.code).toBe(1);
      }, HANG_MS + 5000);
    }
  });

  it('stderr on a full disk: the output is still written and the exit code still tells (0, or 3 under --strict)', async () => {
    const r = await withDevFull((fd) => flowdemux(['packets', cut, '--format', 'ndjson'], 'pipe', fd));
    expect(r.signal).toBe(null);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const strict = await withDevFull((fd) => flowdemux(['flows', cut, '--format', 'json', '--strict'], 'pipe', fd));
    expect(strict.code).toBe(3);
    expect(JSON.parse(strict.stdout).flows).toHaveLength(1);
  });

  describe('a reader that goes away after the first line (| head -1)', () => {
    const commands: [string, string[]][] = [
      // Lines stream while the capture is read (flows end by eviction).
      ['flows ndjson', ['flows', '%flood', '--format', 'ndjson', '--max-flows', '100']],
      ['flows json', ['flows', '%flood', '--format', 'json']],
      // Written at the end, in one piece far larger than the pipe holds.
      ['demux json', ['demux', '%flood', '--format', 'json']],
      ['demux table', ['demux', '%flood']],
    ];
    for (const [name, args] of commands) {
      it(`${name}: ends quietly with exit 0`, async () => {
        const r = await firstLineThenHangUp(args.map((a) => (a === '%flood' ? flood : a)), process.env, HANG_MS);
        const { firstLine, code, signal, stderr } = r;
        expect(firstLine.length).toBeGreaterThan(0);
        expect(signal, `ended by itself (${r.ms} ms; stderr: ${stderr})`).toBe(null);
        expect(code).toBe(0);
        expect(stderrProblems(stderr)).toEqual([]);
        expect(stderr).not.toMatch(/cannot write|EPIPE/);
      }, HANG_MS + 5000);
    }
  });

  describe('live -w', () => {
    const noDir = tmp.path('no-such-dir/out.pcap');
    const cases: [string, () => string, RegExp][] = [
      ['a missing directory', () => noDir, /^flowdemux: cannot write .*no-such-dir\/out\.pcap: no such directory .*no-such-dir\n$/],
      ['a directory', () => { mkdirSync(tmp.path('a-dir'), { recursive: true }); return tmp.path('a-dir'); }, /: is a directory\n$/],
      ['a path through a regular file', () => { writeFileSync(tmp.path('plain'), 'x'); return tmp.path('plain/out.pcap'); }, /: a part of the path is not a directory\n$/],
      ['a file system that refuses new files', () => '/proc/flowdemux-fuzz.pcap', /: cannot create a file in \/proc\n$/],
    ];
    for (const [name, path, message] of cases) {
      it(`${name}: one line, exit 1, before capturing`, async () => {
        const p = path();
        const r = await flowdemux(['live', '-i', 'lo', '-w', p, '--count', '1']);
        expectOneLine(r, message);
        expect(r.code).toBe(1);
        expect(r.stdout).toBe('');
        if (name === 'a missing directory') expect(existsSync(p)).toBe(false);
      }, HANG_MS + 5000);
    }

    // Opening /dev/full succeeds; the first write (at the latest when the file is closed) fails.
    it.runIf(isRoot)('a full disk (/dev/full): "disk full", exit 1, the report still printed (root: captures on lo)', async () => {
      const r = await flowdemux(['live', '-i', 'lo', '-w', '/dev/full', '--duration', '0.5', '--filter', 'udp port 9', '--format', 'json']);
      if (r.stderr.includes('optional `cap` package')) return; // cap not built here
      // live's own first and last lines (as tcpdump's), then the one error line.
      const lines = r.stderr.split('\n');
      expect(lines[0]).toMatch(/^flowdemux: capturing on lo /);
      expect(lines[1]).toMatch(/^flowdemux: \d+ packets captured/);
      expectOneLine({ ...r, stderr: lines.slice(2).join('\n') }, /^flowdemux: cannot write \/dev\/full: disk full\n$/);
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout).flows).toEqual([]);
    }, HANG_MS + 5000);
  });
});
