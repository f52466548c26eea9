/**
 * Flows as Zeek's conn.log (TSV with its #fields header).
 */
import type { Flow, Timestamp } from '../core/flow.js';
import type { TunnelKind } from '../core/packet.js';
import { epochText } from './time.js';
import { durationUnits, missedOf, spanText } from './flow-time.js';

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

/**
 * The `service` Zeek's tunnel analyzers give a UDP tunnel's own connection; tunnels Zeek does
 * not decode (VXLAN-GPE, GRE-in-UDP) leave it `-`.
 */
const ZEEK_TUNNEL_SERVICE: Partial<Record<TunnelKind, string>> = {
  vxlan: 'vxlan', geneve: 'geneve', teredo: 'teredo', 'gtp-u': 'gtpv1', ayiya: 'ayiya',
};

/**
 * conn.log's service: a tunnel's name once Zeek would have confirmed it, else what the first
 * bytes said (contentService). Its Teredo analyzer
 * confirms only after valid Teredo both ways (so that ordinary UDP is not taken for Teredo).
 */
function zeekService(f: Flow): string {
  if (f.carries === undefined || (f.carries === 'teredo' && f.carriesBothWays !== true)) return contentService(f);
  return ZEEK_TUNNEL_SERVICE[f.carries] ?? contentService(f);
}

/**
 * What the first bytes said, as Zeek would name it: HTTP, TLS and SSH once both ends spoke it
 * (Zeek's signatures for them want the other side's answer too, and an answer in another
 * protocol is a violation that takes the name away); DNS and QUIC from either end.
 */
function contentService(f: Flow): string {
  if (f.service === undefined) return '-';
  if (f.service === 'dns' || f.service === 'quic') return f.service;
  return f.serviceBothWays === true ? f.service : '-';
}

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

/**
 * One conn.log record, every field as Zeek has it before a writer formats it: `undefined` is
 * Zeek's unset (`-` in TSV, the key left out in JSON). Times stay integers; the writers choose.
 */
export interface ZeekConn {
  ts: Timestamp;
  uid: string;
  origH: string;
  origP: number;
  respH: string;
  respP: number;
  proto: string;
  service: string | undefined;
  /** Start and end of the duration (Zeek's clock stops at the close); unset when it is 0. */
  duration: { start: Timestamp; end: Timestamp } | undefined;
  origBytes: number | undefined;
  respBytes: number | undefined;
  connState: string;
  missedBytes: number;
  history: string | undefined;
  origPkts: number;
  origIpBytes: number;
  respPkts: number;
  respIpBytes: number;
  tunnelParents: string[] | undefined;
  communityId: string;
}

export function zeekConn(f: Flow): ZeekConn {
  // Zeek's clock stops once both ends have closed (closedAt): a last ACK does not lengthen it.
  const end = f.closedAt ?? f.end;
  // Zeek logs duration and the two byte counts only when the duration is positive.
  const timed = durationUnits(f.start, end, 6) > 0;
  // Another IP protocol is Zeek's unknown_transport: its number in both port fields (Zeek's
  // baselines write it so) and no payload counted (its endpoints have no size).
  const other = f.ipProtocol;
  const service = zeekService(f);
  return {
    ts: f.start,
    uid: zeekUid(f.id),
    origH: f.client.ip,
    origP: other ?? f.client.port,
    respH: f.server.ip,
    respP: other ?? f.server.port,
    proto: other !== undefined ? 'unknown_transport' : f.proto === 'icmpv6' ? 'icmp' : f.proto, // Zeek's transport_proto has one icmp for both
    service: service === '-' ? undefined : service,
    duration: timed ? { start: f.start, end } : undefined,
    origBytes: timed ? (other === undefined ? f.toServer.payloadBytes : 0) : undefined,
    respBytes: timed ? (other === undefined ? f.toClient.payloadBytes : 0) : undefined,
    connState: f.state,
    missedBytes: missedOf(f.toServer) + missedOf(f.toClient),
    history: f.history === '' ? undefined : f.history,
    origPkts: f.toServer.packets,
    origIpBytes: f.toServer.ipBytes,
    respPkts: f.toClient.packets,
    respIpBytes: f.toClient.ipBytes,
    tunnelParents: f.tunnelParents === undefined || f.tunnelParents.length === 0 ? undefined : f.tunnelParents.map(zeekUid),
    communityId: f.communityId,
  };
}

const unset = (v: string | number | undefined): string => (v === undefined ? '-' : String(v));

