/**
 * `flowdemux flows` output: pure functions from flow records (plus capture facts and the demux
 * summary) to text. Table (cli-table3), JSON (design.md's document), NDJSON, CSV (RFC 4180
 * quoting) and Zeek's conn.log TSV. The large formats come as chunk generators too, so the CLI
 * can stream 100,000 flows without building one giant string.
 */
import type CliTable from 'cli-table3';
import { createRequire } from 'node:module';
import type { CaptureInfo } from '../core/frame.js';
import { linkTypeName } from '../core/linktypes.js';
import type {
  DemuxSummary, DirectionCounters, EndpointProcess, Flow, FlowEndpoint, ListenerProcess, PacketKind, Timestamp,
} from '../core/flow.js';
import { formatAddress, tryParseAddress } from '../parse/format.js';
import { DIGIT_PAIRS, epochText, isoTime, writeIsoTime } from './time.js';

/** Fraction digits of printed times: 6 (µs captures) or 9 (ns captures). */
export interface TimeOptions {
  digits?: number;
}

function digitsOf(opts: TimeOptions | undefined): number {
  return clampDigits(opts?.digits ?? 6);
}

function clampDigits(d: number): number {
  return d >= 9 ? 9 : d <= 0 ? 0 : Math.floor(d);
}

/**
 * end − start as an exact count of 10^-digits units: both times are truncated to `digits` first,
 * like the printed start and end, so the three always agree.
 */
function durationUnits(start: Timestamp, end: Timestamp, digits: number): number {
  const q = POW10[9 - digits] ?? 10 ** (9 - digits);
  return (end.sec - start.sec) * (POW10[digits] ?? 10 ** digits) + (Math.floor(end.nsec / q) - Math.floor(start.nsec / q));
}

/** Powers of ten up to 10^15 (a table: `10 ** k` is a call to pow). */
const POW10 = Array.from({ length: 16 }, (_, i) => 10 ** i);

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
  return flows.filter(flowMatcher(filter));
}

