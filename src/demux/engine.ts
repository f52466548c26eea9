/**
 * The demux engine: decoded packets in, flows out. Pure (no I/O, no wall clock: time is the
 * capture's), and cheap per packet: the tuple is looked up straight from the packet's bytes in a
 * typed-array hash table (flow-table.ts), so nothing per packet allocates or builds a string.
 *
 * A flow is one generation of a (protocol, end, end) tuple, both directions together:
 * - ends are kept canonical (A = smaller address bytes, then port) and each packet's direction
 *   is a boolean; roles (client/server) are decided from the first SYN without ACK, or inferred;
 * - a new generation starts on a SYN after the previous connection closed, a SYN with another
 *   ISN while it is open, or traffic after the idle timeout; each one is its own record, with the
 *   reason it started;
 * - closed, idle and evicted flows are finished (handed to `onFlowEnd` or kept for `flows()`)
 *   and their live state released; only the tuple's generation count is remembered, bounded.
 */
import { formatAddress } from '../parse/format.js';
import type { Packet } from '../parse/packet.js';
import { compareEnds, hashOrdered, icmpCounterpart, isIcmpRequest } from './community-id.js';
import { FlowTable, tupleHash } from './flow-table.js';
import { ENDED_FIN, ENDED_NONE, ENDED_RST, FlowState } from './flow-state.js';
import { FragmentTable, type FragmentEntry } from './fragments.js';
import { EP, renderHistory, type Side, tcpConnState, udpConnState, updateHistory, updateState } from './tcp.js';
import type {
  DemuxOptions, DemuxSummary, EndReason, Flow, FlowProto, FlowRef, GenerationReason, PacketKind,
} from './types.js';

const TCP = 6;
const UDP = 17;
const ICMP = 1;
const ICMPV6 = 58;

const F_SYN = 0x02;
const F_ACK = 0x10;

// Lists of slots in order of last use, one per timeout class, plus released tuples.
const L_TCP = 0;
const L_UDP = 1;
const L_ICMP = 2;
const L_CLOSED = 3;
const L_REMEMBERED = 4;
const LIST_COUNT = 5;

// Why a remembered (released) tuple's last flow ended: decides the next generation's reason.
const N_IDLE = 1;
const N_FIN = 2;
const N_RST = 3;
const N_EVICTED = 4;

/** Zeek's once-per-direction 'D' bit, reused for UDP history. */
const H_DATA = 8;

/** Ended flows' objects kept for reuse: about the number of flows that start within a second. */
const SPARE_FLOW_STATES = 4096;

export const DEFAULTS = {
  tcpIdleTimeout: 300,
  udpIdleTimeout: 60,
  icmpIdleTimeout: 60,
  tcpCloseLinger: 5,
  // At ~550 bytes a live flow, 250,000 open at once is ~140 MB: memory stays bounded on a SYN
  // flood while real captures (thousands open at once) never reach it.
  maxFlows: 250_000,
  // Released tuples remembered for generation numbers and reasons. Reuse of a tuple comes soon
  // after it closed, so the most recent 65,536 are plenty, and memory does not grow with the
  // number of flows in a capture.
  maxRemembered: 65_536,
  fragmentTimeout: 60,
  maxFragmentDatagrams: 65_536,
} as const;

function protoName(proto: number): FlowProto {
  switch (proto) {
    case TCP: return 'tcp';
    case UDP: return 'udp';
    case ICMP: return 'icmp';
    default: return 'icmpv6';
  }
}

function emptyKinds(): Record<PacketKind, number> {
  return {
    tcp: 0, udp: 0, icmp: 0, icmpv6: 0, fragment: 0, 'fragment-pending': 0, 'fragment-unmatched': 0,
    'non-ip': 0, damaged: 0, 'other-ip-protocol': 0,
  };
}

/** A problem that is damage, not merely "not decoded" (unsupported). */
function hasDamage(pkt: Packet): boolean {
  const problems = pkt.problems;
  for (let i = 0; i < problems.length; i++) if (problems[i]!.kind !== 'unsupported') return true;
  return false;
}

