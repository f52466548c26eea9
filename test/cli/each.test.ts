/**
 * `flows --each CAPTURE.. --output DIR --jobs N`: every capture on its own, on worker threads
 * (the compiled dist/cli/each-worker.js), one output a capture, each the very file `flows
 * CAPTURE -o FILE` writes; the same files whatever --jobs; a capture that cannot be read is
 * named and the others still written; Parquet's `capture` column names the capture; --analysis
 * reaches the workers.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { eachTargets } from '../../src/cli/each.js';
import { tempDir } from '../helpers/capture-builders.js';
import { runCli } from '../helpers/run-cli.js';

const tmp = tempDir('flowdemux-each-');
afterAll(() => tmp.cleanup());

const CAPTURES = ['fixtures/demux-lo.pcap', 'fixtures/closed-ports.pcap', 'fixtures/rotated/part-1.pcap', 'fixtures/rotated/part-2.pcap', 'fixtures/rotated/part-3.pcap'];
const NAMES = ['demux-lo', 'closed-ports', 'part-1', 'part-2', 'part-3'];

/** Two Parquet files hold the same rows (in any order), the column `except` left out, by DuckDB. */
async function sameRowsBut(except: string, a: string, b: string): Promise<boolean> {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  try {
    const q = (x: string) => `SELECT * EXCLUDE (${except}) FROM read_parquet('${x}')`;
    const count = async (sql: string) => Number((await con.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM (${sql})`)).getRowObjectsJson()[0]!.n);
    const columns = async (x: string) => (await con.runAndReadAll(`DESCRIBE ${q(x)}`)).getRowObjectsJson().map((o) => o.column_name);
    const colsA = await columns(a);
    expect(colsA).toContain('handshake_total_ns');
    expect(colsA).toEqual(await columns(b));
    return await count(q(a)) === await count(q(b)) && await count(`${q(a)} EXCEPT ALL ${q(b)}`) === 0 && await count(`${q(b)} EXCEPT ALL ${q(a)}`) === 0;
  } finally {
    con.closeSync();
    db.closeSync();
  }
}

describe('flows --each', () => {
  it('writes one file a capture, the file flows writes for it alone, whatever --jobs', async () => {
    for (const format of ['ndjson', 'csv', 'zeek']) {
      const ext = format === 'zeek' ? 'conn.log' : format;
      const one = join(tmp.dir, `${format}-j1`);
      const two = join(tmp.dir, `${format}-j2`);
      const r1 = await runCli(['flows', '--each', ...CAPTURES, '--format', format, '-o', one, '--jobs', '1']);
      const r2 = await runCli(['flows', '--each', ...CAPTURES, '--format', format, '-o', two, '--jobs', '2']);
      expect(r1.code, r1.stderr).toBe(0);
      expect(r2.code, r2.stderr).toBe(0);
      expect(r1.stderr).toBe(`flowdemux: 5 of 5 captures written to ${one} (1 worker thread)\n`);
      expect(r2.stderr).toBe(`flowdemux: 5 of 5 captures written to ${two} (2 worker threads)\n`);
      expect(readdirSync(one).sort()).toEqual(NAMES.map((n) => `${n}.${ext}`).sort());
      for (let i = 0; i < CAPTURES.length; i++) {
        const alone = join(tmp.dir, `alone-${NAMES[i]}.${ext}`);
        expect((await runCli(['flows', CAPTURES[i]!, '--format', format, '-o', alone])).code).toBe(0);
        const want = readFileSync(alone);
        expect(readFileSync(join(one, `${NAMES[i]}.${ext}`)).equals(want), `${format} ${NAMES[i]} --jobs 1`).toBe(true);
        expect(readFileSync(join(two, `${NAMES[i]}.${ext}`)).equals(want), `${format} ${NAMES[i]} --jobs 2`).toBe(true);
      }
    }
    // Each capture on its own: the rotated parts' flow ids start at 1 in each file.
    const ids = ['part-1', 'part-2', 'part-3'].map((n) => readFileSync(join(tmp.dir, 'ndjson-j2', `${n}.ndjson`), 'utf8').trim().split('\n').map((l) => JSON.parse(l).id as number));
    for (const list of ids) expect(Math.min(...list)).toBe(1);
  }, 240_000);

  it('Parquet: a file a capture, its capture column naming it; DuckDB reads them as one dataset', async () => {
    const dir = join(tmp.dir, 'pq');
    const r = await runCli(['flows', '--each', ...CAPTURES, '--format', 'parquet', '-o', dir, '--jobs', '2']);
    expect(r.code, r.stderr).toBe(0);
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    try {
      const rows = (await con.runAndReadAll(`SELECT capture, count(*)::INTEGER AS n FROM read_parquet('${dir}/*.parquet') GROUP BY capture ORDER BY capture`)).getRowObjectsJson();
      const want = [];
      for (const c of CAPTURES) {
        const nd = await runCli(['flows', c, '--format', 'ndjson']);
        want.push({ capture: c, n: nd.stdout.trim().split('\n').length });
      }
      want.sort((a, b) => (a.capture < b.capture ? -1 : 1));
      expect(rows).toEqual(want);
    } finally {
      con.closeSync();
      db.closeSync();
    }
  }, 120_000);

  it('--analysis reaches the workers: each file is flows --analysis\'s for its capture alone', async () => {
    const captures = ['fixtures/demux-lo.pcap', 'fixtures/lo-zero-window-keepalive.pcap', 'fixtures/closed-ports.pcap'];
    const names = ['demux-lo', 'lo-zero-window-keepalive', 'closed-ports'];
    for (const format of ['ndjson', 'csv', 'parquet']) {
      const dir = join(tmp.dir, `analysis-${format}`);
      const r = await runCli(['flows', '--each', ...captures, '--format', format, '--analysis', '-o', dir, '--jobs', '2']);
      expect(r.code, r.stderr).toBe(0);
      for (let i = 0; i < captures.length; i++) {
        const alone = join(tmp.dir, `analysis-alone-${names[i]}.${format}`);
        const a = await runCli(['flows', captures[i]!, '--format', format, '--analysis', '-o', alone]);
        expect(a.code, a.stderr).toBe(0);
        const mine = join(dir, `${names[i]}.${format}`);
        const got = readFileSync(mine);
        if (format === 'parquet') {
          // The same rows but for the `capture` column, which only --each fills.
          expect(await sameRowsBut('capture', mine, alone), names[i]).toBe(true);
          continue;
        }
        expect(got.equals(readFileSync(alone)), `${format} ${names[i]}`).toBe(true);
        if (format === 'ndjson') {
          const flows = got.toString().trim().split('\n').map((l) => JSON.parse(l) as { proto: string; analysis?: { marks: Record<string, number> } });
          const tcp = flows.filter((f) => f.proto === 'tcp');
          expect(tcp.length, names[i]).toBeGreaterThan(0);
          for (const f of tcp) expect(f.analysis, names[i]).toBeDefined();
        }
        if (format === 'csv') expect(got.toString().split('\n')[0], names[i]).toMatch(/,retransmission,.*,ack_rtt_to_client_median$/);
      }
    }
    // The zero-window capture's marks came through: tshark marks its second flow's zero windows.
    const zw = readFileSync(join(tmp.dir, 'analysis-ndjson', 'lo-zero-window-keepalive.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(zw.reduce((n: number, f: { analysis: { marks: { zero_window: number } } }) => n + f.analysis.marks.zero_window, 0)).toBeGreaterThan(0);
  }, 240_000);

  it('a capture that cannot be read is named, the others are written, exit 1', async () => {
    const dir = join(tmp.dir, 'bad');
    const r = await runCli(['flows', '--each', 'fixtures/demux-lo.pcap', 'fixtures/damaged/zero-bytes.pcap', 'fixtures/no-such.pcap', '--format', 'ndjson', '-o', dir, '-j', '2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('fixtures/damaged/zero-bytes.pcap');
    expect(r.stderr).toContain('fixtures/no-such.pcap');
    expect(r.stderr).toContain('flowdemux: 1 of 3 captures written to');
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe('flowdemux: 2 of 3 captures could not be read or written (see above)');
    expect(readdirSync(dir)).toEqual(['demux-lo.ndjson']);
  }, 120_000);

  it('--strict: a capture with warnings makes exit 3, its warning named', async () => {
    const r = await runCli(['flows', '--each', 'fixtures/demux-lo.pcap', 'fixtures/damaged/ipv4-ihl-3.pcap', '-o', join(tmp.dir, 'strict'), '--format', 'csv', '--strict']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('fixtures/damaged/ipv4-ihl-3.pcap: 1 packet was damaged');
  }, 120_000);

  it('usage: --output is needed, standard input is refused (with --each, and with --jobs on one timeline); one line each', async () => {
    const cases: [string[], RegExp][] = [
      [['flows', '--each', 'fixtures/demux-lo.pcap'], /--each writes one output a capture: name the folder with --output DIR/],
      [['flows', '-', '--jobs', '2'], /--jobs 2 reads the capture on 2 threads, each reading it whole: not standard input/],
      [['flows', '--each', '-', '-o', tmp.dir], /--each reads files, each on its own: not standard input/],
      [['flows', '--each', 'fixtures/demux-lo.pcap', '-o', 'fixtures/demux-lo.pcap'], /--each writes into a folder: 'fixtures\/demux-lo.pcap' is a file/],
      [['flows', '--each', 'fixtures/demux-lo.pcap', '-o', tmp.dir, '--jobs', '0'], /--jobs must be a number >= 1/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.split('\n')).toHaveLength(2);
    }
  });

  it('--progress: one line for all captures, redrawn as each ends, cleared before the summary', async () => {
    const out = join(tmp.dir, 'progress');
    const r = await runCli(['flows', '--each', ...CAPTURES.slice(0, 2), '--format', 'csv', '-o', out, '--jobs', '1', '--progress']);
    expect(r.code).toBe(0);
    const draws = r.stderr.split('\r\x1b[K').filter((d) => d !== '');
    expect(draws[0]).toMatch(/^flows --each: 0 of 2 captures done \(0 kB of \d+ kB\), 1 reading, \d+:\d\d$/);
    expect(draws.some((d) => /^flows --each: 1 of 2 captures done \(\d+ kB of \d+ kB\), 0 reading/.test(d))).toBe(true);
    expect(draws.at(-1)).toBe(`flowdemux: 2 of 2 captures written to ${out} (1 worker thread)\n`);
  }, 120_000);

  it('names each output after its capture, two of one name apart', () => {
    expect(eachTargets(['a/x.pcap', 'b/x.pcap', 'c/x.pcapng.gz', 'y.cap', 'z'], 'out', 'parquet'))
      .toEqual(['out/x.parquet', 'out/x-2.parquet', 'out/x-3.parquet', 'out/y.parquet', 'out/z.parquet']);
    expect(eachTargets(['x.pcap'], 'out', 'zeek')).toEqual(['out/x.conn.log']);
  });
});
