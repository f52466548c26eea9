/**
 * TCP sequence analysis of one connection, as Wireshark's `tcp.analysis` names it:
 * retransmissions (plain, fast, spurious), out-of-order segments, segments before which the
 * capture missed data, ACKs of data it never saw, duplicate ACKs, zero windows and their probes,
 * keep-alives, window updates and full windows. Written from the definitions of Wireshark 4.0
 * (the User's Guide, "TCP Analysis", and the rules of its TCP dissector), so that each mark
 * means what it means in Wireshark and a user can search for the same words.
 *
 * `TcpAnalyzer` takes one connection's segments one at a time, in capture order, and answers
 * each at once (`packets` streams with it; the engine runs one per TCP flow when asked,
 * DemuxOptions.tcpAnalysis, for `flows --analysis`); `analyzeTcp` is the same over a list, after
 * the fact (`ladder`, `check`). Per direction it keeps a handful of numbers (the next expected
 * sequence number, the last ACK and window, duplicate-ACK count...) and the segments not yet
 * acknowledged (for the ACK round trip, tshark's `ack_rtt`), and per connection the handshake's
 * round trip. Rules, for a segment from one side ("fwd") to the other ("rev"):
 *
 * - zero window probe: 1 byte at the next expected sequence number while rev's window is 0;
 * - zero window: window 0 on a segment without SYN, FIN or RST;
 * - previous segment not captured: seq beyond fwd's next expected sequence number (not a RST);
 * - keep-alive: 0 or 1 byte at next expected - 1 (no SYN/FIN/RST);
 * - window update: no data, same seq/ack as fwd's last, another window (not 0);
 * - window full: data reaching exactly the right edge of rev's last advertised window;
 * - keep-alive ACK / zero window probe ACK: the ACK repeated after rev's keep-alive / probe;
 * - duplicate ACK: no data, same seq, ack and window (not 0) as fwd's last segment; numbered
 *   `#n` since the last segment that changed the ACK, whose frame it names;
 * - ACKed unseen segment: an ACK beyond everything rev was seen to send;
 * - then, for a segment with data, SYN or FIN: spurious retransmission when all of it was
 *   already acknowledged by rev; else, if it does not advance fwd's sequence: fast
 *   retransmission when rev sent 2 or more duplicate ACKs for exactly this seq within 20 ms;
 *   out-of-order when it came within the handshake's round trip (3 ms if unknown) of the
 *   highest segment and does not end where that one ended; otherwise a retransmission.
 *
 * Sequence numbers compare modulo 2^32; times are the capture's.
 */
import type { AckRtt, MarkName, TcpAnalysisSummary } from '../core/flow.js';
import { TCP_FLAG } from '../core/packet.js';
import { factorOf, noteSyn, SCALE_UNKNOWN } from './window-scale.js';

/** Analysis flags (bit values as Wireshark's TCP_A_*, so they can be compared by eye). */
export const TCP_A = {
  RETRANSMISSION: 0x0001,
  LOST_SEGMENT: 0x0002,
  ACK_LOST_SEGMENT: 0x0004,
  KEEP_ALIVE: 0x0008,
  DUPLICATE_ACK: 0x0010,
  ZERO_WINDOW: 0x0020,
  ZERO_WINDOW_PROBE: 0x0040,
  ZERO_WINDOW_PROBE_ACK: 0x0080,
  KEEP_ALIVE_ACK: 0x0100,
  OUT_OF_ORDER: 0x0200,
  FAST_RETRANSMISSION: 0x0400,
  WINDOW_UPDATE: 0x0800,
  WINDOW_FULL: 0x1000,
  SPURIOUS_RETRANSMISSION: 0x4000,
} as const;

/** What the analysis reads of a TCP segment (the ladder's packet record has these fields). */
export interface TcpSegment {
  frame: number;
  sec: number;
  nsec: number;
  toServer: boolean;
  flags: number;
  seq: number;
  ack: number;
  /** The window field, raw. */
  window: number;
  /** Window scale option of a SYN; -1 when absent. */
  windowScale: number;
  payloadLength: number;
}

