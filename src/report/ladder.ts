/**
 * `flowdemux ladder --flow ID`: one connection as a text sequence diagram, like Wireshark's flow
 * graph. Two columns (client left, server right), one arrow a packet, with the time since the
 * flow's first packet, the flags on the arrow, and relative seq/ack, window and payload length
 * beside it.
 *
 * The CLI collects the packets of the chosen flow while reading (the FlowRef that `ingest`
 * returns names the flow and the direction), copying each with `ladderPacket` (the frame and the
 * decoded packet are reused), then renders them with the flow record.
 *
 * Relative numbers follow Wireshark: each side's base is the sequence number of its SYN (so the
 * SYN shows seq=0 and the first data byte is 1); with no SYN seen from a side, its first
 * segment's seq minus one (so that segment shows 1, Wireshark's rule for captures started
 * midstream); for a side that never sent, the first ACK of it minus one. Acks are relative to
 * the other side's base. Arithmetic is modulo 2^32. The window is scaled as Wireshark's
 * "calculated window size" when both SYNs carried the window scale option (RFC 7323: never on a
 * SYN itself), else shown as on the wire.
 */
import type { Frame } from '../core/frame.js';
import type { Flow, FlowRef, FlowVia } from '../core/flow.js';
import { endpointText } from '../demux/groups.js';
import { formatTcpFlags } from '../parse/format.js';
import { IPPROTO, TCP_FLAG, type Packet } from '../core/packet.js';
import { relativeText } from './time.js';

/** What the ladder keeps of one packet (a few numbers; nothing refers to the frame's bytes). */
export interface LadderPacket {
  /** Frame number in its capture (the `packets` command's No.). */
  frame: number;
  sec: number;
  nsec: number;
  toServer: boolean;
  via: FlowVia;
  /** IP protocol: 6, 17, 1, 58. */
  proto: number;
  flags: number;
  seq: number;
  ack: number;
  window: number;
  /** Window scale option of a SYN; -1 when absent. */
  windowScale: number;
  payloadLength: number;
  icmpType: number;
  icmpCode: number;
  fragmentOffset: number;
}

/** Copy what the ladder needs from a packet the engine assigned to a flow (`ref` non-null). */
export function ladderPacket(frame: Frame, pkt: Packet, ref: FlowRef): LadderPacket {
  return {
    frame: frame.number,
    sec: frame.tsSec,
    nsec: frame.tsNsec,
    toServer: ref.toServer,
    via: ref.via,
    proto: pkt.protocol,
    flags: pkt.tcpFlags,
    seq: pkt.tcpSeq,
    ack: pkt.tcpAck,
    window: pkt.tcpWindow,
    windowScale: pkt.windowScale,
    payloadLength: pkt.payloadLength,
    icmpType: pkt.icmpType,
    icmpCode: pkt.icmpCode,
    fragmentOffset: pkt.fragmentOffset,
  };
}

const isTcpSegment = (p: LadderPacket): boolean => p.proto === IPPROTO.TCP && p.via === 'ports';

/** Relative seq, ack (null when the ACK flag is off) and window of each TCP segment; null for others. */
export interface Relative {
  seq: number;
  ack: number | null;
  window: number;
}

/** Per-packet relative numbers (see the module comment), parallel to `packets`. */
export function relativeNumbers(packets: readonly LadderPacket[]): (Relative | null)[] {
  // base[0]: the client's, base[1]: the server's.
  const base: (number | null)[] = [null, null];
  const scale: number[] = [-1, -1];
  for (const p of packets) {
    if (!isTcpSegment(p)) continue;
    const side = p.toServer ? 0 : 1;
    if ((p.flags & TCP_FLAG.SYN) !== 0 && (base[side] === null || scale[side] === -1)) {
      // A side's SYN sets its base, even after a segment seen out of order before it.
      base[side] = p.seq;
      scale[side] = p.windowScale;
    }
  }
  for (const p of packets) {
    if (!isTcpSegment(p)) continue;
    const side = p.toServer ? 0 : 1;
    if (base[side] === null) base[side] = (p.seq - 1) >>> 0;
  }
  for (const p of packets) {
    if (!isTcpSegment(p) || (p.flags & TCP_FLAG.ACK) === 0) continue;
    const other = p.toServer ? 1 : 0;
    if (base[other] === null) base[other] = (p.ack - 1) >>> 0;
  }
  const scaled = scale[0]! >= 0 && scale[1]! >= 0;
  return packets.map((p) => {
    if (!isTcpSegment(p)) return null;
    const side = p.toServer ? 0 : 1;
    const other = 1 - side;
    const syn = (p.flags & TCP_FLAG.SYN) !== 0;
    return {
      seq: (p.seq - base[side]!) >>> 0,
      ack: (p.flags & TCP_FLAG.ACK) !== 0 ? (p.ack - base[other]!) >>> 0 : null,
      window: scaled && !syn ? p.window * 2 ** Math.min(scale[side]!, 14) : p.window,
    };
  });
}

