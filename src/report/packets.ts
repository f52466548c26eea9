/**
 * One line a packet: the `packets` command's table and NDJSON. Called once per packet, so it
 * builds one string per line and nothing else; every text comes from numbers (addresses are
 * formatted, never copied from packet bytes), so nothing printed can carry control characters.
 */
import type { Frame } from '../core/frame.js';
import { linkTypeName } from '../core/linktypes.js';
import { formatAddress } from '../parse/format.js';
import { IPPROTO, TCP_FLAG, type Packet, type Problem } from '../core/packet.js';
import { isoTime, relativeText } from './time.js';
import { ipProtocolName } from '../core/ip-protocols.js';
import type { FlowRef } from '../core/flow.js';
import { WindowScales } from '../demux/window-scale.js';
import { analysisMarks, markNames, TCP_A, type SegmentAnalysis } from '../demux/tcp-analysis.js';

/** A packet's protocol as its flow's `proto` (ospf, gre, ip-proto-253...); '' without IP. */
export function protocolName(protocol: number): string {
  return protocol === -1 ? '' : ipProtocolName(protocol);
}

const FLAG_LETTERS: [number, string][] = [
  [TCP_FLAG.SYN, 'SYN'], [TCP_FLAG.FIN, 'FIN'], [TCP_FLAG.RST, 'RST'], [TCP_FLAG.PSH, 'PSH'],
  [TCP_FLAG.ACK, 'ACK'], [TCP_FLAG.URG, 'URG'], [TCP_FLAG.ECE, 'ECE'], [TCP_FLAG.CWR, 'CWR'], [TCP_FLAG.NS, 'NS'],
];

/** `SYN,ACK` style list of set flags, in tshark's reading order. */
export function tcpFlagNames(flags: number): string {
  let out = '';
  for (const [bit, name] of FLAG_LETTERS) if (flags & bit) out += out ? `,${name}` : name;
  return out;
}