export interface SegmentAnalysis {
  /** TCP_A bits. */
  flags: number;
  /** Duplicate ACK: its number since the ACK last changed, and the frame that carried that ACK. */
  dupAckNum: number;
  dupAckFrame: number;
  /** What the window field is multiplied by: 1 (also for a SYN), 2^shift, or -1 when unknown. */
  windowFactor: number;
  /**
   * The segment acknowledges one of the other side's exactly (its ACK number is where that one
   * ended): seconds since that segment (tshark's `tcp.analysis.ack_rtt`), else -1; and its frame
   * (`tcp.analysis.acks_frame`), else 0.
   */
  ackRtt: number;
  ackedFrame: number;
}

/**
 * The analysis state of one connection, packed in one Float64Array so that a segment touches a
 * few cache lines (one object per number, as first written, cost ~1.5 µs a segment in cache
 * misses on a capture with thousands of connections open). Per direction, at 0 (the side fed as
 * `toServer`) and SIDE (the other), Wireshark's per-flow analysis numbers; then the connection's.
 * 0 in NEXT_SEQ means none yet; times not yet known are -Infinity (no time since them is below a bound).
 */
const NEXT_SEQ = 0;
const NEXT_SEQ_TIME = 1;
const LAST_ACK = 2;
const LAST_ACK_TIME = 3;
const WINDOW = 4;
/** Duplicate ACKs this side sent for its current ACK. */
const DUP_ACKS = 5;
const LAST_NON_DUP_ACK = 6;
const MAX_SEQ_TO_BE_ACKED = 7;
const LAST_FLAGS = 8;
/** 1: since its SYN, this side has not sent a pure ACK (its window is still the SYN's, unscaled). */
const FIRST_ACK = 9;
/** The last ACK of data never seen that this side sent; -1 none. */
const UNSEEN_ACK = 10;
/** Unacknowledged segments of this side in its list, ACK round trips timed of its data, the smallest (ns). */
const UNACKED = 11;
const RTT_COUNT = 12;
const RTT_MIN = 13;
const SIDE = 16;
/** The two window scale shifts, side 0's then side 1's (window-scale.ts noteSyn). */
const SHIFTS = 32;
const T0 = 34;
const LAST_SYN = 35;
const LAST_SYN_ACK = 36;
/** The handshake's round trip (ns; 0 until known: Wireshark's ts_first_rtt) and its parts (-1 unknown). */
const FIRST_RTT = 37;
const SYN_ACK_PART = 38;
const ACK_PART = 39;
const HANDSHAKE = 40;
/** Segments with each TCP_A bit, by bit index. */
const COUNTS = 41;
const STATE_SIZE = COUNTS + 16;

function newState(): Float64Array {
  const st = new Float64Array(STATE_SIZE);
  for (const side of [0, SIDE]) {
    st[side + NEXT_SEQ_TIME] = -Infinity;
    st[side + LAST_ACK_TIME] = -Infinity;
    st[side + WINDOW] = 0xffff_ffff;
    st[side + UNSEEN_ACK] = -1;
    st[side + RTT_MIN] = Infinity;
  }
  st[SHIFTS] = SCALE_UNKNOWN;
  st[SHIFTS + 1] = SCALE_UNKNOWN;
  st[T0] = NaN;
  st[LAST_SYN] = -1;
  st[LAST_SYN_ACK] = -1;
  st[SYN_ACK_PART] = -1;
  st[ACK_PART] = -1;
  st[HANDSHAKE] = -1;
  return st;
}

const { FIN, SYN, RST, ACK } = TCP_FLAG;
const gt = (a: number, b: number): boolean => ((b - a) | 0) < 0;
const lt = (a: number, b: number): boolean => ((a - b) | 0) < 0;
const le = (a: number, b: number): boolean => ((a - b) | 0) <= 0;
/** `now - then` when not negative, else Infinity (Wireshark's unsigned difference never passes a bound then). */
const since = (now: number, then: number): number => (now >= then ? now - then : Infinity);

const FAST_RETRANSMISSION_WINDOW = 20_000_000;
const DEFAULT_OUT_OF_ORDER_WINDOW = 3_000_000;

/**
 * Wireshark keeps at most this many unacknowledged segments a direction (TCP_MAX_UNACKED_SEGMENTS):
 * a direction whose ACKs are never seen stops growing the list, and ACK RTTs for it end there.
 */
const MAX_UNACKED = 10_000;

/** One unacknowledged segment in a side's list: its first and next sequence number, frame, time. */
const U_SEQ = 0;
const U_NEXT = 1;
const U_FRAME = 2;
const U_TIME = 3;
const U_SIZE = 4;