function arrowLabel(p: LadderPacket): string {
  if (p.via === 'icmp-error') return `ICMP ${p.icmpType}/${p.icmpCode}`;
  if (p.via === 'fragment') return 'IP fragment';
  if (p.proto === IPPROTO.TCP) return formatTcpFlags(p.flags);
  if (p.proto === IPPROTO.UDP) return 'UDP';
  if (p.proto === IPPROTO.ICMP || p.proto === IPPROTO.ICMPV6) return `ICMP ${p.icmpType}/${p.icmpCode}`;
  return `IP proto ${p.proto}`;
}

function infoText(p: LadderPacket, r: Relative | null): string {
  if (r !== null) return `seq=${r.seq}${r.ack !== null ? ` ack=${r.ack}` : ''} win=${r.window} len=${p.payloadLength}`;
  if (p.via === 'icmp-error') return `error about this flow, sent toward the ${p.toServer ? 'server' : 'client'}`;
  if (p.via === 'fragment') return `offset=${p.fragmentOffset} len=${p.payloadLength}`;
  return `len=${p.payloadLength}`;
}

/** `|──── SYN ────▶|` or `|◀──── SYN, ACK ────|`, `inner` characters between the bars. */
function arrow(label: string, inner: number, right: boolean): string {
  const text = ` ${label} `;
  const dashes = Math.max(2, inner - text.length - 1);
  const left = Math.floor(dashes / 2);
  const rest = dashes - left;
  return right
    ? `|${'─'.repeat(left)}${text}${'─'.repeat(rest)}▶|`
    : `|◀${'─'.repeat(left)}${text}${'─'.repeat(rest)}|`;
}

export interface LadderOptions {
  /** Fraction digits of the times (6 µs, 9 ns; default 6). */
  digits?: number;
  /** Characters between the two bars (default: enough for the labels and names, at least 34). */
  width?: number;
}

/** The diagram, a title line first. `packets` in capture order, all of `flow`. */
export function renderLadder(flow: Flow, packets: readonly LadderPacket[], opts: LadderOptions = {}): string {
  const digits = opts.digits ?? 6;
  const ported = flow.proto === 'tcp' || flow.proto === 'udp';
  const client = ported ? endpointText(flow.client) : flow.client.ip;
  const server = ported ? endpointText(flow.server) : flow.server.ip;
  const gen = flow.generation > 1 ? `, generation ${flow.generation} of this 4-tuple` : '';
  const roles = flow.rolesInferred ? ', client guessed (no SYN seen)' : '';
  const out: string[] = [];
  out.push(`flow ${flow.id}: ${flow.proto} ${client} → ${server}${gen}, state ${flow.state}, `
    + `${flow.toServer.packets + flow.toClient.packets} packets (${flow.toServer.packets} →, ${flow.toClient.packets} ←)${roles}`);
  if (packets.length === 0) {
    out.push('(no packets of this flow were collected)');
    return out.join('\n') + '\n';
  }
  const rel = relativeNumbers(packets);
  const labels = packets.map(arrowLabel);
  const inner = opts.width ?? Math.max(34, ...labels.map((l) => l.length + 8), client.length + server.length + 4);
  const base = packets[0]!;
  const times = packets.map((p) => relativeText(p.sec, p.nsec, base.sec, base.nsec, digits));
  const noWidth = Math.max(3, ...packets.map((p) => String(p.frame).length));
  const timeWidth = Math.max(4, ...times.map((t) => t.length));
  const gap = inner + 2 - client.length - server.length;
  out.push('');
  out.push(`${'No.'.padEnd(noWidth)} ${'Time'.padStart(timeWidth)}  ${client}${' '.repeat(Math.max(1, gap))}${server}`);
  packets.forEach((p, i) => {
    const line = `${String(p.frame).padEnd(noWidth)} ${times[i]!.padStart(timeWidth)}  ${arrow(labels[i]!, inner, p.toServer)}  ${infoText(p, rel[i]!)}`;
    out.push(line);
  });
  return out.join('\n') + '\n';
}
