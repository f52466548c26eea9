/**
 * `flows --format parquet`: DuckDB (the real engine, @duckdb/node-api) reads back every row of
 * every fixture's file with the values of the same flows' JSON, in typed columns; the writer
 * hands each row group to its sink as it fills (memory holds one row group); binary is refused
 * on a terminal; --output names a file in a folder that exists.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as J from '../../src/core/json-types.js';
import { run } from '../../src/cli/main.js';
import { FlowParquetWriter, PARQUET_COLUMNS } from '../../src/report/parquet.js';
import { captureFiles } from '../helpers/fixture-files.js';
import { tempDir } from '../helpers/capture-builders.js';
import { runCli } from '../helpers/run-cli.js';
import { isoNanos } from '../helpers/iso-nanos.js';
import { runPipeline } from './pipeline.js';

const tmp = tempDir('flowdemux-parquet-');
let db: DuckDBInstance;
let con: DuckDBConnection;
beforeAll(async () => {
  db = await DuckDBInstance.create(':memory:');
  con = await db.connect();
});
afterAll(() => {
  con?.closeSync();
  db?.closeSync();
  tmp.cleanup();
});

type Row = Record<string, string | number | boolean | null>;

/** Every row of a Parquet file as DuckDB reads it (64-bit integers as text), with the times in ns. */
async function rowsOf(path: string): Promise<Row[]> {
  const r = await con.runAndReadAll(
    `SELECT *, epoch_ns(start_time)::VARCHAR AS start_ns, epoch_ns(end_time)::VARCHAR AS end_ns FROM read_parquet('${path.replace(/'/g, "''")}')`,
  );
  return r.getRowObjectsJson() as Row[];
}

/** Integer ns truncated to `digits` fraction digits of a second. */
function truncated(ns: bigint, digits: number): bigint {
  const unit = 10n ** BigInt(9 - digits);
  return (ns / unit) * unit;
}

