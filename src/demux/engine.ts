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
 *
 * Live flows are numbered records in a typed array (flow-state.ts) and tuples are 64-byte
 * records of the flow table: a packet touches a handful of cache lines and allocates nothing.
 */
import { ipProtocolName } from '../core/ip-protocols.js';
import { decodeLayer } from '../parse/decode.js';
import { formatAddress } from '../parse/format.js';
import { heldPayloadEnd, newPacket, type Packet, type TunnelKind } from '../core/packet.js';
import { isPortUnreachable } from './closed.js';
import { compareEnds, hashOrdered, icmpCounterpart, isIcmpRequest } from './community-id.js';
import { FlowTable, TupleKey } from './flow-table.js';
import { ENDED_FIN, ENDED_HALF, ENDED_NONE, ENDED_RST, FlowStore } from './flow-state.js';
import { FragmentTable, type FragmentEntry } from './fragments.js';
import { PHASE_END, PHASE_EXPIRY, PHASE_PACKET, type ShardLog } from './shard-log.js';
import { isDnsPort, isLimitedBroadcast, zeekFlipsFirstPacket } from './server-ports.js';
import { sniff, sniffMore, type MoreToRead, type Service, type Sniffed } from './services.js';
import { TcpAnalyzer, type SegmentAnalysis } from './tcp-analysis.js';
import {
  EP, closeIsOver, finishGaps, isClosedEnd, missedBytes, noteFinAck, renderHistory, tcpConnState, udpConnState, updateGaps, updateHistory,
  updateState,
} from './tcp.js';
import type {
  DemuxOptions, DemuxSummary, EndReason, Flow, FlowRef, GenerationReason, PacketKind,
} from '../core/flow.js';

/**
 * Seconds ahead of the capture's clock beyond which one packet's time stamp is not believed on
 * its own for idle expiry (clockMoved).
 */
const CLOCK_JUMP = 3600;

/** Zeek's dns_session_timeout (s): how long its DNS analyzer keeps an idle UDP session. */
const DNS_SESSION_TIMEOUT = 10;

/** Zeek's tcp_partial_close_delay (s): see sameOrNewFlow. */
const TCP_PARTIAL_CLOSE_DELAY = 3;

const TCP = 6;
const UDP = 17;
const ICMP = 1;
const ICMPV6 = 58;

const F_FIN = 0x01;
const F_SYN = 0x02;
const F_RST = 0x04;
const F_ACK = 0x10;

// Lists of slots in order of last use, one per timeout class, plus released tuples.
const L_TCP = 0;
const L_UDP = 1;
const L_ICMP = 2;
const L_OTHER = 3;
const L_CLOSED = 4;
const L_REMEMBERED = 5;
const LIST_COUNT = 6;

// Why a remembered (released) tuple's last flow ended: decides the next generation's reason.
const N_IDLE = 1;
const N_FIN = 2;
const N_RST = 3;
const N_EVICTED = 4;

/** Zeek's once-per-direction 'D' bit, reused for UDP history. */
const H_DATA = 8;
/**
 * An end sent a packet with a bad checksum (ingestBadChecksum): its roles were decided then.
 * Above the bits tcp.ts keeps on the same field (letters 1..64, FIN_ACKED 128).
 */
const H_CORRUPT = 256;
/** Not a letter: this end's first payload was looked at for what it speaks (services.ts). */
const H_SNIFFED = 512;

export const DEFAULTS = {
  tcpIdleTimeout: 300,
  udpIdleTimeout: 60,
  icmpIdleTimeout: 60,
  otherIdleTimeout: 60,
  tcpCloseLinger: 5,
  tcpAttemptDelay: 5,
  // At ~500 bytes a live flow (record and tuple), 250,000 open at once is ~125 MB: memory stays bounded on a SYN
  // flood while real captures (thousands open at once) never reach it.
  maxFlows: 250_000,
  // Released tuples remembered for generation numbers and reasons. Reuse of a tuple comes soon
  // after it closed, so the most recent 65,536 are plenty, and memory does not grow with the
  // number of flows in a capture.
  maxRemembered: 65_536,
  fragmentTimeout: 60,
  maxFragmentDatagrams: 65_536,
} as const;

function emptyKinds(): Record<PacketKind, number> {
  return {
    tcp: 0, udp: 0, icmp: 0, icmpv6: 0, fragment: 0, 'fragment-pending': 0, 'fragment-unmatched': 0,
    'non-ip': 0, damaged: 0, 'other-ip-protocol': 0, 'bad-checksum': 0,
  };
}

/** A problem that is damage, not merely "not decoded" (unsupported). */
/**
 * Parents kept per flow at most: a tunnel's source port is usually fixed per inner flow (VXLAN,
 * Geneve hash the inner tuple into it), or one per direction (GTP-U); a crafted capture could
 * give every packet another, and memory stays bounded.
 */
const MAX_TUNNEL_PARENTS = 64;

/**
 * Ends whose hello is read over several payloads at once, at most (each holds up to 16 KB of it,
 * services.ts): beyond, a new end's hello is read from its first payload only.
 */
export const MAX_MORE_READING = 4096;

/**
 * What few flows have: their part in tunnels. Kept by flow id beside the typed-array records,
 * made on first use, dropped when the flow ends. (What their first bytes said is kept by record:
 * DemuxEngine.sniffs.)
 */
interface FlowNote {
  /** The tunnel its datagrams carry (a UDP flow of VXLAN, Geneve, Teredo, GTP-U...). */
  carries: TunnelKind | null;
  /** Directions its datagrams carried the tunnel in: 1 client to server, 2 server to client. */
  carriedWays: number;
  /** The innermost tunnel its own packets came through. */
  tunnel: TunnelKind | null;
  /** Ids of the UDP tunnel flows whose datagrams carried its packets, first seen first. */
  parents: number[];
}

/** The services by number (DemuxEngine.sniffs), 0 for none. */
const SERVICES: readonly (Service | null)[] = [null, 'http', 'http2', 'ssl', 'ssh', 'dns', 'quic'];
/** Where DemuxEngine.sniffs keeps the first service said, end A's, end B's: 3 bits each. */
const SNIFF_FIRST = 0;
const SNIFF_A = 3;
const SNIFF_B = 6;

/**
 * The UDP tunnel flows that counted the last packet ingested too (the tunnels around it),
 * outermost first: each one's id, generation and direction, and the depth of its datagram in
 * the frame (parse/decode.ts decodeLayer's `depth`). Arrays reused: `count` of them are valid.
 */
export interface OuterFlows {
  count: number;
  ids: number[];
  generations: number[];
  toServer: boolean[];
  depths: number[];
}

/** 24257 -> "24,257", for the warning lines. */
function grouped(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}


/** A flow's datagram carried a tunnel packet: the first kind seen is its kind. */
function carrying(note: FlowNote, kind: TunnelKind | null, toServer: boolean): void {
  if (kind === null) return;
  note.carries ??= kind;
  note.carriedWays |= toServer ? 1 : 2;
}

function hasDamage(pkt: Packet): boolean {
  const problems = pkt.problems;
  for (let i = 0; i < problems.length; i++) if (problems[i]!.kind !== 'unsupported') return true;
  return false;
}

/** An engine's counts: DemuxSummary's numbers and what its warnings are made of. */
export interface EngineCounts extends Omit<DemuxSummary, 'warnings'> {
  maxFlows: number;
  fragmentOverflow: number;
  maxFragments: number;
  gapFlows: number;
  gapBytes: number;
  snapCutSegments: number;
}

/** The summary of an engine's counts (or of several shards' counts added up). */
export function summaryOf(c: EngineCounts, source?: string): DemuxSummary {
  const warnings: string[] = [];
  if (c.evicted > 0) {
    warnings.push(`${c.evicted} flow${c.evicted === 1 ? ' was' : 's were'} evicted before ending: more than `
      + `--max-flows ${c.maxFlows} flows were open at once (least recently active evicted first; `
      + 'their later packets start new generations)');
  }
  if (c.fragmentOverflow > 0) {
    warnings.push(`${c.fragmentOverflow} fragmented datagram${c.fragmentOverflow === 1 ? ' was' : 's were'} dropped `
      + `from the fragment table early: more than ${c.maxFragments} were waiting at once`);
  }
  if (c.gapFlows > 0) {
    // Capture loss is never silent: one line for the whole input, with the total.
    const bytes = grouped(c.gapBytes);
    warnings.push(`${source === undefined ? '' : `${source}: `}${c.gapFlows} TCP flow${c.gapFlows === 1 ? ' has' : 's have'} `
      + `sequence gaps: ${bytes} byte${c.gapBytes === 1 ? ' was' : 's were'} acknowledged or followed by later data `
      + `but not captured (missed_bytes${c.snapCutSegments === 0 ? '' : `; the snap length cut the payload of ${grouped(c.snapCutSegments)} segment${c.snapCutSegments === 1 ? '' : 's'}`})`);
  }
  return {
    packets: c.packets,
    byKind: { ...c.byKind },
    inFlows: c.inFlows,
    icmpErrorsAttached: c.icmpErrorsAttached,
    flows: c.flows,
    openFlows: c.openFlows,
    evicted: c.evicted,
    warnings,
  };
}

