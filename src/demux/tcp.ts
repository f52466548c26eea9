/**
 * TCP connection bookkeeping as Zeek does it: per-end states, the history letters and the
 * conn_state code. Written from Zeek's documented behaviour (base/protocols/conn/main.zeek and
 * the TCP analyzer's endpoint states), see shared/peers.md §2.
 *
 * Everything here works on the fields of one end (what it sent) and its peer in the flow store
 * (flow-state.ts), with no allocation per packet: history letters are appended only when a new
 * letter appears, which is rare.
 */
import {
  type FlowStore, HAS_SEQ, HIST_SEEN, LAST_FIN, LAST_RST, LAST_SYN, PREV_STATE, REXMIT, REXMIT_NEXT, SEQ_END, STATE,
  ZERO_WIN, ZERO_WIN_NEXT,
} from './flow-state.js';

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
  const v = st.v;
  if ((v[e + HIST_SEEN]! & mask) !== 0) return true;
  v[e + HIST_SEEN] = v[e + HIST_SEEN]! | mask;
  letter(st, f, fromA, code);
  return false;
}

/** Zeek's ScaledHistoryEntry: a letter at the 1st, 10th, 100th... occurrence (`count` field, `next` field). */
function scaled(st: FlowStore, f: number, e: number, fromA: boolean, count: number, next: number, code: string): void {
  const v = st.v;
  if (++v[e + count]! === v[e + next]) {
    letter(st, f, fromA, code);
    v[e + next] = v[e + next]! * 10;
  }
}

/**
 * History letters for one segment from end `e` (peer `p`; both offsets of end fields in `st.v`)
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
  const v = st.v;
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
      if (seen(st, f, e, fromA, H_SYN, code) && seq !== v[e + LAST_SYN]) letter(st, f, fromA, code);
      v[e + LAST_SYN] = seq;
    } else if (fin) {
      // A FIN's sequence number is after its data, so compare seq + length.
      const x = (seq + len) >>> 0;
      if (seen(st, f, e, fromA, H_FIN, 'F') && x !== v[e + LAST_FIN]) letter(st, f, fromA, 'F');
      v[e + LAST_FIN] = x;
    } else {
      if (seen(st, f, e, fromA, H_RST, 'R') && seq !== v[e + LAST_RST]) letter(st, f, fromA, 'R');
      v[e + LAST_RST] = seq;
    }
  } else if (len > 0) {
    seen(st, f, e, fromA, H_DATA, 'D');
  } else if ((flags & ACK) !== 0) {
    seen(st, f, e, fromA, H_ACK, 'A');
  }

  // A zero window is worth a letter unless it comes with or after a RST, or after the peer's FIN
  // (nothing is left for the peer to send); scaling does not matter for zero.
  if (window === 0 && !rst && v[p + STATE] !== EP.CLOSED && v[e + STATE] !== EP.RESET) {
    scaled(st, f, e, fromA, ZERO_WIN, ZERO_WIN_NEXT, 'W');
  }

  // Retransmission as Zeek's update_last_seq sees it: a segment with payload that does not reach
  // past the highest sequence number this end already sent.
  const end = (seq + len + (syn ? 1 : 0) + (fin ? 1 : 0)) >>> 0;
  if (v[e + HAS_SEQ] === 0) {
    // First segment from this end (and its peer never acknowledged anything): a SYN starts the
    // numbering after itself, anything else just before itself, so it is never a duplicate.
    v[e + HAS_SEQ] = 1;
    v[e + SEQ_END] = syn ? end : seq;
  }
  const delta = (end - v[e + SEQ_END]!) | 0;
  if ((syn || rst) && (delta > TOO_LARGE_SEQ_DELTA || delta < -TOO_LARGE_SEQ_DELTA)) {
    // An outlandish SYN/RST sequence number moves nothing.
  } else if (v[e + STATE] === EP.RESET) {
    // Nothing after a RST is trusted.
  } else if (delta > 0) v[e + SEQ_END] = end;
  else if (len > 0) scaled(st, f, e, fromA, REXMIT, REXMIT_NEXT, 'T');
  // An ACK from this end tells where the peer's numbering is, if the peer has not spoken yet.
  if ((flags & ACK) !== 0 && v[p + HAS_SEQ] === 0) {
    v[p + HAS_SEQ] = 1;
    v[p + SEQ_END] = (ack - 1) >>> 0;
  }
}

/**
 * A segment with ACK sent to end `p`: notes whether it acknowledges p's FIN (the acknowledgement
 * number is past the FIN's sequence number; `ack32` as in updateHistory).
 */