/** The marks by name, as tshark's `tcp.analysis.*` fields call them, in TCP_A's bit order. */
export const MARK_NAMES: readonly (readonly [number, MarkName])[] = [
  [TCP_A.RETRANSMISSION, 'retransmission'],
  [TCP_A.LOST_SEGMENT, 'lost_segment'],
  [TCP_A.ACK_LOST_SEGMENT, 'ack_lost_segment'],
  [TCP_A.KEEP_ALIVE, 'keep_alive'],
  [TCP_A.DUPLICATE_ACK, 'duplicate_ack'],
  [TCP_A.ZERO_WINDOW, 'zero_window'],
  [TCP_A.ZERO_WINDOW_PROBE, 'zero_window_probe'],
  [TCP_A.ZERO_WINDOW_PROBE_ACK, 'zero_window_probe_ack'],
  [TCP_A.KEEP_ALIVE_ACK, 'keep_alive_ack'],
  [TCP_A.OUT_OF_ORDER, 'out_of_order'],
  [TCP_A.FAST_RETRANSMISSION, 'fast_retransmission'],
  [TCP_A.WINDOW_UPDATE, 'window_update'],
  [TCP_A.WINDOW_FULL, 'window_full'],
  [TCP_A.SPURIOUS_RETRANSMISSION, 'spurious_retransmission'],
];

/** tshark's field names of a segment's marks (`duplicate_ack`, `retransmission`...), in TCP_A's bit order. */
export function markNames(flags: number): string[] {
  const out: string[] = [];
  for (const [bit, name] of MARK_NAMES) if ((flags & bit) !== 0) out.push(name);
  return out;
}

/**
 * The analysis of one connection, fed its TCP segments one at a time in capture order (both
 * directions): `add` returns the segment's marks at once, so a command can stream. `summary`
 * gives the connection's counts and round trips so far. With `keepRtts` false the ACK RTT of
 * each segment is still reported, but not kept for the summary's median.
 */
export class TcpAnalyzer {
  private readonly st = newState();
  /**
   * Each side's unacknowledged segments (Wireshark's `segments` list, newest first there, oldest
   * first here), U_SIZE numbers each; made on the first one, grown by doubling.
   */
  private unacked0: Float64Array | null = null;
  private unacked1: Float64Array | null = null;
  /** ACK RTTs (ns) of each side's data, for the medians (keepRtts). */
  private rtts0: number[] | null = null;
  private rtts1: number[] | null = null;
  /** The last segment's analysis, reused by each `add`. */
  readonly out: SegmentAnalysis = { flags: 0, dupAckNum: 0, dupAckFrame: 0, windowFactor: 1, ackRtt: -1, ackedFrame: 0 };

  constructor(private readonly keepRtts = true) {}

  /** One segment: its analysis (the reused `out`: read or copy it before the next call). */
  add(s: TcpSegment): SegmentAnalysis {
    const st = this.st;
    if (Number.isNaN(st[T0]!)) st[T0] = s.sec;
    const side = s.toServer ? 0 : 1;
    const f = side === 0 ? 0 : SIDE;
    const r = SIDE - f;
    const now = (s.sec - st[T0]!) * 1e9 + s.nsec;
    const flags = s.flags;
    const out = this.out;
    out.flags = 0;
    out.dupAckNum = 0;
    out.dupAckFrame = 0;
    out.ackRtt = -1;
    out.ackedFrame = 0;
    out.windowFactor = (flags & SYN) !== 0 ? 1 : factorOf(st[SHIFTS + side]!);
    analyzeSegment(s, st, f, r, out, now, st[FIRST_RTT]!, st[SHIFTS + 1 - side]!);
    const len = s.payloadLength;
    if ((len > 0 || (flags & (SYN | FIN)) !== 0) && st[f + UNACKED]! < MAX_UNACKED) {
      this.push(side, s.seq, (s.seq + len + ((flags & (SYN | FIN)) !== 0 ? 1 : 0)) >>> 0, s.frame, now);
    }
    if (st[r + UNACKED]! > 0) this.acked(1 - side, s.ack, now);
    if ((flags & SYN) !== 0) {
      if ((flags & ACK) === 0) st[LAST_SYN] = now;
      else st[LAST_SYN_ACK] = now;
      st[f + FIRST_ACK] = 1;
      noteSyn(st, SHIFTS, side, (flags & ACK) !== 0, s.windowScale);
    }
    if ((flags & (SYN | ACK)) === ACK) {
      if (st[LAST_SYN]! >= 0 && st[FIRST_RTT] === 0) {
        const rtt = Math.max(0, now - st[LAST_SYN]!);
        st[FIRST_RTT] = rtt;
        st[HANDSHAKE] = rtt;
        const synAck = st[LAST_SYN_ACK]!;
        if (synAck >= st[LAST_SYN]!) {
          st[SYN_ACK_PART] = synAck - st[LAST_SYN]!;
          st[ACK_PART] = now - synAck;
        }
      }
      st[f + FIRST_ACK] = 0;
    }
    for (let m = out.flags, bit = COUNTS; m !== 0; m >>>= 1, bit++) if ((m & 1) !== 0) st[bit]!++;
    return out;
  }

