/**
 * Flows as Elastic Common Schema documents (`flows --format ecs`): one JSON object a line, nested
 * as ECS documents are (`{"source":{"ip":...}}`, not dotted keys), ready for an Elasticsearch or
 * OpenSearch bulk load or an ingest pipeline without reshaping. Field names and types are ECS
 * 8.x's (event, source, destination, network, process); what ECS has no field for goes under
 * `flowdemux`, as ECS asks of custom fields.
 */
import type { EndpointProcess, Flow } from '../core/flow.js';
import { isoTime } from './time.js';
import { jsonText } from './json.js';
import { POW10, digitsOf, durationUnits, type TimeOptions } from './flow-time.js';

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
    case 'tcp': return 6;
    case 'udp': return 17;
    case 'icmp': return 1;
    case 'icmpv6': return 58;
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
 *   `flowdemux.destination_process` when both were seen.
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
