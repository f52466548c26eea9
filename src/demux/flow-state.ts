/**
 * The live state of the open flows, as numbered records in one Float64Array.
 *
 * Counters and TCP state are kept per canonical end (A = the smaller address:port, B = the
 * other), not per role, because roles can still change (a SYN captured after its SYN-ACK); they
 * are mapped to client/server once, when the flow becomes a `Flow` record.
 *
 * Why records in a typed array and not an object per flow: much of the engine's time is waiting
 * for memory (the capture's bytes streaming through the cache evict the flow state between two
 * packets of a flow), and an object per flow plus one per end plus a box per floating-point
 * field put a packet's state on six or more cache lines. Here a packet touches its record's
 * header and its end's hot fields, a few adjacent lines, and nothing is left for the garbage
 * collector. Freed records are reused last-in first-out. Measured: the engine alone, on the
 * benchmark's packets decoded beforehand, went from ~500 to ~320 ns a packet.
 *
 * The field offsets stay private to this file: the engine and tcp.ts use the accessor methods
 * (`packets(end)`, `state(end)`, `clientIsA(f)`...), small enough for V8 to inline, so a call
 * costs what indexing the array did.
 *
 * Strings and rare objects (history letters, generation reason, ICMP error note, content-gap
 * details) live in plain arrays beside, indexed by record number.
 */
import type { GenerationReason, IcmpErrorNote, Timestamp } from '../core/flow.js';

export const ENDED_NONE = 0;
export const ENDED_FIN = 1;
export const ENDED_RST = 2;
/** A FIN while the peer had sent nothing: Zeek's close is complete then (its peer is inactive). */
export const ENDED_HALF = 3;

// Fields of a flow, at the start of its record.
/** Latest packet time as float seconds, for idle checks only (exact times are below). */
const LAST_T = 0;
const START_SEC = 1;
const START_NSEC = 2;
const END_SEC = 3;
const END_NSEC = 4;
/**
 * ENDED_*: the TCP connection closed (RST, FIN both ways, or a FIN whose peer was silent); it
 * lingers for stray packets.
 */
const ENDED = 5;
/** 1 when end A is the client. */
const CLIENT_IS_A = 6;
/** 1 when the roles were guessed (no SYN, no request/reply pair). */
const ROLES_INFERRED = 7;
/** The flow's id; 0 once the record is free (fragment entries compare it). */
const ID = 8;
const GENERATION = 9;
/** The flow table slot of the tuple. */
const SLOT = 10;
const PROTO = 11;
const ICMP_ERRORS = 12;
/**
 * TCP: the time (float seconds) after which a packet must check Zeek's attempt and partial-close
 * timers (the engine's sameOrNewFlow); +Infinity once neither can apply. 0 at first: checked on
 * the second packet, which sets it.
 */
const ZEEK_CHECK_T = 13;
const HEADER = 14;

// Fields a flow rarely needs, in `closing` (three a record, off the record every packet reads):
/**
 * TCP: time (float seconds) of a FIN that was its end's first packet while the peer was active,
 * Zeek's partial close (its PartialCloseTimer runs tcp_partial_close_delay later); -1 when none.
 */
const PARTIAL_CLOSE_T = 0;
/**
 * TCP: when both ends had closed (FIN or RST from each), the time of the packet that closed the
 * second: Zeek's connection clock stops there (its last time is updated only while an end is
 * open), so conn.log's duration ends there. -1 until then.
 */
const CLOSED_SEC = 1;
const CLOSED_NSEC = 2;
const CLOSING = 3;

// Fields of one end (what it sent, and its TCP endpoint state), relative to the end's base.
// The ones every packet touches come first, on one cache line.
const PACKETS = 0;
const WIRE_BYTES = 1;
const IP_BYTES = 2;
const PAYLOAD_BYTES = 3;
/** EP.* (tcp.ts) */
const STATE = 4;
/** Once-per-direction history letters already recorded (H_* bits, tcp.ts). */
const HIST_SEEN = 5;
/**
 * Highest sequence number sent so far, one past the segment (Zeek's LastSeq), for
 * retransmissions; -1 until it is known.
 */
