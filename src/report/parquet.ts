/**
 * Flows as Parquet (`flows --format parquet`), one row a flow, typed columns (PARQUET_COLUMNS),
 * written by hyparquet-writer a row group at a time: flows are gathered into column arrays
 * until a row group is full (ROW_GROUP_FLOWS), then encoded and handed to the sink as bytes,
 * so memory holds one row group, not the capture's flows. No I/O here: the caller's sink
 * writes the bytes (a file, standard output).
 */
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import type { AckRtt, EndpointProcess, Flow } from '../core/flow.js';
import { MARK_NAMES } from '../demux/tcp-analysis.js';
import { analysisNanos, missedOf } from './flow-time.js';

type SchemaElement = NonNullable<ConstructorParameters<typeof ParquetWriter>[0]['schema']>[number];

/**
 * Flows a row group holds. The writer's peak memory grows with it (about 4 KB a flow while a
 * group is encoded: 65,536 took 500 MB on a 2M-packet capture, 16,384 340 MB, NDJSON 234 MB);
 * 16,384 rows are still many row groups' worth of parallel work for DuckDB and Spark.
 */
export const ROW_GROUP_FLOWS = 16_384;

type Kind = 'string' | 'uint8' | 'uint16' | 'uint32' | 'int32' | 'int64' | 'timestamp' | 'bool';

interface ColumnSpec {
  name: string;
  kind: Kind;
  nullable: boolean;
  get: (f: Flow, capture: string | undefined) => string | number | bigint | boolean | null;
}

const NS = 1_000_000_000n;

/** A capture time as integer nanoseconds since the epoch (exact: BigInt). */
function nanos(t: { sec: number; nsec: number }): bigint {
  return BigInt(t.sec) * NS + BigInt(t.nsec);
}

const running = (p: EndpointProcess | undefined) => (p !== undefined && p.state === 'running' ? p : undefined);

/**
 * The columns, in the file's order. Timestamps are INT64 TIMESTAMP(NANOS), UTC; ports UINT16;
 * counters signed INT64 (no counter reaches 2^63, and Spark reads no unsigned 64-bit type);
 * the strings flowdemux makes from fixed words are plain UTF-8. Null only where the JSON has
 * `null` or leaves the field out (end_reason, service, summary, the live capture's processes).
 */
const SPECS: readonly ColumnSpec[] = [
  { name: 'capture', kind: 'string', nullable: true, get: (_f, c) => c ?? null },
  { name: 'id', kind: 'int64', nullable: false, get: (f) => f.id },
  { name: 'proto', kind: 'string', nullable: false, get: (f) => f.proto },
  { name: 'generation', kind: 'uint32', nullable: false, get: (f) => f.generation },
  { name: 'generation_reason', kind: 'string', nullable: false, get: (f) => f.generationReason },
  { name: 'client_ip', kind: 'string', nullable: false, get: (f) => f.client.ip },
  { name: 'client_port', kind: 'uint16', nullable: false, get: (f) => f.client.port },
  { name: 'server_ip', kind: 'string', nullable: false, get: (f) => f.server.ip },
  { name: 'server_port', kind: 'uint16', nullable: false, get: (f) => f.server.port },
  { name: 'roles_inferred', kind: 'bool', nullable: false, get: (f) => f.rolesInferred },
  { name: 'start_time', kind: 'timestamp', nullable: false, get: (f) => nanos(f.start) },
  { name: 'end_time', kind: 'timestamp', nullable: false, get: (f) => nanos(f.end) },
  { name: 'duration_ns', kind: 'int64', nullable: false, get: (f) => nanos(f.end) - nanos(f.start) },
  { name: 'to_server_packets', kind: 'int64', nullable: false, get: (f) => f.toServer.packets },
  { name: 'to_server_wire_bytes', kind: 'int64', nullable: false, get: (f) => f.toServer.wireBytes },
  { name: 'to_server_ip_bytes', kind: 'int64', nullable: false, get: (f) => f.toServer.ipBytes },
  { name: 'to_server_payload_bytes', kind: 'int64', nullable: false, get: (f) => f.toServer.payloadBytes },
  { name: 'to_server_missed_bytes', kind: 'int64', nullable: false, get: (f) => missedOf(f.toServer) },
  { name: 'to_client_packets', kind: 'int64', nullable: false, get: (f) => f.toClient.packets },
  { name: 'to_client_wire_bytes', kind: 'int64', nullable: false, get: (f) => f.toClient.wireBytes },
  { name: 'to_client_ip_bytes', kind: 'int64', nullable: false, get: (f) => f.toClient.ipBytes },
  { name: 'to_client_payload_bytes', kind: 'int64', nullable: false, get: (f) => f.toClient.payloadBytes },
  { name: 'to_client_missed_bytes', kind: 'int64', nullable: false, get: (f) => missedOf(f.toClient) },
  { name: 'state', kind: 'string', nullable: false, get: (f) => f.state },
  { name: 'history', kind: 'string', nullable: false, get: (f) => f.history },
  { name: 'community_id', kind: 'string', nullable: false, get: (f) => f.communityId },
  { name: 'end_reason', kind: 'string', nullable: true, get: (f) => f.endReason },
  { name: 'ip_version', kind: 'uint8', nullable: false, get: (f) => f.ipVersion },
  { name: 'icmp_errors', kind: 'int64', nullable: false, get: (f) => f.icmpErrors },
  { name: 'service', kind: 'string', nullable: true, get: (f) => f.service ?? null },
  { name: 'summary', kind: 'string', nullable: true, get: (f) => (f.service === undefined ? null : f.summary ?? '') },
  { name: 'client_pid', kind: 'int32', nullable: true, get: (f) => running(f.client.process)?.pid ?? null },
  { name: 'client_command', kind: 'string', nullable: true, get: (f) => running(f.client.process)?.command ?? null },
  { name: 'server_pid', kind: 'int32', nullable: true, get: (f) => running(f.server.process)?.pid ?? null },
  { name: 'server_command', kind: 'string', nullable: true, get: (f) => running(f.server.process)?.command ?? null },
];

