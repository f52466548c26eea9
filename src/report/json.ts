/**
 * Flows as JSON: the readable renderer (`flowToJson`, plain objects) and the byte-level one
 * (`writeFlowJson`, straight into an output buffer, the CLI's fast path) next to each other, both
 * writing the `Flow` shape of docs/json.md, key for key (test/report/flow-json.test.ts and flow-bytes.test.ts
 * hold them together); the `flows --format json` document around them; NDJSON lines.
 */
import type { CaptureInfo } from '../core/frame.js';
import type * as J from '../core/json-types.js';
import { linkTypeName } from '../core/linktypes.js';
import type {
  AckRtt, DemuxSummary, DirectionCounters, EndpointProcess, Flow, FlowEndpoint, ListenerProcess, TcpAnalysisSummary,
} from '../core/flow.js';
import { DIGIT_PAIRS, isoTime, writeIsoTime } from './time.js';
import { POW10, type TimeOptions, clampDigits, digitsOf, durationSeconds, durationUnits, missedOf } from './flow-time.js';

/** `{"pid", "command", "state"[, "pids"]}` or `{"state": "gone"[, "uid"]}`, keys in that order. */
export function processToJson(p: EndpointProcess): J.Process {
  if (p.state !== 'running') return p.uid === undefined ? { state: p.state } : { state: p.state, uid: p.uid };
  const out: J.Process = { pid: p.pid, command: p.command, state: p.state };
  if (p.pids !== undefined) out.pids = p.pids.slice();
  return out;
}

/** `{"socket"[, "pid", "command"][, "pids"][, "reuseport": {"listeners", "owners"}]}`. */
export function listenerToJson(l: ListenerProcess): J.Listener {
  const out: J.Listener = { socket: l.socket };
  if (l.pid !== undefined) out.pid = l.pid;
  if (l.command !== undefined) out.command = l.command;
  if (l.pids !== undefined) out.pids = l.pids.slice();
  if (l.reuseport !== undefined) {
    out.reuseport = { listeners: l.reuseport.listeners, owners: l.reuseport.owners.map((o) => ({ pid: o.pid, command: o.command })) };
  }
  return out;
}

function endpointToJson(e: FlowEndpoint): J.Endpoint {
  const out: J.Endpoint = { ip: e.ip, port: e.port };
  if (e.process !== undefined) out.process = processToJson(e.process);
  if (e.listener !== undefined) out.listener = listenerToJson(e.listener);
  if (e.socket !== undefined) out.socket = e.socket.dualStack ? { kind: e.socket.kind, bound: e.socket.bound, dualStack: true } : { kind: e.socket.kind, bound: e.socket.bound };
  return out;
}

/**
 * One flow as the `Flow` of docs/json.md: its type (core/json-types.ts) is made from that doc,
 * so the compiler holds this renderer to the contract; writeFlowJson below writes the same keys
 * in the same order as bytes, and the tests hold the two together.
 */
export function flowToJson(flow: Flow, opts?: TimeOptions): J.Flow {
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
    toServer: countsToJson(flow.toServer),
    toClient: countsToJson(flow.toClient),
    state: flow.state,
    history: flow.history,
    communityId: flow.communityId,
    generationReason: flow.generationReason,
    endReason: flow.endReason,
    ipVersion: flow.ipVersion,
    icmpErrors: flow.icmpErrors,
    icmpError: flow.icmpError === null ? null : { ...flow.icmpError },
    ...(flow.ipProtocol === undefined ? {} : { ipProtocol: flow.ipProtocol }),
    ...(flow.carries === undefined ? {} : { carries: flow.carries }),
    ...(flow.tunnel === undefined ? {} : { tunnel: flow.tunnel, tunnelParents: (flow.tunnelParents ?? []).slice() }),
    ...(flow.service === undefined ? {} : { service: flow.service, summary: flow.summary ?? '' }),
    ...(flow.analysis === undefined ? {} : { analysis: analysisToJson(flow.analysis) }),
  };
}

function ackRttToJson(r: AckRtt | null): J.AckRtt | null {
  return r === null ? null : { samples: r.samples, min: r.min, median: r.median };
}

/** A TCP flow's analysis (`flows --analysis`), the `TcpAnalysis` of docs/json.md. */
export function analysisToJson(a: TcpAnalysisSummary): J.TcpAnalysis {
  const h = a.handshake;
  return {
    marks: { ...a.marks },
    handshake: h === null ? null : { synToSynAck: h.synToSynAck, synAckToAck: h.synAckToAck, total: h.total },
    ackRtt: { toServer: ackRttToJson(a.ackRtt.toServer), toClient: ackRttToJson(a.ackRtt.toClient) },
  };
}

