/**
 * TCP connection bookkeeping as Zeek does it: per-end states, the history letters and the
 * conn_state code. Written from Zeek's documented behaviour (base/protocols/conn/main.zeek and
 * the TCP analyzer's endpoint states), see shared/peers.md §2.
 *
 * Everything here works on the fields of one end (what it sent) and its peer in the flow store
 * (flow-state.ts), with no allocation per packet: history letters are appended only when a new
 * letter appears, which is rare.
 */
import { type FlowStore, gapSide, GAPS, MISS_FROM, MISS_N, MISS_TO, MISSED, NEEDS_ACK } from './flow-state.js';

/** Zeek's TCP endpoint states (TCP_ENDPOINT_*). */
export const EP = {
  INACTIVE: 0,
  SYN_SENT: 1,
  SYN_ACK_SENT: 2,
  PARTIAL: 3,
  ESTABLISHED: 4,
  CLOSED: 5,
  RESET: 6,
} as const;

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;

// Letters recorded once per direction (Zeek's HIST_* masks). SYN and SYN-ACK share one mask.
const H_SYN = 1;
const H_FIN = 2;
const H_RST = 4;
const H_DATA = 8;
const H_ACK = 16;
const H_FIN_RST = 32;
const H_MULTI = 64;
/**
 * Not a letter: the peer acknowledged this end's FIN. Kept with the letters' bits as another
 * once-per-end event; only tracked when closed connections are handed over at once
 * (DemuxOptions.endOnClose).
 */
const FIN_ACKED = 128;

/** A SYN or RST further than this from the last sequence number is not believed (Zeek's TOO_LARGE_SEQ_DELTA). */
const TOO_LARGE_SEQ_DELTA = 1_048_576;

/**
 * Letters are kept side-neutral while the flow is live, upper case for the canonical end A and
 * lower case for B, so that a late role decision (a SYN seen after its SYN-ACK) needs no rewrite:
 * `renderHistory` puts them in Zeek's case (upper = originator) once, at the end.
 */
function letter(st: FlowStore, f: number, fromA: boolean, upper: string): void {
  st.hist[f] += fromA ? upper : upper.toLowerCase();
}

/** Zeek's CheckHistory: record `code` the first time `mask` is seen. Returns true if it was seen before. */
function seen(st: FlowStore, f: number, e: number, fromA: boolean, mask: number, code: string): boolean {
  if ((st.histSeen(e) & mask) !== 0) return true;
  st.addHistSeen(e, mask);
  letter(st, f, fromA, code);
  return false;
}

/**
 * History letters for one segment from end `e` (peer `p`; both ends' base offsets, `FlowStore.side`)
 * of flow `f`, as Zeek's update_history does:
 * - more than one of SYN/FIN/RST: `I` for FIN+RST, else `Q` (once each);
 * - SYN: `S` (no ACK) or `H` (with ACK), again only when the sequence number differs from the
 *   last SYN's; FIN: `F`, again only when seq + length differs; RST: `R`, likewise on seq;
 * - otherwise `D` for data or `A` for a pure ACK, once each;
 * then `W` for a zero window and `T` for payload that repeats sequence space already sent, both
 * logarithmic (1st, 10th, 100th...). Call it before `updateState` (it looks at the states the
 * ends were in before this segment). `seq32` and `ack32` are the sequence and acknowledgement
 * numbers as int32 (`x | 0`): an unsigned 32-bit number of 2^31 or more is not a small integer,
 * and passed as one to a function that is not inlined it is boxed, 16 bytes of garbage each.
 */