/** A time of the analysis as int64 nanoseconds; null when not seen. */
const ns = (seconds: number | null | undefined): bigint | null => (seconds == null ? null : BigInt(analysisNanos(seconds)));

/** One direction's ACK round trip columns: samples (0 without any), then min and median in ns (null without). */
function ackRttSpecs(dir: 'to_server' | 'to_client', of: (f: Flow) => AckRtt | null | undefined): ColumnSpec[] {
  return [
    { name: `ack_rtt_${dir}_samples`, kind: 'int64', nullable: true, get: (f) => (f.analysis === undefined ? null : of(f)?.samples ?? 0) },
    { name: `ack_rtt_${dir}_min_ns`, kind: 'int64', nullable: true, get: (f) => ns(of(f)?.min) },
    { name: `ack_rtt_${dir}_median_ns`, kind: 'int64', nullable: true, get: (f) => ns(of(f)?.median) },
  ];
}

/**
 * With flows --analysis, these columns follow (the CSV's analysis columns, times in ns): each
 * mark's count by tshark's name (INT64, as the other counters), the handshake's parts and the
 * ACK round trips as INT64 nanoseconds, exact (as `duration_ns`). All null for a flow that is
 * not TCP; a handshake part or a round trip not seen is null.
 */
const ANALYSIS_SPECS: readonly ColumnSpec[] = [
  ...MARK_NAMES.map(([, name]): ColumnSpec => ({ name, kind: 'int64', nullable: true, get: (f) => f.analysis?.marks[name] ?? null })),
  { name: 'handshake_syn_to_synack_ns', kind: 'int64', nullable: true, get: (f) => ns(f.analysis?.handshake?.synToSynAck) },
  { name: 'handshake_synack_to_ack_ns', kind: 'int64', nullable: true, get: (f) => ns(f.analysis?.handshake?.synAckToAck) },
  { name: 'handshake_total_ns', kind: 'int64', nullable: true, get: (f) => ns(f.analysis?.handshake?.total) },
  ...ackRttSpecs('to_server', (f) => f.analysis?.ackRtt.toServer),
  ...ackRttSpecs('to_client', (f) => f.analysis?.ackRtt.toClient),
];

/** The column names, in the file's order (docs/json.md lists them with their types). */
export const PARQUET_COLUMNS: readonly string[] = SPECS.map((s) => s.name);

/** The columns `flows --analysis` adds after PARQUET_COLUMNS. */
export const PARQUET_ANALYSIS_COLUMNS: readonly string[] = ANALYSIS_SPECS.map((s) => s.name);

/**
 * A column's Parquet schema element. Unsigned integers carry the converted type (UINT_8/16/32)
 * only: hyparquet-writer 0.17 writes the INTEGER logical type's bit width as a double, which
 * DuckDB 1.5 rejects ("TProtocolException: Invalid data"); every reader maps the converted
 * types to the same unsigned types. Timestamps are TIMESTAMP(NANOS) with isAdjustedToUTC
 * false, as DuckDB writes its TIMESTAMP_NS: DuckDB reads a UTC-adjusted one as TIMESTAMPTZ,
 * which holds microseconds, and the nanoseconds would be lost. The values are UTC all the same.
 */
