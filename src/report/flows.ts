/**
 * `flowdemux flows` output: pure functions from flow records (plus capture facts and the demux
 * summary) to text. Table (cli-table3), JSON (design.md's document), NDJSON, CSV (RFC 4180
 * quoting) and Zeek's conn.log TSV. The large formats come as chunk generators too, so the CLI
 * can stream 100,000 flows without building one giant string.
 */
import Table from 'cli-table3';
import type { CaptureInfo } from '../capture/frame.js';
import { linkTypeName } from '../capture/linktypes.js';
import type { DemuxSummary, EndpointProcess, Flow, FlowEndpoint, PacketKind, Timestamp } from '../demux/types.js';
import { formatAddress, tryParseAddress } from '../parse/format.js';
import { epochText, isoTime } from './time.js';

/** Fraction digits of printed times: 6 (µs captures) or 9 (ns captures). */
export interface TimeOptions {
  digits?: number;
}

function digitsOf(opts: TimeOptions | undefined): number {
  const d = opts?.digits ?? 6;
  return d >= 9 ? 9 : d <= 0 ? 0 : Math.floor(d);
}

/**
 * end − start as an exact count of 10^-digits units: both times are truncated to `digits` first,
 * like the printed start and end, so the three always agree.
 */
function durationUnits(start: Timestamp, end: Timestamp, digits: number): number {
  const q = 10 ** (9 - digits);
  return (end.sec - start.sec) * 10 ** digits + (Math.floor(end.nsec / q) - Math.floor(start.nsec / q));
}

/** Duration in seconds, rounded to the printed precision (a JSON number). */
export function durationSeconds(flow: Flow, digits = 6): number {
  return durationUnits(flow.start, flow.end, digits) / 10 ** digits;
}

/** Duration as fixed text with `digits` fraction digits, from integers (no float noise). */
function durationText(flow: Flow, digits: number): string {
  const units = durationUnits(flow.start, flow.end, digits);
  if (digits === 0) return String(units);
  const scale = 10 ** digits;
  const whole = Math.floor(units / scale);
  return `${whole}.${String(units - whole * scale).padStart(digits, '0')}`;
}

// -------------------------------------------------------------------------------------------------
// Selection: --proto, --port, --host, --sort, --limit

export interface FlowFilter {
  /** tcp, udp, icmp (icmp also matches icmpv6), icmpv6. */
  proto?: string;
  /** A TCP/UDP port at either end (ICMP flows have no ports and never match). */
  port?: number;
  /** An address at either end, IPv4 or IPv6 text in any valid spelling. */
  host?: string;
}

export type FlowSortKey = 'start' | 'bytes' | 'packets';

export interface FlowSelection extends FlowFilter {
  sort?: FlowSortKey;
  limit?: number;
}

export function filterFlows(flows: readonly Flow[], filter: FlowFilter): Flow[] {
  const proto = filter.proto?.toLowerCase();
  let host = filter.host;
  if (host !== undefined) {
    // Compare canonical text: '2001:DB8:0::1' and '2001:db8::1' are one address.
    const bytes = tryParseAddress(host);
    if (bytes !== null) host = formatAddress(bytes, 0, bytes.length);
  }
  return flows.filter((f) => {
    if (proto !== undefined && f.proto !== proto && !(proto === 'icmp' && f.proto === 'icmpv6')) return false;
    if (filter.port !== undefined) {
      if (f.proto !== 'tcp' && f.proto !== 'udp') return false;
      if (f.client.port !== filter.port && f.server.port !== filter.port) return false;
    }
    if (host !== undefined && f.client.ip !== host && f.server.ip !== host) return false;
    return true;
  });
}

const totalBytes = (f: Flow) => f.toServer.wireBytes + f.toClient.wireBytes;
const totalPackets = (f: Flow) => f.toServer.packets + f.toClient.packets;

/** A sorted copy: start ascending; bytes (wire) and packets descending; ties by id. */
export function sortFlows(flows: readonly Flow[], key: FlowSortKey): Flow[] {
  const out = flows.slice();
  switch (key) {
    case 'start':
      return out.sort((a, b) => a.start.sec - b.start.sec || a.start.nsec - b.start.nsec || a.id - b.id);
    case 'bytes':
      return out.sort((a, b) => totalBytes(b) - totalBytes(a) || a.id - b.id);
    case 'packets':
      return out.sort((a, b) => totalPackets(b) - totalPackets(a) || a.id - b.id);
  }
}