export class DemuxEngine {
  private readonly tcpIdle: number;
  private readonly udpIdle: number;
  private readonly icmpIdle: number;
  private readonly closeLinger: number;
  private readonly maxFlows: number;
  private readonly maxRemembered: number;
  private readonly icmpFlows: boolean;
  private readonly seed: number;
  private readonly onFlowEnd: ((flow: Flow) => void) | undefined;

  private readonly table = new FlowTable(LIST_COUNT);
  /** Live flow by slot; null for a remembered (released) tuple or a free slot. */
  private live: (FlowState | null)[] = [];
  private liveCount = 0;
  private readonly finished: Flow[] = [];
  /** Objects of ended flows, reused by startFlow. */
  private readonly spare: FlowState[] = [];
  private nextId = 1;
  private readonly frags: FragmentTable;
  private readonly ref: FlowRef = { id: 0, generation: 0, toServer: true, via: 'ports' };

  private packets = 0;
  private inFlows = 0;
  private readonly kinds = emptyKinds();
  private icmpErrorsAttached = 0;
  private evicted = 0;
  private fragmentOverflow = 0;
  private lastExpireSec = -Infinity;

  constructor(opts: DemuxOptions = {}) {
    this.tcpIdle = opts.tcpIdleTimeout ?? DEFAULTS.tcpIdleTimeout;
    this.udpIdle = opts.udpIdleTimeout ?? DEFAULTS.udpIdleTimeout;
    this.icmpIdle = opts.icmpIdleTimeout ?? DEFAULTS.icmpIdleTimeout;
    this.closeLinger = opts.tcpCloseLinger ?? DEFAULTS.tcpCloseLinger;
    this.maxFlows = Math.max(1, opts.maxFlows ?? DEFAULTS.maxFlows);
    this.maxRemembered = Math.max(0, opts.maxRemembered ?? DEFAULTS.maxRemembered);
    this.icmpFlows = opts.icmpFlows ?? true;
    this.seed = opts.communityIdSeed ?? 0;
    this.onFlowEnd = opts.onFlowEnd;
    this.frags = new FragmentTable(opts.fragmentTimeout ?? DEFAULTS.fragmentTimeout,
      Math.max(1, opts.maxFragmentDatagrams ?? DEFAULTS.maxFragmentDatagrams));
  }

  /**
   * Count one decoded packet. Returns the flow it was assigned to (a reused object: read it
   * before the next call), or null when it carries no ports or waits for its first fragment.
   * The packet's bytes are not kept.
   */
  ingest(pkt: Packet, tsSec: number, tsNsec: number): FlowRef | null {
    this.packets++;
    const t = tsSec + tsNsec / 1e9;
    // Idle expiry at most once per capture-second: list heads only, so it costs next to nothing.
    if (tsSec > this.lastExpireSec) {
      this.lastExpireSec = tsSec;
      this.expireAt(t);
    }
    if (pkt.ipVersion === 0) {
      this.kinds[hasDamage(pkt) ? 'damaged' : 'non-ip']++;
      return null;
    }
    const proto = pkt.protocol;
    if (pkt.isFragment && pkt.fragmentOffset !== 0) return this.laterFragment(pkt, tsSec, tsNsec, t);
    if (pkt.hasPorts && (proto === TCP || proto === UDP)) return this.ported(pkt, tsSec, tsNsec, t);
    if (proto === ICMP || proto === ICMPV6) return this.icmp(pkt, tsSec, tsNsec, t);
    if (proto === TCP || proto === UDP) {
      // Ports unreadable: a first fragment whose transport header continues in the next fragment
      // (no reassembly here), or a cut/damaged header.
      this.kinds[pkt.isFragment ? 'fragment-unmatched' : 'damaged']++;
      return null;
    }
    this.kinds[hasDamage(pkt) ? 'damaged' : 'other-ip-protocol']++;
    return null;
  }

  /** Finish flows idle past their timeout at this capture time (live capture calls it on a timer). */
  expire(tsSec: number, tsNsec: number): void {
    this.expireAt(tsSec + tsNsec / 1e9);
  }