function zeekRow(f: Flow): string {
  const c = zeekConn(f);
  return [
    epochText(c.ts.sec, c.ts.nsec, 6),
    c.uid,
    c.origH, String(c.origP), c.respH, String(c.respP),
    c.proto,
    unset(c.service),
    c.duration === undefined ? '-' : spanText(c.duration.start, c.duration.end, 6),
    unset(c.origBytes),
    unset(c.respBytes),
    c.connState,
    '-', '-',
    String(c.missedBytes),
    c.history === undefined ? '-' : zeekEscape(c.history),
    String(c.origPkts), String(c.origIpBytes),
    String(c.respPkts), String(c.respIpBytes),
    c.tunnelParents === undefined ? '-' : c.tunnelParents.join(','),
    c.communityId,
  ].join('\t');
}

export interface ZeekOptions {
  /** Times for #open / #close (default: the first flow's start and the last flow's end). */
  open?: Timestamp;
  close?: Timestamp;
  /**
   * `--checksums`: written as a `#checksums` header line before `#fields` (Zeek has no such line;
   * its readers and zeek-cut skip header lines they do not know), so that a reader can tell a
   * log made as `zeek -C` makes it (ignore) from one made as plain `zeek` (validate).
   */
  checksums?: 'ignore' | 'validate';
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
    + `#open\t${zeekOpenTime(open.sec)}\n${opts?.checksums === undefined ? '' : `#checksums\t${opts.checksums}\n`}#fields\t${ZEEK_FIELDS.join('\t')}\n#types\t${ZEEK_TYPES.join('\t')}\n`;
  for (const f of flows) yield zeekRow(f) + '\n';
  yield `#close\t${zeekOpenTime(close.sec)}\n`;
}

export function renderZeekConnLog(flows: readonly Flow[], opts?: ZeekOptions): string {
  return [...zeekConnLogChunks(flows, opts)].join('');
}

/**
 * A time as Zeek holds it: a double of seconds, made from the capture's seconds and
 * microseconds as Zeek's packet source does (sec + usec / 1e6; libpcap hands Zeek microseconds).
 */
export function zeekTime(t: Timestamp): number {
  return t.sec + Math.floor(t.nsec / 1000) / 1e6;
}

/**
 * A double as Zeek's JSON writer (rapidjson) prints it: the shortest text that reads back as the
 * same double, as JavaScript's, but a whole number keeps `.0` (`1764056602.0`).
 */
function zeekDouble(x: number): string {
  const s = String(x);
  return Number.isInteger(x) && !s.includes('e') ? `${s}.0` : s;
}

/**
 * One conn.log record as Zeek writes it with `LogAscii::use_json=T`: an object a line, the
 * fields in conn.log's order under their dotted names (`id.orig_h`, flat, not nested), times
 * and intervals as doubles of seconds (duration is end − start of those doubles, Zeek's
 * subtraction, float noise and all), counts and ports as integers, sets as arrays, and every
 * unset field left out (so never `local_orig`/`local_resp`, which need Zeek's `Site::local_nets`).
 */
export function zeekJsonLine(f: Flow): string {
  const c = zeekConn(f);
  let s = `{"ts":${zeekDouble(zeekTime(c.ts))},"uid":"${c.uid}","id.orig_h":"${c.origH}","id.orig_p":${c.origP},`
    + `"id.resp_h":"${c.respH}","id.resp_p":${c.respP},"proto":"${c.proto}"`;
  if (c.service !== undefined) s += `,"service":${JSON.stringify(c.service)}`;
  if (c.duration !== undefined) s += `,"duration":${zeekDouble(zeekTime(c.duration.end) - zeekTime(c.duration.start))}`;
  if (c.origBytes !== undefined) s += `,"orig_bytes":${c.origBytes}`;
  if (c.respBytes !== undefined) s += `,"resp_bytes":${c.respBytes}`;
  s += `,"conn_state":"${c.connState}","missed_bytes":${c.missedBytes}`;
  if (c.history !== undefined) s += `,"history":${JSON.stringify(c.history)}`;
  s += `,"orig_pkts":${c.origPkts},"orig_ip_bytes":${c.origIpBytes},"resp_pkts":${c.respPkts},"resp_ip_bytes":${c.respIpBytes}`;
  if (c.tunnelParents !== undefined) s += `,"tunnel_parents":${JSON.stringify(c.tunnelParents)}`;
  return `${s},"community_id":"${c.communityId}"}\n`;
}
