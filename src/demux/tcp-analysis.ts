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

/** One direction's numbers (Wireshark's per-flow analysis state). 0 in `nextSeq` means none yet. */
interface Side {
  nextSeq: number;
  nextSeqTime: number;
  lastAck: number;
  lastAckTime: number;
  window: number;
  /** Duplicate ACKs this side sent for its current ACK. */
  dupAcks: number;
  lastNonDupAck: number;
  maxSeqToBeAcked: number;
  lastFlags: number;
  /** Since its SYN, this side has not sent a pure ACK (its window is still the SYN's, unscaled). */
  firstAck: boolean;
  /** The last ACK of data never seen that this side sent. */
  unseenAck: number;
}

// Times not yet known are -Infinity: no time since them is below a bound.
const newSide = (): Side => ({
  nextSeq: 0, nextSeqTime: -Infinity, lastAck: 0, lastAckTime: -Infinity, window: 0xffff_ffff, dupAcks: 0, lastNonDupAck: 0,
  maxSeqToBeAcked: 0, lastFlags: 0, firstAck: false, unseenAck: -1,
});

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

/**
 * The segments one direction sent that the other has not acknowledged yet, for the ACK RTT
 * (Wireshark's `segments` list, newest first there, oldest first here): parallel arrays of each
 * one's first and next sequence number, frame and time.
 */
class Unacked {
  seq: number[] = [];
  next: number[] = [];
  frame: number[] = [];
  time: number[] = [];

  get size(): number {
    return this.seq.length;
  }

  push(seq: number, next: number, frame: number, time: number): void {
    this.seq.push(seq);
    this.next.push(next);
    this.frame.push(frame);
    this.time.push(time);
  }