/** One direction's counters, in writeCounts' key order. */
function countsToJson(c: DirectionCounters): J.Counters {
  return { packets: c.packets, wireBytes: c.wireBytes, ipBytes: c.ipBytes, payloadBytes: c.payloadBytes, missedBytes: missedOf(c) };
}

/**
 * `JSON.stringify(flowToJson(flow))`: the text of `writeFlowJson`'s bytes, for the callers
 * that want a string (sorted reports, live capture).
 */
export function flowJsonText(flow: Flow, opts?: TimeOptions): string {
  const need = flowJsonBound(flow);
  if (scratch.length < need) scratch = Buffer.allocUnsafe(need * 2);
  return scratch.toString('utf8', 0, writeFlowJson(scratch, 0, flow, digitsOf(opts)));
}

let scratch = Buffer.allocUnsafe(4096);

/**
 * What a flow's JSON takes at most apart from its strings: the keys (about 430 bytes), 17
 * numbers, 3 times and a duration at their longest (String of a double is at most 25
 * characters, a time 40).
 */
const FLOW_JSON_FIXED = 1200;

/** Room `writeFlowJson` needs for this flow (an upper bound, about twice the usual size). */
export function flowJsonBound(flow: Flow): number {
  let n = FLOW_JSON_FIXED + 3 * (flow.proto.length + flow.client.ip.length + flow.server.ip.length + flow.state.length
    + flow.history.length + flow.communityId.length + (flow.generationReason ?? '').length + (flow.endReason ?? '').length);
  n += 3 * (hostJsonText(flow.client).length + hostJsonText(flow.server).length);
  if (flow.icmpError !== null) n += 3 * JSON.stringify(flow.icmpError).length;
  if (flow.carries !== undefined || flow.tunnel !== undefined) n += 3 * tunnelJsonText(flow).length;
  if (flow.service !== undefined) n += 40 + 3 * (flow.summary ?? '').length;
  if (flow.analysis !== undefined) n += 1200; // 14 counts, 3 times, 2 round trips: about 600 bytes at their longest
  return n;
}

/**
 * One flow as JSON, `JSON.stringify(flowToJson(flow, {digits}))` exactly, written as UTF-8 bytes
 * into `buf` at `pos`, which must have `flowJsonBound(flow)` bytes of room (else RangeError);
 * returns the end. The JSON reports write a hundred thousand of these: built as text (then
 * joined, then encoded) they cost several microseconds a flow. Here the keys go four bytes per
 * store, numbers two digits per store, strings byte by byte, and no string is made on the way.
 * Every string field is made by flowdemux from numbers and fixed words (addresses, Zeek codes,
 * base64), so none needs escaping; the two nested records with free text (a process, the ICMP
 * note) are rare and go through JSON.stringify. A test keeps this identical to JSON.stringify.
 */
