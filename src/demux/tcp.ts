/**
 * TCP connection bookkeeping as Zeek does it: per-end states, the history letters and the
 * conn_state code. Written from Zeek's documented behaviour (base/protocols/conn/main.zeek and
 * the TCP analyzer's endpoint states), see shared/peers.md §2.
 *
 * Everything here works on one `Side` (what one end sent) and its peer, with no allocation per
 * packet: history letters are appended only when a new letter appears, which is rare.
 */

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

/** A SYN or RST further than this from the last sequence number is not believed (Zeek's TOO_LARGE_SEQ_DELTA). */
const TOO_LARGE_SEQ_DELTA = 1_048_576;

/** What one end of a flow sent, and its TCP endpoint state. */
export class Side {
  packets = 0;
  wireBytes = 0;
  ipBytes = 0;
  payloadBytes = 0;

  /** EP.* */
  state: number = EP.INACTIVE;
  /** The state before the last change (a FIN answering a FIN-then-RST turns the RST back into a close). */
  prevState: number = EP.INACTIVE;
  /** Once-per-direction letters already recorded (H_* bits). */
  histSeen = 0;
  /** Sequence number of the last SYN / FIN (seq + data) / RST recorded; -1 when none. */
  lastSyn = -1;
  lastFin = -1;
  lastRst = -1;
  /** This end sent a SYN without ACK; `isn` is its sequence number. */
  hasIsn = false;
  isn = 0;
  /** Ack number of this end's SYN-ACK, -1 when it sent none (to recognise a late SYN). */
  synAckAck = -1;
  /** Highest sequence number sent so far, one past the segment (Zeek's LastSeq), for retransmissions. */
  hasSeq = false;
  seqEnd = 0;
  /** Logarithmic letters: count so far and the count at which the next letter is written. */
  rexmit = 0;
  rexmitNext = 1;
  zeroWin = 0;
  zeroWinNext = 1;

  /** Back to a new Side's values (the object is reused for a later flow). */
  reset(): void {
    this.packets = this.wireBytes = this.ipBytes = this.payloadBytes = 0;
    this.state = this.prevState = EP.INACTIVE;
    this.histSeen = 0;
    this.lastSyn = this.lastFin = this.lastRst = -1;
    this.hasIsn = false;
    this.isn = 0;
    this.synAckAck = -1;
    this.hasSeq = false;
    this.seqEnd = 0;
    this.rexmit = this.zeroWin = 0;
    this.rexmitNext = this.zeroWinNext = 1;
  }
}

/**
 * Letters are kept side-neutral while the flow is live, upper case for the canonical end A and
 * lower case for B, so that a late role decision (a SYN seen after its SYN-ACK) needs no rewrite:
 * `renderHistory` puts them in Zeek's case (upper = originator) once, at the end.
 */
export interface HistoryHolder {
  hist: string;
}

function letter(h: HistoryHolder, fromA: boolean, upper: string): void {
  h.hist += fromA ? upper : upper.toLowerCase();
}

/** Zeek's CheckHistory: record `code` the first time `mask` is seen. Returns true if it was seen before. */
function seen(h: HistoryHolder, e: Side, fromA: boolean, mask: number, code: string): boolean {
  if ((e.histSeen & mask) !== 0) return true;
  e.histSeen |= mask;
  letter(h, fromA, code);
  return false;
}

/** Zeek's ScaledHistoryEntry: a letter at the 1st, 10th, 100th... occurrence. */
function scaledRexmit(h: HistoryHolder, e: Side, fromA: boolean): void {
  if (++e.rexmit === e.rexmitNext) {
    letter(h, fromA, 'T');
    e.rexmitNext *= 10;
  }
}

function scaledZeroWindow(h: HistoryHolder, e: Side, fromA: boolean): void {
  if (++e.zeroWin === e.zeroWinNext) {
    letter(h, fromA, 'W');
    e.zeroWinNext *= 10;
  }
}

/**
 * History letters for one segment from `e` (peer `p`), as Zeek's update_history does:
 * - more than one of SYN/FIN/RST: `I` for FIN+RST, else `Q` (once each);
 * - SYN: `S` (no ACK) or `H` (with ACK), again only when the sequence number differs from the
 *   last SYN's; FIN: `F`, again only when seq + length differs; RST: `R`, likewise on seq;
 * - otherwise `D` for data or `A` for a pure ACK, once each;
 * then `W` for a zero window and `T` for payload that repeats sequence space already sent, both
 * logarithmic (1st, 10th, 100th...). Call it before `updateState` (it looks at the states the
 * ends were in before this segment).
 */