/** Filter, then sort, then keep the first `limit`. */
export function selectFlows(flows: readonly Flow[], sel: FlowSelection): Flow[] {
  let out = filterFlows(flows, sel);
  if (sel.sort !== undefined) out = sortFlows(out, sel.sort);
  if (sel.limit !== undefined && sel.limit >= 0 && out.length > sel.limit) out = out.slice(0, sel.limit);
  return out;
}

// -------------------------------------------------------------------------------------------------
// Process of an end (live capture only; absent for files)

/** `{"pid", "command", "state"[, "pids"][, "listener"]}` or `{"state": "exited"}`, keys in that order. */
export function processToJson(p: EndpointProcess): Record<string, unknown> {
  if (p.state !== 'running') return { state: p.state };
  const out: Record<string, unknown> = { pid: p.pid, command: p.command, state: p.state };
  if (p.pids !== undefined) out.pids = p.pids.slice();
  if (p.listener !== undefined) {
    const l: Record<string, unknown> = { socket: p.listener.socket };
    if (p.listener.pid !== undefined) l.pid = p.listener.pid;
    if (p.listener.command !== undefined) l.command = p.listener.command;
    out.listener = l;
  }
  return out;
}

/**
 * `python3 (pid 4121)`, `nginx (pids 10, 11)`, `exited`. A process names itself (prctl, or
 * node's process.title), so control characters in the name are shown as \xNN, not sent to the
 * terminal.
 */
export function processLabel(p: EndpointProcess): string {
  if (p.state !== 'running') return 'exited';
  const command = p.command.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  if (p.pids !== undefined && p.pids.length > 1) return `${command} (pids ${p.pids.join(', ')})`;
  return `${command} (pid ${p.pid})`;
}

function endpointToJson(e: FlowEndpoint): Record<string, unknown> {
  return e.process === undefined ? { ip: e.ip, port: e.port } : { ip: e.ip, port: e.port, process: processToJson(e.process) };
}

// -------------------------------------------------------------------------------------------------
// JSON / NDJSON

/** One flow as design.md's JSON object (its keys first, in its order; additions after). */
export function flowToJson(flow: Flow, opts?: TimeOptions): Record<string, unknown> {
  const digits = digitsOf(opts);
  return {
    id: flow.id,
    proto: flow.proto,
    generation: flow.generation,
    client: endpointToJson(flow.client),
    server: endpointToJson(flow.server),
    rolesInferred: flow.rolesInferred,
    start: isoTime(flow.start.sec, flow.start.nsec, digits),
    end: isoTime(flow.end.sec, flow.end.nsec, digits),
    duration: durationSeconds(flow, digits),
    toServer: { ...flow.toServer },
    toClient: { ...flow.toClient },
    state: flow.state,
    history: flow.history,
    communityId: flow.communityId,
    generationReason: flow.generationReason,
    endReason: flow.endReason,
    ipVersion: flow.ipVersion,
    icmpErrors: flow.icmpErrors,
    icmpError: flow.icmpError === null ? null : { ...flow.icmpError },
  };
}

const countsText = (c: Flow['toServer']) =>
  `{"packets":${c.packets},"wireBytes":${c.wireBytes},"ipBytes":${c.ipBytes},"payloadBytes":${c.payloadBytes}}`;

/**
 * `JSON.stringify(flowToJson(flow))`, written directly: the JSON report writes one per flow and
 * building the object tree first took a tenth of a 2M-packet run. Every string field is made by
 * flowdemux from numbers and fixed words (addresses, Zeek codes, base64), so none needs escaping;
 * the ICMP note, the one nested record with free text, goes through JSON.stringify. A test
 * keeps the two identical.
 */