const SEQ_END = 6;
/**
 * Content gaps (tcp.ts updateGaps): one past the highest sequence number of this end's stream
 * seen so far (data, and the SYN octet), -1 until a segment anchors it.
 */
const GAP_NEXT = 7;
/** Bytes in holes below `GAP_NEXT` not seen yet, nor acknowledged: they may still be filled. */
const MISS = 8;
/** The state before the last change (a FIN answering a FIN-then-RST turns the RST back into a close). */
const PREV_STATE = 9;
/** Sequence number of the last SYN / FIN (seq + data) / RST recorded; -1 when none. */
const LAST_SYN = 10;
const LAST_FIN = 11;
const LAST_RST = 12;
/** The sequence number of this end's SYN without ACK; -1 when it sent none. */
const ISN = 13;
/** Ack number of this end's SYN-ACK, -1 when it sent none (to recognise a late SYN). */
const SYN_ACK_ACK = 14;
/** Logarithmic letters: count so far and the count at which the next letter is written. */
const REXMIT = 15;
const REXMIT_NEXT = 16;
const ZERO_WIN = 17;
const ZERO_WIN_NEXT = 18;
const SIDE = 19;

/** Offsets of end A's and end B's fields in a record. */
const SIDE_A = HEADER;
const SIDE_B = HEADER + SIDE;
const STRIDE = HEADER + 2 * SIDE;

// Content-gap details of one end, in `FlowStore.gaps[f]` (made for a flow only when its capture
// lost something), from `gapSide`.
/** The pending holes (`MISS` > 0): how many, the first one's start, the last one's end (bounds when several). */
export const MISS_N = 0;
export const MISS_FROM = 1;
export const MISS_TO = 2;
/** Bytes of this end's stream found missing (Zeek's missed_bytes, this direction), and in how many gaps. */
export const MISSED = 3;
export const GAPS = 4;
/** 1 when a pending hole is too large to be believed without an ACK past it (tcp.ts UNACKED_HOLE). */
export const NEEDS_ACK = 5;
const GAP_SIDE = 6;

/** Offset of end A's (`fromA`) or end B's content-gap details in a flow's `gaps` array. */
export function gapSide(fromA: boolean): number {
  return fromA ? 0 : GAP_SIDE;
}

/** A new end's values. */
function initSide(v: Float64Array, e: number): void {
  // A loop, not `fill`: the builtin's call cost was ~200 ns a side, twice a flow (2.5% of a run).
  for (let i = e; i < e + SIDE; i++) v[i] = 0;
  v[e + LAST_SYN] = v[e + LAST_FIN] = v[e + LAST_RST] = -1;
  v[e + SEQ_END] = v[e + ISN] = v[e + SYN_ACK_ACK] = v[e + GAP_NEXT] = -1;
  v[e + REXMIT_NEXT] = v[e + ZERO_WIN_NEXT] = 1;
}

export class FlowStore {
  /**
   * The records: flow `f`'s fields are at `v[FlowStore.base(f) + FIELD]`. Replaced when it grows.
   * Outside this file the fields are read and written only through the accessors below.
   */
  v: Float64Array;

  /** Zeek history letters, upper case for A, lower case for B (see tcp.ts renderHistory). */
  readonly hist: string[] = [];
  readonly reason: GenerationReason[] = [];
  readonly icmpError: (IcmpErrorNote | null)[] = [];
  /**
   * ICMP/ICMPv6 port unreachable errors quoting a datagram sent to end A ([0]) and to end B ([1]):
   * that end's port had no socket. Null until the first one (they are rare: set off the packet path).
   */
  readonly portUnreachable: ([number, number] | null)[] = [];
  /**
   * Content-gap details (`gapSide(fromA) + MISS_N`...), null until the flow's capture lost
   * something; one entry a record (null when free), so that reading it never leaves the array.
   */
  readonly gaps: (Float64Array | null)[];
  /** The fields a flow rarely needs (PARTIAL_CLOSE_T, CLOSED_SEC...), CLOSING a record. */
  private closing: Float64Array;
  /** Records in use. */
  count = 0;
  private capacity: number;
  private free: number[] = [];