export function updateHistory(
  h: HistoryHolder, e: Side, p: Side, fromA: boolean,
  flags: number, seq: number, ack: number, len: number, window: number,
): void {
  const syn = (flags & SYN) !== 0;
  const fin = (flags & FIN) !== 0;
  const rst = (flags & RST) !== 0;
  const bits = (syn ? 1 : 0) + (fin ? 1 : 0) + (rst ? 1 : 0);
  if (bits > 1) {
    if (fin && rst) seen(h, e, fromA, H_FIN_RST, 'I');
    else seen(h, e, fromA, H_MULTI, 'Q');
  } else if (bits === 1) {
    if (syn) {
      const code = (flags & ACK) !== 0 ? 'H' : 'S';
      if (seen(h, e, fromA, H_SYN, code) && seq !== e.lastSyn) letter(h, fromA, code);
      e.lastSyn = seq;
    } else if (fin) {
      // A FIN's sequence number is after its data, so compare seq + length.
      const v = (seq + len) >>> 0;
      if (seen(h, e, fromA, H_FIN, 'F') && v !== e.lastFin) letter(h, fromA, 'F');
      e.lastFin = v;
    } else {
      if (seen(h, e, fromA, H_RST, 'R') && seq !== e.lastRst) letter(h, fromA, 'R');
      e.lastRst = seq;
    }
  } else if (len > 0) {
    seen(h, e, fromA, H_DATA, 'D');
  } else if ((flags & ACK) !== 0) {
    seen(h, e, fromA, H_ACK, 'A');
  }

  // A zero window is worth a letter unless it comes with or after a RST, or after the peer's FIN
  // (nothing is left for the peer to send); scaling does not matter for zero.
  if (window === 0 && !rst && p.state !== EP.CLOSED && e.state !== EP.RESET) scaledZeroWindow(h, e, fromA);

  // Retransmission as Zeek's update_last_seq sees it: a segment with payload that does not reach
  // past the highest sequence number this end already sent.
  const end = (seq + len + (syn ? 1 : 0) + (fin ? 1 : 0)) >>> 0;
  if (!e.hasSeq) {
    // First segment from this end (and its peer never acknowledged anything): a SYN starts the
    // numbering after itself, anything else just before itself, so it is never a duplicate.
    e.hasSeq = true;
    e.seqEnd = syn ? end : seq;
  }
  const delta = (end - e.seqEnd) | 0;
  if ((syn || rst) && (delta > TOO_LARGE_SEQ_DELTA || delta < -TOO_LARGE_SEQ_DELTA)) {
    // An outlandish SYN/RST sequence number moves nothing.
  } else if (e.state === EP.RESET) {
    // Nothing after a RST is trusted.
  } else if (delta > 0) e.seqEnd = end;
  else if (len > 0) scaledRexmit(h, e, fromA);
  // An ACK from this end tells where the peer's numbering is, if the peer has not spoken yet.
  if ((flags & ACK) !== 0 && !p.hasSeq) {
    p.hasSeq = true;
    p.seqEnd = (ack - 1) >>> 0;
  }
}

/** Zeek's SetState: the previous state is kept only when the state really changes. */
function setState(e: Side, state: number): void {
  if (e.state !== state) {
    e.prevState = e.state;
    e.state = state;
  }
}

/**
 * Endpoint state change for a segment from `e` (peer `p`); `isOrig` says whether `e` is the
 * originator (client), `orig` is the originator's side. Follows the TCP analyzer's per-state
 * updates: a SYN from an idle end, the responder's SYN-ACK establishing both ends, FIN closing,
 * RST resetting (but not once both ends have closed), a first segment without SYN making the end
 * "partial" (midstream), and a FIN answering a FIN-then-RST counting as a normal close.
 */
export function updateState(e: Side, p: Side, orig: Side, isOrig: boolean, flags: number, len: number): void {
  const syn = (flags & SYN) !== 0;
  const ack = (flags & ACK) !== 0;
  const fin = (flags & FIN) !== 0;
  const rst = (flags & RST) !== 0;
  switch (e.state) {
    case EP.INACTIVE:
      if (syn) {
        if (isOrig) setState(e, ack ? EP.SYN_ACK_SENT : EP.SYN_SENT);
        else {
          // The responder's SYN-ACK (or a simultaneous-open SYN) establishes both ends.
          if (p.state === EP.SYN_SENT) setState(p, EP.ESTABLISHED);
          setState(e, EP.ESTABLISHED);
        }
      }
      if (fin) setState(e, EP.CLOSED);
      if (rst) setState(e, EP.RESET);
      if (e.state === EP.INACTIVE) {
        if (!isOrig && len === 0 && orig.state === EP.SYN_SENT) {
          // Some stacks ACK a SYN before answering it: not yet a partial connection.
        } else if (ack && p.state === EP.ESTABLISHED) {
          // Only the SYN was missed: the peer's SYN-ACK was seen, so this is established.
          setState(e, EP.ESTABLISHED);
        } else setState(e, EP.PARTIAL);
      }
      return;
    case EP.SYN_SENT:
    case EP.SYN_ACK_SENT:
      if (fin) setState(e, EP.CLOSED);
      if (rst) setState(e, EP.RESET);
      return;
    case EP.ESTABLISHED:
    case EP.PARTIAL:
      if (syn && !ack && e.state === EP.PARTIAL && p.state === EP.INACTIVE) setState(e, EP.SYN_SENT);
      if (fin && !rst) {
        setState(e, EP.CLOSED);
        // The peer sent FIN then RST: with this FIN the connection closed normally after all.
        if (p.state === EP.RESET && p.prevState === EP.CLOSED) setState(p, EP.CLOSED);
      }
      if (rst) setState(e, EP.RESET);
      return;
    case EP.CLOSED:
      // After a FIN exchange a RST changes nothing.
      if (rst && p.state !== EP.CLOSED) setState(e, EP.RESET);
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