  private push(side: number, seq: number, next: number, frame: number, now: number): void {
    const n = this.st[(side === 0 ? 0 : SIDE) + UNACKED]!;
    let list = side === 0 ? this.unacked0 : this.unacked1;
    if (list === null || list.length < (n + 1) * U_SIZE) {
      const grown = new Float64Array(Math.max(8, n * 2) * U_SIZE);
      if (list !== null) grown.set(list);
      list = grown;
      if (side === 0) this.unacked0 = list;
      else this.unacked1 = list;
    }
    const at = n * U_SIZE;
    list[at + U_SEQ] = seq;
    list[at + U_NEXT] = next;
    list[at + U_FRAME] = frame;
    list[at + U_TIME] = now;
    this.st[(side === 0 ? 0 : SIDE) + UNACKED] = n + 1;
  }

  /**
   * An ACK number for `side`'s segments: those it covers are dropped (one it covers in part now
   * starts at the ACK). Wireshark's rule for the round trip: the ACK must end a segment exactly,
   * and of several that end there (a retransmission and its original) the oldest one counts.
   */
  private acked(side: number, ack: number, now: number): void {
    const st = this.st;
    const base = side === 0 ? 0 : SIDE;
    const list = (side === 0 ? this.unacked0 : this.unacked1)!;
    const n = st[base + UNACKED]!;
    let hit = -1;
    let keep = 0;
    for (let i = 0; i < n; i++) {
      const at = i * U_SIZE;
      const next = list[at + U_NEXT]!;
      if (next === ack) {
        if (hit < 0) {
          hit = 0;
          this.out.ackedFrame = list[at + U_FRAME]!;
          // tshark shows no ack_rtt of 0 (its field is written only when the time is not zero).
          const rtt = now - list[at + U_TIME]!;
          if (rtt > 0) {
            this.out.ackRtt = rtt / 1e9;
            st[base + RTT_COUNT]!++;
            if (rtt < st[base + RTT_MIN]!) st[base + RTT_MIN] = rtt;
            if (this.keepRtts) ((side === 0 ? (this.rtts0 ??= []) : (this.rtts1 ??= []))).push(rtt);
          }
        }
        continue;
      }
      if (gt(ack, list[at + U_SEQ]!) && le(ack, next)) list[at + U_SEQ] = ack;
      else if (!gt(next, ack)) continue; // acknowledged before: dropped
      if (keep !== i) list.copyWithin(keep * U_SIZE, at, at + U_SIZE);
      keep++;
    }
    st[base + UNACKED] = keep;
  }

  /**
   * The connection so far: counts of each mark, the handshake and the ACK round trips.
   * `clientSentToServer`: the segments `add` was given as `toServer` were the client's (false when
   * the caller's sides turned out the other way round).
   */
  summary(clientSentToServer = true): TcpAnalysisSummary {
    const st = this.st;
    const marks = {} as Record<MarkName, number>;
    for (const [bit, name] of MARK_NAMES) marks[name] = st[COUNTS + 31 - Math.clz32(bit)]!;
    const part = (ns: number): number | null => (ns < 0 ? null : ns / 1e9);
    const rtt = (side: number): AckRtt | null => {
      const base = side === 0 ? 0 : SIDE;
      if (st[base + RTT_COUNT] === 0) return null;
      const list = Float64Array.from(side === 0 ? this.rtts0 ?? [] : this.rtts1 ?? []).sort();
      const mid = list.length >> 1;
      // Whole nanoseconds (a mean of two rounded), so that seconds print without binary noise.
      const median = list.length === 0 ? NaN : list.length % 2 === 1 ? list[mid]! : Math.round((list[mid - 1]! + list[mid]!) / 2);
      return { samples: st[base + RTT_COUNT]!, min: st[base + RTT_MIN]! / 1e9, median: median / 1e9 };
    };
    return {
      marks,
      handshake: st[HANDSHAKE]! < 0 ? null
        : { synToSynAck: part(st[SYN_ACK_PART]!), synAckToAck: part(st[ACK_PART]!), total: st[HANDSHAKE]! / 1e9 },
      ackRtt: clientSentToServer ? { toServer: rtt(0), toClient: rtt(1) } : { toServer: rtt(1), toClient: rtt(0) },
    };
  }
}