export function updateHistory(
  st: FlowStore, f: number, e: number, p: number, fromA: boolean,
  flags: number, seq32: number, ack32: number, len: number, window: number,
): void {
  const seq = seq32 >>> 0;
  const ack = ack32 >>> 0;
  const syn = (flags & SYN) !== 0;
  const fin = (flags & FIN) !== 0;
  const rst = (flags & RST) !== 0;
  const bits = (syn ? 1 : 0) + (fin ? 1 : 0) + (rst ? 1 : 0);
  if (bits > 1) {
    if (fin && rst) seen(st, f, e, fromA, H_FIN_RST, 'I');
    else seen(st, f, e, fromA, H_MULTI, 'Q');
  } else if (bits === 1) {
    if (syn) {
      const code = (flags & ACK) !== 0 ? 'H' : 'S';
      if (seen(st, f, e, fromA, H_SYN, code) && seq !== st.lastSyn(e)) letter(st, f, fromA, code);
      st.setLastSyn(e, seq);
    } else if (fin) {
      // A FIN's sequence number is after its data, so compare seq + length.
      const x = (seq + len) >>> 0;
      if (seen(st, f, e, fromA, H_FIN, 'F') && x !== st.lastFin(e)) letter(st, f, fromA, 'F');
      st.setLastFin(e, x);
    } else {
      if (seen(st, f, e, fromA, H_RST, 'R') && seq !== st.lastRst(e)) letter(st, f, fromA, 'R');
      st.setLastRst(e, seq);
    }
  } else if (len > 0) {
    seen(st, f, e, fromA, H_DATA, 'D');
  } else if ((flags & ACK) !== 0) {
    seen(st, f, e, fromA, H_ACK, 'A');
  }

  // A zero window is worth a letter unless it comes with or after a RST, or after the peer's FIN
  // (nothing is left for the peer to send); scaling does not matter for zero. Like the 'T'
  // below, it is logarithmic (Zeek's ScaledHistoryEntry: the 1st, 10th, 100th...).
  if (window === 0 && !rst && st.state(p) !== EP.CLOSED && st.state(e) !== EP.RESET) {
    if (st.countZeroWindow(e)) letter(st, f, fromA, 'W');
  }

  // Retransmission as Zeek's update_last_seq sees it: a segment with payload that does not reach
  // past the highest sequence number this end already sent.
  const end = (seq + len + (syn ? 1 : 0) + (fin ? 1 : 0)) >>> 0;
  if (st.seqEnd(e) < 0) {
    // First segment from this end (and its peer never acknowledged anything): a SYN starts the
    // numbering after itself, anything else just before itself, so it is never a duplicate.
    st.setSeqEnd(e, syn ? end : seq);
  }
  const delta = (end - st.seqEnd(e)) | 0;
  if ((syn || rst) && (delta > TOO_LARGE_SEQ_DELTA || delta < -TOO_LARGE_SEQ_DELTA)) {
    // An outlandish SYN/RST sequence number moves nothing.
  } else if (st.state(e) === EP.RESET) {
    // Nothing after a RST is trusted.
  } else if (delta > 0) st.setSeqEnd(e, end);
  else if (len > 0 && st.countRexmit(e)) letter(st, f, fromA, 'T');
  // An ACK from this end tells where the peer's numbering is, if the peer has not spoken yet.
  if ((flags & ACK) !== 0 && st.seqEnd(p) < 0) {
    st.setSeqEnd(p, (ack - 1) >>> 0);
  }
}

/**
 * A segment with ACK sent to end `p`: notes whether it acknowledges p's FIN (the acknowledgement
 * number is past the FIN's sequence number; `ack32` as in updateHistory).
 */
export function noteFinAck(st: FlowStore, p: number, ack32: number): void {
  const fin = st.lastFin(p);
  if (fin >= 0 && (((ack32 >>> 0) - fin - 1) | 0) >= 0) st.addHistSeen(p, FIN_ACKED);
}

/**
 * Whether a connection that closed (by FIN both ways when `finBothWays`, else by a RST) is
 * over, so that nothing more belongs to it: both FINs were acknowledged, or a RST ended it. Not
 * a RST that follows its sender's own FIN while the peer has not closed: the peer's FIN may
 * still answer it, and that makes it a normal close (updateState). `a`, `b`: the two ends'
 * base offsets.
 */
export function closeIsOver(st: FlowStore, a: number, b: number, finBothWays: boolean): boolean {
  if (finBothWays) return (st.histSeen(a) & st.histSeen(b) & FIN_ACKED) !== 0;
  const aReset = st.state(a) === EP.RESET;
  const rst = aReset ? a : b;
  const peer = aReset ? b : a;
  return !(st.prevState(rst) === EP.CLOSED && st.state(peer) !== EP.CLOSED);
}

// -------------------------------------------------------------------------------------------------
// Content gaps: bytes of a stream that were sent but never captured (Zeek's missed_bytes, 'g')

