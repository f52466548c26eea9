/**
 * Which flows a report shows and in what order: --proto, --port, --host, --sort, --limit.
 */
import type { Flow, FlowEndpoint, FlowRef } from '../core/flow.js';
import { ipProtocolName, otherProtocolNumber } from '../core/ip-protocols.js';
import type { Packet } from '../core/packet.js';
import { formatAddress, tryParseAddress } from '../parse/format.js';

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

/** What the selection looks at: a flow's protocol and its two ends. */
export type FlowEnds = Pick<Flow, 'proto'> & { client: Pick<FlowEndpoint, 'ip' | 'port'>; server: Pick<FlowEndpoint, 'ip' | 'port'> };

/** The --proto/--port/--host test as one function, for flows checked one at a time as they end. */
export function flowMatcher(filter: FlowFilter): (f: FlowEnds) => boolean {
  const proto = filter.proto?.toLowerCase();
  const port = filter.port;
  let host = filter.host;
  if (host !== undefined) {
    // Compare canonical text: '2001:DB8:0::1' and '2001:db8::1' are one address.
    const bytes = tryParseAddress(host);
    if (bytes !== null) host = formatAddress(bytes, 0, bytes.length);
  }
  // `other`: any IP protocol but TCP, UDP and ICMP; `ip-proto-89` is the same as `ospf`.
  const otherNumber = proto === undefined ? -1 : otherProtocolNumber(proto);
  const protoMatches = (name: string) => name === proto || (proto === 'icmp' && name === 'icmpv6')
    || (proto === 'other' ? otherProtocolNumber(name) >= 0 : otherNumber >= 0 && otherProtocolNumber(name) === otherNumber);
  return (f) => {
    if (proto !== undefined && !protoMatches(f.proto)) return false;
    if (port !== undefined) {
      if (f.proto !== 'tcp' && f.proto !== 'udp') return false;
      if (f.client.port !== port && f.server.port !== port) return false;
    }
    if (host !== undefined && f.client.ip !== host && f.server.ip !== host) return false;
    return true;
  };
}

/**
 * The same selection for packets (`packets --port/--host/--proto`): a packet passes when its flow
 * does, so an ICMP error or a later fragment goes with its flow, and a packet in no flow never
 * passes. Each flow is judged once, at its first packet (whose addresses and ports are the
 * flow's two ends), and remembered by id: no per-packet text.
 */
export function packetFlowMatcher(filter: FlowFilter): (pkt: Packet, ref: FlowRef | null) => boolean {
  const matches = flowMatcher(filter);
  let verdicts = new Uint8Array(1024); // by flow id: 0 not seen yet, 1 selected, 2 not
  return (pkt, ref) => {
    if (ref === null) return false;
    if (ref.id >= verdicts.length) {
      const grown = new Uint8Array(Math.max(ref.id + 1, verdicts.length * 2));
      grown.set(verdicts);
      verdicts = grown;
    }
    if (verdicts[ref.id] === 0) verdicts[ref.id] = matches(flowEndsOf(pkt, ref)) ? 1 : 2;
    return verdicts[ref.id] === 1;
  };
}

/** A flow's protocol and ends from one of its packets (the quoted header for an ICMP error). */
function flowEndsOf(pkt: Packet, ref: FlowRef): FlowEnds {
  const quoted = ref.via === 'icmp-error';
  const proto = quoted ? pkt.quotedProtocol : pkt.protocol;
  const len = quoted ? pkt.quotedAddrLength : pkt.addrLength;
  const a = { ip: formatAddress(pkt.bytes, quoted ? pkt.quotedSrcAddrOffset : pkt.srcAddrOffset, len), port: quoted ? pkt.quotedSrcPort : pkt.srcPort };
  const b = { ip: formatAddress(pkt.bytes, quoted ? pkt.quotedDstAddrOffset : pkt.dstAddrOffset, len), port: quoted ? pkt.quotedDstPort : pkt.dstPort };
  // Either end may be the client: the selection looks at both alike.
  return { proto: ipProtocolName(proto), client: a, server: b };
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