export function flowJsonText(flow: Flow, opts?: TimeOptions): string {
  const digits = digitsOf(opts);
  const q = (v: string | null) => (v === null ? 'null' : `"${v}"`);
  return `{"id":${flow.id},"proto":"${flow.proto}","generation":${flow.generation},`
    + `"client":{"ip":"${flow.client.ip}","port":${flow.client.port}${processText(flow.client)}},`
    + `"server":{"ip":"${flow.server.ip}","port":${flow.server.port}${processText(flow.server)}},`
    + `"rolesInferred":${flow.rolesInferred},"start":"${isoTime(flow.start.sec, flow.start.nsec, digits)}",`
    + `"end":"${isoTime(flow.end.sec, flow.end.nsec, digits)}","duration":${durationSeconds(flow, digits)},`
    + `"toServer":${countsText(flow.toServer)},"toClient":${countsText(flow.toClient)},`
    + `"state":"${flow.state}","history":"${flow.history}","communityId":"${flow.communityId}",`
    + `"generationReason":${q(flow.generationReason)},"endReason":${q(flow.endReason)},"ipVersion":${flow.ipVersion},`
    + `"icmpErrors":${flow.icmpErrors},"icmpError":${flow.icmpError === null ? 'null' : JSON.stringify(flow.icmpError)}}`;
}

/** `,"process":{...}` when the end has one (a command name is free text: JSON.stringify). */
function processText(e: FlowEndpoint): string {
  return e.process === undefined ? '' : `,"process":${jsonText(processToJson(e.process))}`;
}

/** One NDJSON line (with its newline). */
export function flowToNdjsonLine(flow: Flow, opts?: TimeOptions): string {
  return flowJsonText(flow, opts) + '\n';
}

/**
 * JSON.stringify, with DEL and the C1 controls (U+007F-U+009F) escaped as well: JSON.stringify
 * escapes only U+0000-U+001F, and a file name can carry U+009B, which some terminals take as a
 * one-character CSI. The text parses back to the same value.
 */