  constructor(initialCapacity = 4096) {
    this.capacity = initialCapacity;
    this.v = new Float64Array(initialCapacity * STRIDE);
    this.closing = new Float64Array(initialCapacity * CLOSING);
    this.gaps = new Array<Float64Array | null>(initialCapacity).fill(null);
    for (let f = initialCapacity - 1; f >= 0; f--) this.free.push(f);
  }

  static base(f: number): number {
    return f * STRIDE;
  }

  /** Offset of the fields of end A (`fromA`) or end B of flow `f`. */
  static side(f: number, fromA: boolean): number {
    return f * STRIDE + (fromA ? SIDE_A : SIDE_B);
  }

  /** Flow `f`'s content-gap details, made (zeroed) the first time they are needed. */
  gapsOf(f: number): Float64Array {
    return this.gaps[f] ??= new Float64Array(2 * GAP_SIDE);
  }

  // Accessors. Small enough for V8 to inline: a call costs what `v[base + FIELD]` did, and reads
  // `this.v` each time, so a caller cannot keep an array that `alloc` replaced. Flow fields take
  // the record number `f`; end fields take the end's base offset `end` (`FlowStore.side`).

  /** Latest packet time as float seconds (idle checks). */
  lastT(f: number): number { return this.v[f * STRIDE + LAST_T]!; }
  /** ENDED_*. */
  ended(f: number): number { return this.v[f * STRIDE + ENDED]!; }
  setEnded(f: number, ended: number): void { this.v[f * STRIDE + ENDED] = ended; }
  clientIsA(f: number): boolean { return this.v[f * STRIDE + CLIENT_IS_A] === 1; }
  rolesInferred(f: number): boolean { return this.v[f * STRIDE + ROLES_INFERRED] === 1; }
  /** Sets the roles: end A is the client when `clientIsA`; `inferred` when guessed. */
  setRoles(f: number, clientIsA: boolean, inferred: boolean): void {
    const r = f * STRIDE;
    this.v[r + CLIENT_IS_A] = clientIsA ? 1 : 0;
    this.v[r + ROLES_INFERRED] = inferred ? 1 : 0;
  }
  /** The flow's id; 0 once the record is free. */
  id(f: number): number { return this.v[f * STRIDE + ID]!; }
  generation(f: number): number { return this.v[f * STRIDE + GENERATION]!; }
  /** The flow table slot of the tuple. */
  slot(f: number): number { return this.v[f * STRIDE + SLOT]!; }
  proto(f: number): number { return this.v[f * STRIDE + PROTO]!; }
  icmpErrors(f: number): number { return this.v[f * STRIDE + ICMP_ERRORS]!; }
  addIcmpError(f: number): void { this.v[f * STRIDE + ICMP_ERRORS]!++; }
  partialCloseT(f: number): number { return this.closing[f * CLOSING + PARTIAL_CLOSE_T]!; }
  setPartialCloseT(f: number, t: number): void { this.closing[f * CLOSING + PARTIAL_CLOSE_T] = t; }
  zeekCheckT(f: number): number { return this.v[f * STRIDE + ZEEK_CHECK_T]!; }
  setZeekCheckT(f: number, t: number): void { this.v[f * STRIDE + ZEEK_CHECK_T] = t; }
  /** Both ends had closed (CLOSED_SEC): when; null before. */
  closedAt(f: number): Timestamp | null {
    const sec = this.closing[f * CLOSING + CLOSED_SEC]!;
    return sec < 0 ? null : { sec, nsec: this.closing[f * CLOSING + CLOSED_NSEC]! };
  }
  isClosedAtSet(f: number): boolean { return this.closing[f * CLOSING + CLOSED_SEC]! >= 0; }
  setClosedAt(f: number, sec: number, nsec: number): void {
    this.closing[f * CLOSING + CLOSED_SEC] = sec;
    this.closing[f * CLOSING + CLOSED_NSEC] = nsec;
  }
  startSec(f: number): number { return this.v[f * STRIDE + START_SEC]!; }
  startNsec(f: number): number { return this.v[f * STRIDE + START_NSEC]!; }
  endSec(f: number): number { return this.v[f * STRIDE + END_SEC]!; }
  endNsec(f: number): number { return this.v[f * STRIDE + END_NSEC]!; }