/** The --proto/--port/--host test as one function, for flows checked one at a time as they end. */
export function flowMatcher(filter: FlowFilter): (f: Flow) => boolean {
  const proto = filter.proto?.toLowerCase();
  const port = filter.port;
  let host = filter.host;
  if (host !== undefined) {
    // Compare canonical text: '2001:DB8:0::1' and '2001:db8::1' are one address.
    const bytes = tryParseAddress(host);
    if (bytes !== null) host = formatAddress(bytes, 0, bytes.length);
  }
  return (f) => {
    if (proto !== undefined && f.proto !== proto && !(proto === 'icmp' && f.proto === 'icmpv6')) return false;
    if (port !== undefined) {
      if (f.proto !== 'tcp' && f.proto !== 'udp') return false;
      if (f.client.port !== port && f.server.port !== port) return false;
    }
    if (host !== undefined && f.client.ip !== host && f.server.ip !== host) return false;
    return true;
  };
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

/** `{"pid", "command", "state"[, "pids"]}` or `{"state": "gone"[, "uid"]}`, keys in that order. */
export function processToJson(p: EndpointProcess): Record<string, unknown> {
  if (p.state !== 'running') return p.uid === undefined ? { state: p.state } : { state: p.state, uid: p.uid };
  const out: Record<string, unknown> = { pid: p.pid, command: p.command, state: p.state };
  if (p.pids !== undefined) out.pids = p.pids.slice();
  return out;
}

/** `{"socket"[, "pid", "command"][, "pids"][, "reuseport": {"listeners", "owners"}]}`. */
export function listenerToJson(l: ListenerProcess): Record<string, unknown> {
  const out: Record<string, unknown> = { socket: l.socket };
  if (l.pid !== undefined) out.pid = l.pid;
  if (l.command !== undefined) out.command = l.command;
  if (l.pids !== undefined) out.pids = l.pids.slice();
  if (l.reuseport !== undefined) {
    out.reuseport = { listeners: l.reuseport.listeners, owners: l.reuseport.owners.map((o) => ({ pid: o.pid, command: o.command })) };
  }
  return out;
}

/** A process names itself (prctl, or node's process.title): control characters become \xNN. */
function commandText(command: string): string {
  return command.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * `python3 (pid 4121)`, `python3 (pid 4122, also held by 4121)` (a socket several processes
 * hold: the one said to own it first), `gone before lookup`.
 */
export function processLabel(p: EndpointProcess): string {
  if (p.state !== 'running') return 'gone before lookup';
  const command = commandText(p.command);
  if (p.pids !== undefined && p.pids.length > 1) {
    return `${command} (pid ${p.pid}, also held by ${p.pids.filter((x) => x !== p.pid).join(', ')})`;
  }
  return `${command} (pid ${p.pid})`;
}

/** `python3 (pid 4121)`, `one of 2 SO_REUSEPORT listeners`: the listener's owner as a label. */
export function listenerLabel(l: ListenerProcess): string {
  if (l.pid !== undefined && l.command !== undefined) {
    // The process that opened it; forked children that inherited it are counted, not listed.
    const others = l.pids !== undefined && l.pids.length > 1 ? ` and ${l.pids.length - 1} more` : '';
    const who = `${commandText(l.command)} (pid ${l.pid}${others})`;
    return l.reuseport ? `${who}, 1 of ${l.reuseport.listeners} SO_REUSEPORT listeners` : who;
  }
  if (l.reuseport) {
    const owners = l.reuseport.owners.map((o) => `${commandText(o.command)} (pid ${o.pid})`).join(', ');
    return `one of ${l.reuseport.listeners} SO_REUSEPORT listeners${owners ? `: ${owners}` : ''}`;
  }
  return 'owner not visible';
}

/**
 * An end's owner in a table cell: its own socket's process, and for a server end the listener's
 * owner when that is another process or the own socket was not seen:
 * `python3 (pid 10)`, `python3 (pid 11) via listener python3 (pid 10)`,
 * `gone before lookup; listener python3 (pid 10)`.
 */
export function endOwnerLabel(e: FlowEndpoint): string {
  const own = e.process === undefined ? '' : processLabel(e.process);
  const l = e.listener;
  if (l === undefined) return own;
  const same = e.process?.state === 'running' && l.pid === e.process.pid && l.reuseport === undefined;
  if (same) return own;
  if (e.process?.state === 'running') return `${own} via listener ${listenerLabel(l)}`;
  return `${own ? `${own}; ` : ''}listener ${listenerLabel(l)}`;
}

function endpointToJson(e: FlowEndpoint): Record<string, unknown> {
  const out: Record<string, unknown> = { ip: e.ip, port: e.port };
  if (e.process !== undefined) out.process = processToJson(e.process);
  if (e.listener !== undefined) out.listener = listenerToJson(e.listener);
  if (e.socket !== undefined) out.socket = e.socket.dualStack ? { ...e.socket } : { kind: e.socket.kind, bound: e.socket.bound };
  return out;
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
  };
}

/** One direction's counters, in writeCounts' key order. */
function countsToJson(c: DirectionCounters): Record<string, number> {
  return { packets: c.packets, wireBytes: c.wireBytes, ipBytes: c.ipBytes, payloadBytes: c.payloadBytes, missedBytes: missedOf(c) };
}

/** `missedBytes`, 0 for counters made before it existed (a caller's own Flow records). */
function missedOf(c: DirectionCounters): number {
  return c.missedBytes ?? 0;
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
  if (flow.icmpError === null) return putLiteral(v, p, J_ICMP_ERROR_NULL);
  p = putLiteral(v, p, J_ICMP_ERROR);
  p = writeText(buf, p, JSON.stringify(flow.icmpError));
  v.setUint8(p, 0x7d); // }
  return p + 1;
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
const J_ICMP_ERROR_NULL = literal(',"icmpError":null}');
const J_ICMP_ERROR = literal(',"icmpError":');

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

/** Size of a FlowJsonStore page: large enough that few flows are left over at a page's end. */
const STORE_PAGE = 1 << 20;

/**
 * Flows' JSON (writeFlowJson's bytes) kept by flow id until the document can be written: the
 * JSON report holds every flow until the end of the input (the document's head carries counts
 * known only then), and keeping a hundred thousand Flow records (a million small objects) cost
 * more in garbage collection than writing them. Bytes go into 1 MiB pages, appended; a flow
 * never spans two pages. Ids are expected to be the engine's 1, 2, 3... (a gap is a flow not
 * kept, e.g. filtered out), each added once.
 */
export class FlowJsonStore {
  private readonly pages: Uint8Array[] = [];
  private page = new Uint8Array(0);
  private used = 0;
  private pageOf = new Int32Array(1024);
  private startOf = new Int32Array(1024);
  /** 0: no flow with this id. */
  private lengthOf = new Int32Array(1024);
  private top = 0;

  /** `digits`: fraction digits of times, as for flowJsonText (may be set before the first add). */
  constructor(public digits = 6) {}

  /** Highest id stored (0 when none). */
  get maxId(): number {
    return this.top;
  }

  add(flow: Flow): void {
    const id = flow.id;
    if (!(id >= 1 && Math.floor(id) === id && id < 0x7fffffff)) throw new RangeError(`flow id ${id} cannot be stored`);
    if (id >= this.lengthOf.length) this.growIndex(id);
    const need = flowJsonBound(flow);
    if (this.page.length - this.used < need) {
      // Not enough left in this page: a new one (the rest of this one stays unused).
      this.page = Buffer.allocUnsafe(Math.max(STORE_PAGE, need));
      this.pages.push(this.page);
      this.used = 0;
    }
    const start = this.used;
    this.used = writeFlowJson(this.page, start, flow, this.digits);
    this.pageOf[id] = this.pages.length - 1;
    this.startOf[id] = start;
    this.lengthOf[id] = this.used - start;
    if (id > this.top) this.top = id;
  }

  /** Byte length of flow `id`'s JSON; 0 when it was not added. */
  size(id: number): number {
    return id >= 1 && id <= this.top ? this.lengthOf[id]! : 0;
  }

  /** Copies flow `id`'s JSON into `dst` at `pos` (room for `size(id)` bytes needed); returns the end. */
  copyTo(id: number, dst: Uint8Array, pos: number): number {
    const n = this.size(id);
    if (n === 0) return pos;
    const start = this.startOf[id]!;
    dst.set(this.pages[this.pageOf[id]!]!.subarray(start, start + n), pos);
    return pos + n;
  }

  private growIndex(id: number): void {
    const size = Math.max(id + 1, this.lengthOf.length * 2);
    const grow = (a: Int32Array) => {
      const b = new Int32Array(size);
      b.set(a);
      return b;
    };
    this.pageOf = grow(this.pageOf);
    this.startOf = grow(this.startOf);
    this.lengthOf = grow(this.lengthOf);
  }
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
  'to_server_missed_bytes', 'to_client_missed_bytes',
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
    missedOf(flow.toServer), missedOf(flow.toClient),
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
    String(missedOf(f.toServer) + missedOf(f.toClient)),
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
 * Zeek derives them from sequence numbers; `missed_bytes` is the sum of both directions'
 * `missedBytes` (content gaps, counted as tcp.ts updateGaps says, close to Zeek's rule).
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

// cli-table3 (and the string-width tables it loads) takes about 10 ms to load: only the table
// format needs it, so the JSON and NDJSON runs skip it.
let tableClass: typeof CliTable | undefined;
function loadTable(): typeof CliTable {
  tableClass ??= createRequire(import.meta.url)('cli-table3') as typeof CliTable;
  return tableClass;
}

export interface TableOptions extends TimeOptions {
  /** Adds a line counting the packets that are in no flow. */
  summary?: DemuxSummary;
}

/**
 * The terminal table: id (#generation when > 1), proto, client, server, packets and wire bytes
 * each way, start, duration, state, and the missed bytes when some flow has sequence gaps. Start is the time of day when every flow starts on the same
 * UTC date (the date goes in the column title), else the full ISO time.
 */
export function renderFlowsTable(flows: readonly Flow[], opts?: TableOptions): string {
  const digits = digitsOf(opts);
  const starts = flows.map((f) => isoTime(f.start.sec, f.start.nsec, digits));
  const dates = new Set(starts.map((s) => s.slice(0, 10)));
  const oneDate = dates.size === 1 ? [...dates][0]! : null;
  // Live capture with process attribution: each end's process after its address (files have none).
  const procs = flows.some((f) => f.client.process !== undefined || f.server.process !== undefined || f.server.listener !== undefined);
  const proc = endOwnerLabel;
  // Capture loss: a `missed` column only when some flow has sequence gaps.
  const missedTotal = (f: Flow) => missedOf(f.toServer) + missedOf(f.toClient);
  const gaps = flows.some((f) => missedTotal(f) > 0);
  const Table = loadTable();
  const table = new Table({
    head: ['id', 'proto', 'client', ...(procs ? ['client process'] : []), 'server', ...(procs ? ['server process'] : []),
      'pkts →', 'bytes →', 'pkts ←', 'bytes ←', oneDate ? `start (${oneDate} UTC)` : 'start (UTC)', 'duration', 'state',
      ...(gaps ? ['missed'] : [])],
    colAligns: ['right', 'left', 'left', ...(procs ? ['left' as const] : []), 'left', ...(procs ? ['left' as const] : []),
      'right', 'right', 'right', 'right', 'left', 'right', 'left', ...(gaps ? ['right' as const] : [])],
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
      ...(gaps ? [missedTotal(f) > 0 ? missedTotal(f) : ''] : []),
    ]);
  });
  let out = table.toString() + '\n';
  if (flows.some((f) => f.rolesInferred)) out += '? client guessed: no SYN seen (higher port taken as the client)\n';
  if (gaps) out += 'missed: TCP bytes sent but never captured (sequence gaps), both ways; missedBytes per direction in --format json\n';
  const s = opts?.summary;
  if (s) {
    const parts = KIND_ORDER.filter((k) => s.byKind[k] > 0).map((k) => `${s.byKind[k]} ${k}`);
    out += `${flows.length} flow${flows.length === 1 ? '' : 's'} shown; ${s.packets} packets read`;
    out += parts.length > 0 ? `; without ports: ${parts.join(', ')}\n` : '\n';
  }
  return out;
}
