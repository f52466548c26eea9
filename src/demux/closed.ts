/**
 * Closed ports: a packet that reached no socket. When nothing is bound to a UDP datagram's
 * destination address and port, the kernel drops it and answers ICMP port unreachable (ICMPv6:
 * destination unreachable, code 4); when nothing listens for a SYN, it answers with a RST (Zeek's
 * REJ; a firewall's REJECT may answer a SYN with ICMP port unreachable too).
 *
 * The answer comes after the packet, so a single pass cannot say at the packet itself that it
 * found no socket. `NoSocketLookahead` is the look ahead `packets --explain` makes over files:
 * one cheap pass that collects the tuples some answer could have refused, and, only when there
 * are any, a second that ties each answer to the packet it refused:
 * - a port unreachable refuses the datagrams sent on its quoted tuple since the last datagram that
 *   came back on it (a reply means a socket was there); with IPv4 the quoted IP id picks the one
 *   datagram it quotes;
 * - a RST with ACK refuses the SYN it acknowledges (ack = the SYN's seq + 1), if no SYN-ACK came
 *   between; a port unreachable quoting a TCP tuple refuses its pending SYN.
 * Memory is bounded: at most MAX_TUPLES tuples are followed and MAX_REFUSED packets remembered
 * (past that, packets get the usual explanation), and a tuple keeps at most MAX_PENDING datagrams.
 */
import type { Frame } from '../core/frame.js';
import { formatAddress } from '../parse/format.js';
import { IPPROTO, TCP_FLAG, type Packet } from '../core/packet.js';

/** ICMP port unreachable (type 3 code 3) or ICMPv6 port unreachable (type 1 code 4). */
export function isPortUnreachable(pkt: Packet): boolean {
  if (pkt.protocol === IPPROTO.ICMP) return pkt.icmpType === 3 && pkt.icmpCode === 3;
  return pkt.protocol === IPPROTO.ICMPV6 && pkt.icmpType === 1 && pkt.icmpCode === 4;
}

/** How the host said that no socket took a packet. */
export type NoSocketAnswer = 'rst' | 'port-unreachable';

/** What the look ahead knows about one packet. */
export interface NoSocketNote {
  /** `refused`: this packet found no socket; `refusal`: this packet is the answer (a RST). */
  role: 'refused' | 'refusal';
  answer: NoSocketAnswer;
  /** The other packet, numbered as the packets table numbers it (`12`, or `2:12` with several captures). */
  at: string;
  /** The answer was ICMPv6. */
  v6: boolean;
}

const MAX_TUPLES = 100_000;
const MAX_REFUSED = 1_000_000;
const MAX_PENDING = 1024;

function endText(b: Uint8Array, off: number, len: number, port: number): string {
  return `${formatAddress(b, off, len)}|${port}`;
}

/** Directional key of a packet's own tuple, or of the reverse direction. */
function tupleKey(pkt: Packet, reverse: boolean): string {
  const b = pkt.bytes;
  const src = endText(b, pkt.srcAddrOffset, pkt.addrLength, pkt.srcPort);
  const dst = endText(b, pkt.dstAddrOffset, pkt.addrLength, pkt.dstPort);
  return `${pkt.protocol}>${reverse ? dst : src}>${reverse ? src : dst}`;
}

/** Directional key of the tuple an ICMP error quotes (the datagram this host sent). */
function quotedKey(pkt: Packet): string {
  const b = pkt.bytes;
  const q = pkt.quotedAddrLength;
  return `${pkt.quotedProtocol}>${endText(b, pkt.quotedSrcAddrOffset, q, pkt.quotedSrcPort)}>${endText(b, pkt.quotedDstAddrOffset, q, pkt.quotedDstPort)}`;
}

function quotesPorted(pkt: Packet): boolean {
  return (pkt.quotedProtocol === IPPROTO.UDP || pkt.quotedProtocol === IPPROTO.TCP) && pkt.quotedAddrLength !== 0;
}

/** The IP id of a quoted IPv4 header (its source address sits at offset 12, the id at 4); -1 for IPv6. */
function quotedIpId(pkt: Packet): number {
  if (pkt.quotedAddrLength !== 4) return -1;
  const o = pkt.quotedSrcAddrOffset - 8;
  return o >= 0 ? (pkt.bytes[o]! << 8) | pkt.bytes[o + 1]! : -1;
}

function isTcp(pkt: Packet): boolean {
  return pkt.protocol === IPPROTO.TCP && pkt.hasPorts && !(pkt.isFragment && pkt.fragmentOffset !== 0);
}

function isUdp(pkt: Packet): boolean {
  return pkt.protocol === IPPROTO.UDP && pkt.hasPorts && !(pkt.isFragment && pkt.fragmentOffset !== 0);
}