  /** End of input: every open flow is finished (in id order), waiting fragments become unmatched. */
  finish(): void {
    this.frags.drain((e) => this.dropFragment(e));
    const open: FlowState[] = [];
    for (const f of this.live) if (f) open.push(f);
    open.sort((x, y) => x.id - y.id);
    for (const f of open) {
      const closed = f.ended !== ENDED_NONE;
      this.finishLive(f, closed ? (f.ended === ENDED_FIN ? 'fin' : 'rst') : 'capture-end',
        closed ? (f.ended === ENDED_FIN ? N_FIN : N_RST) : N_IDLE);
    }
  }

  /**
   * Finished flows (unless they were streamed to `onFlowEnd`) and a snapshot of the open ones
   * (`endReason` null), in id order.
   */
  flows(): Flow[] {
    const out = this.finished.slice();
    for (const f of this.live) if (f) out.push(this.toFlow(f, null));
    return out.sort((x, y) => x.id - y.id);
  }

  summary(): DemuxSummary {
    const warnings: string[] = [];
    if (this.evicted > 0) {
      warnings.push(`${this.evicted} flow${this.evicted === 1 ? ' was' : 's were'} evicted before ending: more than `
        + `--max-flows ${this.maxFlows} flows were open at once (least recently active evicted first; `
        + 'their later packets start new generations)');
    }
    if (this.fragmentOverflow > 0) {
      warnings.push(`${this.fragmentOverflow} fragmented datagram${this.fragmentOverflow === 1 ? ' was' : 's were'} dropped `
        + `from the fragment table early: more than ${this.frags.maxEntries} were waiting at once`);
    }
    return {
      packets: this.packets,
      byKind: { ...this.kinds },
      inFlows: this.inFlows,
      icmpErrorsAttached: this.icmpErrorsAttached,
      flows: this.nextId - 1,
      openFlows: this.liveCount,
      evicted: this.evicted,
      warnings,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // TCP and UDP

  private ported(pkt: Packet, tsSec: number, tsNsec: number, t: number): FlowRef {
    const b = pkt.bytes;
    const len = pkt.addrLength;
    const so = pkt.srcAddrOffset;
    const dO = pkt.dstAddrOffset;
    const sp = pkt.srcPort;
    const dp = pkt.dstPort;
    const proto = pkt.protocol;
    const fromA = compareEnds(b, so, b, dO, len, sp, dp) <= 0;
    const aOff = fromA ? so : dO;
    const bOff = fromA ? dO : so;
    const aPort = fromA ? sp : dp;
    const bPort = fromA ? dp : sp;

    const slot = this.lookup(b, aOff, bOff, len, aPort, bPort, proto);
    const tcp = proto === TCP;
    const flags = tcp ? pkt.tcpFlags : 0;
    const synOnly = (flags & (F_SYN | F_ACK)) === F_SYN;
    const seq = pkt.tcpSeq;

    let f = this.live[slot] ?? null;
    let roleDone = false;
    if (f === null) {
      f = this.startFlow(slot, proto, this.reasonAfterRelease(slot, synOnly), tsSec, tsNsec, t);
    } else if (t - f.lastT > this.timeoutOf(f)) {
      const closed = f.ended !== ENDED_NONE;
      const reason: GenerationReason = !closed ? 'idle-timeout'
        : !synOnly ? 'after-close' : f.ended === ENDED_FIN ? 'syn-after-fin' : 'syn-after-rst';
      f = this.replace(f, closed ? (f.ended === ENDED_FIN ? 'fin' : 'rst') : 'idle-timeout', reason, tsSec, tsNsec, t);
    } else if (synOnly) {
      // A SYN on a live connection: retransmission, late SYN, or a new connection on the tuple?
      const e = fromA ? f.a : f.b;
      const p = fromA ? f.b : f.a;
      let reason: GenerationReason | null = null;
      if (f.ended !== ENDED_NONE) reason = f.ended === ENDED_FIN ? 'syn-after-fin' : 'syn-after-rst';
      else if (e.hasIsn) {
        if (seq !== e.isn) reason = 'new-isn'; // same ISN: a retransmitted SYN
      } else if (p.hasIsn) {
        // The other end sent the SYN: this is simultaneous open only while nothing else happened.
        if (!(e.state === EP.INACTIVE && p.state === EP.SYN_SENT)) reason = 'new-isn';
      } else if (p.synAckAck === ((seq + 1) >>> 0)) {
        this.lateSyn(f, e, p, fromA);
        roleDone = true;
      } else reason = 'syn-after-midstream';
      if (reason !== null) {
        const closed = f.ended !== ENDED_NONE;
        f = this.replace(f, closed ? (f.ended === ENDED_FIN ? 'fin' : 'rst') : 'superseded', reason, tsSec, tsNsec, t);
      }
    }
    if (f.a.packets === 0 && f.b.packets === 0) {
      // First packet of this flow: decide the roles.
      if (synOnly) {
        f.clientIsA = fromA;
        f.rolesInferred = false;
      } else this.inferRoles(f, fromA, aPort, bPort);
    }

    const e = fromA ? f.a : f.b;
    const p = fromA ? f.b : f.a;
    e.packets++;
    e.wireBytes += pkt.originalLength;
    e.ipBytes += pkt.ipLength;
    e.payloadBytes += pkt.payloadLength;
    f.stamp(tsSec, tsNsec, t);
    this.kinds[tcp ? 'tcp' : 'udp']++;
    this.inFlows++;

    let list = L_UDP;
    if (tcp) {
      if ((flags & F_SYN) !== 0) {
        if ((flags & F_ACK) === 0) {
          if (!e.hasIsn) {
            e.hasIsn = true;
            e.isn = seq;
          }
        } else if (e.synAckAck < 0) e.synAckAck = pkt.tcpAck;
      }
      updateHistory(f, e, p, fromA, flags, seq, pkt.tcpAck, pkt.payloadLength, pkt.tcpWindow);
      if (!roleDone) updateState(e, p, f.clientIsA ? f.a : f.b, fromA === f.clientIsA, flags, pkt.payloadLength);
      // Ended: a RST, or FIN both ways (a FIN answering FIN-then-RST turns a reset into a close).
      if (e.state === EP.RESET || p.state === EP.RESET) f.ended = ENDED_RST;
      else if (e.state === EP.CLOSED && p.state === EP.CLOSED) f.ended = ENDED_FIN;
      list = f.ended !== ENDED_NONE ? L_CLOSED : L_TCP;
    } else if ((e.histSeen & H_DATA) === 0) {
      // Zeek's UDP history: 'D' / 'd' once for each direction heard.
      e.histSeen |= H_DATA;
      f.hist += fromA ? 'D' : 'd';
    }
    this.table.touch(slot, list);

    if (pkt.isFragment) this.firstFragment(pkt, f, fromA, t);
    return this.setRef(f, fromA === f.clientIsA, 'ports');
  }

  /**
   * A SYN that arrives after the SYN-ACK answering it (capture reordering, e.g. two interfaces):
   * same connection. The SYN's sender is the client after all; both ends are established.
   */
  private lateSyn(f: FlowState, e: Side, p: Side, fromA: boolean): void {
    f.rolesInferred = false;
    if (f.clientIsA !== fromA) {
      f.clientIsA = fromA;
      f.hist += '^';
    }
    if (e.state === EP.INACTIVE || e.state === EP.PARTIAL || e.state === EP.SYN_SENT) e.state = EP.ESTABLISHED;
    if (p.state === EP.INACTIVE || p.state === EP.PARTIAL || p.state === EP.SYN_ACK_SENT) p.state = EP.ESTABLISHED;
  }

  /**
   * No SYN: the end with the higher port is the client (ephemeral ports are high), ties go to the
   * first sender. When that makes the first packet's sender the server, the history starts with
   * '^' as Zeek marks a connection whose direction a heuristic flipped.
   */
  private inferRoles(f: FlowState, fromA: boolean, aPort: number, bPort: number): void {
    f.clientIsA = aPort > bPort ? true : aPort < bPort ? false : fromA;
    f.rolesInferred = true;
    if (f.clientIsA !== fromA) f.hist = '^';
  }

  // ---------------------------------------------------------------------------------------------
  // ICMP

  private icmp(pkt: Packet, tsSec: number, tsNsec: number, t: number): FlowRef | null {
    const v6 = pkt.protocol === ICMPV6;
    if (pkt.icmpType < 0) {
      this.kinds.damaged++;
      return null;
    }
    this.kinds[v6 ? 'icmpv6' : 'icmp']++;
    const qp = pkt.quotedProtocol;
    if ((qp === TCP || qp === UDP) && pkt.quotedAddrLength !== 0) {
      const ref = this.attachIcmpError(pkt);
      if (ref !== null) return ref;
    }
    if (!this.icmpFlows) return null;

    const b = pkt.bytes;
    const len = pkt.addrLength;
    const so = pkt.srcAddrOffset;
    const dO = pkt.dstAddrOffset;
    const type = pkt.icmpType;
    const counterpart = icmpCounterpart(type, v6);
    let fromA = true;
    let sp = type;
    let dp = pkt.icmpCode;
    if (counterpart >= 0) {
      // Request/reply pair: ports are (type, counterpart), ordered like TCP/UDP ends.
      dp = counterpart;
      fromA = compareEnds(b, so, b, dO, len, sp, dp) <= 0;
    } // else one-way (errors, adverts...): (type, code), sender first, as Community ID does.
    const aOff = fromA ? so : dO;
    const bOff = fromA ? dO : so;
    const aPort = fromA ? sp : dp;
    const bPort = fromA ? dp : sp;
    const slot = this.lookup(b, aOff, bOff, len, aPort, bPort, pkt.protocol);
    let f = this.live[slot] ?? null;
    if (f === null) f = this.startFlow(slot, pkt.protocol, this.reasonAfterRelease(slot, false), tsSec, tsNsec, t);
    else if (t - f.lastT > this.icmpIdle) f = this.replace(f, 'idle-timeout', 'idle-timeout', tsSec, tsNsec, t);
    if (f.a.packets === 0 && f.b.packets === 0) {
      if (counterpart >= 0) {
        // The asking end is the client, whichever half of the pair was seen first.
        f.clientIsA = isIcmpRequest(type, v6) ? fromA : !fromA;
        f.rolesInferred = false;
      } else {
        f.clientIsA = true;
        f.rolesInferred = true;
      }
    }
    const e = fromA ? f.a : f.b;
    e.packets++;
    e.wireBytes += pkt.originalLength;
    e.ipBytes += pkt.ipLength;
    e.payloadBytes += pkt.payloadLength;
    f.stamp(tsSec, tsNsec, t);
    this.inFlows++;
    this.table.touch(slot, L_ICMP);
    return this.setRef(f, fromA === f.clientIsA, 'ports');
  }

  /** An ICMP error quoting a packet of a live TCP/UDP flow is noted on that flow. */
  private attachIcmpError(pkt: Packet): FlowRef | null {
    const b = pkt.bytes;
    const len = pkt.quotedAddrLength;
    const so = pkt.quotedSrcAddrOffset;
    const dO = pkt.quotedDstAddrOffset;
    const sp = pkt.quotedSrcPort;
    const dp = pkt.quotedDstPort;
    const fromA = compareEnds(b, so, b, dO, len, sp, dp) <= 0;
    const aOff = fromA ? so : dO;
    const bOff = fromA ? dO : so;
    const aPort = fromA ? sp : dp;
    const bPort = fromA ? dp : sp;
    const proto = pkt.quotedProtocol;
    const slot = this.table.find(b, aOff, bOff, len, aPort, bPort, proto, tupleHash(b, aOff, bOff, len, aPort, bPort, proto));
    const f = slot >= 0 ? (this.live[slot] ?? null) : null;
    if (f === null) return null;
    f.icmpErrors++;
    if (f.icmpError === null) {
      f.icmpError = { type: pkt.icmpType, code: pkt.icmpCode, reporter: formatAddress(b, pkt.srcAddrOffset, pkt.addrLength) };
    }
    this.icmpErrorsAttached++;
    // The error goes back to the sender of the quoted packet.
    return this.setRef(f, fromA !== f.clientIsA, 'icmp-error');
  }

  // ---------------------------------------------------------------------------------------------
  // Fragments

  /** The first fragment went to `f`: tie the rest of its datagram to it. */
  private firstFragment(pkt: Packet, f: FlowState, fromA: boolean, t: number): void {
    const b = pkt.bytes;
    let entry = this.frags.find(b, pkt.srcAddrOffset, pkt.dstAddrOffset, pkt.addrLength, pkt.protocol, pkt.ipId);
    if (entry === null) {
      entry = this.frags.add(b, pkt.srcAddrOffset, pkt.dstAddrOffset, pkt.addrLength, pkt.protocol, pkt.ipId, t);
      if (this.frags.size > this.frags.maxEntries) this.frags.expire(t, (e, overflow) => this.dropFragment(e, overflow));
    } else if (entry.flow === null && entry.pendingPackets > 0) {
      // Later fragments that came first now have their flow.
      const e = fromA ? f.a : f.b;
      const n = entry.pendingPackets;
      e.packets += n;
      e.wireBytes += entry.pendingWire;
      e.ipBytes += entry.pendingIp;
      e.payloadBytes += entry.pendingPayload;
      f.stamp(entry.firstSec, entry.firstNsec, entry.lastT);
      f.stamp(entry.lastSec, entry.lastNsec, entry.lastT);
      this.kinds['fragment-pending'] -= n;
      this.kinds.fragment += n;
      this.inFlows += n;
      entry.pendingPackets = 0;
    }
    entry.flow = f;
    entry.flowId = f.id;
    entry.fromA = fromA;
  }

  private laterFragment(pkt: Packet, tsSec: number, tsNsec: number, t: number): FlowRef | null {
    const b = pkt.bytes;
    const entry = this.frags.find(b, pkt.srcAddrOffset, pkt.dstAddrOffset, pkt.addrLength, pkt.protocol, pkt.ipId);
    const f = entry?.flow ?? null;
    if (f !== null) {
      // Ended, or its object already serves a later flow.
      if (f.finished || f.id !== entry!.flowId) {
        this.kinds['fragment-unmatched']++;
        return null;
      }
      const fromA = entry!.fromA;
      const e = fromA ? f.a : f.b;
      e.packets++;
      e.wireBytes += pkt.originalLength;
      e.ipBytes += pkt.ipLength;
      e.payloadBytes += pkt.payloadLength;
      f.stamp(tsSec, tsNsec, t);
      this.kinds.fragment++;
      this.inFlows++;
      this.table.touch(f.slot, this.listOf(f));
      return this.setRef(f, fromA === f.clientIsA, 'fragment');
    }
    let w = entry;
    if (w === null) {
      w = this.frags.add(b, pkt.srcAddrOffset, pkt.dstAddrOffset, pkt.addrLength, pkt.protocol, pkt.ipId, t);
      w.firstSec = tsSec;
      w.firstNsec = tsNsec;
    } else if (tsSec < w.firstSec || (tsSec === w.firstSec && tsNsec < w.firstNsec)) {
      w.firstSec = tsSec;
      w.firstNsec = tsNsec;
    }
    if (w.pendingPackets === 0 || t >= w.lastT) {
      w.lastSec = tsSec;
      w.lastNsec = tsNsec;
      w.lastT = t;
    }
    w.pendingPackets++;
    w.pendingWire += pkt.originalLength;
    w.pendingIp += pkt.ipLength;
    w.pendingPayload += pkt.payloadLength;
    this.kinds['fragment-pending']++;
    if (this.frags.size > this.frags.maxEntries) this.frags.expire(t, (e, overflow) => this.dropFragment(e, overflow));
    return null;
  }

  private dropFragment(e: FragmentEntry, overflow = false): void {
    if (overflow) this.fragmentOverflow++;
    if (e.flow === null && e.pendingPackets > 0) {
      this.kinds['fragment-pending'] -= e.pendingPackets;
      this.kinds['fragment-unmatched'] += e.pendingPackets;
      e.pendingPackets = 0;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Flow life cycle

  private lookup(b: Uint8Array, aOff: number, bOff: number, len: number, aPort: number, bPort: number, proto: number): number {
    const table = this.table;
    const hash = tupleHash(b, aOff, bOff, len, aPort, bPort, proto);
    let slot = table.find(b, aOff, bOff, len, aPort, bPort, proto, hash);
    if (slot < 0) {
      slot = table.insert(b, aOff, bOff, len, aPort, bPort, proto, hash);
      const live = this.live;
      while (live.length <= slot) live.push(null);
      live[slot] = null;
    }
    return slot;
  }

  /** A new generation on `slot` (a new tuple or a remembered one), evicting if at the cap. */
  private startFlow(slot: number, proto: number, reason: GenerationReason, tsSec: number, tsNsec: number, t: number): FlowState {
    const table = this.table;
    table.unlink(slot); // off the remembered list before anything below can trim that list
    if (this.liveCount >= this.maxFlows) this.evictOne();
    const gen = ++table.gen[slot]!;
    table.note[slot] = 0;
    const f = (this.spare.pop() ?? new FlowState()).init(this.nextId++, gen, reason, slot, proto, tsSec, tsNsec, t);
    this.live[slot] = f;
    this.liveCount++;
    return f;
  }

  /** Finish `old` and start the next generation on its tuple. */
  private replace(old: FlowState, endReason: EndReason, reason: GenerationReason, tsSec: number, tsNsec: number, t: number): FlowState {
    this.emit(old, endReason);
    this.live[old.slot] = null;
    this.liveCount--;
    const { slot, proto } = old;
    this.recycle(old);
    return this.startFlow(slot, proto, reason, tsSec, tsNsec, t);
  }

  /** An ended flow's object waits to be reused (a bounded number of them). */
  private recycle(f: FlowState): void {
    if (this.spare.length < SPARE_FLOW_STATES) this.spare.push(f);
  }

  private reasonAfterRelease(slot: number, synOnly: boolean): GenerationReason {
    if (this.table.gen[slot] === 0) return 'first';
    switch (this.table.note[slot]) {
      case N_FIN: return synOnly ? 'syn-after-fin' : 'after-close';
      case N_RST: return synOnly ? 'syn-after-rst' : 'after-close';
      case N_EVICTED: return 'after-eviction';
      default: return 'idle-timeout';
    }
  }

  private listOf(f: FlowState): number {
    if (f.proto === TCP) return f.ended !== ENDED_NONE ? L_CLOSED : L_TCP;
    return f.proto === UDP ? L_UDP : L_ICMP;
  }

  private timeoutOf(f: FlowState): number {
    if (f.proto === TCP) return f.ended !== ENDED_NONE ? this.closeLinger : this.tcpIdle;
    return f.proto === UDP ? this.udpIdle : this.icmpIdle;
  }

  private expireAt(t: number): void {
    const table = this.table;
    for (let list = 0; list < L_REMEMBERED; list++) {
      const timeout = list === L_TCP ? this.tcpIdle : list === L_UDP ? this.udpIdle : list === L_ICMP ? this.icmpIdle : this.closeLinger;
      for (let s = table.heads[list]!; s >= 0; s = table.heads[list]!) {
        const f = this.live[s]!;
        if (t - f.lastT <= timeout) break;
        if (list === L_CLOSED) this.finishLive(f, f.ended === ENDED_FIN ? 'fin' : 'rst', f.ended === ENDED_FIN ? N_FIN : N_RST);
        else this.finishLive(f, 'idle-timeout', N_IDLE);
      }
    }
    this.frags.expire(t, (e, overflow) => this.dropFragment(e, overflow));
  }

  /**
   * At the cap: a closed connection waiting for stray packets goes first (nothing is lost), else
   * the least recently active open flow.
   */
  private evictOne(): void {
    const table = this.table;
    const closed = table.heads[L_CLOSED]!;
    if (closed >= 0) {
      const f = this.live[closed]!;
      this.finishLive(f, f.ended === ENDED_FIN ? 'fin' : 'rst', f.ended === ENDED_FIN ? N_FIN : N_RST);
      return;
    }
    let victim: FlowState | null = null;
    for (const list of [L_TCP, L_UDP, L_ICMP]) {
      const s = table.heads[list]!;
      if (s < 0) continue;
      const f = this.live[s]!;
      if (victim === null || f.lastT < victim.lastT) victim = f;
    }
    if (victim === null) return;
    this.evicted++;
    this.finishLive(victim, 'evicted', N_EVICTED);
  }

  /** Finish a live flow and keep only its tuple's generation count (bounded, oldest forgotten). */
  private finishLive(f: FlowState, endReason: EndReason, note: number): void {
    const table = this.table;
    this.emit(f, endReason);
    this.live[f.slot] = null;
    this.liveCount--;
    table.note[f.slot] = note;
    table.touch(f.slot, L_REMEMBERED);
    this.recycle(f);
    while (table.counts[L_REMEMBERED]! > this.maxRemembered) table.release(table.heads[L_REMEMBERED]!);
  }

  private emit(f: FlowState, endReason: EndReason): void {
    const flow = this.toFlow(f, endReason);
    f.finished = true;
    if (this.onFlowEnd) this.onFlowEnd(flow);
    else this.finished.push(flow);
  }

  private setRef(f: FlowState, toServer: boolean, via: FlowRef['via']): FlowRef {
    const ref = this.ref;
    ref.id = f.id;
    ref.generation = f.generation;
    ref.toServer = toServer;
    ref.via = via;
    return ref;
  }

  /** The record of a flow: addresses become text here, once per flow. */
  private toFlow(f: FlowState, endReason: EndReason | null): Flow {
    const table = this.table;
    const s = f.slot;
    const base = FlowTable.addrOffset(s);
    const len = table.keyLen[s]!;
    const ports = table.keyPorts[s]!;
    const aPort = ports >>> 16;
    const bPort = ports & 0xffff;
    const key = table.keyAddr;
    const aIp = formatAddress(key, base, len);
    const bIp = formatAddress(key, base + 16, len);
    const ca = f.clientIsA;
    const cs = ca ? f.a : f.b;
    const ss = ca ? f.b : f.a;
    const history = renderHistory(f.hist, ca);
    let state: string;
    if (f.proto === TCP) state = tcpConnState(cs.state, ss.state, cs.payloadBytes, ss.payloadBytes, history);
    else if (f.proto === UDP) state = udpConnState(cs.packets, ss.packets);
    else state = 'OTH'; // Zeek's conn_state for ICMP
    return {
      id: f.id,
      proto: protoName(f.proto),
      generation: f.generation,
      client: { ip: ca ? aIp : bIp, port: ca ? aPort : bPort },
      server: { ip: ca ? bIp : aIp, port: ca ? bPort : aPort },
      rolesInferred: f.rolesInferred,
      start: { sec: f.startSec, nsec: f.startNsec },
      end: { sec: f.endSec, nsec: f.endNsec },
      duration: f.endSec - f.startSec + (f.endNsec - f.startNsec) / 1e9,
      toServer: { packets: cs.packets, wireBytes: cs.wireBytes, ipBytes: cs.ipBytes, payloadBytes: cs.payloadBytes },
      toClient: { packets: ss.packets, wireBytes: ss.wireBytes, ipBytes: ss.ipBytes, payloadBytes: ss.payloadBytes },
      state,
      history,
      communityId: hashOrdered(f.proto, key, base, key, base + 16, len, aPort, bPort, this.seed),
      generationReason: f.reason,
      endReason,
      ipVersion: len === 16 ? 6 : 4,
      icmpErrors: f.icmpErrors,
      icmpError: f.icmpError,
    };
  }
}
