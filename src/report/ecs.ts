/**
 * Flows as Elastic Common Schema documents (`flows --format ecs`): one JSON object a line, nested
 * as ECS documents are (`{"source":{"ip":...}}`, not dotted keys), ready for an Elasticsearch or
 * OpenSearch bulk load or an ingest pipeline without reshaping. Field names and types are ECS
 * 8.x's (event, source, destination, network, process); what ECS has no field for goes under
 * `flowdemux`, as ECS asks of custom fields.
 */
import type { AckRtt, EndpointProcess, Flow, TcpAnalysisSummary } from '../core/flow.js';
import { IPPROTO } from '../core/packet.js';
import { MARK_NAMES } from '../demux/tcp-analysis.js';
import { isoTime } from './time.js';
import { jsonText } from './json.js';
import { POW10, analysisNanos, digitsOf, durationUnits, type TimeOptions } from './flow-time.js';

/** The ECS version whose field definitions this writer follows (written as `ecs.version`). */
export const ECS_VERSION = '8.11.0';

/**
 * `network.transport`: ECS asks for the IANA protocol keyword, lower case. flowdemux's names are
 * those keywords (core/ip-protocols.ts) but for ICMPv6, which IANA calls `ipv6-icmp`.
 */
function transportOf(f: Flow): string {
  return f.proto === 'icmpv6' ? 'ipv6-icmp' : f.proto;
}

function ianaNumberOf(f: Flow): number {
  switch (f.proto) {
    case 'tcp': return IPPROTO.TCP;
    case 'udp': return IPPROTO.UDP;
    case 'icmp': return IPPROTO.ICMP;
    case 'icmpv6': return IPPROTO.ICMPV6;
    default: return f.ipProtocol ?? 0;
  }
}

/**
 * `network.protocol`, the application protocol (ECS: lower case, e.g. `http`, `dns`, `tls`):
 * flowdemux's service name, with Zeek's `ssl` written as `tls`, the name Elastic's own
 * Packetbeat and ECS examples use.
 */
function protocolOf(f: Flow): string | undefined {
  if (f.service === undefined) return undefined;
  return f.service === 'ssl' ? 'tls' : f.service;
}

/** A running process as ECS's `process.pid` and `process.name` (/proc/PID/comm). */
function ecsProcess(p: EndpointProcess | undefined): { pid: number; name: string } | undefined {
  return p !== undefined && p.state === 'running' ? { pid: p.pid, name: p.command } : undefined;
}

/**
 * end − start in nanoseconds (ECS `event.duration` is a long of ns), exact from the integer
 * times truncated to the printed digits first, as the JSON's `duration`: it is then always
 * `event.end` − `event.start` as written.
 */
export function durationNanos(f: Flow, digits: number): number {
  return durationUnits(f.start, f.end, digits) * POW10[9 - digits]!;
}

function ackRttToEcs(r: AckRtt | null): Record<string, number> | undefined {
  return r === null ? undefined : { samples: r.samples, min: analysisNanos(r.min), median: analysisNanos(r.median) };
}

/**
 * `flowdemux.tcp_analysis` (flows --analysis, a TCP flow): each mark's count under tshark's
 * `tcp.analysis.*` name; `handshake` (`syn_to_synack`, `synack_to_ack`, `total`: tshark's
 * `tcp.analysis.initial_rtt`) and `ack_rtt.source`/`ack_rtt.destination` (the data that end
 * sent, timed by the other's ACKs: `samples`, `min`, `median`) in nanoseconds, as ECS's
 * `event.duration` is. What was not seen is left out (ECS documents carry no nulls for it).
 */
export function tcpAnalysisToEcs(a: TcpAnalysisSummary): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [, name] of MARK_NAMES) out[name] = a.marks[name];
  const h = a.handshake;
  if (h !== null) {
    const hs: Record<string, number> = {};
    if (h.synToSynAck !== null) hs.syn_to_synack = analysisNanos(h.synToSynAck);
    if (h.synAckToAck !== null) hs.synack_to_ack = analysisNanos(h.synAckToAck);
    hs.total = analysisNanos(h.total);
    out.handshake = hs;
  }
  const rtt: Record<string, unknown> = {};
  const source = ackRttToEcs(a.ackRtt.toServer);
  const destination = ackRttToEcs(a.ackRtt.toClient);
  if (source !== undefined) rtt.source = source;
  if (destination !== undefined) rtt.destination = destination;
  if (source !== undefined || destination !== undefined) out.ack_rtt = rtt;
  return out;
}