export class DemuxEngine {
  private readonly tcpIdle: number;
  private readonly udpIdle: number;
  private readonly icmpIdle: number;
  private readonly otherIdle: number;
  private readonly closeLinger: number;
  private readonly attemptDelay: number;
  private readonly maxFlows: number;
  private readonly maxRemembered: number;
  private readonly icmpFlows: boolean;
  private readonly tunnelFlows: boolean;
  private readonly seed: number;
  private readonly onFlowEnd: ((flow: Flow) => void) | undefined;
  /** DemuxOptions.endOnClose; also set by handOverOnClose. */
  private endOnClose: boolean;
  /**
   * Records of closed connections already handed to onFlowEnd (endOnClose) that still linger
   * for stray packets: not handed over a second time when they are released.
   */
  private readonly handedOver = new Set<number>();

  private readonly table = new FlowTable(LIST_COUNT);
  /** The live flows (a slot of the table names its live flow's record, if any). */
  private readonly store = new FlowStore();
  private readonly finished: Flow[] = [];
  private nextId = 1;
  private readonly frags: FragmentTable;
  private readonly ref: FlowRef = { id: 0, generation: 0, toServer: true, via: 'ports' };
  /** Set by `slotOf`: the packet's sender is the tuple's end A. */
  private fromA = true;
  /** The tuple being looked up, set in place for each packet (slotOf). */
  private readonly key = new TupleKey();

  private packets = 0;
  private inFlows = 0;
  private readonly kinds = emptyKinds();
  private icmpErrorsAttached = 0;
  private evicted = 0;
  private fragmentOverflow = 0;
  /** Finished TCP flows with content gaps, and their missed bytes in all (the capture-loss warning). */
  private gapFlows = 0;
  private gapBytes = 0;
  /** TCP segments whose payload the snap length cut (their missing bytes are content gaps too). */
  private snapCutSegments = 0;
  private lastExpireSec = -Infinity;
  /** A packet's second far ahead of the clock, waiting for the next packet to agree (clockMoved); -1: none. */
  private jumpSec = -1;
  /** Set during ingestBadChecksum: the packet's transport checksum is wrong. */
  private corrupt = false;
  /** Bad checksums so far by end record: [flow id, count], for Zeek's scaled C/c letters. */
  private readonly corruptCounts = new Map<number, [number, number]>();
  /**
   * The packet's time as float seconds, for the handlers below: a field, not an argument, as a
   * double passed to a function that is not inlined is boxed, 16 bytes of garbage a packet.
   */
  private now = 0;
  /** See FlowNote: by flow id, dropped when the flow is finished. */
  private readonly notes = new Map<number, FlowNote>();
  /**
   * What each record's ends said (services.ts), by record: a number, not an object a flow (most
   * flows of a busy server have one): the first service said, end A's and end B's (SERVICES
   * numbers, at SNIFF_FIRST, SNIFF_A, SNIFF_B); 0 when neither end said anything. Cleared when the
   * flow is finished or its record released.
   */
  private sniffs = new Uint16Array(1024);
  /** What each end's first payload said, by end (2 × record, + 1 for end B); '' when nothing. */
  private readonly said: string[] = [];
  /**
   * What reads an end's next payloads while its hello is incomplete (services.ts), by end as
   * `said`; its size is how many ends are being read so (MAX_MORE_READING).
   */
  private readonly mores = new Map<number, MoreToRead>();
  /** A tunnelled frame's outer layers, decoded into these (grown to the deepest tunnel seen). */
  private readonly layers: Packet[] = [];
  /**
   * DemuxOptions.tcpAnalysis: the analysis of each open TCP flow, by its record (a flow's record
   * index, not a map by id: one lookup less a packet); null when off. Cleared when the record is released.
   */
  private readonly analyzers: (TcpAnalyzer | null)[] | null;
  private readonly keepRtts: boolean;
  /** The frame number `ingest` was given (the analysis names frames: dup ACKs, ACKed segments). */
  private frameNumber = 0;
  /**
   * DemuxOptions.tcpAnalysis: the TCP analysis of the last packet ingested, when it was a TCP
   * segment counted in its flow by ports; else null. A reused object: read it before the next packet.
   */
  lastAnalysis: SegmentAnalysis | null = null;
  /** See OuterFlows: valid until the next packet. */
  readonly outer: OuterFlows = { count: 0, ids: [], generations: [], toServer: [], depths: [] };
  /** Frames seen so far: ingested, counted as dropped, or ticked (another shard's). */
  private frameSeq = 0;
  /** One shard of several (shards.ts): what it must note for the merge; null otherwise. */
  private readonly shard: ShardLog | null;
  /** The list idle expiry is taking flows from (-1: not expiring), for the shard's notes. */
  private expiringList = -1;
  /** finish() is handing out the open flows. */
  private finishing = false;

  /** The ids of `outer` (a new array), or undefined when the last packet was in no tunnel flow. */
  outerIds(): number[] | undefined {
    return this.outer.count === 0 ? undefined : this.outer.ids.slice(0, this.outer.count);
  }

  /** `shard`: this engine sees one shard of the capture's flows (shards.ts), and notes it there. */
  constructor(opts: DemuxOptions = {}, shard: ShardLog | null = null) {
    this.shard = shard;
    this.tcpIdle = opts.tcpIdleTimeout ?? DEFAULTS.tcpIdleTimeout;
    this.udpIdle = opts.udpIdleTimeout ?? DEFAULTS.udpIdleTimeout;
    this.icmpIdle = opts.icmpIdleTimeout ?? DEFAULTS.icmpIdleTimeout;
    this.otherIdle = opts.otherIdleTimeout ?? DEFAULTS.otherIdleTimeout;
    this.closeLinger = opts.tcpCloseLinger ?? DEFAULTS.tcpCloseLinger;
    this.attemptDelay = opts.tcpAttemptDelay ?? DEFAULTS.tcpAttemptDelay;
    this.maxFlows = Math.max(1, opts.maxFlows ?? DEFAULTS.maxFlows);
    this.maxRemembered = Math.max(0, opts.maxRemembered ?? DEFAULTS.maxRemembered);
    this.icmpFlows = opts.icmpFlows ?? true;
    this.tunnelFlows = opts.tunnelFlows ?? true;
    this.seed = opts.communityIdSeed ?? 0;
    this.onFlowEnd = opts.onFlowEnd;
    this.endOnClose = opts.endOnClose === true && opts.onFlowEnd !== undefined;
    this.analyzers = opts.tcpAnalysis === true || opts.tcpAnalysis === 'marks' ? [] : null;
    this.keepRtts = opts.tcpAnalysis === true;
    this.frags = new FragmentTable(opts.fragmentTimeout ?? DEFAULTS.fragmentTimeout,
      Math.max(1, opts.maxFragmentDatagrams ?? DEFAULTS.maxFragmentDatagrams));
  }

  /**
   * Count one decoded packet. Returns the flow it was assigned to (a reused object: read it
   * before the next call), or null when it has no flow (not IP, damaged, ICMP kept out of
   * flows) or waits for its first fragment.
   * The packet's bytes are not kept. `frame`: its frame number, for the TCP analysis's references
   * to other frames (DemuxOptions.tcpAnalysis); by default the count of packets ingested.
   */
  ingest(pkt: Packet, tsSec: number, tsNsec: number, frame?: number): FlowRef | null {
    this.packets++;
    this.frameSeq++;
    if (this.analyzers !== null) {
      this.lastAnalysis = null;
      this.frameNumber = frame ?? this.packets;
    }
    if (this.outer.count !== 0) this.outer.count = 0;
    const t = tsSec + tsNsec / 1e9;
    this.now = t;
    // Idle expiry at most once per capture-second: list heads only, so it costs next to nothing.
    if (tsSec > this.lastExpireSec) this.clockMoved(tsSec, t);
    if ((pkt.tunnelDepth !== 0 || pkt.carried !== null) && this.tunnelFlows) return this.tunnelled(pkt, tsSec, tsNsec);
    return this.route(pkt, tsSec, tsNsec);
  }

