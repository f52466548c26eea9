/**
 * Flows as CSV (RFC 4180 quoting), one row a flow.
 */
import type { Flow } from '../core/flow.js';
import { isoTime } from './time.js';
import { digitsOf, durationText, missedOf, type TimeOptions } from './flow-time.js';
import type * as J from '../core/json-types.js';
import { MARK_NAMES } from '../demux/tcp-analysis.js';
import { analysisToJson } from './json.js';

export const CSV_COLUMNS = [
  'id', 'proto', 'generation', 'generation_reason', 'client_ip', 'client_port', 'server_ip', 'server_port',
  'roles_inferred', 'start', 'end', 'duration',
  'to_server_packets', 'to_server_wire_bytes', 'to_server_ip_bytes', 'to_server_payload_bytes',
  'to_client_packets', 'to_client_wire_bytes', 'to_client_ip_bytes', 'to_client_payload_bytes',
  'state', 'history', 'community_id', 'end_reason', 'icmp_errors',
  'to_server_missed_bytes', 'to_client_missed_bytes', 'service', 'summary',
] as const;

/** With `flows --analysis`: these columns follow (each mark's count, the handshake, the ACK round trips; seconds). */
export const CSV_ANALYSIS_COLUMNS = [
  ...MARK_NAMES.map(([, name]) => name),
  'handshake_syn_to_synack', 'handshake_synack_to_ack', 'handshake_total',
  'ack_rtt_to_server_samples', 'ack_rtt_to_server_min', 'ack_rtt_to_server_median',
  'ack_rtt_to_client_samples', 'ack_rtt_to_client_min', 'ack_rtt_to_client_median',
] as const;

/** The analysis columns of a flow; all empty for a flow without analysis (not TCP). */
function analysisCells(flow: Flow): (string | number | null)[] {
  const a = flow.analysis === undefined ? null : analysisToJson(flow.analysis);
  if (a === null) return CSV_ANALYSIS_COLUMNS.map(() => null);
  const rtt = (r: J.AckRtt | null) => (r === null ? [0, null, null] : [r.samples, r.min, r.median]);
  return [
    ...MARK_NAMES.map(([, name]) => a.marks[name]),
    a.handshake?.synToSynAck ?? null, a.handshake?.synAckToAck ?? null, a.handshake?.total ?? null,
    ...rtt(a.ackRtt.toServer), ...rtt(a.ackRtt.toClient),
  ];
}

/** RFC 4180: a field holding a comma, a double quote, CR or LF is quoted, quotes doubled. */
export function csvField(value: string | number | boolean | null): string {
  const s = value === null ? '' : String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** `analysis`: add CSV_ANALYSIS_COLUMNS (flows --analysis). */
export function flowToCsvRow(flow: Flow, opts?: TimeOptions & { analysis?: boolean }): string {
  const digits = digitsOf(opts);
  const values: (string | number | boolean | null)[] = [
    flow.id, flow.proto, flow.generation, flow.generationReason,
    flow.client.ip, flow.client.port, flow.server.ip, flow.server.port, flow.rolesInferred,
    isoTime(flow.start.sec, flow.start.nsec, digits), isoTime(flow.end.sec, flow.end.nsec, digits),
    durationText(flow, digits),
    flow.toServer.packets, flow.toServer.wireBytes, flow.toServer.ipBytes, flow.toServer.payloadBytes,
    flow.toClient.packets, flow.toClient.wireBytes, flow.toClient.ipBytes, flow.toClient.payloadBytes,
    flow.state, flow.history, flow.communityId, flow.endReason, flow.icmpErrors,
    missedOf(flow.toServer), missedOf(flow.toClient), flow.service ?? '', flow.summary ?? '',
  ];
  if (opts?.analysis === true) values.push(...analysisCells(flow));
  return values.map(csvField).join(',');
}

export interface CsvOptions extends TimeOptions {
  /** Line ending (default '\n'; RFC 4180 itself says CRLF). */
  eol?: string;
  /** flows --analysis: the analysis columns too. */
  analysis?: boolean;
}

export function* flowsCsvChunks(flows: Iterable<Flow>, opts?: CsvOptions): Generator<string> {
  const eol = opts?.eol ?? '\n';
  yield (opts?.analysis === true ? [...CSV_COLUMNS, ...CSV_ANALYSIS_COLUMNS] : CSV_COLUMNS).join(',') + eol;
  for (const f of flows) yield flowToCsvRow(f, opts) + eol;
}

export function renderFlowsCsv(flows: Iterable<Flow>, opts?: CsvOptions): string {
  return [...flowsCsvChunks(flows, opts)].join('');
}