/**
 * A jump of the stream larger than this (a segment that far past what was seen, or an ACK that far
 * past it) is not believed: it re-anchors the numbering instead of counting ~a gigabyte missed.
 * 2^30 is the largest window TCP can advertise (RFC 7323 §2.3); corrupt or unrelated sequence
 * numbers land here far more often than real loss of that size.
 */
const MAX_GAP = 0x40000000;

/**
 * A hole larger than this (65,535 bytes: the largest window without window scaling, RFC 7323)
 * that no ACK covers does not count when the flow ends: a segment that far ahead of everything
 * seen is more likely outside the receiver's window (crafted, or an evasion) than proof that the
 * bytes before it were sent. Covered by an ACK, it counts like any other.
 */
const UNACKED_HOLE = 65_535;

/** Zeek's is_clean: gaps are only believed between ends that are established (or closed from there). */
function clean(st: FlowStore, x: number): boolean {
  const s = st.state(x);
  if (s === EP.ESTABLISHED || s === EP.PARTIAL) return true;
  if (s !== EP.CLOSED) return false;
  const prev = st.prevState(x);
  return prev === EP.ESTABLISHED || prev === EP.PARTIAL;
}

/**
 * `count` more gaps of `bytes` in all in the stream of end A (`xIsA`) or B of flow `f`: missed
 * bytes, and 'G' at the 1st, 10th, 100th...
 */
function missed(st: FlowStore, f: number, xIsA: boolean, bytes: number, count: number): void {
  const g = st.gapsOf(f);
  const x = gapSide(xIsA);
  g[x + MISSED] = g[x + MISSED]! + bytes;
  const before = g[x + GAPS]!;
  const after = before + count;
  g[x + GAPS] = after;
  for (let t = 1; t <= after; t *= 10) if (t > before) letter(st, f, xIsA, 'G');
}

/** No pending hole left in the stream of end `x` (its base offset; `gx` in the details `g`). */
function clearHoles(st: FlowStore, x: number, g: Float64Array, gx: number): void {
  st.setMiss(x, 0);
  g[gx + MISS_N] = 0;
  g[gx + NEEDS_ACK] = 0;
}

/** Bytes of end A's (`fromA`) or B's stream of flow `f` found missing so far. */
export function missedBytes(st: FlowStore, f: number, fromA: boolean): number {
  const g = st.gaps[f];
  return g ? g[gapSide(fromA) + MISSED]! : 0;
}

/**
 * Content gaps of a TCP segment from end `e` (peer `p`; both ends' base offsets) of flow
 * `f`, after `updateState`. `seq32`/`ack32` as int32, as for updateHistory; `len` the payload
 * length the capture holds (a snap length may have cut the rest: the bytes past it were not
 * captured, as Zeek's reassembler sees them), -1 for the first fragment of a segment (its length
 * is unknown).
 *
 * The rule, and where it follows Zeek (TCP_Reassembler::Undelivered/Gap, TCP_Endpoint::Gap,
 * content_gap -> conn.log missed_bytes):
 * - Each end's stream is followed from its first segment: a SYN (the data starts after it) or a
 *   segment with data; or from the ack of the peer's SYN-ACK when this end's SYN was missed. A pure ACK does not start it (a keep-alive sits one byte below the stream), and
 *   neither does the peer's ACK of a flow caught mid-stream: bytes sent before the capture began
 *   and acknowledged after it are not capture loss.
 * - A segment starting past the highest sequence number seen leaves a hole. The hole is pending:
 *   a later segment (out of order, or a retransmission) may fill it, and then nothing is missed.
 * - The peer's ACK past a hole confirms it missed (Zeek's one gap a hole); an ACK past everything
 *   seen is a gap too (the bytes were delivered to the peer but not to the capture), ACK numbers
 *   clamped to the FIN as Zeek does. As in Zeek, this only counts when both ends are established
 *   or closed from there, and never from an ACK in a RST (Zeek distrusts both).
 * - When the flow ends (finishGaps), holes still pending count as missed, unless one of them was
 *   larger than UNACKED_HOLE (a segment that far ahead is more likely out of the window).
 * Where it differs from Zeek:
 * - Zeek counts no gaps on a connection whose start it did not see (report_gaps_for_partial is
 *   F); here a mid-stream flow counts them, from the first segment of each end (above): a
 *   capture started under load is where loss happens.
 * - Zeek never counts a hole that no ACK covers (a one-way capture, or the ACK was lost too);
 *   here it counts when the flow ends, because a later segment proves the bytes were sent.
 * - Zeek keeps every out-of-order block; here only the pending bytes, their count and the span
 *   from the first hole's start to the last one's end are kept (the stream's end and the pending
 *   bytes in the record; the rest in details made only for a flow that lost something). One hole is
 *   followed exactly; with several, a segment inside the span is taken to fill holes as far as
 *   it overlaps them, and an ACK must pass the whole span to confirm them, so the count can only
 *   come out low, never high.
 * - A jump past MAX_GAP is not believed (Zeek takes any ACK within 2^31).
 */
