/**
 * The progress line end to end: --progress on real files (plain, gzip, several on the reader
 * thread) shows the percent read and the phase after reading, and ends cleared; piped stderr
 * without --progress gets nothing; Ctrl-C while the line shows clears it before the process
 * dies of the signal. The line is drawn from the first batch when --progress asks for it, so
 * nothing here depends on how long a read takes.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES } from '../helpers/fixture-files.js';
import { BIN } from '../helpers/hang-up.js';
import { pcapRecords, startPiped } from '../helpers/piped-cli.js';
import { runCli } from '../helpers/run-cli.js';

const CLEAR = '\r\x1b[K';
const PCAP = join(FIXTURES, 'demux-lo.pcap');

function spawnCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('--progress', () => {
  it('flows: the percent read, then the phase, then cleared; the report unchanged', async () => {
    const plain = await runCli(['flows', PCAP]);
    const r = await runCli(['flows', PCAP, '--progress']);
    expect(r.code).toBe(0);
    // The rate is whatever the machine gave (1.2 M/s, 45.0 K/s, or 600/s on a loaded one).
    expect(r.stderr).toMatch(/^\r\x1b\[Kreading: 100% 60 packets, [\d.,]+( [KM])?\/s, 0:00 left/);
    expect(r.stderr).toContain(`${CLEAR}writing report...`);
    expect(r.stderr.endsWith(CLEAR)).toBe(true);
    expect(r.stdout).toBe(plain.stdout);
  });

  it('demux of a gzip capture: percent of the compressed bytes', async () => {
    const r = await runCli(['demux', join(FIXTURES, 'demux-lo.pcap.gz'), '--progress', '--format', 'json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/reading: 100% 60 packets/);
    expect(r.stderr.endsWith(CLEAR)).toBe(true);
  });

  it('several files read on the worker thread report their bytes too', async () => {
    const dir = join(FIXTURES, 'rotated');
    const files = readdirSync(dir).filter((f) => f.endsWith('.pcap')).map((f) => join(dir, f));
    const r = await spawnCli(['flows', ...files, '--progress'], { FLOWDEMUX_READ_THREAD: '1' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/reading: 100% \d+ packets/);
    expect(r.stderr.endsWith(CLEAR)).toBe(true);
  });

  it('stderr piped and no --progress: nothing written there', async () => {
    const r = await spawnCli(['flows', PCAP]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect((await spawnCli(['demux', PCAP, '--no-progress'])).stderr).toBe('');
  });

  it('Ctrl-C while the line shows: cleared, then the process ends by the signal', async () => {
    const { header, records } = pcapRecords(readFileSync(PCAP));
    // From a pipe, so that reading lasts until the test stops it.
    const cli = startPiped(['flows', '-', '--progress']);
    let stderr = '';
    const drawn = new Promise<void>((resolve) => cli.child.stderr!.on('data', (d: Buffer) => {
      stderr += d;
      if (stderr.includes('reading: ')) resolve();
    }));
    cli.stdin.write(header);
    for (const r of records.slice(0, 10)) cli.stdin.write(r);
    await drawn;
    cli.child.kill('SIGINT');
    const done = await cli.done;
    expect(done.signal, JSON.stringify(done)).toBe('SIGINT');
    expect(done.stderr).toMatch(/^\r\x1b\[Kreading: 10 packets, /);
    expect(done.stderr.endsWith(CLEAR), JSON.stringify(done)).toBe(true);
  });
});