  /**
   * A frame another shard ingests (shards.ts): its time moves this shard's clock as it would
   * move one engine's, so that flows expire at the same frame in every shard.
   */
  tick(tsSec: number, tsNsec: number): void {
    this.frameSeq++;
    if (tsSec > this.lastExpireSec) {
      const t = tsSec + tsNsec / 1e9;
      this.now = t;
      this.clockMoved(tsSec, t);
    }
  }

  /** A frame another shard counts without the clock (a wrong IPv4 header checksum). */
  skip(): void {
    this.frameSeq++;
  }

  /**
   * The capture's clock passed a second: flows idle past their timeout are finished. A lone
   * packet far ahead of the clock (a fuzzed time stamp, a clock that jumped and came back) does
   * not do it alone: the next packet must agree with it (be within CLOCK_JUMP of it). Expiry only
   * releases flows that a packet of their own would find idle anyway (sameOrNewFlow judges each
   * flow by its own packets' times), so waiting one packet changes no flow, and one wild time
   * stamp cannot end every open flow.
   */
  private clockMoved(tsSec: number, t: number): void {
    if (tsSec - this.lastExpireSec > CLOCK_JUMP && this.lastExpireSec !== -Infinity
      && !(this.jumpSec >= 0 && Math.abs(tsSec - this.jumpSec) <= CLOCK_JUMP)) {
      this.jumpSec = tsSec; // not yet: the next packet says whether the clock really went there
      return;
    }
    this.jumpSec = -1;
    this.lastExpireSec = tsSec;
    this.expireAt(t);
  }

  /** The packet to its flow, by protocol: the dispatch of `ingest`, once a frame is counted. */
  private route(pkt: Packet, tsSec: number, tsNsec: number): FlowRef | null {
    if (pkt.ipVersion === 0) {
      this.kinds[hasDamage(pkt) ? 'damaged' : 'non-ip']++;
      return null;
    }
    const proto = pkt.protocol;
    if (pkt.isFragment && pkt.fragmentOffset !== 0) return this.laterFragment(pkt, tsSec, tsNsec);
    if (pkt.hasPorts && (proto === TCP || proto === UDP)) return this.ported(pkt, tsSec, tsNsec);
    if (proto === ICMP || proto === ICMPV6) return this.icmp(pkt, tsSec, tsNsec);
    if (proto === TCP || proto === UDP) {
      // Ports unreadable: a first fragment whose transport header continues in the next fragment
      // (no reassembly here), or a cut/damaged header.
      this.kinds[pkt.isFragment ? 'fragment-unmatched' : 'damaged']++;
      return null;
    }
    if (hasDamage(pkt)) {
      this.kinds.damaged++;
      return null;
    }
    return this.otherProtocol(pkt, tsSec, tsNsec);
  }

  /**
   * A frame decoded through tunnels. As Zeek does, every UDP tunnel on the way (VXLAN, Geneve,
   * Teredo, GTP-U...) is a flow of its own that counts the datagram (its `carries` names the
   * tunnel), and the innermost packet's flow names, in `tunnelParents`, the UDP tunnel flow right
   * around it (a GRE or IP-in-IP tunnel is not a flow: Zeek makes no connection of it either). The
   * frame is counted once: the outer flows' packets are not added to the summary's kinds.
   * Rare path: each outer layer is decoded again from the frame's bytes.
   */
  private tunnelled(pkt: Packet, tsSec: number, tsNsec: number): FlowRef | null {
    const depth = pkt.tunnelDepth;
    const layers = this.layers;
    while (layers.length < depth) layers.push(newPacket());
    for (let d = 0; d < depth; d++) decodeLayer(pkt, d, layers[d]!);
    // A wrong inner checksum is the inner packet's (the outer UDP checksum is never checked).
    const corrupt = this.corrupt;
    const inFlows = this.inFlows;
    const udp = this.kinds.udp;
    this.corrupt = false;
    let parent = -1;
    for (let d = 0; d < depth; d++) {
      const o = layers[d]!;
      if (o.tunnelDepth !== d || o.protocol !== UDP || !o.hasPorts || (o.isFragment && o.fragmentOffset !== 0)) {
        parent = -1;
        continue;
      }
      const ref = this.ported(o, tsSec, tsNsec);
      const id = ref.id;
      const outer = this.outer;
      const k = outer.count++;
      outer.ids[k] = id;
      outer.generations[k] = ref.generation;
      outer.toServer[k] = ref.toServer;
      outer.depths[k] = d;
      carrying(this.tunnelNote(id, d === 0 ? null : o.tunnel, parent), d + 1 < depth ? layers[d + 1]!.tunnel : pkt.tunnel, ref.toServer);
      parent = id;
    }
    this.corrupt = corrupt;
    this.inFlows = inFlows;
    this.kinds.udp = udp;
    const ref = this.route(pkt, tsSec, tsNsec);
    // An ICMP error is counted for the flow it quotes, not as one of its packets.
    if (ref !== null && ref.via !== 'icmp-error') {
      const note = this.tunnelNote(ref.id, pkt.tunnel, parent);
      if (pkt.carried !== null) carrying(note, pkt.carried, ref.toServer);
    }
    return ref;
  }

  /** The flow's FlowNote, made on first use. */
  private noteOf(id: number): FlowNote {
    let note = this.notes.get(id);
    if (note === undefined) {
      this.notes.set(id, note = { carries: null, carriedWays: 0, tunnel: null, parents: [] });
    }
    return note;
  }

  /** The flow's FlowNote with `tunnel` and `parent` (-1: none) added. */
  private tunnelNote(id: number, tunnel: TunnelKind | null, parent: number): FlowNote {
    const note = this.noteOf(id);
    note.tunnel ??= tunnel;
    const parents = note.parents;
    if (parent >= 0 && parents.length < MAX_TUNNEL_PARENTS && !parents.includes(parent)) parents.push(parent);
    return note;
  }

  /**
   * `--checksums validate`: a packet whose TCP, UDP or ICMP checksum is wrong (parse/checksum.ts),
   * treated as Zeek treats it. Its connection is found or made (roles as from any first packet),
   * and then: TCP: history `C`/`c` (sender originator/responder), nothing else (not counted, no
   * state, time or sequence change: Zeek's TCP analyzer returns before all of them); UDP: counted
   * (packets and IP bytes: Zeek's size analyzer sees it first), `C`/`c`, no payload bytes, no `D`,
   * the flow's end time not moved; ICMP: counted the same way, no letter. The letter is added
   * at an end's 1st, 10th, 100th... bad packet, as Zeek's scaled history entries are.
   */
  ingestBadChecksum(pkt: Packet, tsSec: number, tsNsec: number, frame?: number): FlowRef | null {
    this.corrupt = true;
    try {
      return this.ingest(pkt, tsSec, tsNsec, frame);
    } finally {
      this.corrupt = false;
    }
  }

  /** `--checksums validate`: a packet dropped for a bad IPv4 header checksum, counted only. */
  countBadIpChecksum(): void {
    this.frameSeq++;
    this.packets++;
    this.kinds['bad-checksum']++;
  }

  /**
   * DemuxOptions.endOnClose from now on, for a consumer that learns only once its input is open
   * that it streams. Call before the first packet; without onFlowEnd it does nothing.
   */
  handOverOnClose(): void {
    this.endOnClose = this.onFlowEnd !== undefined;
  }

  /** Finish flows idle past their timeout at this capture time (live capture calls it on a timer). */
  expire(tsSec: number, tsNsec: number): void {
    this.expireAt(tsSec + tsNsec / 1e9);
  }

  /** End of input: every open flow is finished (in id order), waiting fragments become unmatched. */
  finish(): void {
    this.finishing = true;
    this.frags.drain((e) => this.dropFragment(e));
    for (const f of this.liveById()) {
      const ended = this.store.ended(f);
      const closed = ended !== ENDED_NONE;
      this.finishLive(f, closed ? (ended === ENDED_RST ? 'rst' : 'fin') : 'capture-end',
        closed ? (ended === ENDED_RST ? N_RST : N_FIN) : N_IDLE);
    }
  }

  /**
   * Finished flows (unless they were streamed to `onFlowEnd`) and a snapshot of the open ones
   * (`endReason` null), in id order.
   */
  flows(): Flow[] {
    const out = this.finished.slice();
    for (const f of this.liveById()) out.push(this.toFlow(f, null));
    return out.sort((x, y) => x.id - y.id);
  }

