/**
 * `flows --format parquet`: DuckDB (the real engine, @duckdb/node-api) reads back every row of
 * every fixture's file with the values of the same flows' JSON, in typed columns; the writer
 * hands each row group to its sink as it fills (memory holds one row group); with --analysis, the
 * analysis columns (counts, times in int64 ns) hold the JSON's `analysis`; binary is refused
 * on a terminal; --output names a file in a folder that exists.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as J from '../../src/core/json-types.js';
import { run } from '../../src/cli/main.js';
import { FlowParquetWriter, PARQUET_ANALYSIS_COLUMNS, PARQUET_COLUMNS } from '../../src/report/parquet.js';
import { captureFiles, tcpCaptureFiles } from '../helpers/fixture-files.js';
import { tempDir } from '../helpers/capture-builders.js';
import { runCli } from '../helpers/run-cli.js';
import { isoNanos, secondsNanos } from '../helpers/iso-nanos.js';
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

let files = 0;

/**
 * A capture's flows by `--format ndjson` and its Parquet file's rows as DuckDB reads them, each
 * row with its flow (`extra`: more options for both); null when no capture could be read.
 */
async function ndjsonAndParquet(capture: string, extra: string[] = []): Promise<{ flow: J.Flow; row: Row; where: string }[] | null> {
  const nd = await runCli(['flows', capture, '--format', 'ndjson', ...extra]);
  const path = join(tmp.dir, `f${files++}.parquet`);
  const pq = await runCli(['flows', capture, '--format', 'parquet', '--output', path, ...extra]);
  expect(pq.code, capture).toBe(nd.code);
  expect(pq.stdout).toBe('');
  if (nd.code !== 0 && nd.stdout === '') return null; // no capture read: no file either
  const flows = new Map(nd.stdout.split('\n').filter((l) => l !== '').map((l) => {
    const f = JSON.parse(l) as J.Flow;
    return [f.id, f];
  }));
  const got = await rowsOf(path);
  expect(got.length, capture).toBe(flows.size);
  return got.map((row) => {
    const where = `${capture} flow ${row.id}`;
    const flow = flows.get(Number(row.id))!;
    expect(flow, where).toBeDefined();
    return { flow, row, where };
  });
}

/** Integer ns truncated to `digits` fraction digits of a second. */
function truncated(ns: bigint, digits: number): bigint {
  const unit = 10n ** BigInt(9 - digits);
  return (ns / unit) * unit;
}

describe('flows --format parquet', () => {
  it('DuckDB reads every row of every fixture with the JSON\'s values', async () => {
    let rows = 0;
    for (const capture of captureFiles()) {
      for (const { flow: f, row: r, where } of await ndjsonAndParquet(capture) ?? []) {
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
    expect(documented).toEqual([...PARQUET_COLUMNS, ...PARQUET_ANALYSIS_COLUMNS]);
    expect(types).toMatchObject({
      id: 'BIGINT', client_port: 'USMALLINT', server_port: 'USMALLINT', generation: 'UINTEGER', ip_version: 'UTINYINT',
      start_time: 'TIMESTAMP_NS', end_time: 'TIMESTAMP_NS', duration_ns: 'BIGINT', to_server_packets: 'BIGINT',
      to_client_ip_bytes: 'BIGINT', roles_inferred: 'BOOLEAN', community_id: 'VARCHAR', client_pid: 'INTEGER',
    });
  });

  it('--analysis: typed analysis columns after the others, holding the JSON\'s analysis (times in ns)', async () => {
    const typesPath = join(tmp.dir, 'analysis-types.parquet');
    expect((await runCli(['flows', 'fixtures/demux-lo.pcap', '--format', 'parquet', '--analysis', '-o', typesPath])).code).toBe(0);
    const d = await con.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${typesPath}')`);
    const described = d.getRowObjectsJson().map((o) => [o.column_name as string, o.column_type as string]);
    expect(described.map(([n]) => n)).toEqual([...PARQUET_COLUMNS, ...PARQUET_ANALYSIS_COLUMNS]);
    for (const [name, type] of described.slice(PARQUET_COLUMNS.length)) expect(type, name).toBe('BIGINT');
    let tcp = 0;
    let handshakes = 0;
    let rtts = 0;
    let marked = 0;
    let others = 0;
    for (const capture of tcpCaptureFiles()) {
      for (const { flow: f, row: r, where } of await ndjsonAndParquet(capture, ['--analysis']) ?? []) {
        const a = f.analysis;
        if (a === undefined) {
          expect(f.proto, where).not.toBe('tcp');
          for (const c of PARQUET_ANALYSIS_COLUMNS) expect(r[c], `${where} ${c}`).toBeNull();
          others++;
          continue;
        }
        tcp++;
        const n = (v: number | null | undefined) => (v == null ? null : String(secondsNanos(v)));
        const rtt = (x: J.AckRtt | null) => ({ samples: String(x?.samples ?? 0), min: n(x?.min), median: n(x?.median) });
        const toServer = rtt(a.ackRtt.toServer);
        const toClient = rtt(a.ackRtt.toClient);
        expect(r, where).toMatchObject({
          ...Object.fromEntries(Object.entries(a.marks).map(([k, v]) => [k, String(v)])),
          handshake_syn_to_synack_ns: n(a.handshake?.synToSynAck), handshake_synack_to_ack_ns: n(a.handshake?.synAckToAck),
          handshake_total_ns: n(a.handshake?.total),
          ack_rtt_to_server_samples: toServer.samples, ack_rtt_to_server_min_ns: toServer.min, ack_rtt_to_server_median_ns: toServer.median,
          ack_rtt_to_client_samples: toClient.samples, ack_rtt_to_client_min_ns: toClient.min, ack_rtt_to_client_median_ns: toClient.median,
        });
        if (a.handshake !== null) handshakes++;
        if (a.ackRtt.toServer !== null || a.ackRtt.toClient !== null) rtts++;
        if (Object.values(a.marks).some((v) => v > 0)) marked++;
      }
    }
    expect(tcp).toBeGreaterThan(40);
    expect(others).toBeGreaterThan(10);
    expect(handshakes).toBeGreaterThan(10);
    expect(rtts).toBeGreaterThan(10);
    expect(marked).toBeGreaterThan(3);
  }, 240_000);

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