  packets(end: number): number { return this.v[end + PACKETS]!; }
  wireBytes(end: number): number { return this.v[end + WIRE_BYTES]!; }
  ipBytes(end: number): number { return this.v[end + IP_BYTES]!; }
  payloadBytes(end: number): number { return this.v[end + PAYLOAD_BYTES]!; }
  /** `packets` more packets sent by the end, of these sizes in all. */
  addPackets(end: number, packets: number, wire: number, ip: number, payload: number): void {
    const v = this.v;
    v[end + PACKETS]! += packets;
    v[end + WIRE_BYTES]! += wire;
    v[end + IP_BYTES]! += ip;
    v[end + PAYLOAD_BYTES]! += payload;
  }
  /** No packet counted on either end of flow `f` yet. */
  isEmpty(f: number): boolean {
    const r = f * STRIDE;
    return this.v[r + SIDE_A + PACKETS] === 0 && this.v[r + SIDE_B + PACKETS] === 0;
  }
  /** EP.* (tcp.ts). */
  state(end: number): number { return this.v[end + STATE]!; }
  /** Sets the state as is (tcp.ts setState also keeps the previous one). */
  setState(end: number, state: number): void { this.v[end + STATE] = state; }
  prevState(end: number): number { return this.v[end + PREV_STATE]!; }
  setPrevState(end: number, state: number): void { this.v[end + PREV_STATE] = state; }
  /** H_* bits (tcp.ts). */
  histSeen(end: number): number { return this.v[end + HIST_SEEN]!; }
  addHistSeen(end: number, bits: number): void { this.v[end + HIST_SEEN] = this.v[end + HIST_SEEN]! | bits; }
  seqEnd(end: number): number { return this.v[end + SEQ_END]!; }
  setSeqEnd(end: number, seq: number): void { this.v[end + SEQ_END] = seq; }
  gapNext(end: number): number { return this.v[end + GAP_NEXT]!; }
  setGapNext(end: number, seq: number): void { this.v[end + GAP_NEXT] = seq; }
  miss(end: number): number { return this.v[end + MISS]!; }
  setMiss(end: number, bytes: number): void { this.v[end + MISS] = bytes; }
  lastSyn(end: number): number { return this.v[end + LAST_SYN]!; }
  setLastSyn(end: number, seq: number): void { this.v[end + LAST_SYN] = seq; }
  lastFin(end: number): number { return this.v[end + LAST_FIN]!; }
  setLastFin(end: number, seq: number): void { this.v[end + LAST_FIN] = seq; }
  lastRst(end: number): number { return this.v[end + LAST_RST]!; }
  setLastRst(end: number, seq: number): void { this.v[end + LAST_RST] = seq; }
  isn(end: number): number { return this.v[end + ISN]!; }
  setIsn(end: number, seq: number): void { this.v[end + ISN] = seq; }
  synAckAck(end: number): number { return this.v[end + SYN_ACK_ACK]!; }
  setSynAckAck(end: number, ack: number): void { this.v[end + SYN_ACK_ACK] = ack; }
  /** One more retransmission; true at the 1st, 10th, 100th... (a letter is due). */
  countRexmit(end: number): boolean { return this.scaled(end + REXMIT, end + REXMIT_NEXT); }
  /** One more zero window; true at the 1st, 10th, 100th... (a letter is due). */
  countZeroWindow(end: number): boolean { return this.scaled(end + ZERO_WIN, end + ZERO_WIN_NEXT); }