export function writeFlowJson(buf: Uint8Array, pos: number, flow: Flow, digits: number): number {
  const d = clampDigits(digits);
  const v = viewOf(buf);
  let p = putLiteral(v, pos, J_ID);
  p = writeJsonNumber(v, buf, p, flow.id);
  p = putLiteral(v, p, J_PROTO);
  p = writeText(buf, p, flow.proto);
  p = putLiteral(v, p, J_GENERATION);
  p = writeJsonNumber(v, buf, p, flow.generation);
  p = putLiteral(v, p, J_CLIENT_IP);
  p = writeEndpoint(v, buf, p, flow.client);
  p = putLiteral(v, p, J_SERVER_IP);
  p = writeEndpoint(v, buf, p, flow.server);
  p = putLiteral(v, p, flow.rolesInferred ? J_ROLES_TRUE_START : J_ROLES_FALSE_START);
  p = writeIsoTime(v, p, flow.start.sec, flow.start.nsec, d);
  p = putLiteral(v, p, J_END);
  p = writeIsoTime(v, p, flow.end.sec, flow.end.nsec, d);
  p = putLiteral(v, p, J_DURATION);
  p = writeDuration(v, buf, p, durationUnits(flow.start, flow.end, d), d);
  p = putLiteral(v, p, J_TO_SERVER);
  p = writeCounts(v, buf, p, flow.toServer);
  p = putLiteral(v, p, J_TO_CLIENT);
  p = writeCounts(v, buf, p, flow.toClient);
  p = putLiteral(v, p, J_STATE);
  p = writeText(buf, p, flow.state);
  p = putLiteral(v, p, J_HISTORY);
  p = writeText(buf, p, flow.history);
  p = putLiteral(v, p, J_COMMUNITY_ID);
  p = writeText(buf, p, flow.communityId);
  p = putLiteral(v, p, J_GENERATION_REASON);
  p = writeQuoted(v, buf, p, flow.generationReason);
  p = putLiteral(v, p, J_END_REASON);
  p = writeQuoted(v, buf, p, flow.endReason);
  p = putLiteral(v, p, J_IP_VERSION);
  p = writeJsonNumber(v, buf, p, flow.ipVersion);
  p = putLiteral(v, p, J_ICMP_ERRORS);
  p = writeJsonNumber(v, buf, p, flow.icmpErrors);
  if (flow.icmpError === null) p = putLiteral(v, p, J_ICMP_ERROR_NULL);
  else {
    p = putLiteral(v, p, J_ICMP_ERROR);
    p = writeText(buf, p, JSON.stringify(flow.icmpError));
  }
  if (flow.ipProtocol !== undefined) {
    p = putLiteral(v, p, J_IP_PROTOCOL);
    p = writeJsonNumber(v, buf, p, flow.ipProtocol);
  }
  if (flow.carries !== undefined || flow.tunnel !== undefined) p = writeText(buf, p, tunnelJsonText(flow));
  // The summary holds no character JSON escapes (services.ts safeSummaryText).
  if (flow.service !== undefined) {
    p = putLiteral(v, p, J_SERVICE);
    p = writeText(buf, p, flow.service);
    p = putLiteral(v, p, J_SUMMARY);
    p = writeText(buf, p, flow.summary ?? '');
    v.setUint8(p++, 0x22); // "
  }
  // Only with flows --analysis: made as text.
  if (flow.analysis !== undefined) p = writeText(buf, p, `,"analysis":${JSON.stringify(analysisToJson(flow.analysis))}`);
  v.setUint8(p, 0x7d); // }
  return p + 1;
}

/** A tunnel's keys (`carries`, `tunnel`, `tunnelParents`) as JSON text: rare, so made as a string. */
function tunnelJsonText(flow: Flow): string {
  let s = flow.carries === undefined ? '' : `,"carries":"${flow.carries}"`;
  if (flow.tunnel !== undefined) s += `,"tunnel":"${flow.tunnel}","tunnelParents":[${(flow.tunnelParents ?? []).join(',')}]`;
  return s;
}

/** An endpoint's IP (its opening `{"ip":"` written by the caller) up to the `}` left open. */
function writeEndpoint(v: DataView, buf: Uint8Array, pos: number, e: FlowEndpoint): number {
  let p = writeText(buf, pos, e.ip);
  p = putLiteral(v, p, J_PORT);
  p = writeJsonNumber(v, buf, p, e.port);
  if (e.process === undefined && e.listener === undefined && e.socket === undefined) return p;
  return writeText(buf, p, hostJsonText(e));
}

/**
 * The live-capture keys of an end (`,"process":{...},"listener":{...},"socket":{...}`), as
 * jsonText writes them (a command name is free text); '' for files.
 */
function hostJsonText(e: FlowEndpoint): string {
  if (e.process === undefined && e.listener === undefined && e.socket === undefined) return '';
  const all = jsonText(endpointToJson(e));
  // endpointToJson's ip and port come first: the rest is the host part, without the closing brace.
  const head = jsonText({ ip: e.ip, port: e.port });
  return all.slice(head.length - 1, -1);
}

function writeCounts(v: DataView, buf: Uint8Array, pos: number, c: DirectionCounters): number {
  let p = writeJsonNumber(v, buf, pos, c.packets);
  p = putLiteral(v, p, J_WIRE_BYTES);
  p = writeJsonNumber(v, buf, p, c.wireBytes);
  p = putLiteral(v, p, J_IP_BYTES);
  p = writeJsonNumber(v, buf, p, c.ipBytes);
  p = putLiteral(v, p, J_PAYLOAD_BYTES);
  p = writeJsonNumber(v, buf, p, c.payloadBytes);
  p = putLiteral(v, p, J_MISSED_BYTES);
  return writeJsonNumber(v, buf, p, missedOf(c));
}

/** `"text"` or `null`, then the `,` before the next key. */
function writeQuoted(v: DataView, buf: Uint8Array, pos: number, s: string | null): number {
  if (s === null) return putLiteral(v, pos, J_NULL_COMMA);
  v.setUint8(pos, 0x22); // "
  const p = writeText(buf, pos + 1, s);
  v.setUint16(p, 0x2c22, true); // ",
  return p + 2;
}