function schemaElement(s: ColumnSpec): SchemaElement {
  const repetition_type = s.nullable ? 'OPTIONAL' : 'REQUIRED';
  switch (s.kind) {
    case 'string': return { name: s.name, repetition_type, type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' } };
    case 'bool': return { name: s.name, repetition_type, type: 'BOOLEAN' };
    case 'uint8': return { name: s.name, repetition_type, type: 'INT32', converted_type: 'UINT_8' };
    case 'uint16': return { name: s.name, repetition_type, type: 'INT32', converted_type: 'UINT_16' };
    case 'uint32': return { name: s.name, repetition_type, type: 'INT32', converted_type: 'UINT_32' };
    case 'int32': return { name: s.name, repetition_type, type: 'INT32' };
    case 'int64': return { name: s.name, repetition_type, type: 'INT64' };
    case 'timestamp':
      return { name: s.name, repetition_type, type: 'INT64', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: false, unit: 'NANOS' } };
  }
}

/**
 * hyparquet-writer's byte buffer, emptied into `sink` after each row group (its `flush`) and at
 * the end: the file is never held whole. The sink gets a view of the buffer, valid until the
 * call returns (it must copy what it keeps).
 */
class SinkWriter extends ByteWriter {
  constructor(private readonly sink: (bytes: Uint8Array) => Promise<void> | undefined) {
    super(1 << 20);
  }

  flush(): Promise<void> | undefined {
    const bytes = this.getBytes();
    this.index = 0;
    return bytes.length === 0 ? undefined : this.sink(bytes);
  }

  override finish(): Promise<void> | undefined {
    return this.flush();
  }
}

export interface ParquetFlowOptions {
  /** Flows a row group holds (default ROW_GROUP_FLOWS). */
  rowGroupFlows?: number;
  /** The `capture` column's value for every row (`flows --each`); null otherwise. */
  capture?: string;
  /** The `created_by` of the file's metadata. */
  createdBy?: string;
  /** flows --analysis: the analysis columns too (PARQUET_ANALYSIS_COLUMNS). */
  analysis?: boolean;
}

/** Flows into a Parquet file, a row group at a time: `add` each flow, then `finish` once. */
export class FlowParquetWriter {
  private readonly writer: ParquetWriter;
  private readonly specs: readonly ColumnSpec[];
  private readonly groupSize: number;
  private columns: unknown[][];
  private rows = 0;
  private readonly capture: string | undefined;
  /** Rows written so far (all row groups, the pending one included). */
  total = 0;

  constructor(sink: (bytes: Uint8Array) => Promise<void> | undefined, opts: ParquetFlowOptions = {}) {
    this.groupSize = Math.max(1, opts.rowGroupFlows ?? ROW_GROUP_FLOWS);
    this.capture = opts.capture;
    const specs = opts.analysis === true ? [...SPECS, ...ANALYSIS_SPECS] : SPECS;
    this.specs = specs;
    this.columns = specs.map(() => []);
    this.writer = new ParquetWriter({
      writer: new SinkWriter(sink),
      schema: [{ name: 'flowdemux_flows', num_children: specs.length }, ...specs.map(schemaElement)],
      createdBy: opts.createdBy ?? 'flowdemux',
    });
  }

  /** Adds one flow; returns a promise when a row group went to a sink that asks to wait. */
  add(flow: Flow): Promise<void> | undefined {
    const specs = this.specs;
    for (let i = 0; i < specs.length; i++) {
      const s = specs[i]!;
      let v = s.get(flow, this.capture);
      if (s.kind === 'int64' && typeof v === 'number') v = BigInt(v);
      this.columns[i]!.push(v);
    }
    this.total++;
    return ++this.rows >= this.groupSize ? this.writeGroup() : undefined;
  }

  private writeGroup(): Promise<void> | undefined {
    if (this.rows === 0) return undefined;
    const columnData = this.specs.map((s, i) => ({ name: s.name, data: this.columns[i]!, nullable: s.nullable }));
    this.columns = this.specs.map(() => []);
    const n = this.rows;
    this.rows = 0;
    return this.writer.write({ columnData, rowGroupSize: n }) ?? undefined;
  }

  /** Writes the last row group and the footer (a file with no flows has no row group). */
  async finish(): Promise<void> {
    await this.writeGroup();
    await this.writer.finish();
  }
}