export function updateGaps(
  st: FlowStore, f: number, e: number, p: number, fromA: boolean, flags: number, seq32: number, ack32: number, len: number,
): void {
  // A RST's sequence number and payload are not stream data, and its ACK is not trusted (Zeek).
  if ((flags & RST) !== 0) return;
  const syn = (flags & SYN) !== 0;
  if ((flags & ACK) !== 0) {
    const next = st.gapNext(p);
    if (next >= 0) {
      if (((ack32 - next) | 0) > 0 || st.miss(p) > 0) ackGaps(st, f, e, p, !fromA, ack32, next);
    } else if (syn) {
      // A SYN-ACK whose SYN was not seen: the peer's stream starts at what it acknowledges.
      st.setGapNext(p, ack32 >>> 0);
    }
  }
  if (len < 0) {
    // The first IP fragment of a segment: its length is not known here, so the stream starts
    // again from the next segment (no hole can be told from the rest of this one).
    st.setGapNext(e, -1);
    return;
  }
  // Only data and the SYN move the stream: a pure ACK or a FIN without data leaves it (a
  // keep-alive sits one byte below; a FIN repeated at another place is not data).
  if (len === 0 && !syn) return;
  const start = syn ? (seq32 + 1) | 0 : seq32;
  const end = (start + len) | 0;
  const next = st.gapNext(e);
  if (next < 0) {
    st.setGapNext(e, end >>> 0);
    return;
  }
  const d = (start - next) | 0;
  if (d === 0) {
    st.setGapNext(e, end >>> 0); // in order: the usual case
  } else if (d > 0) {
    // Past the highest byte seen: the bytes between are a hole (unless a SYN starts the numbering again).
    if (!syn && d <= MAX_GAP) {
      const g = st.gapsOf(f);
      const ge = gapSide(fromA);
      if (st.miss(e) === 0) g[ge + MISS_FROM] = next;
      if (d > UNACKED_HOLE) g[ge + NEEDS_ACK] = 1;
      st.setMiss(e, st.miss(e) + d);
      g[ge + MISS_N] = g[ge + MISS_N]! + 1;
      g[ge + MISS_TO] = start >>> 0;
    }
    st.setGapNext(e, end >>> 0);
  } else {
    // Old sequence space (a retransmission or a late segment): it may reach further, or fill a hole.
    if (((end - next) | 0) > 0) st.setGapNext(e, end >>> 0);
    if (len > 0 && st.miss(e) > 0) fillHoles(st, e, st.gapsOf(f), gapSide(fromA), start, (start + len) | 0);
  }
}

/**
 * The ACK `ack32` from end `e` of the stream of end `p` (A when `pIsA`), whose highest byte seen
 * is below `next`; called when it passes `next` or holes are pending.
 */