/**
 * The fixed pieces, as [length, words...]: little-endian 32-bit words of bytes 0-3, 4-7, ...,
 * the last word ending with the last byte (it may overlap the one before). All are 4 bytes or
 * longer.
 */
function literal(text: string): Uint32Array {
  const n = text.length;
  if (n < 4) throw new Error(`literal '${text}' is shorter than a word`);
  const word = (at: number) => (text.charCodeAt(at) | (text.charCodeAt(at + 1) << 8) | (text.charCodeAt(at + 2) << 16) | (text.charCodeAt(at + 3) << 24)) >>> 0;
  const words = [n];
  for (let at = 0; at + 4 < n; at += 4) words.push(word(at));
  words.push(word(n - 4));
  return Uint32Array.from(words);
}

function putLiteral(v: DataView, pos: number, lit: Uint32Array): number {
  const n = lit[0]!;
  const last = lit.length - 1;
  for (let i = 1; i < last; i++) v.setUint32(pos + 4 * (i - 1), lit[i]!, true);
  v.setUint32(pos + n - 4, lit[last]!, true);
  return pos + n;
}

const J_ID = literal('{"id":');
const J_PROTO = literal(',"proto":"');
const J_GENERATION = literal('","generation":');
const J_CLIENT_IP = literal(',"client":{"ip":"');
const J_PORT = literal('","port":');
const J_SERVER_IP = literal('},"server":{"ip":"');
const J_ROLES_TRUE_START = literal('},"rolesInferred":true,"start":"');
const J_ROLES_FALSE_START = literal('},"rolesInferred":false,"start":"');
const J_END = literal('","end":"');
const J_DURATION = literal('","duration":');
const J_TO_SERVER = literal(',"toServer":{"packets":');
const J_WIRE_BYTES = literal(',"wireBytes":');
const J_IP_BYTES = literal(',"ipBytes":');
const J_PAYLOAD_BYTES = literal(',"payloadBytes":');
const J_MISSED_BYTES = literal(',"missedBytes":');
const J_TO_CLIENT = literal('},"toClient":{"packets":');
const J_STATE = literal('},"state":"');
const J_HISTORY = literal('","history":"');
const J_COMMUNITY_ID = literal('","communityId":"');
const J_GENERATION_REASON = literal('","generationReason":');
const J_END_REASON = literal('"endReason":');
const J_NULL_COMMA = literal('null,');
const J_IP_VERSION = literal('"ipVersion":');
const J_ICMP_ERRORS = literal(',"icmpErrors":');
const J_ICMP_ERROR_NULL = literal(',"icmpError":null');
const J_ICMP_ERROR = literal(',"icmpError":');
const J_IP_PROTOCOL = literal(',"ipProtocol":');
const J_SERVICE = literal(',"service":"');
const J_SUMMARY = literal('","summary":"');

// The DataView of the buffer written last: made once per buffer (an output piece, a page).
let lastBuffer: Uint8Array | null = null;
let lastView: DataView = new DataView(new ArrayBuffer(0));

function viewOf(buf: Uint8Array): DataView {
  if (buf !== lastBuffer) {
    lastView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    lastBuffer = buf;
  }
  return lastView;
}

/**
 * `String(n)` as bytes. Integers from 0 to 2^53 (counters can pass 2^32) are written two digits
 * at a time; anything else (never made by the engine) takes String's text.
 */
function writeJsonNumber(v: DataView, buf: Uint8Array, pos: number, n: number): number {
  if (!(n >= 0 && n <= Number.MAX_SAFE_INTEGER && Math.floor(n) === n)) return writeAscii(v, pos, String(n));
  if (n < 100) {
    if (n < 10) {
      v.setUint8(pos, 0x30 + n);
      return pos + 1;
    }
    v.setUint16(pos, DIGIT_PAIRS[n]!, true);
    return pos + 2;
  }
  let len = 3;
  while (len < 16 && n >= POW10[len]!) len++;
  const end = pos + len;
  v.setUint8(end - 1, 0); // the room check for the whole number, before any digit is written
  let p = end;
  let m = n;
  while (m >= 0x80000000) {
    const q = Math.floor(m / 100);
    p -= 2;
    v.setUint16(p, DIGIT_PAIRS[m - q * 100]!, true);
    m = q;
  }
  let k = m | 0;
  while (k >= 100) {
    const q = (k / 100) | 0;
    p -= 2;
    v.setUint16(p, DIGIT_PAIRS[k - q * 100]!, true);
    k = q;
  }
  if (k >= 10) v.setUint16(p - 2, DIGIT_PAIRS[k]!, true);
  else v.setUint8(p - 1, 0x30 + k);
  return end;
}

