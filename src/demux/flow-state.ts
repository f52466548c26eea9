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
 * Strings and rare objects (history letters, generation reason, ICMP error note, content-gap
 * details) live in plain arrays beside, indexed by record number.
 */
import type { GenerationReason, IcmpErrorNote } from '../core/flow.js';

export const ENDED_NONE = 0;
export const ENDED_FIN = 1;
export const ENDED_RST = 2;

// Fields of a flow, at the start of its record.
/** Latest packet time as float seconds, for idle checks only (exact times are below). */
export const LAST_T = 0;
export const START_SEC = 1;
export const START_NSEC = 2;
export const END_SEC = 3;
export const END_NSEC = 4;
/** ENDED_*: the TCP connection closed (RST, or FIN both ways); it lingers for stray packets. */
export const ENDED = 5;
/** 1 when end A is the client. */
export const CLIENT_IS_A = 6;
/** 1 when the roles were guessed (no SYN, no request/reply pair). */
export const ROLES_INFERRED = 7;
/** The flow's id; 0 once the record is free (fragment entries compare it). */
export const ID = 8;
export const GENERATION = 9;
/** The flow table slot of the tuple. */
export const SLOT = 10;
export const PROTO = 11;
export const ICMP_ERRORS = 12;
const HEADER = 13;

// Fields of one end (what it sent, and its TCP endpoint state), relative to the end's base.
// The ones every packet touches come first, on one cache line.
export const PACKETS = 0;
export const WIRE_BYTES = 1;
export const IP_BYTES = 2;
export const PAYLOAD_BYTES = 3;
/** EP.* (tcp.ts) */
export const STATE = 4;
/** Once-per-direction history letters already recorded (H_* bits, tcp.ts). */
export const HIST_SEEN = 5;
/**
 * Highest sequence number sent so far, one past the segment (Zeek's LastSeq), for
 * retransmissions; -1 until it is known.
 */
export const SEQ_END = 6;
/**
 * Content gaps (tcp.ts updateGaps): one past the highest sequence number of this end's stream
 * seen so far (data, and the SYN octet), -1 until a segment anchors it.
 */
export const GAP_NEXT = 7;
/** Bytes in holes below `GAP_NEXT` not seen yet, nor acknowledged: they may still be filled. */
export const MISS = 8;
/** The state before the last change (a FIN answering a FIN-then-RST turns the RST back into a close). */
export const PREV_STATE = 9;
/** Sequence number of the last SYN / FIN (seq + data) / RST recorded; -1 when none. */
export const LAST_SYN = 10;
export const LAST_FIN = 11;
export const LAST_RST = 12;
/** The sequence number of this end's SYN without ACK; -1 when it sent none. */
export const ISN = 13;
/** Ack number of this end's SYN-ACK, -1 when it sent none (to recognise a late SYN). */
export const SYN_ACK_ACK = 14;
/** Logarithmic letters: count so far and the count at which the next letter is written. */
export const REXMIT = 15;
export const REXMIT_NEXT = 16;
export const ZERO_WIN = 17;
export const ZERO_WIN_NEXT = 18;
const SIDE = 19;

/** Offsets of end A's and end B's fields in a record. */
export const SIDE_A = HEADER;
export const SIDE_B = HEADER + SIDE;
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
  /** The records: flow `f`'s fields are at `v[FlowStore.base(f) + FIELD]`. Replaced when it grows. */
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
  /** Records in use. */
  count = 0;
  private capacity: number;
  private free: number[] = [];

  constructor(initialCapacity = 4096) {
    this.capacity = initialCapacity;
    this.v = new Float64Array(initialCapacity * STRIDE);
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

    for (let f = cap - 1; f >= old; f--) this.free.push(f);
    for (let f = old; f < cap; f++) this.gaps.push(null);
    this.capacity = cap;
  }
}