/** Could this packet be the answer that refuses something (stage 1)? Returns the refused tuple's key. */
function candidateKey(pkt: Packet): string | null {
  if (pkt.icmpType >= 0 && isPortUnreachable(pkt) && quotesPorted(pkt)) return quotedKey(pkt);
  if (isTcp(pkt) && (pkt.tcpFlags & (TCP_FLAG.RST | TCP_FLAG.ACK | TCP_FLAG.SYN)) === (TCP_FLAG.RST | TCP_FLAG.ACK)) {
    return tupleKey(pkt, true);
  }
  return null;
}

interface Pending {
  /** Frame keys and IPv4 ids of the datagrams not answered yet. */
  datagrams: { frame: number; label: string; ipId: number }[];
  /** The SYN waiting for an answer: its frame, label and seq. */
  syn: { frame: number; label: string; seq: number } | null;
}

/** The packets that found no socket in a capture read twice; see the module comment. */
export class NoSocketLookahead {
  private readonly candidates = new Map<string, Pending>();
  private readonly notes = new Map<number, NoSocketNote>();
  private collecting = true;

  constructor(private readonly multi: boolean) {}

  /** A frame's key, the same in both passes. */
  static frameKey(frame: Frame): number {
    return frame.sourceIndex * 4294967296 + frame.number;
  }

  private label(frame: Frame): string {
    return this.multi ? `${frame.sourceIndex + 1}:${frame.number}` : String(frame.number);
  }

  /** Pass 1: every packet. */
  collect(pkt: Packet): void {
    if (this.candidates.size >= MAX_TUPLES) return;
    const k = candidateKey(pkt);
    if (k !== null && !this.candidates.has(k)) this.candidates.set(k, { datagrams: [], syn: null });
  }

  /** True when pass 2 has anything to find. */
  get needed(): boolean {
    return this.candidates.size > 0;
  }

  /** Pass 2: every packet again, in the same order. */
  resolve(frame: Frame, pkt: Packet): void {
    this.collecting = false;
    if (this.notes.size >= MAX_REFUSED) return;
    const c = this.candidates;
    if (isUdp(pkt)) {
      const mine = c.get(tupleKey(pkt, false));
      if (mine) {
        if (mine.datagrams.length >= MAX_PENDING) mine.datagrams.shift();
        mine.datagrams.push({ frame: NoSocketLookahead.frameKey(frame), label: this.label(frame), ipId: pkt.ipVersion === 4 ? pkt.ipId : -1 });
      }
      const back = c.get(tupleKey(pkt, true));
      if (back) back.datagrams.length = 0; // answered: a socket took them
      return;
    }
    if (isTcp(pkt)) {
      const f = pkt.tcpFlags & (TCP_FLAG.SYN | TCP_FLAG.ACK | TCP_FLAG.RST);
      if (f === TCP_FLAG.SYN) {
        const mine = c.get(tupleKey(pkt, false));
        if (mine) mine.syn = { frame: NoSocketLookahead.frameKey(frame), label: this.label(frame), seq: pkt.tcpSeq };
      } else if (f === (TCP_FLAG.SYN | TCP_FLAG.ACK)) {
        const back = c.get(tupleKey(pkt, true));
        if (back) back.syn = null;
      } else if (f === (TCP_FLAG.RST | TCP_FLAG.ACK)) {
        const back = c.get(tupleKey(pkt, true));
        if (back?.syn && ((back.syn.seq + 1) >>> 0) === pkt.tcpAck >>> 0) {
          this.notes.set(back.syn.frame, { role: 'refused', answer: 'rst', at: this.label(frame), v6: false });
          this.notes.set(NoSocketLookahead.frameKey(frame), { role: 'refusal', answer: 'rst', at: back.syn.label, v6: false });
          back.syn = null;
        }
      }
      return;
    }
    if (pkt.icmpType < 0 || !isPortUnreachable(pkt) || !quotesPorted(pkt)) return;
    const mine = c.get(quotedKey(pkt));
    if (!mine) return;
    const note: NoSocketNote = { role: 'refused', answer: 'port-unreachable', at: this.label(frame), v6: pkt.protocol === IPPROTO.ICMPV6 };
    if (pkt.quotedProtocol === IPPROTO.TCP) {
      if (mine.syn) this.notes.set(mine.syn.frame, note);
      mine.syn = null;
      return;
    }
    const id = quotedIpId(pkt);
    const exact = id >= 0 ? mine.datagrams.findIndex((d) => d.ipId === id) : -1;
    const refused = exact >= 0 ? mine.datagrams.splice(exact, 1) : mine.datagrams.splice(0);
    for (const d of refused) this.notes.set(d.frame, note);
  }

  /** What is known about this frame (after pass 2), or undefined. */
  note(frame: Frame): NoSocketNote | undefined {
    return this.collecting ? undefined : this.notes.get(NoSocketLookahead.frameKey(frame));
  }
}