/**
 * `String(units / 10^digits)` (durationSeconds as JSON prints it) as bytes, from the integer.
 * A decimal of at most 15 significant digits is what JavaScript prints back for the double
 * nearest to it (doubles hold 15 decimal digits exactly), so below 10^15 units the text is the
 * integer with a decimal point put in and trailing zeros dropped. Values below 10^-6 print in
 * exponent form (`1.2e-7`), and larger unit counts can round: those take String's text.
 */
function writeDuration(v: DataView, buf: Uint8Array, pos: number, units: number, digits: number): number {
  if (!(units >= 0 && units < 1e15 && Math.floor(units) === units && (units === 0 || digits <= 6 || units >= POW10[digits - 6]!))) {
    return writeAscii(v, pos, String(units / POW10[digits]!));
  }
  const scale = POW10[digits]!;
  const whole = Math.floor(units / scale);
  let frac = units - whole * scale; // below 10^9: small integer arithmetic from here
  let p = writeJsonNumber(v, buf, pos, whole);
  if (frac === 0) return p;
  let width = digits;
  while (frac % 10 === 0) {
    frac = (frac / 10) | 0;
    width--;
  }
  v.setUint8(p + width, 0); // the room check
  buf[p++] = 0x2e; // .
  for (let i = p + width - 1; i >= p; i--) {
    const q = (frac / 10) | 0;
    buf[i] = 0x30 + frac - q * 10;
    frac = q;
  }
  return p + width;
}

/** Text known to be ASCII (String of a number), at most as long as FLOW_JSON_FIXED allows for. */
function writeAscii(v: DataView, pos: number, s: string): number {
  for (let i = 0; i < s.length; i++) v.setUint8(pos + i, s.charCodeAt(i));
  return pos + s.length;
}

/**
 * A string's UTF-8 bytes, unescaped (the caller knows it needs no JSON escaping). ASCII, the
 * case of every string the engine makes, goes a byte at a time; anything else is encoded by
 * hand. The room is checked once, for three bytes a UTF-16 unit.
 */
function writeText(buf: Uint8Array, pos: number, s: string): number {
  const n = s.length;
  if (pos + n * 3 > buf.length) throw new RangeError('writeFlowJson: buffer too small (see flowJsonBound)');
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return writeUtf8From(buf, pos + i, s, i);
    buf[pos + i] = c;
  }
  return pos + n;
}

function writeUtf8From(buf: Uint8Array, pos: number, s: string, from: number): number {
  let p = pos;
  for (let i = from; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      buf[p++] = c;
    } else if (c < 0x800) {
      buf[p++] = 0xc0 | (c >> 6);
      buf[p++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
          buf[p++] = 0xf0 | (c >> 18);
          buf[p++] = 0x80 | ((c >> 12) & 0x3f);
          buf[p++] = 0x80 | ((c >> 6) & 0x3f);
          buf[p++] = 0x80 | (c & 0x3f);
          continue;
        }
        c = 0xfffd; // a lone surrogate: what Buffer and TextEncoder write for it
      }
      buf[p++] = 0xe0 | (c >> 12);
      buf[p++] = 0x80 | ((c >> 6) & 0x3f);
      buf[p++] = 0x80 | (c & 0x3f);
    }
  }
  return p;
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
  yield flowsJsonHead(captures);
  let first = true;
  for (const f of flows) {
    yield (first ? '\n' : ',\n') + flowJsonText(f, opts);
    first = false;
  }
  yield flowsJsonTail(!first, warnings, opts);
}

/** The JSON document up to its first flow: each flow then follows as `\n{...}` (the first) or `,\n{...}`. */
export function flowsJsonHead(captures: readonly CaptureInfo[]): string {
  return `{"captures":${jsonText(captures.map(captureToJson))},\n"flows":[`;
}

/** The JSON document after its last flow (`anyFlows`: whether the array has any). */
export function flowsJsonTail(anyFlows: boolean, warnings: readonly string[], opts?: FlowsDocumentOptions): string {
  let tail = `${anyFlows ? '\n' : ''}],\n"warnings":${jsonText(warnings)}`;
  if (opts?.summary) tail += `,\n"summary":${JSON.stringify(opts.summary)}`;
  return tail + '}\n';
}

export function renderFlowsJson(
  flows: Iterable<Flow>, captures: readonly CaptureInfo[], warnings: readonly string[], opts?: FlowsDocumentOptions,
): string {
  return [...flowsJsonChunks(flows, captures, warnings, opts)].join('');
}