  /**
   * An ACK number from the other side: segments it covers are dropped (one it covers in part
   * now starts at the ACK). Wireshark's rule for the RTT: the ACK must end a segment exactly, and
   * of several that end there (a retransmission and its original) the oldest one counts.
   * Returns the index of that one before the drop, in `hit` (its frame and time copied), or false.
   */
  ack(ack: number, hit: { frame: number; time: number }): boolean {
    let found = false;
    let keep = 0;
    const n = this.seq.length;
    for (let i = 0; i < n; i++) {
      const next = this.next[i]!;
      if (next === ack) {
        if (!found) {
          found = true;
          hit.frame = this.frame[i]!;
          hit.time = this.time[i]!;
        }
        continue;
      }
      if (gt(ack, this.seq[i]!) && le(ack, next)) this.seq[i] = ack;
      else if (!gt(next, ack)) continue; // acknowledged before: dropped
      if (keep !== i) {
        this.seq[keep] = this.seq[i]!;
        this.next[keep] = next;
        this.frame[keep] = this.frame[i]!;
        this.time[keep] = this.time[i]!;
      }
      keep++;
    }
    if (keep !== n) {
      this.seq.length = keep;
      this.next.length = keep;
      this.frame.length = keep;
      this.time.length = keep;
    }
    return found;
  }
}

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
  private readonly sides = [newSide(), newSide()];
  private readonly shifts = new Int8Array([SCALE_UNKNOWN, SCALE_UNKNOWN]);
  private readonly unacked = [new Unacked(), new Unacked()];
  private readonly hit = { frame: 0, time: 0 };
  private t0 = NaN;
  private lastSyn = -1;
  private lastSynAck = -1;
  private firstRtt = 0;
  private synAckPart: number | null = null;
  private ackPart: number | null = null;
  private handshakeTotal = -1;
  /** Counts by TCP_A bit index (0..15). */
  private readonly counts = new Uint32Array(16);
  /** ACK RTTs (ns) of data to the server and to the client, with their smallest. */
  private readonly rtts: [number[], number[]] = [[], []];
  private readonly rttCount = [0, 0];
  private readonly rttMin = [Infinity, Infinity];
  /** The last segment's analysis, reused by each `add`. */
  readonly out: SegmentAnalysis = { flags: 0, dupAckNum: 0, dupAckFrame: 0, windowFactor: 1, ackRtt: -1, ackedFrame: 0 };

  constructor(private readonly keepRtts = true) {}

  /** One segment: its analysis (the reused `out`: read or copy it before the next call). */
  add(s: TcpSegment): SegmentAnalysis {
    if (Number.isNaN(this.t0)) this.t0 = s.sec;
    const side = s.toServer ? 0 : 1;
    const fwd = this.sides[side]!;
    const rev = this.sides[1 - side]!;
    const shifts = this.shifts;
    const now = (s.sec - this.t0) * 1e9 + s.nsec;
    const out = this.out;
    out.flags = 0;
    out.dupAckNum = 0;
    out.dupAckFrame = 0;
    out.ackRtt = -1;
    out.ackedFrame = 0;
    out.windowFactor = (s.flags & SYN) !== 0 ? 1 : factorOf(shifts[side]!);
    analyzeSegment(s, fwd, rev, out, now, this.firstRtt, shifts[1 - side]!);
    const len = s.payloadLength;
    if ((len > 0 || (s.flags & (SYN | FIN)) !== 0) && this.unacked[side]!.size < MAX_UNACKED) {
      const next = (s.seq + len + ((s.flags & (SYN | FIN)) !== 0 ? 1 : 0)) >>> 0;
      this.unacked[side]!.push(s.seq, next, s.frame, now);
    }
    const other = this.unacked[1 - side]!;
    if (other.size > 0 && other.ack(s.ack, this.hit)) {
      out.ackedFrame = this.hit.frame;
      // tshark shows no ack_rtt of 0 (its field is written only when the time is not zero).
      const rtt = now - this.hit.time;
      if (rtt > 0) {
        out.ackRtt = rtt / 1e9;
        this.rttCount[1 - side]!++;
        if (rtt < this.rttMin[1 - side]!) this.rttMin[1 - side] = rtt;
        if (this.keepRtts) this.rtts[1 - side]!.push(rtt);
      }
    }
    if ((s.flags & SYN) !== 0) {
      if ((s.flags & ACK) === 0) this.lastSyn = now;
      else this.lastSynAck = now;
      fwd.firstAck = true;
      noteSyn(shifts, 0, side, (s.flags & ACK) !== 0, s.windowScale);
    }
    if ((s.flags & (SYN | ACK)) === ACK) {
      if (this.lastSyn >= 0 && this.firstRtt === 0) {
        this.firstRtt = Math.max(0, now - this.lastSyn);
        this.handshakeTotal = this.firstRtt;
        if (this.lastSynAck >= this.lastSyn) {
          this.synAckPart = this.lastSynAck - this.lastSyn;
          this.ackPart = now - this.lastSynAck;
        } else this.synAckPart = null;
      }
      fwd.firstAck = false;
    }
    for (let f = out.flags, bit = 0; f !== 0; f >>>= 1, bit++) if ((f & 1) !== 0) this.counts[bit]!++;
    return out;
  }

  /**
   * The connection so far: counts of each mark, the handshake and the ACK round trips.
   * `clientSentToServer`: the segments `add` was given as `toServer` were the client's (false when
   * the caller's sides turned out the other way round).
   */
  summary(clientSentToServer = true): TcpAnalysisSummary {
    const marks = {} as Record<MarkName, number>;
    for (const [bit, name] of MARK_NAMES) marks[name] = this.counts[31 - Math.clz32(bit)]!;
    const s = (ns: number | null): number | null => (ns === null ? null : ns / 1e9);
    const rtt = (i: number): AckRtt | null => {
      if (this.rttCount[i] === 0) return null;
      const list = this.rtts[i]!.slice().sort((a, b) => a - b);
      const mid = list.length >> 1;
      const median = list.length === 0 ? NaN : list.length % 2 === 1 ? list[mid]! : (list[mid - 1]! + list[mid]!) / 2;
      return { samples: this.rttCount[i]!, min: this.rttMin[i]! / 1e9, median: median / 1e9 };
    };
    return {
      marks,
      handshake: this.handshakeTotal < 0 ? null
        : { synToSynAck: s(this.synAckPart), synAckToAck: s(this.ackPart), total: this.handshakeTotal / 1e9 },
      ackRtt: clientSentToServer ? { toServer: rtt(0), toClient: rtt(1) } : { toServer: rtt(1), toClient: rtt(0) },
    };
  }
}

/** The analysis of each segment of one connection, in capture order (both directions): TcpAnalyzer over a list. */
export function analyzeTcp(segments: readonly TcpSegment[]): SegmentAnalysis[] {
  const analyzer = new TcpAnalyzer(false);
  return segments.map((s) => ({ ...analyzer.add(s) }));
}