export function endpointText(bytes: Uint8Array, off: number, len: number, port: number | null): string {
  const ip = formatAddress(bytes, off, len);
  if (port === null) return ip;
  return len === 16 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export function problemText(p: Problem): string {
  let s = `${p.kind} ${p.layer}@${p.offset}: ${p.what}`;
  if (p.need !== undefined) s += ` (need ${p.need}, have ${p.have ?? 0}${p.cause === 'length-field' ? ' by length field' : ''})`;
  return s;
}

/**
 * The window as `packets` and `ladder` both write it: the window itself when its factor is known
 * (`65536 (64×1024)` when scaled, the field alone for a SYN or without scaling), else the raw
 * field marked `(scale unknown)` (the handshake was not captured; Wireshark's "window size
 * scaling factor: -1 (unknown)").
 */
export function windowText(raw: number, factor: number): string {
  if (factor === 1) return String(raw);
  return factor > 1 ? `${raw * factor} (${raw}×${factor})` : `${raw} (scale unknown)`;
}

function info(pkt: Packet, factor: number, analysis: SegmentAnalysis | null): string {
  const parts: string[] = [];
  if (pkt.protocol === IPPROTO.TCP && pkt.hasPorts) {
    parts.push(`[${tcpFlagNames(pkt.tcpFlags)}] seq=${pkt.tcpSeq} ack=${pkt.tcpAck} win=${windowText(pkt.tcpWindow, factor)} len=${pkt.payloadLength}`);
    if (pkt.mss >= 0) parts.push(`mss=${pkt.mss}`);
    if (pkt.windowScale >= 0) parts.push(`ws=${pkt.windowScale}`);
    if (pkt.sackPermitted) parts.push('sack_perm');
    if (pkt.sackCount > 0) parts.push(`sack=${pkt.sackCount}`);
    if (pkt.hasTimestamps) parts.push(`tsval=${pkt.tsVal} tsecr=${pkt.tsEcr}`);
  } else if (pkt.protocol === IPPROTO.UDP && pkt.hasPorts) {
    parts.push(`len=${pkt.payloadLength}`);
  } else if (pkt.icmpType >= 0) {
    parts.push(`type=${pkt.icmpType} code=${pkt.icmpCode}`);
    if (pkt.quotedProtocol >= 0) {
      const q = pkt.quotedProtocol === IPPROTO.TCP || pkt.quotedProtocol === IPPROTO.UDP;
      parts.push(
        `quotes ${protocolName(pkt.quotedProtocol)} ${endpointText(pkt.bytes, pkt.quotedSrcAddrOffset, pkt.quotedAddrLength, q ? pkt.quotedSrcPort : null)}` +
          ` > ${endpointText(pkt.bytes, pkt.quotedDstAddrOffset, pkt.quotedAddrLength, q ? pkt.quotedDstPort : null)}`,
      );
    }
  }
  if (pkt.isFragment) parts.push(`frag id=${pkt.ipId} off=${pkt.fragmentOffset}${pkt.moreFragments ? ' MF' : ''}`);
  if (pkt.vlanCount > 0) parts.push(`vlan=${pkt.vlanIds.slice(0, pkt.vlanCount).join('.')}`);
  for (const p of pkt.problems) parts.push(`! ${problemText(p)}`);
  // The TCP analysis last, as tshark's Info column words it: [TCP Dup ACK 12#1]...
  if (analysis !== null && analysis.flags !== 0) for (const m of analysisMarks(analysis)) parts.push(`[${m}]`);
  return parts.join(' ');
}

/** Column layout of the packets table; widths fit IPv4 endpoints, IPv6 ones just run longer. */
export const PACKET_TABLE_HEADER =
  `${'No.'.padEnd(7)} ${'Time'.padStart(12)} ${'Link'.padEnd(10)} ${'Source'.padEnd(21)} ${'Destination'.padEnd(21)} ${'Proto'.padEnd(6)} ${'Wire'.padStart(5)} ${'Flow'.padEnd(7)} Info`;

/**
 * The layout for a terminal too narrow for the full one (cli/packets.ts decides): the link type
 * and the wire length go, the number and time take less room, so that the Info column keeps a
 * useful part of a narrow line.
 */
export const PACKET_TABLE_HEADER_NARROW =
  `${'No.'.padEnd(5)} ${'Time'.padStart(10)} ${'Source'.padEnd(21)} ${'Destination'.padEnd(21)} ${'Proto'.padEnd(5)} ${'Flow'.padEnd(5)} Info`;

export interface PacketLineContext {
  baseSec: number;
  baseNsec: number;
  /** Time digits for the capture (6 µs, 9 ns). */
  digits: number;
  /** Print the capture index before the number when several captures are read. */
  multi: boolean;
  /** The window scaling of each flow, noted as packets go by (made on first use). */
  windows?: WindowScales;
  /** PACKET_TABLE_HEADER_NARROW's layout. */
  narrow?: boolean;
}

function ends(pkt: Packet): [string, string] {
  if (pkt.ipVersion === 0) return ['', ''];
  const ports = pkt.portsRead && (pkt.protocol === IPPROTO.TCP || pkt.protocol === IPPROTO.UDP);
  return [
    endpointText(pkt.bytes, pkt.srcAddrOffset, pkt.addrLength, ports ? pkt.srcPort : null),
    endpointText(pkt.bytes, pkt.dstAddrOffset, pkt.addrLength, ports ? pkt.dstPort : null),
  ];
}

/** `explain`, when given, goes on a second line under the packet: the kernel's socket lookup. */
export function packetTableLine(
  frame: Frame, pkt: Packet, flow: FlowRef | null, ctx: PacketLineContext, explain?: string, analysis: SegmentAnalysis | null = null,
): string {
  const [src, dst] = ends(pkt);
  const no = ctx.multi ? `${frame.sourceIndex + 1}:${frame.number}` : String(frame.number);
  const time = relativeText(frame.tsSec, frame.tsNsec, ctx.baseSec, ctx.baseNsec, ctx.digits);
  const proto = protocolName(pkt.protocol) || (pkt.etherType ? `0x${pkt.etherType.toString(16).padStart(4, '0')}` : '');
  const flowText = flow ? (flow.generation > 1 ? `${flow.id}#${flow.generation}` : String(flow.id)) : '';
  const factor = (ctx.windows ??= new WindowScales()).factor(pkt, flow);
  const why = explain ? `${''.padEnd(20)} ↳ ${explain}\n` : '';
  if (ctx.narrow) {
    return `${no.padEnd(5)} ${time.padStart(10)} ${src.padEnd(21)} ${dst.padEnd(21)} ${proto.padEnd(5)} ${flowText.padEnd(5)} ${info(pkt, factor, analysis)}\n${why}`;
  }
  return `${no.padEnd(7)} ${time.padStart(12)} ${linkTypeName(frame.linkType).padEnd(10)} ${src.padEnd(21)} ${dst.padEnd(21)} ${proto.padEnd(6)} ${String(frame.originalLength).padStart(5)} ${flowText.padEnd(7)} ${info(pkt, factor, analysis)}\n${why}`;
}

/**
 * One NDJSON object a packet. Field names are part of the documented output. `windows` gives
 * TCP headers their window factor and scaled window (one per run of a command, fed every packet);
 * `analysis`, the TCP analysis of the segment (DemuxEngine.lastAnalysis).
 */
export function packetJson(
  frame: Frame, pkt: Packet, flow: FlowRef | null, digits: number, explain?: string, windows?: WindowScales, tunnelFlows?: number[],
  analysis: SegmentAnalysis | null = null,
): string {
  const o: Record<string, unknown> = {
    capture: frame.sourceIndex,
    frame: frame.number,
    ts: isoTime(frame.tsSec, frame.tsNsec, digits),
    link: linkTypeName(frame.linkType),
    interface: frame.interfaceId,
    wireLength: frame.originalLength,
    capturedLength: frame.capturedLength,
  };
  if (pkt.vlanCount > 0) o.vlan = pkt.vlanIds.slice(0, pkt.vlanCount);
  if (pkt.ipVersion !== 0) {
    o.ipVersion = pkt.ipVersion;
    o.src = formatAddress(pkt.bytes, pkt.srcAddrOffset, pkt.addrLength);
    o.dst = formatAddress(pkt.bytes, pkt.dstAddrOffset, pkt.addrLength);
    o.ipLength = pkt.ipLength;
    o.ttl = pkt.ttl;
    o.proto = protocolName(pkt.protocol);
    if (pkt.isFragment) o.fragment = { id: pkt.ipId, offset: pkt.fragmentOffset, more: pkt.moreFragments };
  } else if (pkt.etherType) {
    o.etherType = pkt.etherType;
  }
  if (pkt.portsRead && (pkt.protocol === IPPROTO.TCP || pkt.protocol === IPPROTO.UDP)) {
    o.srcPort = pkt.srcPort;
    o.dstPort = pkt.dstPort;
    if (pkt.hasPorts) o.payloadLength = pkt.payloadLength;
  }
  if (pkt.protocol === IPPROTO.TCP && pkt.hasPorts) {
    const tcp: Record<string, unknown> = { flags: tcpFlagNames(pkt.tcpFlags), seq: pkt.tcpSeq, ack: pkt.tcpAck, window: pkt.tcpWindow };
    const factor = windows ? windows.factor(pkt, flow) : -1;
    if (factor > 0) {
      tcp.windowFactor = factor;
      tcp.windowScaled = pkt.tcpWindow * factor;
    }
    if (pkt.mss >= 0) tcp.mss = pkt.mss;
    if (pkt.windowScale >= 0) tcp.windowScale = pkt.windowScale;
    if (pkt.sackPermitted) tcp.sackPermitted = true;
    if (pkt.sackCount > 0) tcp.sack = pkt.sackBlocks.slice(0, pkt.sackCount * 2);
    if (pkt.hasTimestamps) tcp.timestamps = [pkt.tsVal, pkt.tsEcr];
    o.tcp = tcp;
    if (analysis !== null) {
      if (analysis.flags !== 0) o.analysis = markNames(analysis.flags);
      if ((analysis.flags & TCP_A.DUPLICATE_ACK) !== 0) o.duplicateAck = { of: analysis.dupAckFrame, number: analysis.dupAckNum };
      if (analysis.ackRtt >= 0) {
        o.acksFrame = analysis.ackedFrame;
        o.ackRtt = analysis.ackRtt;
      }
    }
  }
  if (pkt.icmpType >= 0) {
    const icmp: Record<string, unknown> = { type: pkt.icmpType, code: pkt.icmpCode };
    if (pkt.quotedProtocol >= 0) {
      icmp.quoted = {
        proto: protocolName(pkt.quotedProtocol),
        src: formatAddress(pkt.bytes, pkt.quotedSrcAddrOffset, pkt.quotedAddrLength),
        dst: formatAddress(pkt.bytes, pkt.quotedDstAddrOffset, pkt.quotedAddrLength),
        srcPort: pkt.quotedSrcPort,
        dstPort: pkt.quotedDstPort,
      };
    }
    o.icmp = icmp;
  }
  if (flow) o.flow = { id: flow.id, generation: flow.generation };
  if (tunnelFlows !== undefined && tunnelFlows.length > 0) o.tunnelFlows = tunnelFlows;
  if (explain) o.socket = explain;
  if (pkt.problems.length > 0) o.problems = pkt.problems.map((p) => ({ ...p }));
  return JSON.stringify(o) + '\n';
}