export function noteFinAck(v: Float64Array, p: number, ack32: number): void {
  const fin = v[p + LAST_FIN]!;
  if (fin >= 0 && (((ack32 >>> 0) - fin - 1) | 0) >= 0) v[p + HIST_SEEN] = v[p + HIST_SEEN]! | FIN_ACKED;
}

/**
 * Whether a connection that closed (by FIN both ways when `finBothWays`, else by a RST) is
 * over, so that nothing more belongs to it: both FINs were acknowledged, or a RST ended it. Not
 * a RST that follows its sender's own FIN while the peer has not closed: the peer's FIN may
 * still answer it, and that makes it a normal close (updateState). `a`, `b`: the two ends'
 * offsets in `v`.
 */
export function closeIsOver(v: Float64Array, a: number, b: number, finBothWays: boolean): boolean {
  if (finBothWays) return (v[a + HIST_SEEN]! & v[b + HIST_SEEN]! & FIN_ACKED) !== 0;
  const aReset = v[a + STATE] === EP.RESET;
  const rst = aReset ? a : b;
  const peer = aReset ? b : a;
  return !(v[rst + PREV_STATE] === EP.CLOSED && v[peer + STATE] !== EP.CLOSED);
}

/** Zeek's SetState: the previous state is kept only when the state really changes. */
function setState(v: Float64Array, e: number, state: number): void {
  if (v[e + STATE] !== state) {
    v[e + PREV_STATE] = v[e + STATE]!;
    v[e + STATE] = state;
  }
}

/**
 * Endpoint state change for a segment from end `e` (peer `p`, originator's end `orig`: offsets
 * of end fields in `v`); `isOrig` says whether `e` is the originator (client). Follows the TCP
 * analyzer's per-state updates: a SYN from an idle end, the responder's SYN-ACK establishing both
 * ends, FIN closing, RST resetting (but not once both ends have closed), a first segment without
 * SYN making the end "partial" (midstream), and a FIN answering a FIN-then-RST counting as a
 * normal close.
 */
export function updateState(v: Float64Array, e: number, p: number, orig: number, isOrig: boolean, flags: number, len: number): void {
  const syn = (flags & SYN) !== 0;
  const ack = (flags & ACK) !== 0;
  const fin = (flags & FIN) !== 0;
  const rst = (flags & RST) !== 0;
  switch (v[e + STATE]) {
    case EP.INACTIVE:
      if (syn) {
        if (isOrig) setState(v, e, ack ? EP.SYN_ACK_SENT : EP.SYN_SENT);
        else {
          // The responder's SYN-ACK (or a simultaneous-open SYN) establishes both ends.
          if (v[p + STATE] === EP.SYN_SENT) setState(v, p, EP.ESTABLISHED);
          setState(v, e, EP.ESTABLISHED);
        }
      }
      if (fin) setState(v, e, EP.CLOSED);
      if (rst) setState(v, e, EP.RESET);
      if (v[e + STATE] === EP.INACTIVE) {
        if (!isOrig && len === 0 && v[orig + STATE] === EP.SYN_SENT) {
          // Some stacks ACK a SYN before answering it: not yet a partial connection.
        } else if (ack && v[p + STATE] === EP.ESTABLISHED) {
          // Only the SYN was missed: the peer's SYN-ACK was seen, so this is established.
          setState(v, e, EP.ESTABLISHED);
        } else setState(v, e, EP.PARTIAL);
      }
      return;
    case EP.SYN_SENT:
    case EP.SYN_ACK_SENT:
      if (fin) setState(v, e, EP.CLOSED);
      if (rst) setState(v, e, EP.RESET);
      return;
    case EP.ESTABLISHED:
    case EP.PARTIAL:
      if (syn && !ack && v[e + STATE] === EP.PARTIAL && v[p + STATE] === EP.INACTIVE) setState(v, e, EP.SYN_SENT);
      if (fin && !rst) {
        setState(v, e, EP.CLOSED);
        // The peer sent FIN then RST: with this FIN the connection closed normally after all.
        if (v[p + STATE] === EP.RESET && v[p + PREV_STATE] === EP.CLOSED) setState(v, p, EP.CLOSED);
      }
      if (rst) setState(v, e, EP.RESET);
      return;
    case EP.CLOSED:
      // After a FIN exchange a RST changes nothing.
      if (rst && v[p + STATE] !== EP.CLOSED) setState(v, e, EP.RESET);
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
