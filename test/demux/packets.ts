/**
 * Hand-made decoded packets for the demux tests. The engine reads only the `Packet` fields, and
 * the addresses as offsets into `bytes`, so a packet here is `newPacket()` with those fields set
 * and a `bytes` array that holds the two addresses (and, for an ICMP error, the quoted pair)
 * at the offsets the fields name, like the decoder leaves them.
 */
import { DemuxEngine } from '../../src/demux/engine.js';
import type { FlowRef } from '../../src/core/flow.js';
import { parseAddress } from '../../src/parse/format.js';
import { newPacket, type Packet, TCP_FLAG } from '../../src/core/packet.js';

export interface PacketSpec {
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  /** 6 TCP (default), 17 UDP, 1 ICMP, 58 ICMPv6, anything else. */
  proto?: number;
  /** TCP flags as letters: S A F R P U (e.g. 'SA', 'FA', 'R'). */
  flags?: string;
  seq?: number;
  ack?: number;
  window?: number;
  /** Transport payload bytes. */
  len?: number;
  /** Of those, the bytes the capture holds: the snap length cut the rest (default: all). */
  held?: number;
  /** Link header bytes added to the IP length for the wire length (default 14, Ethernet). */
  link?: number;
  /** Fragment fields. */
  ipId?: number;
  moreFragments?: boolean;
  fragmentOffset?: number;
  icmpType?: number;
  icmpCode?: number;
  /** ICMP error: the quoted datagram's tuple. */
  quoted?: { src: string; dst: string; proto: number; sport: number; dport: number };
}

export function flagBits(letters: string): number {
  let f = 0;
  for (const c of letters) {
    switch (c) {
      case 'S': f |= TCP_FLAG.SYN; break;
      case 'A': f |= TCP_FLAG.ACK; break;
      case 'F': f |= TCP_FLAG.FIN; break;
      case 'R': f |= TCP_FLAG.RST; break;
      case 'P': f |= TCP_FLAG.PSH; break;
      case 'U': f |= TCP_FLAG.URG; break;
      default: throw new Error(`unknown flag letter ${c}`);
    }
  }
  return f;
}

/** A decoded packet as the parser would leave it (a fresh object each time, unlike the parser). */
export function makePacket(spec: PacketSpec): Packet {
  const pkt = newPacket();
  const src = parseAddress(spec.src);
  const dst = parseAddress(spec.dst);
  const n = src.length as 4 | 16;
  const q = spec.quoted;
  const qs = q ? parseAddress(q.src) : null;
  const qd = q ? parseAddress(q.dst) : null;
  // Some junk first so that offsets are not 0 (a decoder never has addresses there).
  const bytes = new Uint8Array(7 + 2 * n + (qs ? qs.length * 2 : 0));
  bytes.fill(0xee);
  bytes.set(src, 7);
  bytes.set(dst, 7 + n);
  pkt.bytes = bytes;
  pkt.ipVersion = n === 4 ? 4 : 6;
  pkt.addrLength = n;
  pkt.srcAddrOffset = 7;
  pkt.dstAddrOffset = 7 + n;
  const proto = spec.proto ?? 6;
  pkt.protocol = proto;
  pkt.etherType = n === 4 ? 0x0800 : 0x86dd;
  const ipHeader = n === 4 ? 20 : 40;
  const len = spec.len ?? 0;
  const later = (spec.fragmentOffset ?? 0) !== 0;
  let transportHeader = 0;
  if (!later) {
    if (proto === 6) transportHeader = 20;
    else if (proto === 17 || proto === 1 || proto === 58) transportHeader = 8;
  }
  pkt.ipHeaderLength = ipHeader;
  pkt.ipLength = ipHeader + transportHeader + len;
  pkt.originalLength = pkt.ipLength + (spec.link ?? 14);
  pkt.capturedLength = pkt.originalLength;
  pkt.payloadLength = len;
  pkt.payloadOffset = (spec.link ?? 14) + ipHeader + transportHeader;
  if (spec.held !== undefined && spec.held < len) {
    pkt.capturedLength = pkt.payloadOffset + spec.held;
    pkt.snapped = true;
  }
  pkt.ipId = spec.ipId ?? 0;
  pkt.moreFragments = spec.moreFragments ?? false;
  pkt.fragmentOffset = spec.fragmentOffset ?? 0;
  pkt.isFragment = pkt.moreFragments || pkt.fragmentOffset !== 0;
  if (later) return pkt;
  if (proto === 6 || proto === 17) {
    pkt.hasPorts = true;
    pkt.srcPort = spec.sport ?? 0;
    pkt.dstPort = spec.dport ?? 0;
    if (proto === 6) {
      pkt.tcpFlags = flagBits(spec.flags ?? 'A');
      pkt.tcpSeq = (spec.seq ?? 0) >>> 0;
      pkt.tcpAck = (spec.ack ?? 0) >>> 0;
      pkt.tcpWindow = spec.window ?? 65535;
      pkt.tcpHeaderLength = 20;
    } else pkt.udpLength = 8 + len;
  } else if (proto === 1 || proto === 58) {
    pkt.icmpType = spec.icmpType ?? 8;
    pkt.icmpCode = spec.icmpCode ?? 0;
    if (q && qs && qd) {
      const at = 7 + 2 * n;
      bytes.set(qs, at);
      bytes.set(qd, at + qs.length);
      pkt.quotedAddrLength = qs.length as 4 | 16;
      pkt.quotedSrcAddrOffset = at;
      pkt.quotedDstAddrOffset = at + qs.length;
      pkt.quotedProtocol = q.proto;
      pkt.quotedSrcPort = q.sport;
      pkt.quotedDstPort = q.dport;
    }
  }
  return pkt;
}