  private scaled(count: number, next: number): boolean {
    const v = this.v;
    if (++v[count]! !== v[next]) return false;
    v[next] = v[next]! * 10;
    return true;
  }

  /** A record for a new flow, its fields set; `v` may be a new array afterwards. */
  alloc(id: number, generation: number, reason: GenerationReason, slot: number, proto: number,
    tsSec: number, tsNsec: number, t: number): number {
    if (this.free.length === 0) this.grow();
    const f = this.free.pop()!;
    this.count++;
    const v = this.v;
    const r = f * STRIDE;
    v[r + LAST_T] = t;
    v[r + START_SEC] = v[r + END_SEC] = tsSec;
    v[r + START_NSEC] = v[r + END_NSEC] = tsNsec;
    v[r + ENDED] = ENDED_NONE;
    v[r + CLIENT_IS_A] = 1;
    v[r + ROLES_INFERRED] = 1;
    v[r + ID] = id;
    v[r + GENERATION] = generation;
    v[r + SLOT] = slot;
    v[r + PROTO] = proto;
    v[r + ICMP_ERRORS] = 0;
    v[r + ZEEK_CHECK_T] = 0;
    this.closing[f * CLOSING + PARTIAL_CLOSE_T] = -1;
    this.closing[f * CLOSING + CLOSED_SEC] = -1;
    initSide(v, r + SIDE_A);
    initSide(v, r + SIDE_B);
    this.hist[f] = ''; // gaps[f] is null already (release, or never used)
    this.reason[f] = reason;
    this.icmpError[f] = null;
    this.portUnreachable[f] = null;
    return f;
  }

  release(f: number): void {
    this.v[f * STRIDE + ID] = 0;
    this.icmpError[f] = null;
    this.portUnreachable[f] = null;
    this.gaps[f] = null;
    this.free.push(f);
    this.count--;
  }

  /** Records in use, in no particular order. */
  inUse(): number[] {
    const out: number[] = [];
    for (let f = 0; f < this.capacity; f++) if (this.v[f * STRIDE + ID] !== 0) out.push(f);
    return out;
  }

  /** Widen [start, end] of flow `f` to include this time (captures are not always in time order). */
  stamp(f: number, tsSec: number, tsNsec: number, t: number): void {
    const v = this.v;
    const r = f * STRIDE;
    const endSec = v[r + END_SEC]!;
    if (tsSec > endSec || (tsSec === endSec && tsNsec > v[r + END_NSEC]!)) {
      v[r + END_SEC] = tsSec;
      v[r + END_NSEC] = tsNsec;
    } else {
      const startSec = v[r + START_SEC]!;
      if (tsSec < startSec || (tsSec === startSec && tsNsec < v[r + START_NSEC]!)) {
        v[r + START_SEC] = tsSec;
        v[r + START_NSEC] = tsNsec;
      }
    }
    if (t > v[r + LAST_T]!) v[r + LAST_T] = t;
  }

  private grow(): void {
    const old = this.capacity;
    const cap = old * 2;
    const v = new Float64Array(cap * STRIDE);
    v.set(this.v);
    this.v = v;
    const closing = new Float64Array(cap * CLOSING);
    closing.set(this.closing);
    this.closing = closing;

    for (let f = cap - 1; f >= old; f--) this.free.push(f);
    for (let f = old; f < cap; f++) this.gaps.push(null);
    this.capacity = cap;
  }
}
