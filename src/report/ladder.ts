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
 * "calculated window size" (demux/window-scale.ts) and written as `packets` writes it
 * (`windowText`); each segment carries its TCP analysis marks (demux/tcp-analysis.ts), as
 * Wireshark words them: `[TCP Retransmission]`, `[TCP Dup ACK 7#1]`...
 *
 * Three renderings: the text diagram, JSON (`LadderDocument` in docs/json.md) and a Mermaid
 * `sequenceDiagram`.
 */
import type { Frame } from '../core/frame.js';
import type { Flow, FlowRef, FlowVia } from '../core/flow.js';
import { endpointText } from '../demux/groups.js';
import type * as J from '../core/json-types.js';
import { mermaidEscape } from './demux.js';
import { wrapLine, wrapText } from './fit.js';
import { flowToJson } from './json.js';
import { formatTcpFlags } from '../parse/format.js';
import { IPPROTO, TCP_FLAG, type Packet } from '../core/packet.js';
import { analysisMarks, analyzeTcp, type TcpSegment } from '../demux/tcp-analysis.js';
import { protocolName, tcpFlagNames, windowText } from './packets.js';
import { isoTime, relativeText } from './time.js';

/** What the ladder keeps of one packet (a few numbers; nothing refers to the frame's bytes). */
/**
 * What the ladder keeps of one packet (a few numbers; nothing refers to the frame's bytes): the
 * fields the TCP analysis reads (`frame` is the capture's frame number, the `packets` command's
 * No.), and how the packet reached the flow.
 */