function analyzeSegment(s: TcpSegment, fwd: Side, rev: Side, out: SegmentAnalysis, now: number, firstRtt: number, revShift: number): void {
  const { seq, ack, flags, window } = s;
  const len = s.payloadLength;
  const plain = (flags & (SYN | FIN | RST)) === 0;
  let a = 0;
  fwdChecks: {
    if (len === 1 && seq === fwd.nextSeq && rev.window === 0) {
      a |= TCP_A.ZERO_WINDOW_PROBE;
      break fwdChecks;
    }
    if (window === 0 && plain) a |= TCP_A.ZERO_WINDOW;
    if (fwd.nextSeq !== 0 && gt(seq, fwd.nextSeq) && (flags & RST) === 0) a |= TCP_A.LOST_SEGMENT;
    if (len <= 1 && seq === ((fwd.nextSeq - 1) >>> 0) && plain) a |= TCP_A.KEEP_ALIVE;
    const repeats = len === 0 && seq === fwd.nextSeq && ack === fwd.lastAck && plain;
    if (repeats && window !== 0 && window !== fwd.window) a |= TCP_A.WINDOW_UPDATE;
    if (len > 0 && revShift !== SCALE_UNKNOWN && plain) {
      const shift = rev.firstAck || revShift < 0 ? 0 : revShift;
      if (((seq + len) >>> 0) === ((rev.lastAck + rev.window * 2 ** shift) % 2 ** 32)) a |= TCP_A.WINDOW_FULL;
    }
    if (repeats && window !== 0 && window === fwd.window && (rev.lastFlags & TCP_A.KEEP_ALIVE) !== 0) {
      a |= TCP_A.KEEP_ALIVE_ACK;
      break fwdChecks;
    }
    if (repeats && window === 0 && fwd.window === 0 && (rev.lastFlags & TCP_A.ZERO_WINDOW_PROBE) !== 0) {
      a |= TCP_A.ZERO_WINDOW_PROBE_ACK;
      break fwdChecks;
    }
    if (repeats && window !== 0 && window === fwd.window) {
      fwd.dupAcks++;
      a |= TCP_A.DUPLICATE_ACK;
      out.dupAckNum = fwd.dupAcks;
      out.dupAckFrame = fwd.lastNonDupAck;
    }
  }
  if (ack !== fwd.lastAck) {
    fwd.lastNonDupAck = s.frame;
    fwd.dupAcks = 0;
  }
  if (rev.maxSeqToBeAcked !== 0 && gt(ack, rev.maxSeqToBeAcked) && (flags & ACK) !== 0) {
    // Once for the same gap: what rev sent so far counts as seen, and the same ACK again is no news.
    if (ack !== fwd.unseenAck) a |= TCP_A.ACK_LOST_SEGMENT;
    fwd.unseenAck = ack;
    rev.maxSeqToBeAcked = rev.nextSeq;
  }
  if ((len > 0 || (flags & (SYN | FIN)) !== 0) && (a & TCP_A.KEEP_ALIVE) === 0) a |= retransmissionKind(s, fwd, rev, now, firstRtt);

  let nextSeq = (seq + len) >>> 0;
  if ((flags & (SYN | FIN)) !== 0) nextSeq = (nextSeq + 1) >>> 0;
  const probe = (a & TCP_A.ZERO_WINDOW_PROBE) !== 0;
  if ((gt(nextSeq, fwd.nextSeq) || fwd.nextSeq === 0) && !probe) {
    fwd.nextSeq = nextSeq;
    fwd.nextSeqTime = now;
  }
  if ((seq === fwd.maxSeqToBeAcked || fwd.maxSeqToBeAcked === 0) && !probe) fwd.maxSeqToBeAcked = fwd.nextSeq;
  fwd.window = window;
  fwd.lastAck = ack;
  fwd.lastAckTime = now;
  fwd.lastFlags = a;
  out.flags = a;
}

/** Spurious, fast or plain retransmission, out-of-order, or 0, for a segment with data, SYN or FIN. */
function retransmissionKind(s: TcpSegment, fwd: Side, rev: Side, now: number, firstRtt: number): number {
  const { seq, flags } = s;
  const len = s.payloadLength;
  let notAdvanced = fwd.nextSeq !== 0 && lt(seq, fwd.nextSeq);
  // More than a byte starting one below the next sequence number: new data after a probe.
  if (len > 1 && ((fwd.nextSeq - 1) >>> 0) === seq) notAdvanced = false;
  if (len > 0 && rev.lastAck !== 0 && le((seq + len) >>> 0, rev.lastAck)) return TCP_A.SPURIOUS_RETRANSMISSION;
  if (!notAdvanced) return 0;
  if (rev.dupAcks >= 2 && rev.lastAck === seq && since(now, rev.lastAckTime) < FAST_RETRANSMISSION_WINDOW) return TCP_A.FAST_RETRANSMISSION;
  const end = (seq + len + ((flags & (SYN | FIN)) !== 0 ? 1 : 0)) >>> 0;
  const window = firstRtt > 0 ? firstRtt : DEFAULT_OUT_OF_ORDER_WINDOW;
  if (since(now, fwd.nextSeqTime) < window && fwd.nextSeq !== end) return TCP_A.OUT_OF_ORDER;
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