function ackGaps(st: FlowStore, f: number, e: number, p: number, pIsA: boolean, ack32: number, next: number): void {
  // Zeek's AckReceived: an ACK at or past the peer's FIN counts up to the FIN octet only.
  const peerFin = st.lastFin(p);
  const ack = peerFin >= 0 && ((ack32 - peerFin) | 0) > 0 ? peerFin | 0 : ack32;
  const pending = st.miss(p);
  if (pending > 0) {
    const g = st.gapsOf(f);
    const gp = gapSide(pIsA);
    const from = g[gp + MISS_FROM]!;
    if (((ack - g[gp + MISS_TO]!) | 0) >= 0) {
      missed(st, f, pIsA, pending, g[gp + MISS_N]!);
      clearHoles(st, p, g, gp);
    } else if (g[gp + MISS_N] === 1 && ((ack - from) | 0) > 0) {
      // The front of the one hole is acknowledged: that part is missed (Zeek reports it as a gap then).
      const n = (ack - from) | 0;
      missed(st, f, pIsA, n, 1);
      st.setMiss(p, pending - n);
      g[gp + MISS_FROM] = ack >>> 0;
    }
  }
  const ahead = (ack - next) | 0;
  if (ahead <= 0 || ahead > MAX_GAP) return;
  if (!clean(st, e) || !clean(st, p)) return;
  // Zeek's update_ack_seq: an ACK of 0 far ahead is more likely broken than a wrapped stream.
  if (ack === 0 && ahead > TOO_LARGE_SEQ_DELTA) return;
  missed(st, f, pIsA, ahead, 1);
  st.setGapNext(p, ack >>> 0);
}

/**
 * Data [s, t) (int32 sequence numbers) seen in the span of pending holes of end `e`. One hole is
 * exact; with several, the overlap with the span is taken as filled (the count can only go down).
 */
function fillHoles(st: FlowStore, e: number, g: Float64Array, ge: number, s: number, t: number): void {
  const from = g[ge + MISS_FROM]!;
  const span = (g[ge + MISS_TO]! - from) | 0;
  let lo = (s - from) | 0;
  let hi = (t - from) | 0;
  if (lo < 0) lo = 0;
  if (hi > span) hi = span;
  if (hi <= lo) return;
  if (lo === 0 && hi === span) {
    clearHoles(st, e, g, ge);
    return;
  }
  const one = g[ge + MISS_N] === 1;
  let pending = one ? span : st.miss(e);
  if (lo === 0) {
    g[ge + MISS_FROM] = (from + hi) >>> 0;
    pending -= hi;
  } else if (hi === span) {
    g[ge + MISS_TO] = (from + lo) >>> 0;
    pending -= span - lo;
  } else {
    pending -= hi - lo;
    if (one) g[ge + MISS_N] = 2; // the hole is now two
  }
  if (pending <= 0) {
    clearHoles(st, e, g, ge);
    return;
  }
  st.setMiss(e, pending);
  if (g[ge + MISS_N]! > pending) g[ge + MISS_N] = pending;
}

/**
 * The flow ends: holes of end `x` (A when `xIsA`) still pending were never filled, so their
 * bytes are missed, unless one of them was too large to believe without an ACK (UNACKED_HOLE).
 */
export function finishGaps(st: FlowStore, f: number, x: number, xIsA: boolean): void {
  const pending = st.miss(x);
  if (pending > 0) {
    const g = st.gapsOf(f);
    const gx = gapSide(xIsA);
    if (g[gx + NEEDS_ACK] === 0) missed(st, f, xIsA, pending, g[gx + MISS_N]!);
    clearHoles(st, x, g, gx);
  }
}

/** Zeek's SetState: the previous state is kept only when the state really changes. */
function setState(st: FlowStore, e: number, state: number): void {
  const prev = st.state(e);
  if (prev !== state) {
    st.setPrevState(e, prev);
    st.setState(e, state);
  }
}

/** An end that has closed its side (Zeek's did_close): it sent a FIN or a RST. */
export function isClosedEnd(state: number): boolean {
  return state === EP.CLOSED || state === EP.RESET;
}

/**
 * Endpoint state change for a segment from end `e` (peer `p`, originator's end `orig`: the
 * ends' base offsets); `isOrig` says whether `e` is the originator (client). Follows the TCP
 * analyzer's per-state updates: a SYN from an idle end, the responder's SYN-ACK establishing both
 * ends, FIN closing, RST resetting (but not once both ends have closed), a first segment without
 * SYN making the end "partial" (midstream), and a FIN answering a FIN-then-RST counting as a
 * normal close.
 */