  /** Records of the open flows, in id order. */
  private liveById(): number[] {
    const store = this.store;
    return store.inUse().sort((x, y) => store.id(x) - store.id(y));
  }

  /** `source` names the input in the capture-loss warning (`capture.pcap: 12 TCP flows have sequence gaps...`). */
  summary(source?: string): DemuxSummary {
    return summaryOf(this.counts(), source);
  }

  /** The numbers behind `summary` (shards.ts adds up the shards'). */
  counts(): EngineCounts {
    return {
      packets: this.packets,
      byKind: { ...this.kinds },
      inFlows: this.inFlows,
      icmpErrorsAttached: this.icmpErrorsAttached,
      flows: this.nextId - 1,
      openFlows: this.store.count,
      evicted: this.evicted,
      maxFlows: this.maxFlows,
      fragmentOverflow: this.fragmentOverflow,
      maxFragments: this.frags.maxEntries,
      gapFlows: this.gapFlows,
      gapBytes: this.gapBytes,
      snapCutSegments: this.snapCutSegments,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // TCP and UDP

  /**
   * A TCP segment or UDP datagram, in five steps: find the tuple's flow (slotOf), decide whether
   * this packet starts a new one (a new tuple, an idle timeout, a SYN after a close...), decide
   * the roles at a flow's first packet, count the packet, then follow TCP's state (or note UDP's
   * history). Each step is a method of its own; V8 inlines them back into this one.
   */
  private ported(pkt: Packet, tsSec: number, tsNsec: number): FlowRef {
    const proto = pkt.protocol;
    const slot = this.slotOf(pkt.bytes, pkt.srcAddrOffset, pkt.dstAddrOffset, pkt.addrLength, pkt.srcPort, pkt.dstPort, proto, false, true);
    const fromA = this.fromA;
    const tcp = proto === TCP;
    const flags = tcp ? pkt.tcpFlags : 0;
    const synOnly = (flags & (F_SYN | F_ACK)) === F_SYN;

    const found = this.table.foundFlow; // table.flow(slot), without waiting for the slot's record
    this.lateSynSeen = false;
    const f = found < 0
      ? this.startFlow(slot, proto, this.reasonAfterRelease(slot, synOnly), tsSec, tsNsec, this.now)
      : this.sameOrNewFlow(found, pkt, proto, synOnly, fromA, tsSec, tsNsec);
    const store = this.store;
    const e = FlowStore.side(f, fromA);
    const p = FlowStore.side(f, !fromA);
    if (store.isEmpty(f) && ((store.histSeen(e) | store.histSeen(p)) & H_CORRUPT) === 0) this.firstPacketRoles(f, pkt, synOnly, fromA, flags);
    if (this.corrupt) {
      this.badChecksum(f, e, fromA, pkt, tcp);
      this.touch(slot, tcp ? (store.ended(f) !== ENDED_NONE ? L_CLOSED : L_TCP) : L_UDP);
      return this.setRef(f, fromA === store.clientIsA(f), 'ports');
    }
    this.countPacket(f, fromA, pkt, tcp, tsSec, tsNsec);
    if (pkt.payloadLength > 0 && (store.histSeen(e) & H_SNIFFED) === 0) this.sniffEnd(f, e, pkt, fromA, tcp);
    const list = tcp ? this.tcpStep(f, e, p, pkt, flags, fromA, tsSec, tsNsec) : this.udpStep(f, e, fromA);
    this.touch(slot, list);
    if (tcp && this.analyzers !== null) this.analyse(f, pkt, fromA, tsSec, tsNsec);

    if (pkt.isFragment) this.firstFragment(pkt, f, fromA, this.now);
    return this.setRef(f, fromA === store.clientIsA(f), 'ports');
  }

  /** The segment to demux/tcp-analysis.ts; its sides are the tuple's ends A and B (roles may flip later). */
  private readonly segment = {
    frame: 0, sec: 0, nsec: 0, toServer: true, flags: 0, seq: 0, ack: 0, window: 0, windowScale: -1, payloadLength: 0,
  };

  private analyse(f: number, pkt: Packet, fromA: boolean, tsSec: number, tsNsec: number): void {
    let analyzer = this.analyzers![f];
    if (analyzer == null) this.analyzers![f] = analyzer = new TcpAnalyzer(this.keepRtts);
    const s = this.segment;
    s.frame = this.frameNumber;
    s.sec = tsSec;
    s.nsec = tsNsec;
    s.toServer = fromA;
    s.flags = pkt.tcpFlags;
    s.seq = pkt.tcpSeq;
    s.ack = pkt.tcpAck;
    s.window = pkt.tcpWindow;
    s.windowScale = pkt.windowScale;
    s.payloadLength = pkt.payloadLength;
    this.lastAnalysis = analyzer.add(s);
  }

  /**
   * An end's first payload: what does it speak? Once per end (a rare path: two packets a flow),
   * or a few more times while a hello goes on in the end's next payloads (a TLS record over
   * several segments, a QUIC ClientHello over several Initials): the end stays unsniffed until
   * the hello is whole or given up.
   */
  private sniffEnd(f: number, e: number, pkt: Packet, fromA: boolean, tcp: boolean): void {
    const held = heldPayloadEnd(pkt);
    // A TCP payload may be continued only when the capture holds all of it.
    const seq = tcp && held === pkt.payloadOffset + pkt.payloadLength ? pkt.tcpSeq : null;
    const end = 2 * f + (fromA ? 0 : 1);
    const mores = this.mores;
    const more = mores.size === 0 ? undefined : mores.get(end);
    let said: Sniffed | null;
    if (more !== undefined) said = sniffMore(more, pkt.bytes, pkt.payloadOffset, held, seq);
    else said = sniff(pkt.bytes, pkt.payloadOffset, held, tcp, seq);
    // Memory stays bounded: at most MAX_MORE_READING ends hold a hello's bytes at once.
    const next = said?.more !== undefined && (more !== undefined || mores.size < MAX_MORE_READING) ? said.more : null;
    if (next === null) this.store.addHistSeen(e, H_SNIFFED);
    if (next !== null) {
      mores.set(end, next);
      if (this.shard !== null && mores.size > this.shard.peakReading) this.shard.peakReading = mores.size;
    }
    else if (more !== undefined) mores.delete(end);
    if (said === null) return;
    if (f >= this.sniffs.length) this.growSniffs(f);
    const code = SERVICES.indexOf(said.service);
    let bits = this.sniffs[f]!;
    if (bits === 0) bits = code << SNIFF_FIRST;
    const at = fromA ? SNIFF_A : SNIFF_B;
    this.sniffs[f] = (bits & ~(7 << at)) | (code << at);
    const texts = this.said;
    while (texts.length < 2 * f + 2) texts.push(''); // both ends' places
    texts[end] = said.text;
  }

  private growSniffs(f: number): void {
    const sniffs = new Uint16Array(Math.max(f + 1, this.sniffs.length * 2));
    sniffs.set(this.sniffs);
    this.sniffs = sniffs;
  }

  /** What record `f`'s ends said is no longer needed: its flow was finished, or its record released. */
  private forgetSniffs(f: number): void {
    // (An end whose hello is read further has said something already.)
    if (f >= this.sniffs.length || this.sniffs[f] === 0) return;
    this.sniffs[f] = 0;
    this.said[2 * f] = this.said[2 * f + 1] = '';
    if (this.mores.size !== 0) {
      this.mores.delete(2 * f);
      this.mores.delete(2 * f + 1);
    }
  }

  /** A flow's note is no longer needed: its ended flow was handed over. */
  private dropNote(id: number): void {
    this.notes.delete(id);
  }

  /** Set by sameOrNewFlow when a late SYN settled the roles and states itself (lateSyn). */
  private lateSynSeen = false;

  /**
   * The flow a packet of a known tuple belongs to: the same one, or a new generation when the
   * old one was idle past its timeout, or a SYN shows a new connection on the tuple.
   */
  private sameOrNewFlow(f: number, pkt: Packet, proto: number, synOnly: boolean, fromA: boolean, tsSec: number, tsNsec: number): number {
    const t = this.now;
    const store = this.store;
    const ended = store.ended(f);
    if (t - store.lastT(f) > this.timeoutOf(proto, ended)) {
      const closed = ended !== ENDED_NONE;
      const reason: GenerationReason = !closed ? 'idle-timeout'
        : !synOnly ? 'after-close' : ended === ENDED_RST ? 'syn-after-rst' : 'syn-after-fin';
      return this.replace(f, closed ? (ended === ENDED_RST ? 'rst' : 'fin') : 'idle-timeout', reason, tsSec, tsNsec, t);
    }
    // Zeek's DNS analyzer ends a UDP DNS session after dns_session_timeout: rare path, 9 s idle.
    if (proto === UDP && t - store.lastT(f) >= DNS_SESSION_TIMEOUT - 1 && this.dnsSessionOver(f, t)) {
      return this.replace(f, 'idle-timeout', 'idle-timeout', tsSec, tsNsec, t);
    }
    // Zeek's attempt and partial-close timers: one comparison a packet, the rest off the path.
    if (proto === TCP && t > store.zeekCheckT(f) && ended === ENDED_NONE) {
      const timer = this.zeekTimerOver(f, t);
      if (timer === 'attempt') return this.replace(f, 'attempt-timeout', 'after-attempt', tsSec, tsNsec, t);
      if (timer === 'partial') return this.replace(f, 'fin', 'after-close', tsSec, tsNsec, t);
    }
    if (!synOnly) return f;
    // A SYN on a live connection: retransmission, late SYN, or a new connection on the tuple?
    const seq = pkt.tcpSeq;
    const e = FlowStore.side(f, fromA);
    const p = FlowStore.side(f, !fromA);
    let reason: GenerationReason | null = null;
    // After a FIN whose peer was silent, a SYN is judged by its sequence number, as while open.
    if (ended === ENDED_FIN || ended === ENDED_RST) reason = ended === ENDED_FIN ? 'syn-after-fin' : 'syn-after-rst';
    else if (store.isn(e) >= 0) {
      if (seq !== store.isn(e)) reason = 'new-isn'; // same ISN: a retransmitted SYN
    } else if (store.isn(p) >= 0) {
      // The other end sent the SYN: this is simultaneous open only while nothing else happened.
      if (!(store.state(e) === EP.INACTIVE && store.state(p) === EP.SYN_SENT)) reason = 'new-isn';
    } else if (store.synAckAck(p) === ((seq + 1) >>> 0)) {
      this.lateSyn(f, e, p, fromA);
      this.lateSynSeen = true;
    } else reason = 'syn-after-midstream';
    if (reason === null) return f;
    const closed = ended !== ENDED_NONE;
    return this.replace(f, closed ? (ended === ENDED_RST ? 'rst' : 'fin') : 'superseded', reason, tsSec, tsNsec, t);
  }

  /**
   * A UDP flow to a DNS port (Zeek attaches its DNS analyzer by the responder's port: 53, 137,
   * 5353, 5355) that Zeek's DNS_Analyzer::ExpireTimer has removed by time `t`. That timer first
   * runs dns_session_timeout (10 s) after the connection began and again every 10 s after each
   * run, and removes the connection when it finds it idle for at least 9 s. Modelled with each
   * run on time (Zeek runs a timer when its capture time passes it, so on a busy link they are):
   * the first run after the last packet, `next`, finds it idle enough, or a run after that does.
   */
  private dnsSessionOver(f: number, t: number): boolean {
    const store = this.store;
    const ports = this.table.ports(store.slot(f));
    if (!isDnsPort(store.clientIsA(f) ? ports & 0xffff : ports >>> 16)) return false;
    const start = store.startSec(f) + store.startNsec(f) / 1e9;
    const last = store.lastT(f);
    const next = start + DNS_SESSION_TIMEOUT * (Math.floor((last - start) / DNS_SESSION_TIMEOUT) + 1);
    return (next <= t && next - last >= DNS_SESSION_TIMEOUT - 1) || next + DNS_SESSION_TIMEOUT <= t;
  }

  /**
   * Rare path: an open TCP flow past its check time (ZEEK_CHECK_T). Which of Zeek's timers would
   * have removed the connection by time `t`, if one would, else null, and the next check time:
   * - attempt: the client sent a SYN (or a SYN-ACK as originator) and the server's end has sent
   *   nothing attemptDelay seconds after the flow began (Zeek's AttemptTimer);
   * - partial: an end whose first packet was a FIN, the peer active and still open (not ended)
   *   tcp_partial_close_delay later (Zeek's PartialCloseTimer).
   */
  private zeekTimerOver(f: number, t: number): 'attempt' | 'partial' | null {
    const store = this.store;
    const ca = store.clientIsA(f);
    let next = Infinity;
    if (store.state(FlowStore.side(f, !ca)) === EP.INACTIVE && this.attemptDelay > 0) {
      const cs = store.state(FlowStore.side(f, ca));
      if (cs === EP.SYN_SENT || cs === EP.SYN_ACK_SENT) {
        const deadline = store.startSec(f) + store.startNsec(f) / 1e9 + this.attemptDelay;
        if (t > deadline) return 'attempt';
        next = deadline;
      }
    }
    const partial = store.partialCloseT(f);
    if (partial >= 0) {
      if (t - partial > TCP_PARTIAL_CLOSE_DELAY) return 'partial';
      next = Math.min(next, partial + TCP_PARTIAL_CLOSE_DELAY);
    }
    store.setZeekCheckT(f, next);
    return null;
  }

  /**
   * A flow's first packet decides its roles: a bare SYN's sender is the client; otherwise the
   * sender too, unless Zeek would flip them (server-ports.ts: the sender's port is a likely
   * server port). A flip starts the history with '^', as Zeek marks it.
   */
  private firstPacketRoles(f: number, pkt: Packet, synOnly: boolean, fromA: boolean, flags: number): void {
    if (synOnly) {
      this.store.setRoles(f, fromA, false);
      return;
    }
    const flip = zeekFlipsFirstPacket(pkt.protocol, pkt.srcPort, pkt.dstPort, (flags & F_SYN) !== 0,
      isLimitedBroadcast(pkt.bytes, pkt.dstAddrOffset, pkt.addrLength));
    this.store.setRoles(f, flip ? !fromA : fromA, true);
    if (flip) this.store.hist[f] = '^';
  }

  /** Counts the packet on its sender's end and stamps the flow's times. */
  private countPacket(f: number, fromA: boolean, pkt: Packet, tcp: boolean, tsSec: number, tsNsec: number): void {
    this.count(f, fromA, pkt);
    this.store.stamp(f, tsSec, tsNsec, this.now);
    if (tcp) this.kinds.tcp++;
    else this.kinds.udp++;
    this.inFlows++;
  }

  /**
   * TCP: initial sequence numbers, Zeek's history, the endpoint states and the capture's gaps;
   * whether the connection ended. Returns the flow table list the flow now belongs on.
   */
  private tcpStep(f: number, e: number, p: number, pkt: Packet, flags: number, fromA: boolean, tsSec: number, tsNsec: number): number {
    const store = this.store;
    const seq = pkt.tcpSeq;
    if ((flags & F_SYN) !== 0) {
      if ((flags & F_ACK) === 0) {
        if (store.isn(e) < 0) store.setIsn(e, seq);
      } else if (store.synAckAck(e) < 0) store.setSynAckAck(e, pkt.tcpAck);
    }
    updateHistory(store, f, e, p, fromA, flags, seq | 0, pkt.tcpAck | 0, pkt.payloadLength, pkt.tcpWindow);
    const clientIsA = store.clientIsA(f);
    if (!this.lateSynSeen) updateState(store, e, p, clientIsA === fromA ? e : p, fromA === clientIsA, flags, pkt.payloadLength);
    let len = pkt.payloadLength;
    if (pkt.snapped && len > 0) {
      // What the snap length left: the bytes past it are content gaps, as in Zeek's reassembler.
      const held = heldPayloadEnd(pkt) - pkt.payloadOffset;
      if (held < len) {
        this.snapCutSegments++;
        len = held;
      }
    }
    updateGaps(store, f, e, p, fromA, flags, seq | 0, pkt.tcpAck | 0, pkt.isFragment ? -1 : len);
    // Ended: a RST, or FIN both ways (a FIN answering FIN-then-RST turns a reset into a close),
    // or a FIN while the peer had sent nothing (Zeek's close_complete: the peer is inactive).
    if (store.state(e) === EP.RESET || store.state(p) === EP.RESET) store.setEnded(f, ENDED_RST);
    else if (store.state(e) === EP.CLOSED && store.state(p) === EP.CLOSED) store.setEnded(f, ENDED_FIN);
    else if (store.state(e) === EP.CLOSED && store.state(p) === EP.INACTIVE) store.setEnded(f, ENDED_HALF);
    const ended = store.ended(f) !== ENDED_NONE;
    if (ended && !store.isClosedAtSet(f) && isClosedEnd(store.state(e)) && isClosedEnd(store.state(p))) {
      store.setClosedAt(f, tsSec, tsNsec);
    } else if (!ended && (flags & F_FIN) !== 0 && store.prevState(e) === EP.INACTIVE && store.state(e) === EP.CLOSED
      && store.partialCloseT(f) < 0) {
      // This end's first packet closed it while its peer is active (not ended: not idle, not
      // closed): Zeek's partial close, checked on the packet path (sameOrNewFlow).
      store.setPartialCloseT(f, this.now);
      store.setZeekCheckT(f, Math.min(store.zeekCheckT(f), this.now + TCP_PARTIAL_CLOSE_DELAY));
    }
    const list = ended ? L_CLOSED : L_TCP;
    if (this.endOnClose) this.handOverIfOver(f, p, flags, pkt.tcpAck | 0);
    return list;
  }

  /** Rare path: a TCP or UDP packet with a bad checksum (ingestBadChecksum). */
  private badChecksum(f: number, e: number, fromA: boolean, pkt: Packet, tcp: boolean): void {
    const store = this.store;
    store.addHistSeen(e, H_CORRUPT);
    if (tcp) this.kinds['bad-checksum']++;
    else {
      store.addPackets(e, 1, pkt.originalLength, pkt.ipLength, 0);
      this.kinds.udp++;
      this.inFlows++;
    }
    // Zeek's ScaledHistoryEntry: the letter at the 1st, 10th, 100th... bad packet of an end.
    const id = store.id(f);
    let counted = this.corruptCounts.get(e);
    if (counted === undefined || counted[0] !== id) this.corruptCounts.set(e, counted = [id, 0]);
    const n = ++counted[1];
    if (10 ** Math.round(Math.log10(n)) === n) store.hist[f] += fromA ? 'C' : 'c'; // side-neutral: upper is end A
  }

  /** UDP: Zeek's history, 'D' / 'd' once for each direction heard. */
  private udpStep(f: number, e: number, fromA: boolean): number {
    if ((this.store.histSeen(e) & H_DATA) === 0) {
      this.store.addHistSeen(e, H_DATA);
      this.store.hist[f] += fromA ? 'D' : 'd';
    }
    return L_UDP;
  }

  /**
   * A SYN that arrives after the SYN-ACK answering it (capture reordering, e.g. two interfaces):
   * same connection. The SYN's sender (end `e`) is the client after all; both ends are established.
   */
  private lateSyn(f: number, e: number, p: number, fromA: boolean): void {
    const store = this.store;
    if (store.clientIsA(f) !== fromA) store.hist[f] += '^';
    store.setRoles(f, fromA, false);
    const es = store.state(e);
    if (es === EP.INACTIVE || es === EP.PARTIAL || es === EP.SYN_SENT) store.setState(e, EP.ESTABLISHED);
    const ps = store.state(p);
    if (ps === EP.INACTIVE || ps === EP.PARTIAL || ps === EP.SYN_ACK_SENT) store.setState(p, EP.ESTABLISHED);
  }

  /**
   * endOnClose: a closed connection goes to onFlowEnd as soon as it is over (closeIsOver), not
   * when it is released. It stays live, so that a stray packet still finds it (as in a file).
   * `p`: the end the packet went to.
   */
  private handOverIfOver(f: number, p: number, flags: number, ack32: number): void {
    const store = this.store;
    if ((flags & F_ACK) !== 0) noteFinAck(store, p, ack32);
    const ended = store.ended(f);
    // A FIN whose peer was silent: its peer may still answer; handed over when it is released.
    if (ended === ENDED_NONE || ended === ENDED_HALF || this.handedOver.has(f)) return;
    // A RST after FIN both ways changes no state (updateState), but nothing is awaited after it.
    const finBothWays = ended === ENDED_FIN;
    if (!closeIsOver(store, FlowStore.side(f, true), FlowStore.side(f, false), finBothWays) && !(finBothWays && (flags & F_RST) !== 0)) return;
    this.handedOver.add(f);
    this.onFlowEnd!(this.toFlow(f, finBothWays ? 'fin' : 'rst'));
  }

  // ---------------------------------------------------------------------------------------------
  // ICMP

  private icmp(pkt: Packet, tsSec: number, tsNsec: number): FlowRef | null {
    const v6 = pkt.protocol === ICMPV6;
    if (pkt.icmpType < 0) {
      this.kinds.damaged++;
      return null;
    }
    this.kinds[v6 ? 'icmpv6' : 'icmp']++;
    const qp = pkt.quotedProtocol;
    if ((qp === TCP || qp === UDP) && pkt.quotedAddrLength !== 0 && !this.corrupt) {
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
    // Request/reply pair: ports are (type, counterpart), ordered like TCP/UDP ends. One-way
    // (errors, adverts...): (type, code), sender first, as Community ID does.
    const oneWay = counterpart < 0;
    const slot = this.slotOf(b, so, dO, len, type, oneWay ? pkt.icmpCode : counterpart, pkt.protocol, oneWay, true);
    const fromA = this.fromA;
    const f = this.portlessFlow(slot, pkt.protocol, this.icmpIdle, tsSec, tsNsec);
    const store = this.store;
    if (store.isEmpty(f)) {
      // The first sender is the client, as in Zeek's conn.log (an answer seen first makes its
      // sender the client: the roles are then a guess). One-way messages: the sender, end A.
      if (counterpart >= 0) store.setRoles(f, fromA, !isIcmpRequest(type, v6));
      else store.setRoles(f, true, true);
    }
    this.countPortless(f, slot, fromA, pkt, L_ICMP, tsSec, tsNsec);
    return this.setRef(f, fromA === store.clientIsA(f), 'ports');
  }

  /**
   * The live flow of a tuple without ports (ICMP, other IP protocols) from `slotOf`, or its next
   * generation when the tuple is new, was released, or its flow was idle past `idle` seconds.
   */
  private portlessFlow(slot: number, proto: number, idle: number, tsSec: number, tsNsec: number): number {
    const t = this.now;
    const f = this.table.foundFlow;
    if (f < 0) return this.startFlow(slot, proto, this.reasonAfterRelease(slot, false), tsSec, tsNsec, t);
    return t - this.store.lastT(f) > idle ? this.replace(f, 'idle-timeout', 'idle-timeout', tsSec, tsNsec, t) : f;
  }

  /**
   * Counts a packet of a flow without ports and moves its tuple to the end of `list`. A packet
   * with a wrong ICMP checksum (`--checksums validate`) is counted in packets and IP bytes only,
   * without moving the flow's end time (as Zeek counts it).
   */
  private countPortless(f: number, slot: number, fromA: boolean, pkt: Packet, list: number, tsSec: number, tsNsec: number): void {
    if (this.corrupt) this.store.addPackets(FlowStore.side(f, fromA), 1, pkt.originalLength, pkt.ipLength, 0);
    else {
      this.count(f, fromA, pkt);
      this.store.stamp(f, tsSec, tsNsec, this.now);
    }
    this.inFlows++;
    this.touch(slot, list);
  }

  // ---------------------------------------------------------------------------------------------
  // Other IP protocols

  /**
   * A packet of another IP protocol (OSPF, GRE not decapsulated, ESP, PIM, VRRP, SCTP...): a flow
   * keyed on the protocol and the two addresses (ports 0), both directions together, as Zeek's
   * unknown_transport connections are. The first sender is the client (Zeek's originator: it
   * flips no roles for these), so `rolesInferred`. Only packets that used to be counted and
   * dropped come here: TCP and UDP never pay for it.
   */
  private otherProtocol(pkt: Packet, tsSec: number, tsNsec: number): FlowRef {
    this.kinds['other-ip-protocol']++;
    const slot = this.slotOf(pkt.bytes, pkt.srcAddrOffset, pkt.dstAddrOffset, pkt.addrLength, 0, 0, pkt.protocol, false, true);
    const fromA = this.fromA;
    const f = this.portlessFlow(slot, pkt.protocol, this.otherIdle, tsSec, tsNsec);
    const store = this.store;
    if (store.isEmpty(f)) store.setRoles(f, fromA, true);
    this.countPortless(f, slot, fromA, pkt, L_OTHER, tsSec, tsNsec);
    // Its later fragments follow it, as a TCP or UDP datagram's do.
    if (pkt.isFragment) this.firstFragment(pkt, f, fromA, this.now);
    return this.setRef(f, fromA === store.clientIsA(f), 'ports');
  }

  /** An ICMP error quoting a packet of a live TCP/UDP flow is noted on that flow. */
  private attachIcmpError(pkt: Packet): FlowRef | null {
    const b = pkt.bytes;
    const len = pkt.quotedAddrLength;
    const so = pkt.quotedSrcAddrOffset;
    const dO = pkt.quotedDstAddrOffset;
    const slot = this.slotOf(b, so, dO, len, pkt.quotedSrcPort, pkt.quotedDstPort, pkt.quotedProtocol, false, false);
    const fromA = this.fromA;
    const f = slot >= 0 ? this.table.foundFlow : -1;
    if (f < 0) return null;
    this.store.addIcmpError(f);
    if (this.store.icmpError[f] === null) {
      this.store.icmpError[f] = { type: pkt.icmpType, code: pkt.icmpCode, reporter: formatAddress(b, pkt.srcAddrOffset, pkt.addrLength) };
    }
    this.icmpErrorsAttached++;
    if (isPortUnreachable(pkt)) {
      // The quoted packet went to the other end than its source: that end's port had no socket.
      const counts = (this.store.portUnreachable[f] ??= [0, 0]);
      counts[fromA ? 1 : 0]++;
    }
    // The error goes back to the sender of the quoted packet.
    return this.setRef(f, fromA !== this.store.clientIsA(f), 'icmp-error');
  }

  // ---------------------------------------------------------------------------------------------
  // Fragments

  /** The first fragment went to `f`: tie the rest of its datagram to it. */
  private firstFragment(pkt: Packet, f: number, fromA: boolean, t: number): void {
    const b = pkt.bytes;
    let entry = this.frags.find(b, pkt.srcAddrOffset, pkt.dstAddrOffset, pkt.addrLength, pkt.protocol, pkt.ipId);
    if (entry === null) {
      entry = this.frags.add(b, pkt.srcAddrOffset, pkt.dstAddrOffset, pkt.addrLength, pkt.protocol, pkt.ipId, t);
      if (this.shard !== null) this.shard.fragments(this.frags.size);
      if (this.frags.size > this.frags.maxEntries) this.frags.expire(t, (e, overflow) => this.dropFragment(e, overflow));
    } else if (entry.flow < 0 && entry.pendingPackets > 0) {
      // Later fragments that came first now have their flow.
      const n = entry.pendingPackets;
      this.store.addPackets(FlowStore.side(f, fromA), n, entry.pendingWire, entry.pendingIp, entry.pendingPayload);
      this.store.stamp(f, entry.firstSec, entry.firstNsec, entry.lastT);
      this.store.stamp(f, entry.lastSec, entry.lastNsec, entry.lastT);
      this.kinds['fragment-pending'] -= n;
      this.kinds.fragment += n;
      this.inFlows += n;
      entry.pendingPackets = 0;
    }
    entry.flow = f;
    entry.flowId = this.store.id(f);
    entry.fromA = fromA;
  }

  private laterFragment(pkt: Packet, tsSec: number, tsNsec: number): FlowRef | null {
    const t = this.now;
    const b = pkt.bytes;
    const entry = this.frags.find(b, pkt.srcAddrOffset, pkt.dstAddrOffset, pkt.addrLength, pkt.protocol, pkt.ipId);
    const f = entry === null ? -1 : entry.flow;
    if (f >= 0) {
      const store = this.store;
      // Ended (its record freed, perhaps already serving a later flow).
      if (store.id(f) !== entry!.flowId) {
        this.kinds['fragment-unmatched']++;
        return null;
      }
      const fromA = entry!.fromA;
      this.count(f, fromA, pkt);
      this.store.stamp(f, tsSec, tsNsec, t);
      this.kinds.fragment++;
      this.inFlows++;
      this.touch(store.slot(f), this.listOf(f));
      return this.setRef(f, fromA === store.clientIsA(f), 'fragment');
    }
    let w = entry;
    if (w === null) {
      w = this.frags.add(b, pkt.srcAddrOffset, pkt.dstAddrOffset, pkt.addrLength, pkt.protocol, pkt.ipId, t);
      if (this.shard !== null) this.shard.fragments(this.frags.size);
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
    if (e.flow < 0 && e.pendingPackets > 0) {
      this.kinds['fragment-pending'] -= e.pendingPackets;
      this.kinds['fragment-unmatched'] += e.pendingPackets;
      e.pendingPackets = 0;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Flow life cycle

  /**
   * The slot of the tuple of a packet from `so`:`sp` to `dO`:`dp` (address offsets in `b`), its
   * ends put in canonical order (A = the smaller address, then port; with `oneWay` the sender is
   * A). Sets `this.fromA` (the sender is end A) and `table.foundFlow` (the slot's live flow, -1
   * when none). A tuple not seen before gets a slot with `insert`, else the result is -1.
   */
  private slotOf(
    b: Uint8Array, so: number, dO: number, len: number, sp: number, dp: number, proto: number, oneWay: boolean, insert: boolean,
  ): number {
    const fromA = oneWay || compareEnds(b, so, b, dO, len, sp, dp) <= 0;
    this.fromA = fromA;
    const aOff = fromA ? so : dO;
    const bOff = fromA ? dO : so;
    const aPort = fromA ? sp : dp;
    const bPort = fromA ? dp : sp;
    const key = this.key.set(b, aOff, bOff, len, aPort, bPort, proto);
    const slot = this.table.find(key);
    return slot >= 0 || !insert ? slot : this.table.insert(key);
  }

  /** Count a packet for end A (`fromA`) or B of flow `f`. */
  private count(f: number, fromA: boolean, pkt: Packet): void {
    this.store.addPackets(FlowStore.side(f, fromA), 1, pkt.originalLength, pkt.ipLength, pkt.payloadLength);
  }

  /** A new generation on `slot` (a new tuple or a remembered one), evicting if at the cap. */
  private startFlow(slot: number, proto: number, reason: GenerationReason, tsSec: number, tsNsec: number, t: number): number {
    const table = this.table;
    if (this.shard !== null) this.shardStart(slot);
    table.unlink(slot); // off the remembered list before anything below can trim that list
    if (this.store.count >= this.maxFlows) this.evictOne();
    const gen = table.nextGeneration(slot);
    table.setNote(slot, 0);
    const f = this.store.alloc(this.nextId++, gen, reason, slot, proto, tsSec, tsNsec, t);
    table.setFlow(slot, f);
    if (this.shard !== null && this.store.count > this.shard.peakOpen) this.shard.peakOpen = this.store.count;
    return f;
  }

  /** Moves `slot` to the end of `list` (its last use), noted for a shard. */
  private touch(slot: number, list: number): void {
    this.table.touch(slot, list);
    if (this.shard !== null) this.shard.touched(slot, this.frameSeq);
  }

  private shardStart(slot: number): void {
    const table = this.table;
    this.shard!.started(slot, this.frameSeq, this.nextId, table.generations(slot) === 0, table.listOf(slot) === L_REMEMBERED);
  }

  /** Finish `old` and start the next generation on its tuple. */
  private replace(old: number, endReason: EndReason, reason: GenerationReason, tsSec: number, tsNsec: number, t: number): number {
    const slot = this.store.slot(old);
    const proto = this.store.proto(old);
    this.emit(old, endReason);
    this.table.setFlow(slot, -1);
    this.release(old);
    return this.startFlow(slot, proto, reason, tsSec, tsNsec, t);
  }

  private reasonAfterRelease(slot: number, synOnly: boolean): GenerationReason {
    if (this.table.generations(slot) === 0) return 'first';
    switch (this.table.note(slot)) {
      case N_FIN: return synOnly ? 'syn-after-fin' : 'after-close';
      case N_RST: return synOnly ? 'syn-after-rst' : 'after-close';
      case N_EVICTED: return 'after-eviction';
      default: return 'idle-timeout';
    }
  }

  private listOf(f: number): number {
    const proto = this.store.proto(f);
    if (proto === TCP) return this.store.ended(f) !== ENDED_NONE ? L_CLOSED : L_TCP;
    return proto === UDP ? L_UDP : proto === ICMP || proto === ICMPV6 ? L_ICMP : L_OTHER;
  }

  private timeoutOf(proto: number, ended: number): number {
    if (proto === TCP) return ended !== ENDED_NONE ? this.closeLinger : this.tcpIdle;
    return proto === UDP ? this.udpIdle : proto === ICMP || proto === ICMPV6 ? this.icmpIdle : this.otherIdle;
  }

  /** The end reason and remembered note of a closed TCP flow. */
  private closedEnd(f: number): [EndReason, number] {
    return this.store.ended(f) === ENDED_RST ? ['rst', N_RST] : ['fin', N_FIN];
  }

  private expireAt(t: number): void {
    const table = this.table;
    const shard = this.shard;
    for (let list = 0; list < L_REMEMBERED; list++) {
      const timeout = list === L_TCP ? this.tcpIdle : list === L_UDP ? this.udpIdle : list === L_ICMP ? this.icmpIdle
        : list === L_OTHER ? this.otherIdle : this.closeLinger;
      let lastUse = -1;
      for (let s = table.heads[list]!; s >= 0; s = table.heads[list]!) {
        const f = table.flow(s);
        if (t - this.store.lastT(f) <= timeout) break;
        this.expiringList = list;
        if (shard !== null) lastUse = shard.lastUseOf(s);
        if (list === L_CLOSED) this.finishLive(f, ...this.closedEnd(f));
        else this.finishLive(f, 'idle-timeout', N_IDLE);
      }
      if (shard !== null) {
        const head = table.heads[list]!;
        if (lastUse >= 0 || head >= 0) shard.expired(this.frameSeq, list, lastUse, head >= 0 ? shard.lastUseOf(head) : Infinity);
      }
    }
    this.expiringList = -1;
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
      const f = table.flow(closed);
      this.finishLive(f, ...this.closedEnd(f));
      return;
    }
    const store = this.store;
    let victim = -1;
    for (const list of [L_TCP, L_UDP, L_ICMP, L_OTHER]) {
      const s = table.heads[list]!;
      if (s < 0) continue;
      const f = table.flow(s);
      if (victim < 0 || store.lastT(f) < store.lastT(victim)) victim = f;
    }
    if (victim < 0) return;
    this.evicted++;
    this.finishLive(victim, 'evicted', N_EVICTED);
  }

  /** Finish a live flow and keep only its tuple's generation count (bounded, oldest forgotten). */
  private finishLive(f: number, endReason: EndReason, note: number): void {
    const table = this.table;
    const slot = this.store.slot(f);
    this.emit(f, endReason);
    table.setFlow(slot, -1);
    this.release(f);
    table.setNote(slot, note);
    this.touch(slot, L_REMEMBERED);
    if (this.shard !== null) this.shard.remember(slot);
    while (table.counts[L_REMEMBERED]! > this.maxRemembered) table.release(table.heads[L_REMEMBERED]!);
  }

  /** A record is free for the next flow: its analysis goes with it (stray packets after a hand-over may have made one). */
  private release(f: number): void {
    this.store.release(f);
    if (this.analyzers !== null && f < this.analyzers.length) this.analyzers[f] = null;
    this.forgetSniffs(f);
  }

  private emit(f: number, endReason: EndReason): void {
    // Handed over when it closed: its record is released now, and the next flow may reuse it.
    if (this.handedOver.size !== 0 && this.handedOver.delete(f)) {
      // Stray packets after the hand-over may have noted tunnels again: nobody reads them now.
      if (this.notes.size !== 0) this.dropNote(this.store.id(f));
      return;
    }
    const flow = this.toFlow(f, endReason);
    const shard = this.shard;
    if (shard !== null) {
      const list = this.expiringList;
      const phase = this.finishing ? PHASE_END : list >= 0 ? PHASE_EXPIRY : PHASE_PACKET;
      shard.handedOut(this.frameSeq, phase, list, list >= 0 ? shard.lastUseOf(this.store.slot(f)) : 0, flow.id);
    }
    if (this.onFlowEnd) this.onFlowEnd(flow);
    else this.finished.push(flow);
  }

  private setRef(f: number, toServer: boolean, via: FlowRef['via']): FlowRef {
    const ref = this.ref;
    ref.id = this.store.id(f);
    ref.generation = this.store.generation(f);
    ref.toServer = toServer;
    ref.via = via;
    return ref;
  }

  /** The record of a flow: addresses become text here, once per flow. */
  private toFlow(f: number, endReason: EndReason | null): Flow {
    const table = this.table;
    const store = this.store;
    const s = store.slot(f);
    const proto = store.proto(f);
    const base = FlowTable.addrOffset(s);
    const len = table.addrLength(s);
    const ports = table.ports(s);
    const aPort = ports >>> 16;
    const bPort = ports & 0xffff;
    const key = table.keyAddr;
    const aIp = formatAddress(key, base, len);
    const bIp = formatAddress(key, base + 16, len);
    const ca = store.clientIsA(f);
    const cs = FlowStore.side(f, ca);
    const ss = FlowStore.side(f, !ca);
    let missedC = 0;
    let missedS = 0;
    if (proto === TCP) {
      if (endReason !== null) {
        // Holes never filled are missed now (a snapshot of an open flow leaves them pending).
        finishGaps(this.store, f, cs, ca);
        finishGaps(this.store, f, ss, !ca);
      }
      missedC = missedBytes(this.store, f, ca);
      missedS = missedBytes(this.store, f, !ca);
      if (endReason !== null && missedC + missedS > 0) {
        this.gapFlows++;
        this.gapBytes += missedC + missedS;
      }
    }
    const history = renderHistory(this.store.hist[f]!, ca);
    let state: string;
    if (proto === TCP) state = tcpConnState(store.state(cs), store.state(ss), store.payloadBytes(cs), store.payloadBytes(ss), history);
    else if (proto === UDP) state = udpConnState(store.packets(cs), store.packets(ss));
    else state = 'OTH'; // Zeek's conn_state for ICMP and for other IP protocols (unknown_transport)
    const startSec = store.startSec(f);
    const startNsec = store.startNsec(f);
    const endSec = store.endSec(f);
    const endNsec = store.endNsec(f);
    const flow: Flow = {
      id: store.id(f),
      proto: ipProtocolName(proto),
      generation: store.generation(f),
      client: { ip: ca ? aIp : bIp, port: ca ? aPort : bPort },
      server: { ip: ca ? bIp : aIp, port: ca ? bPort : aPort },
      rolesInferred: store.rolesInferred(f),
      start: { sec: startSec, nsec: startNsec },
      end: { sec: endSec, nsec: endNsec },
      duration: endSec - startSec + (endNsec - startNsec) / 1e9,
      toServer: {
        packets: store.packets(cs), wireBytes: store.wireBytes(cs), ipBytes: store.ipBytes(cs), payloadBytes: store.payloadBytes(cs),
        missedBytes: missedC,
      },
      toClient: {
        packets: store.packets(ss), wireBytes: store.wireBytes(ss), ipBytes: store.ipBytes(ss), payloadBytes: store.payloadBytes(ss),
        missedBytes: missedS,
      },
      state,
      history,
      communityId: hashOrdered(proto, key, base, key, base + 16, len, aPort, bPort, this.seed),
      generationReason: this.store.reason[f]!,
      endReason,
      ipVersion: len === 16 ? 6 : 4,
      icmpErrors: store.icmpErrors(f),
      icmpError: this.store.icmpError[f]!,
    };
    const closedAt = this.store.closedAt(f);
    if (closedAt !== null) flow.closedAt = closedAt;
    if (proto !== TCP && proto !== UDP && proto !== ICMP && proto !== ICMPV6) flow.ipProtocol = proto;
    const sniffed = f < this.sniffs.length ? this.sniffs[f]! : 0;
    if (sniffed !== 0) {
      flow.service = SERVICES[(sniffed >> SNIFF_FIRST) & 7]!;
      const client = this.said[2 * f + (ca ? 0 : 1)]!;
      const server = this.said[2 * f + (ca ? 1 : 0)]!;
      flow.summary = client !== '' && server !== '' ? `${client} -> ${server}` : client !== '' ? client : `-> ${server}`;
      flow.serviceBothWays = ((sniffed >> SNIFF_A) & 7) === ((sniffed >> SNIFF_B) & 7);
      if (endReason !== null) this.forgetSniffs(f);
    }
    const note = this.notes.size === 0 ? undefined : this.notes.get(flow.id);
    if (note !== undefined) {
      if (endReason !== null) this.dropNote(flow.id);
      if (note.carries !== null) {
        flow.carries = note.carries;
        flow.carriesBothWays = note.carriedWays === 3;
      }
      if (note.tunnel !== null) {
        flow.tunnel = note.tunnel;
        flow.tunnelParents = note.parents.slice();
      }
    }
    const analyzer = this.analyzers?.[f];
    if (analyzer != null) {
      if (endReason !== null) this.analyzers![f] = null;
      flow.analysis = analyzer.summary(ca);
    }
    const unreachable = this.store.portUnreachable[f];
    if (unreachable != null) {
      flow.portUnreachable = { toServer: unreachable[ca ? 1 : 0], toClient: unreachable[ca ? 0 : 1] };
    }
    return flow;
  }
}