export function jsonText(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A `captures` entry of the JSON document. */
export function captureToJson(c: CaptureInfo): Record<string, unknown> {
  return {
    path: c.path,
    format: c.format,
    byteOrder: c.byteOrder,
    precision: c.precision,
    linkTypes: c.linkTypes.map(linkTypeName),
    packets: c.packets,
    warnings: c.warnings.slice(),
    compressed: c.compressed,
    snapLength: c.snapLength,
  };
}

export interface FlowsDocumentOptions extends TimeOptions {
  /** Added as `summary` (packets by kind, evictions...) when given. */
  summary?: DemuxSummary;
}

/**
 * The `--format json` document `{captures, flows, warnings[, summary]}` in pieces: one flow a
 * line inside the array, so the output streams and stays greppable.
 */
export function* flowsJsonChunks(
  flows: Iterable<Flow>, captures: readonly CaptureInfo[], warnings: readonly string[], opts?: FlowsDocumentOptions,
): Generator<string> {
  yield `{"captures":${jsonText(captures.map(captureToJson))},\n"flows":[`;
  let first = true;
  for (const f of flows) {
    yield (first ? '\n' : ',\n') + flowJsonText(f, opts);
    first = false;
  }
  yield `${first ? '' : '\n'}],\n"warnings":${jsonText(warnings)}`;
  if (opts?.summary) yield `,\n"summary":${JSON.stringify(opts.summary)}`;
  yield '}\n';
}

export function renderFlowsJson(
  flows: Iterable<Flow>, captures: readonly CaptureInfo[], warnings: readonly string[], opts?: FlowsDocumentOptions,
): string {
  return [...flowsJsonChunks(flows, captures, warnings, opts)].join('');
}

// -------------------------------------------------------------------------------------------------
// CSV

export const CSV_COLUMNS = [
  'id', 'proto', 'generation', 'generation_reason', 'client_ip', 'client_port', 'server_ip', 'server_port',
  'roles_inferred', 'start', 'end', 'duration',
  'to_server_packets', 'to_server_wire_bytes', 'to_server_ip_bytes', 'to_server_payload_bytes',
  'to_client_packets', 'to_client_wire_bytes', 'to_client_ip_bytes', 'to_client_payload_bytes',
  'state', 'history', 'community_id', 'end_reason', 'icmp_errors',
] as const;

/** RFC 4180: a field holding a comma, a double quote, CR or LF is quoted, quotes doubled. */
export function csvField(value: string | number | boolean | null): string {
  const s = value === null ? '' : String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function flowToCsvRow(flow: Flow, opts?: TimeOptions): string {
  const digits = digitsOf(opts);
  const values: (string | number | boolean | null)[] = [
    flow.id, flow.proto, flow.generation, flow.generationReason,
    flow.client.ip, flow.client.port, flow.server.ip, flow.server.port, flow.rolesInferred,
    isoTime(flow.start.sec, flow.start.nsec, digits), isoTime(flow.end.sec, flow.end.nsec, digits),
    durationText(flow, digits),
    flow.toServer.packets, flow.toServer.wireBytes, flow.toServer.ipBytes, flow.toServer.payloadBytes,
    flow.toClient.packets, flow.toClient.wireBytes, flow.toClient.ipBytes, flow.toClient.payloadBytes,
    flow.state, flow.history, flow.communityId, flow.endReason, flow.icmpErrors,
  ];
  return values.map(csvField).join(',');
}

export interface CsvOptions extends TimeOptions {
  /** Line ending (default '\n'; RFC 4180 itself says CRLF). */
  eol?: string;
}

export function* flowsCsvChunks(flows: Iterable<Flow>, opts?: CsvOptions): Generator<string> {
  const eol = opts?.eol ?? '\n';
  yield CSV_COLUMNS.join(',') + eol;
  for (const f of flows) yield flowToCsvRow(f, opts) + eol;
}

export function renderFlowsCsv(flows: Iterable<Flow>, opts?: CsvOptions): string {
  return [...flowsCsvChunks(flows, opts)].join('');
}

// -------------------------------------------------------------------------------------------------
// Zeek conn.log

const ZEEK_FIELDS = [
  'ts', 'uid', 'id.orig_h', 'id.orig_p', 'id.resp_h', 'id.resp_p', 'proto', 'service', 'duration',
  'orig_bytes', 'resp_bytes', 'conn_state', 'local_orig', 'local_resp', 'missed_bytes', 'history',
  'orig_pkts', 'orig_ip_bytes', 'resp_pkts', 'resp_ip_bytes', 'tunnel_parents', 'community_id',
];
const ZEEK_TYPES = [
  'time', 'string', 'addr', 'port', 'addr', 'port', 'enum', 'string', 'interval',
  'count', 'count', 'string', 'bool', 'bool', 'count', 'string',
  'count', 'count', 'count', 'count', 'set[string]', 'string',
];

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Deterministic Zeek-style uid: "C" + base62 of the flow id (Zeek's are random; ours are stable). */
export function zeekUid(id: number): string {
  let n = Math.max(0, Math.floor(id));
  let s = '';
  do {
    s = BASE62[n % 62] + s;
    n = Math.floor(n / 62);
  } while (n > 0);
  return `C${s.padStart(6, '0')}`;
}

/** Zeek's log-file time stamp: 2026-11-25-07-43-22 (UTC). */
function zeekOpenTime(sec: number): string {
  const d = new Date(sec * 1000);
  if (Number.isNaN(d.getTime())) return String(sec);
  return d.toISOString().slice(0, 19).replace('T', '-').replace(/:/g, '-');
}

/** Zeek's ASCII writer escapes the separator and non-printable bytes as \xNN. */
function zeekEscape(s: string): string {
  return s.replace(/[\x00-\x1f\x7f\\]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

function zeekRow(f: Flow): string {
  // Zeek logs duration and the two byte counts only when the duration is positive.
  const timed = durationUnits(f.start, f.end, 6) > 0;
  return [
    epochText(f.start.sec, f.start.nsec, 6),
    zeekUid(f.id),
    f.client.ip, String(f.client.port), f.server.ip, String(f.server.port),
    f.proto === 'icmpv6' ? 'icmp' : f.proto, // Zeek's transport_proto has one icmp for both
    '-',
    timed ? durationText(f, 6) : '-',
    timed ? String(f.toServer.payloadBytes) : '-',
    timed ? String(f.toClient.payloadBytes) : '-',
    f.state,
    '-', '-',
    '0',
    f.history === '' ? '-' : zeekEscape(f.history),
    String(f.toServer.packets), String(f.toServer.ipBytes),
    String(f.toClient.packets), String(f.toClient.ipBytes),
    '-',
    f.communityId,
  ].join('\t');
}

export interface ZeekOptions {
  /** Times for #open / #close (default: the first flow's start and the last flow's end). */
  open?: Timestamp;
  close?: Timestamp;
}

/**
 * conn.log as Zeek's ASCII writer makes it (readable by zeek-cut and Zeek's log readers).
 * `orig_bytes`/`resp_bytes` are payload bytes as captured (retransmissions included), where
 * Zeek derives them from sequence numbers; `missed_bytes` is 0 (no reassembly here).
 */
export function* zeekConnLogChunks(flows: readonly Flow[], opts?: ZeekOptions): Generator<string> {
  let open = opts?.open;
  let close = opts?.close;
  if (open === undefined || close === undefined) {
    let first: Timestamp | undefined;
    let last: Timestamp | undefined;
    for (const f of flows) {
      if (!first || f.start.sec < first.sec || (f.start.sec === first.sec && f.start.nsec < first.nsec)) first = f.start;
      if (!last || f.end.sec > last.sec || (f.end.sec === last.sec && f.end.nsec > last.nsec)) last = f.end;
    }
    open ??= first ?? { sec: 0, nsec: 0 };
    close ??= last ?? open;
  }
  yield '#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n'
    + `#open\t${zeekOpenTime(open.sec)}\n#fields\t${ZEEK_FIELDS.join('\t')}\n#types\t${ZEEK_TYPES.join('\t')}\n`;
  for (const f of flows) yield zeekRow(f) + '\n';
  yield `#close\t${zeekOpenTime(close.sec)}\n`;
}

export function renderZeekConnLog(flows: readonly Flow[], opts?: ZeekOptions): string {
  return [...zeekConnLogChunks(flows, opts)].join('');
}

// -------------------------------------------------------------------------------------------------
// Table

function endText(ip: string, port: number, proto: Flow['proto']): string {
  if (proto === 'icmp' || proto === 'icmpv6') return ip; // type/code are not ports
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

const KIND_ORDER: PacketKind[] = [
  'icmp', 'icmpv6', 'fragment-pending', 'fragment-unmatched', 'non-ip', 'damaged', 'other-ip-protocol',
];

export interface TableOptions extends TimeOptions {
  /** Adds a line counting the packets that are in no flow. */
  summary?: DemuxSummary;
}

/**
 * The terminal table: id (#generation when > 1), proto, client, server, packets and wire bytes
 * each way, start, duration, state. Start is the time of day when every flow starts on the same
 * UTC date (the date goes in the column title), else the full ISO time.
 */
export function renderFlowsTable(flows: readonly Flow[], opts?: TableOptions): string {
  const digits = digitsOf(opts);
  const starts = flows.map((f) => isoTime(f.start.sec, f.start.nsec, digits));
  const dates = new Set(starts.map((s) => s.slice(0, 10)));
  const oneDate = dates.size === 1 ? [...dates][0]! : null;
  // Live capture with process attribution: each end's process after its address (files have none).
  const procs = flows.some((f) => f.client.process !== undefined || f.server.process !== undefined);
  const proc = (e: FlowEndpoint) => (e.process === undefined ? '' : processLabel(e.process));
  const table = new Table({
    head: ['id', 'proto', 'client', ...(procs ? ['client process'] : []), 'server', ...(procs ? ['server process'] : []),
      'pkts →', 'bytes →', 'pkts ←', 'bytes ←', oneDate ? `start (${oneDate} UTC)` : 'start (UTC)', 'duration', 'state'],
    colAligns: ['right', 'left', 'left', ...(procs ? ['left' as const] : []), 'left', ...(procs ? ['left' as const] : []),
      'right', 'right', 'right', 'right', 'left', 'right', 'left'],
    style: { head: [], border: [], compact: true },
  });
  flows.forEach((f, i) => {
    const start = starts[i]!;
    table.push([
      f.generation > 1 ? `${f.id} #${f.generation}` : String(f.id),
      f.proto,
      endText(f.client.ip, f.client.port, f.proto) + (f.rolesInferred ? ' ?' : ''),
      ...(procs ? [proc(f.client)] : []),
      endText(f.server.ip, f.server.port, f.proto),
      ...(procs ? [proc(f.server)] : []),
      f.toServer.packets, f.toServer.wireBytes, f.toClient.packets, f.toClient.wireBytes,
      oneDate ? start.slice(11, -1) : start,
      durationText(f, digits),
      f.state,
    ]);
  });
  let out = table.toString() + '\n';
  if (flows.some((f) => f.rolesInferred)) out += '? client guessed: no SYN seen (higher port taken as the client)\n';
  const s = opts?.summary;
  if (s) {
    const parts = KIND_ORDER.filter((k) => s.byKind[k] > 0).map((k) => `${s.byKind[k]} ${k}`);
    out += `${flows.length} flow${flows.length === 1 ? '' : 's'} shown; ${s.packets} packets read`;
    out += parts.length > 0 ? `; without ports: ${parts.join(', ')}\n` : '\n';
  }
  return out;
}