export function updateState(st: FlowStore, e: number, p: number, orig: number, isOrig: boolean, flags: number, len: number): void {
  const syn = (flags & SYN) !== 0;
  const ack = (flags & ACK) !== 0;
  const fin = (flags & FIN) !== 0;
  const rst = (flags & RST) !== 0;
  switch (st.state(e)) {
    case EP.INACTIVE:
      if (syn) {
        if (isOrig) setState(st, e, ack ? EP.SYN_ACK_SENT : EP.SYN_SENT);
        else {
          // The responder's SYN-ACK (or a simultaneous-open SYN) establishes both ends.
          if (st.state(p) === EP.SYN_SENT) setState(st, p, EP.ESTABLISHED);
          setState(st, e, EP.ESTABLISHED);
        }
      }
      if (fin) setState(st, e, EP.CLOSED);
      if (rst) setState(st, e, EP.RESET);
      if (st.state(e) === EP.INACTIVE) {
        if (!isOrig && len === 0 && st.state(orig) === EP.SYN_SENT) {
          // Some stacks ACK a SYN before answering it: not yet a partial connection.
        } else if (ack && st.state(p) === EP.ESTABLISHED) {
          // Only the SYN was missed: the peer's SYN-ACK was seen, so this is established.
          setState(st, e, EP.ESTABLISHED);
        } else setState(st, e, EP.PARTIAL);
      }
      return;
    case EP.SYN_SENT:
    case EP.SYN_ACK_SENT:
      if (fin) setState(st, e, EP.CLOSED);
      if (rst) setState(st, e, EP.RESET);
      return;
    case EP.ESTABLISHED:
    case EP.PARTIAL:
      if (syn && !ack && st.state(e) === EP.PARTIAL && st.state(p) === EP.INACTIVE) setState(st, e, EP.SYN_SENT);
      if (fin && !rst) {
        setState(st, e, EP.CLOSED);
        // The peer sent FIN then RST: with this FIN the connection closed normally after all.
        if (st.state(p) === EP.RESET && st.prevState(p) === EP.CLOSED) setState(st, p, EP.CLOSED);
      }
      if (rst) setState(st, e, EP.RESET);
      return;
    case EP.CLOSED:
      // After a FIN exchange a RST changes nothing.
      if (rst && st.state(p) !== EP.CLOSED) setState(st, e, EP.RESET);
      return;
    default:
      return; // RESET stays RESET
  }
}

const RSTOS0_HISTORY = /^\^?S[^HAFGIQ]*R.*$/s;

/**
 * Zeek's conn_state for TCP from the originator's and responder's endpoint states, their
 * payload sizes and the rendered history (upper case = originator).
 */
export function tcpConnState(os: number, rs: number, origSize: number, respSize: number, history: string): string {
  const oInactive = os === EP.INACTIVE || os === EP.PARTIAL;
  const rInactive = rs === EP.INACTIVE || rs === EP.PARTIAL;
  if (rs === EP.RESET) {
    if (os === EP.SYN_SENT || os === EP.SYN_ACK_SENT || (os === EP.RESET && origSize === 0 && respSize === 0)) return 'REJ';
    return oInactive ? 'RSTRH' : 'RSTR';
  }
  if (os === EP.RESET) {
    if (rInactive) return RSTOS0_HISTORY.test(history) ? 'RSTOS0' : 'OTH';
    return 'RSTO';
  }
  if (rs === EP.CLOSED && os === EP.CLOSED) return 'SF';
  if (os === EP.CLOSED) return rInactive ? 'SH' : 'S2';
  if (rs === EP.CLOSED) return oInactive ? 'SHR' : 'S3';
  if (os === EP.SYN_SENT && rs === EP.INACTIVE) return 'S0';
  if (os === EP.ESTABLISHED && rs === EP.ESTABLISHED) return 'S1';
  return 'OTH';
}

/** Zeek's conn_state for UDP (and what we use for other datagram flows): who was heard. */
export function udpConnState(origPackets: number, respPackets: number): string {
  if (origPackets > 0) return respPackets > 0 ? 'SF' : 'S0';
  return respPackets > 0 ? 'SHR' : 'OTH';
}

/** Side-neutral history (upper = end A) to Zeek's (upper = originator). */
export function renderHistory(hist: string, clientIsA: boolean): string {
  if (clientIsA) return hist;
  let out = '';
  for (let i = 0; i < hist.length; i++) {
    const c = hist[i]!;
    const lower = c.toLowerCase();
    out += c === lower ? c.toUpperCase() : lower;
  }
  return out;
}