/** The analysis of each segment of one connection, in capture order (both directions): TcpAnalyzer over a list. */
export function analyzeTcp(segments: readonly TcpSegment[]): SegmentAnalysis[] {
  const analyzer = new TcpAnalyzer(false);
  return segments.map((s) => ({ ...analyzer.add(s) }));
}

function analyzeSegment(s: TcpSegment, st: Float64Array, f: number, r: number, out: SegmentAnalysis, now: number, firstRtt: number, revShift: number): void {
  const { seq, ack, flags, window } = s;
  const len = s.payloadLength;
  const plain = (flags & (SYN | FIN | RST)) === 0;
  const fwdNextSeq = st[f + NEXT_SEQ]!;
  const fwdLastAck = st[f + LAST_ACK]!;
  const fwdWindow = st[f + WINDOW]!;
  let a = 0;
  fwdChecks: {
    if (len === 1 && seq === fwdNextSeq && st[r + WINDOW] === 0) {
      a |= TCP_A.ZERO_WINDOW_PROBE;
      break fwdChecks;
    }
    if (window === 0 && plain) a |= TCP_A.ZERO_WINDOW;
    if (fwdNextSeq !== 0 && gt(seq, fwdNextSeq) && (flags & RST) === 0) a |= TCP_A.LOST_SEGMENT;
    if (len <= 1 && seq === ((fwdNextSeq - 1) >>> 0) && plain) a |= TCP_A.KEEP_ALIVE;
    const repeats = len === 0 && seq === fwdNextSeq && ack === fwdLastAck && plain;
    if (repeats && window !== 0 && window !== fwdWindow) a |= TCP_A.WINDOW_UPDATE;
    if (len > 0 && revShift !== SCALE_UNKNOWN && plain) {
      const shift = st[r + FIRST_ACK] === 1 || revShift < 0 ? 0 : revShift;
      if (((seq + len) >>> 0) === ((st[r + LAST_ACK]! + st[r + WINDOW]! * 2 ** shift) % 2 ** 32)) a |= TCP_A.WINDOW_FULL;
    }
    const revLastFlags = st[r + LAST_FLAGS]!;
    if (repeats && window !== 0 && window === fwdWindow && (revLastFlags & TCP_A.KEEP_ALIVE) !== 0) {
      a |= TCP_A.KEEP_ALIVE_ACK;
      break fwdChecks;
    }
    if (repeats && window === 0 && fwdWindow === 0 && (revLastFlags & TCP_A.ZERO_WINDOW_PROBE) !== 0) {
      a |= TCP_A.ZERO_WINDOW_PROBE_ACK;
      break fwdChecks;
    }
    if (repeats && window !== 0 && window === fwdWindow) {
      const dups = st[f + DUP_ACKS]! + 1;
      st[f + DUP_ACKS] = dups;
      a |= TCP_A.DUPLICATE_ACK;
      out.dupAckNum = dups;
      out.dupAckFrame = st[f + LAST_NON_DUP_ACK]!;
    }
  }
  if (ack !== fwdLastAck) {
    st[f + LAST_NON_DUP_ACK] = s.frame;
    st[f + DUP_ACKS] = 0;
  }
  const revMax = st[r + MAX_SEQ_TO_BE_ACKED]!;
  if (revMax !== 0 && gt(ack, revMax) && (flags & ACK) !== 0) {
    // Once for the same gap: what rev sent so far counts as seen, and the same ACK again is no news.
    if (ack !== st[f + UNSEEN_ACK]) a |= TCP_A.ACK_LOST_SEGMENT;
    st[f + UNSEEN_ACK] = ack;
    st[r + MAX_SEQ_TO_BE_ACKED] = st[r + NEXT_SEQ]!;
  }
  if ((len > 0 || (flags & (SYN | FIN)) !== 0) && (a & TCP_A.KEEP_ALIVE) === 0) a |= retransmissionKind(s, st, f, r, now, firstRtt);

  let nextSeq = (seq + len) >>> 0;
  if ((flags & (SYN | FIN)) !== 0) nextSeq = (nextSeq + 1) >>> 0;
  const probe = (a & TCP_A.ZERO_WINDOW_PROBE) !== 0;
  if ((gt(nextSeq, fwdNextSeq) || fwdNextSeq === 0) && !probe) {
    st[f + NEXT_SEQ] = nextSeq;
    st[f + NEXT_SEQ_TIME] = now;
  }
  const fwdMax = st[f + MAX_SEQ_TO_BE_ACKED]!;
  if ((seq === fwdMax || fwdMax === 0) && !probe) st[f + MAX_SEQ_TO_BE_ACKED] = st[f + NEXT_SEQ]!;
  st[f + WINDOW] = window;
  st[f + LAST_ACK] = ack;
  st[f + LAST_ACK_TIME] = now;
  st[f + LAST_FLAGS] = a;
  out.flags = a;
}

