/**
 * `flows CAPTURE --jobs N`: the input's flows over N worker threads (the compiled
 * dist/cli/shard-worker.js), the output byte for byte what one thread writes, in every format,
 * with selections, sorting and the TCP analysis; an input shards cannot split is read again on
 * one thread, saying why; standard input and pipes are refused in one line.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/capture-builders.js';
import { runCli } from '../helpers/run-cli.js';

const tmp = tempDir('flowdemux-jobs-');
afterAll(() => tmp.cleanup());

let busy = '';
let reuse = '';
beforeAll(() => {
  busy = tmp.path('busy.pcap');
  reuse = tmp.path('reuse.pcap');
  execFileSync(process.execPath, ['scripts/bench/generate.mjs', busy, '--packets', '30000', '--busy-server', '--seed', '3'], { stdio: 'ignore' });
  execFileSync(process.execPath, ['scripts/bench/generate.mjs', reuse, '--packets', '40000', '--busy-server', '--clients', '100', '--open', '50', '--gap', '2000', '--seed', '9'], { stdio: 'ignore' });
});

/** stdout (or the --output file) and stderr of `flows ARGS`, and of `flows ARGS --jobs N`. */
async function both(args: string[], jobs: number, file?: string): Promise<[Buffer, Buffer, string]> {
  const out = (suffix: string) => (file === undefined ? [] : ['-o', tmp.path(`${file}-${suffix}`)]);
  const one = await runCli(['flows', ...args, ...out('1')]);
  const many = await runCli(['flows', ...args, '--jobs', String(jobs), ...out(String(jobs))]);
  expect(one.code, one.stderr).toBe(0);
  expect(many.code, many.stderr).toBe(0);
  if (file === undefined) return [one.stdoutBytes, many.stdoutBytes, many.stderr];
  return [readFileSync(tmp.path(`${file}-1`)), readFileSync(tmp.path(`${file}-${jobs}`)), many.stderr];
}

describe('flows --jobs N on one capture', () => {
  it('writes what one thread writes, in every format', async () => {
    for (const format of ['json', 'ndjson', 'zeek-json', 'ecs', 'csv', 'zeek', 'table', 'parquet']) {
      const [one, many, stderr] = await both([busy, '--format', format], 3, format === 'parquet' ? 'flows.parquet' : undefined);
      expect(one.length, format).toBeGreaterThan(10_000);
      expect(many.equals(one), format).toBe(true);
      expect(stderr).toBe('');
    }
  });

  it('with selections, sorting, a packet filter and the TCP analysis', async () => {
    const cases = [
      ['--format', 'json', '--port', '443'],
      ['--format', 'ndjson', '--proto', 'udp'],
      ['--format', 'json', '--sort', 'bytes', '--limit', '40'],
      ['--format', 'ndjson', '--filter', 'tcp port 80'],
      ['--format', 'json', '--analysis'],
    ];
    for (const c of cases) {
      const [one, many] = await both([busy, ...c], 2);
      expect(one.length, c.join(' ')).toBeGreaterThan(1000);
      expect(many.equals(one), c.join(' ')).toBe(true);
    }
  });

  it('numbers the generations of reused tuples as one thread does', async () => {
    const [one, many] = await both([reuse, '--format', 'ndjson'], 3);
    const generations = one.toString().split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { generation: number }).generation);
    expect(Math.max(...generations)).toBeGreaterThan(2);
    expect(many.equals(one)).toBe(true);
  });

  it('writes times with the digits one thread uses (a pcapng whose later interface has nanoseconds)', async () => {
    for (const format of ['json', 'ndjson', 'table']) {
      const [one, many] = await both(['fixtures/crafted/pcapng-two-interfaces-eth-ns-raw-bin20.pcapng', '--format', format], 3);
      expect(one.length, format).toBeGreaterThan(500);
      expect(many.toString(), format).toBe(one.toString());
    }
  });

  it('reads a capture with UDP tunnels again on one thread, saying why', async () => {
    const [one, many, stderr] = await both(['fixtures/crafted/vxlan-eth-tcp-and-arp.pcap', '--format', 'json'], 2);
    expect(many.equals(one)).toBe(true);
    expect(stderr).toBe('flowdemux: --jobs 2: read again on one thread: it has UDP tunnels, whose flows and the flows inside them have different address pairs\n');
  });

  it('refuses a pipe in one line', async () => {
    const fifo = tmp.path('pipe');
    execFileSync('mkfifo', [fifo]);
    const r = await runCli(['flows', fifo, '--jobs', '2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`flowdemux: --jobs 2 reads the capture on 2 threads, each reading it whole: '${fifo}' is not a regular file\n`);
  });

  it('refuses standard input in one line', async () => {
    const r = await runCli(['flows', '-', '--jobs', '2'], readFileSync('fixtures/demux-lo.pcap'));
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("flowdemux: --jobs 2 reads the capture on 2 threads, each reading it whole: not standard input ('-') (see flowdemux --help)\n");
  });
});