/**
 * One flow as an ECS document (plain objects, in the key order written):
 * - `@timestamp` and `event.start`: the first packet; `event.end`: the last; `event.duration`:
 *   nanoseconds between them;
 * - `event.kind` `event`, `event.category` `["network"]`, `event.type` `["connection"]`, and
 *   `"end"` too when the connection was seen to end (FIN or RST);
 * - `source` is the client (the originator), `destination` the server; their `bytes` are IP
 *   bytes (header included, Zeek's `orig_ip_bytes`), `packets` packets; `port` for TCP and UDP;
 * - `network.bytes`/`network.packets` are the sums of both ends' (as ECS defines them);
 * - `process` (live capture): the owner of the client's socket, else of the server's; which end
 *   it is in `flowdemux.process_end`, and the server's owner also in
 *   `flowdemux.destination_process` when both were seen;
 * - `flowdemux.tcp_analysis` with flows --analysis, a TCP flow (tcpAnalysisToEcs).
 */
export function flowToEcs(f: Flow, opts?: TimeOptions): Record<string, unknown> {
  const digits = digitsOf(opts);
  const start = isoTime(f.start.sec, f.start.nsec, digits);
  const ported = f.proto === 'tcp' || f.proto === 'udp';
  const source: Record<string, unknown> = { ip: f.client.ip };
  if (ported) source.port = f.client.port;
  source.bytes = f.toServer.ipBytes;
  source.packets = f.toServer.packets;
  const destination: Record<string, unknown> = { ip: f.server.ip };
  if (ported) destination.port = f.server.port;
  destination.bytes = f.toClient.ipBytes;
  destination.packets = f.toClient.packets;
  const network: Record<string, unknown> = {
    transport: transportOf(f),
    type: f.ipVersion === 6 ? 'ipv6' : 'ipv4',
    // ECS types iana_number as a keyword: the number as text.
    iana_number: String(ianaNumberOf(f)),
    community_id: f.communityId,
    bytes: f.toServer.ipBytes + f.toClient.ipBytes,
    packets: f.toServer.packets + f.toClient.packets,
  };
  const protocol = protocolOf(f);
  if (protocol !== undefined) network.protocol = protocol;
  const doc: Record<string, unknown> = {
    '@timestamp': start,
    ecs: { version: ECS_VERSION },
    event: {
      kind: 'event',
      category: ['network'],
      type: f.endReason === 'fin' || f.endReason === 'rst' ? ['connection', 'end'] : ['connection'],
      start,
      end: isoTime(f.end.sec, f.end.nsec, digits),
      duration: durationNanos(f, digits),
    },
    source,
    destination,
    network,
  };
  const clientProcess = ecsProcess(f.client.process);
  const serverProcess = ecsProcess(f.server.process);
  if (clientProcess !== undefined || serverProcess !== undefined) doc.process = clientProcess ?? serverProcess;
  const own: Record<string, unknown> = {
    flow_id: f.id,
    generation: f.generation,
    generation_reason: f.generationReason,
    end_reason: f.endReason,
    conn_state: f.state,
    history: f.history,
    roles_inferred: f.rolesInferred,
    source_payload_bytes: f.toServer.payloadBytes,
    destination_payload_bytes: f.toClient.payloadBytes,
  };
  if (clientProcess !== undefined || serverProcess !== undefined) own.process_end = clientProcess !== undefined ? 'source' : 'destination';
  if (clientProcess !== undefined && serverProcess !== undefined) own.destination_process = serverProcess;
  if (f.analysis !== undefined) own.tcp_analysis = tcpAnalysisToEcs(f.analysis);
  doc.flowdemux = own;
  return doc;
}

/**
 * One ECS document as an NDJSON line (with its newline); a command name's C1 controls are
 * escaped too (jsonText), so that the line cannot drive a terminal.
 */
export function ecsLine(f: Flow, opts?: TimeOptions): string {
  return jsonText(flowToEcs(f, opts)) + '\n';
}