export interface LadderPacket extends TcpSegment {
  via: FlowVia;
  /** IP protocol: 6, 17, 1, 58. */
  proto: number;
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

/** Relative seq, ack (null when the ACK flag is off), window and analysis of each TCP segment; null for others. */
export interface Relative {
  seq: number;
  ack: number | null;
  /** The window: scaled when the factor is known (see demux/window-scale.ts), else the raw field. */
  window: number;
  /** What the raw field was multiplied by: 1, 2^shift, or -1 when the handshake was not seen. */
  factor: number;
  /** The TCP analysis of the segment (demux/tcp-analysis.ts), in Wireshark's words. */
  marks: string[];
}

/** Per-packet relative numbers and analysis (see the module comment), parallel to `packets`. */
export function relativeNumbers(packets: readonly LadderPacket[]): (Relative | null)[] {
  // base[0]: the client's, base[1]: the server's.
  const base: (number | null)[] = [null, null];
  const synSeen = [false, false];
  for (const p of packets) {
    if (!isTcpSegment(p)) continue;
    const side = p.toServer ? 0 : 1;
    if ((p.flags & TCP_FLAG.SYN) !== 0 && !synSeen[side]) {
      // A side's SYN sets its base, even after a segment seen out of order before it.
      base[side] = p.seq;
      synSeen[side] = true;
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
  const segments = packets.filter(isTcpSegment);
  const analysis = analyzeTcp(segments);
  let next = 0;
  return packets.map((p) => {
    if (!isTcpSegment(p)) return null;
    const a = analysis[next++]!;
    const side = p.toServer ? 0 : 1;
    const other = 1 - side;
    return {
      seq: (p.seq - base[side]!) >>> 0,
      ack: (p.flags & TCP_FLAG.ACK) !== 0 ? (p.ack - base[other]!) >>> 0 : null,
      window: a.windowFactor > 0 ? p.window * a.windowFactor : p.window,
      factor: a.windowFactor,
      marks: analysisMarks(a),
    };
  });
}

/** What a packet's arrow says: the TCP flags, `UDP`, `ICMP 3/3`, `IP fragment`. */
export function arrowLabel(p: LadderPacket): string {
  if (p.via === 'icmp-error') return `ICMP ${p.icmpType}/${p.icmpCode}`;
  if (p.via === 'fragment') return 'IP fragment';
  if (p.proto === IPPROTO.TCP) return formatTcpFlags(p.flags);
  if (p.proto === IPPROTO.UDP) return 'UDP';
  if (p.proto === IPPROTO.ICMP || p.proto === IPPROTO.ICMPV6) return `ICMP ${p.icmpType}/${p.icmpCode}`;
  return `IP proto ${p.proto}`;
}

/** What a packet's line says after its arrow: relative seq/ack, window, length, analysis marks. */
export function infoText(p: LadderPacket, r: Relative | null): string {
  if (r !== null) {
    const marks = r.marks.length > 0 ? `  ${r.marks.map((m) => `[${m}]`).join(' ')}` : '';
    return `seq=${r.seq}${r.ack !== null ? ` ack=${r.ack}` : ''} win=${windowText(p.window, r.factor)} len=${p.payloadLength}${marks}`;
  }
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
  /**
   * The terminal's width (undefined when piped: the full lines). Lines are kept within it: the
   * arrows narrow down to their labels, then what a line says after its arrow (sequence numbers,
   * window, TCP analysis) goes on the next lines, under the arrow.
   */
  fit?: number;
}

/** The diagram, a title line first. `packets` in capture order, all of `flow`. */
export function renderLadder(flow: Flow, packets: readonly LadderPacket[], opts: LadderOptions = {}): string {
  const digits = opts.digits ?? 6;
  const { title, client, server } = titleOf(flow);
  const out: string[] = [title];
  if (packets.length === 0) {
    out.push('(no packets of this flow were collected)');
    return out.join('\n') + '\n';
  }
  const rel = relativeNumbers(packets);
  const labels = packets.map(arrowLabel);
  const base = packets[0]!;
  const times = packets.map((p) => relativeText(p.sec, p.nsec, base.sec, base.nsec, digits));
  const noWidth = Math.max(3, ...packets.map((p) => String(p.frame).length));
  const timeWidth = Math.max(4, ...times.map((t) => t.length));
  const indent = noWidth + 1 + timeWidth + 2;
  const fit = opts.fit;
  const labelsNeed = Math.max(...labels.map((l) => l.length + 6));
  let inner = opts.width ?? Math.max(34, labelsNeed + 2, client.length + server.length + 4);
  const infos = packets.map((p, i) => infoText(p, rel[i]!));
  // On a narrow terminal the arrows give up their slack first (never below their labels), so
  // that the numbers after them stay on the arrow's line; the analysis marks may go below.
  if (fit !== undefined && opts.width === undefined) {
    const numbers = Math.max(...infos.map((t) => t.split('  [')[0]!.length));
    inner = Math.max(labelsNeed, Math.min(inner, fit - indent - 4 - numbers));
  }
  const gap = inner + 2 - client.length - server.length;
  out.push('');
  out.push(`${'No.'.padEnd(noWidth)} ${'Time'.padStart(timeWidth)}  ${client}${' '.repeat(Math.max(1, gap))}${server}`);
  packets.forEach((p, i) => {
    const head = `${String(p.frame).padEnd(noWidth)} ${times[i]!.padStart(timeWidth)}  ${arrow(labels[i]!, inner, p.toServer)}`;
    const info = infos[i]!;
    const marksAt = info.indexOf('  [');
    if (fit === undefined || head.length + 2 + info.length <= fit) out.push(`${head}  ${info}`);
    else if (marksAt > 0 && head.length + 2 + marksAt <= fit) {
      // The numbers on the arrow's line, the analysis marks under them.
      out.push(`${head}  ${info.slice(0, marksAt)}`, ...wrapLine(`${' '.repeat(head.length + 2)}${info.slice(marksAt + 2)}`, fit));
    } else out.push(head, ...wrapLine(`${' '.repeat(indent + 1)}${info}`, fit));
  });
  const text = out.join('\n') + '\n';
  return fit === undefined ? text : wrapText(text, fit);
}

// -------------------------------------------------------------------------------------------------
// JSON and Mermaid

/** The flow's title line: `flow 3: tcp 127.0.0.3:5775 → 127.0.0.1:8089, state RSTO, 8 packets (5 →, 3 ←)`. */
export function titleOf(flow: Flow): { title: string; client: string; server: string } {
  const ported = flow.proto === 'tcp' || flow.proto === 'udp';
  const client = ported ? endpointText(flow.client) : flow.client.ip;
  const server = ported ? endpointText(flow.server) : flow.server.ip;
  const gen = flow.generation > 1 ? `, generation ${flow.generation} of this 4-tuple` : '';
  const roles = flow.rolesInferred ? ', client guessed (no SYN seen)' : '';
  const title = `flow ${flow.id}: ${flow.proto} ${client} → ${server}${gen}, state ${flow.state}, `
    + `${flow.toServer.packets + flow.toClient.packets} packets (${flow.toServer.packets} →, ${flow.toClient.packets} ←)${roles}`;
  return { title, client, server };
}

/** One packet as docs/json.md's `LadderRow`. */
function rowJson(p: LadderPacket, r: Relative | null, base: LadderPacket, digits: number): J.LadderRow {
  const o: J.LadderRow = {
    frame: p.frame,
    ts: isoTime(p.sec, p.nsec, digits),
    time: Number(relativeText(p.sec, p.nsec, base.sec, base.nsec, digits)),
    direction: p.toServer ? 'to-server' : 'to-client',
    via: p.via,
    proto: protocolName(p.proto),
    len: p.payloadLength,
  };
  if (r !== null) {
    o.flags = tcpFlagNames(p.flags);
    o.seq = r.seq;
    o.ack = r.ack;
    o.window = { raw: p.window, factor: r.factor > 0 ? r.factor : null, scaled: r.factor > 0 ? r.window : null };
    if (r.marks.length > 0) o.analysis = r.marks;
  }
  if (p.icmpType >= 0) {
    o.icmpType = p.icmpType;
    o.icmpCode = p.icmpCode;
  }
  if (p.via === 'fragment') o.fragmentOffset = p.fragmentOffset;
  return o;
}

/** `ladder --format json`: docs/json.md's `LadderDocument`, one line. */
export function renderLadderJson(flow: Flow, packets: readonly LadderPacket[], opts: LadderOptions = {}): string {
  const digits = opts.digits ?? 6;
  const rel = relativeNumbers(packets);
  const doc: J.LadderDocument = {
    flow: flowToJson(flow, { digits }),
    packets: packets.map((p, i) => rowJson(p, rel[i]!, packets[0]!, digits)),
  };
  return JSON.stringify(doc) + '\n';
}

/** What `#` and `;` (which end a sequence-diagram message) and markup become in Mermaid. */
const MERMAID_MESSAGE = /[#;"<>&]/g;

/**
 * `ladder --format mermaid`: a Mermaid `sequenceDiagram`, the client and the server as
 * participants, one message a packet (frame number, time, flags, relative numbers, analysis).
 * Labels go through the demux drawing's escaping (`mermaidEscape`).
 */
export function renderLadderMermaid(flow: Flow, packets: readonly LadderPacket[], opts: LadderOptions = {}): string {
  const digits = opts.digits ?? 6;
  const { title, client, server } = titleOf(flow);
  const out: string[] = ['---', `title: ${JSON.stringify(title)}`, '---', 'sequenceDiagram'];
  out.push(`  participant C as ${mermaidEscape(client, MERMAID_MESSAGE)}`);
  out.push(`  participant S as ${mermaidEscape(server, MERMAID_MESSAGE)}`);
  const rel = relativeNumbers(packets);
  const base = packets[0];
  packets.forEach((p, i) => {
    const time = relativeText(p.sec, p.nsec, base!.sec, base!.nsec, digits);
    const text = `${p.frame} (${time}) ${arrowLabel(p)} ${infoText(p, rel[i]!)}`;
    out.push(`  ${p.toServer ? 'C->>S' : 'S->>C'}: ${mermaidEscape(text, MERMAID_MESSAGE)}`);
  });
  if (packets.length === 0) out.push(`  Note over C,S: ${mermaidEscape('no packets of this flow were collected', MERMAID_MESSAGE)}`);
  return out.join('\n') + '\n';
}