/** Spurious, fast or plain retransmission, out-of-order, or 0, for a segment with data, SYN or FIN. */
function retransmissionKind(s: TcpSegment, st: Float64Array, f: number, r: number, now: number, firstRtt: number): number {
  const { seq, flags } = s;
  const len = s.payloadLength;
  const fwdNextSeq = st[f + NEXT_SEQ]!;
  const revLastAck = st[r + LAST_ACK]!;
  let notAdvanced = fwdNextSeq !== 0 && lt(seq, fwdNextSeq);
  // More than a byte starting one below the next sequence number: new data after a probe.
  if (len > 1 && ((fwdNextSeq - 1) >>> 0) === seq) notAdvanced = false;
  if (len > 0 && revLastAck !== 0 && le((seq + len) >>> 0, revLastAck)) return TCP_A.SPURIOUS_RETRANSMISSION;
  if (!notAdvanced) return 0;
  if (st[r + DUP_ACKS]! >= 2 && revLastAck === seq && since(now, st[r + LAST_ACK_TIME]!) < FAST_RETRANSMISSION_WINDOW) return TCP_A.FAST_RETRANSMISSION;
  const end = (seq + len + ((flags & (SYN | FIN)) !== 0 ? 1 : 0)) >>> 0;
  const window = firstRtt > 0 ? firstRtt : DEFAULT_OUT_OF_ORDER_WINDOW;
  if (since(now, st[f + NEXT_SEQ_TIME]!) < window && fwdNextSeq !== end) return TCP_A.OUT_OF_ORDER;
  return TCP_A.RETRANSMISSION;
}

/**
 * The marks of one segment in Wireshark's words, in the order its Info column shows them
 * (`TCP Dup ACK 12#1`: the 1st duplicate of the ACK first sent in frame 12).
 */
export function analysisMarks(a: SegmentAnalysis): string[] {
  const f = a.flags;
  const out: string[] = [];
  if (f & TCP_A.ZERO_WINDOW_PROBE_ACK) out.push('TCP ZeroWindowProbeAck');
  if (f & TCP_A.ZERO_WINDOW) out.push('TCP ZeroWindow');
  if (f & TCP_A.ZERO_WINDOW_PROBE) out.push('TCP ZeroWindowProbe');
  if (f & TCP_A.DUPLICATE_ACK) out.push(`TCP Dup ACK ${a.dupAckFrame}#${a.dupAckNum}`);
  if (f & TCP_A.KEEP_ALIVE_ACK) out.push('TCP Keep-Alive ACK');
  if (f & TCP_A.KEEP_ALIVE) out.push('TCP Keep-Alive');
  if (f & TCP_A.WINDOW_FULL) out.push('TCP Window Full');
  if (f & TCP_A.WINDOW_UPDATE) out.push('TCP Window Update');
  if (f & TCP_A.ACK_LOST_SEGMENT) out.push('TCP ACKed unseen segment');
  if (f & TCP_A.LOST_SEGMENT) out.push('TCP Previous segment not captured');
  if (f & TCP_A.OUT_OF_ORDER) out.push('TCP Out-Of-Order');
  if (f & TCP_A.SPURIOUS_RETRANSMISSION) out.push('TCP Spurious Retransmission');
  if (f & TCP_A.FAST_RETRANSMISSION) out.push('TCP Fast Retransmission');
  if (f & TCP_A.RETRANSMISSION) out.push('TCP Retransmission');
  return out;
}