describe('flows --format parquet', () => {
  it('DuckDB reads every row of every fixture with the JSON\'s values', async () => {
    let rows = 0;
    let files = 0;
    for (const capture of captureFiles()) {
      const nd = await runCli(['flows', capture, '--format', 'ndjson']);
      const path = join(tmp.dir, `f${files++}.parquet`);
      const pq = await runCli(['flows', capture, '--format', 'parquet', '--output', path]);
      expect(pq.code, capture).toBe(nd.code);
      expect(pq.stdout).toBe('');
      if (nd.code !== 0 && nd.stdout === '') continue; // no capture read: no file either
      const flows = new Map(nd.stdout.split('\n').filter((l) => l !== '').map((l) => {
        const f = JSON.parse(l) as J.Flow;
        return [f.id, f];
      }));
      const got = await rowsOf(path);
      expect(got.length, capture).toBe(flows.size);
      for (const r of got) {
        const f = flows.get(Number(r.id))!;
        const where = `${capture} flow ${r.id}`;
        expect(f, where).toBeDefined();
        const digits = f.start.length - f.start.indexOf('.') - 2;
        expect(r, where).toMatchObject({
          capture: null, proto: f.proto, generation: f.generation, generation_reason: f.generationReason,
          client_ip: f.client.ip, client_port: f.client.port, server_ip: f.server.ip, server_port: f.server.port,
          roles_inferred: f.rolesInferred,
          to_server_packets: String(f.toServer.packets), to_server_wire_bytes: String(f.toServer.wireBytes),
          to_server_ip_bytes: String(f.toServer.ipBytes), to_server_payload_bytes: String(f.toServer.payloadBytes),
          to_server_missed_bytes: String(f.toServer.missedBytes),
          to_client_packets: String(f.toClient.packets), to_client_wire_bytes: String(f.toClient.wireBytes),
          to_client_ip_bytes: String(f.toClient.ipBytes), to_client_payload_bytes: String(f.toClient.payloadBytes),
          to_client_missed_bytes: String(f.toClient.missedBytes),
          state: f.state, history: f.history, community_id: f.communityId, end_reason: f.endReason,
          ip_version: f.ipVersion, icmp_errors: String(f.icmpErrors),
          service: f.service ?? null, summary: f.service === undefined ? null : f.summary ?? '',
          client_pid: null, client_command: null, server_pid: null, server_command: null,
        });
        // The file keeps every nanosecond; the JSON prints the capture's digits, truncated.
        const start = BigInt(r.start_ns as string);
        const end = BigInt(r.end_ns as string);
        expect(truncated(start, digits), where).toBe(isoNanos(f.start));
        expect(truncated(end, digits), where).toBe(isoNanos(f.end));
        expect(BigInt(r.duration_ns as string), where).toBe(end - start);
        rows++;
      }
    }
    expect(rows).toBeGreaterThanOrEqual(190);
  }, 240_000);

  it('typed columns: timestamps in ns, ports uint16, counters int64, as DuckDB sees them', async () => {
    const path = join(tmp.dir, 'types.parquet');
    expect((await runCli(['flows', 'fixtures/demux-lo.pcap', '--format', 'parquet', '-o', path])).code).toBe(0);
    const r = await con.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${path}')`);
    const types = Object.fromEntries(r.getRowObjectsJson().map((o) => [o.column_name as string, o.column_type as string]));
    expect(Object.keys(types)).toEqual([...PARQUET_COLUMNS]);
    // docs/json.md lists them, in this order.
    const documented = [...readFileSync('docs/json.md', 'utf8').matchAll(/^\| `([a-z_]+)` \| (?:UTF8|INT|BOOLEAN)/gm)].map((m) => m[1]);
    expect(documented).toEqual([...PARQUET_COLUMNS]);
    expect(types).toMatchObject({
      id: 'BIGINT', client_port: 'USMALLINT', server_port: 'USMALLINT', generation: 'UINTEGER', ip_version: 'UTINYINT',
      start_time: 'TIMESTAMP_NS', end_time: 'TIMESTAMP_NS', duration_ns: 'BIGINT', to_server_packets: 'BIGINT',
      to_client_ip_bytes: 'BIGINT', roles_inferred: 'BOOLEAN', community_id: 'VARCHAR', client_pid: 'INTEGER',
    });
  });

  it('streams: each row group goes to the sink when it fills, before the footer', async () => {
    const { flows } = await runPipeline('fixtures/demux-lo.pcap');
    expect(flows.length).toBe(7);
    const pieces: Buffer[] = [];
    const w = new FlowParquetWriter((b) => {
      pieces.push(Buffer.from(b));
      return undefined;
    }, { rowGroupFlows: 3, capture: 'demux-lo.pcap' });
    const afterEach: number[] = [];
    for (const f of flows) {
      w.add(f);
      afterEach.push(pieces.length);
    }
    // Rows 3 and 6 filled a group: its bytes (with the file's magic first) were handed over then.
    expect(afterEach).toEqual([0, 0, 1, 1, 1, 2, 2]);
    await w.finish();
    const path = join(tmp.dir, 'groups.parquet');
    const bytes = Buffer.concat(pieces);
    writeFileSync(path, bytes);
    expect(bytes.subarray(0, 4).toString()).toBe('PAR1');
    const groups = await con.runAndReadAll(`SELECT count(DISTINCT row_group_id) AS n FROM parquet_metadata('${path}')`);
    expect(Number(groups.getRowObjectsJson()[0]!.n)).toBe(3);
    const rows = await rowsOf(path);
    expect(rows.map((r) => Number(r.id))).toEqual(flows.map((f) => f.id));
    expect(new Set(rows.map((r) => r.capture))).toEqual(new Set(['demux-lo.pcap']));
  });

  it('live processes land in their columns', async () => {
    const { flows } = await runPipeline('fixtures/demux-lo.pcap');
    const f = { ...flows[0]!, client: { ...flows[0]!.client }, server: { ...flows[0]!.server } };
    f.client.process = { pid: 777, command: 'curl', state: 'running' };
    f.server.process = { state: 'gone' };
    const pieces: Buffer[] = [];
    const w = new FlowParquetWriter((b) => void pieces.push(Buffer.from(b)));
    w.add(f);
    await w.finish();
    const path = join(tmp.dir, 'live.parquet');
    writeFileSync(path, Buffer.concat(pieces));
    expect((await rowsOf(path))[0]).toMatchObject({ client_pid: 777, client_command: 'curl', server_pid: null, server_command: null });
  });

  it('--sort and --limit: the chosen flows in that order; to a pipe, the same file', async () => {
    const path = join(tmp.dir, 'sorted.parquet');
    expect((await runCli(['flows', 'fixtures/demux-lo.pcap', '--format', 'parquet', '-o', path, '--sort', 'bytes', '--limit', '3'])).code).toBe(0);
    const rows = await rowsOf(path);
    const bytes = rows.map((r) => Number(r.to_server_wire_bytes) + Number(r.to_client_wire_bytes));
    expect(rows).toHaveLength(3);
    expect(bytes).toEqual([...bytes].sort((a, b) => b - a));
    const piped = await runCli(['flows', 'fixtures/demux-lo.pcap', '--format', 'parquet', '--sort', 'bytes', '--limit', '3']);
    expect(piped.code).toBe(0);
    expect(piped.stdoutBytes.equals(readFileSync(path))).toBe(true);
  });

  it('refuses to write binary to a terminal, and names a bad --output on one line', async () => {
    let stderr = '';
    const tty = Object.assign(new Writable({ write: (_c, _e, cb) => cb() }), { isTTY: true });
    const err = new Writable({
      write(c: Buffer, _e, cb) {
        stderr += c.toString();
        cb();
      },
    });
    const stdin = new PassThrough();
    stdin.end();
    const code = await run(['flows', 'fixtures/demux-lo.pcap', '--format', 'parquet'], { stdout: tty, stderr: err, stdin });
    expect(code).toBe(2);
    expect(stderr).toMatch(/^flowdemux: --format parquet writes binary: name a file with --output FILE.*\n$/);
    const missing = await runCli(['flows', 'fixtures/demux-lo.pcap', '--format', 'parquet', '-o', join(tmp.dir, 'no/such/dir/x.parquet')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^flowdemux: --output '.*x\.parquet': no folder .*dir\n$/);
    const folder = await runCli(['flows', 'fixtures/demux-lo.pcap', '--format', 'parquet', '-o', tmp.dir]);
    expect(folder.code).toBe(2);
    expect(folder.stderr.split('\n')).toHaveLength(2);
  });

  it('--output works for the text formats too (the table at full width)', async () => {
    const path = join(tmp.dir, 'flows.csv');
    const r = await runCli(['flows', 'fixtures/demux-lo.pcap', '--format', 'csv', '-o', path]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(readFileSync(path, 'utf8')).toBe((await runCli(['flows', 'fixtures/demux-lo.pcap', '--format', 'csv'])).stdout);
  });
});