/** The reference the engine returned, copied (the engine reuses its object). */
export type RefCopy = { id: number; generation: number; toServer: boolean; via: string } | null;

function copy(ref: FlowRef | null): RefCopy {
  return ref === null ? null : { ...ref };
}

/**
 * A TCP or UDP conversation between a client and a server end, with a clock and automatic
 * sequence numbers: `c('S')` is the client's SYN, `s('SA')` the server's SYN-ACK, and so on.
 */
export class Conversation {
  sec = 1_764_056_602;
  nsec = 900_203_000;
  cSeq: number;
  sSeq: number;

  constructor(
    readonly engine: DemuxEngine,
    readonly client = '10.0.0.1:40000',
    readonly server = '10.0.0.2:80',
    readonly proto = 6,
    clientIsn = 1000,
    serverIsn = 5000,
  ) {
    this.cSeq = clientIsn;
    this.sSeq = serverIsn;
  }

  /** Advance the clock by `seconds` (may be fractional; kept exact to the microsecond). */
  wait(seconds: number): this {
    const ns = Math.round(seconds * 1e6) * 1000 + this.nsec;
    this.sec += Math.floor(ns / 1e9);
    this.nsec = ns % 1e9;
    return this;
  }

  c(flags = 'A', opts: Partial<PacketSpec> = {}): RefCopy {
    return this.send(true, flags, opts);
  }

  s(flags = 'A', opts: Partial<PacketSpec> = {}): RefCopy {
    return this.send(false, flags, opts);
  }

  private send(fromClient: boolean, flags: string, opts: Partial<PacketSpec>): RefCopy {
    const [from, fromPort] = split(fromClient ? this.client : this.server);
    const [to, toPort] = split(fromClient ? this.server : this.client);
    const len = opts.len ?? 0;
    const seq = opts.seq ?? (fromClient ? this.cSeq : this.sSeq);
    const ack = opts.ack ?? (fromClient ? this.sSeq : this.cSeq);
    const consumed = len + (flags.includes('S') ? 1 : 0) + (flags.includes('F') ? 1 : 0);
    if (opts.seq === undefined) {
      if (fromClient) this.cSeq = (this.cSeq + consumed) >>> 0;
      else this.sSeq = (this.sSeq + consumed) >>> 0;
    }
    const pkt = makePacket({
      src: from, sport: fromPort, dst: to, dport: toPort, proto: this.proto,
      flags, seq, ack: flags.includes('A') ? ack : 0, ...opts,
    });
    return copy(this.engine.ingest(pkt, this.sec, this.nsec));
  }
}

/** `a.b.c.d:port` or `[v6]:port`. */
export function split(end: string): [string, number] {
  const m = /^\[(.*)\]:(\d+)$/.exec(end) ?? /^(.*):(\d+)$/.exec(end);
  if (!m) throw new Error(`bad end ${end}`);
  return [m[1]!, Number(m[2])];
}

/** Ingest one packet at a time and copy the reference. */
export function feed(engine: DemuxEngine, spec: PacketSpec, sec = 1_764_056_602, nsec = 0): RefCopy {
  return copy(engine.ingest(makePacket(spec), sec, nsec));
}
