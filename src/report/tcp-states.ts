/**
 * Each end's TCP state beside a connection's packets, as RFC 9293 (section 3.3.2, the state
 * diagram) defines the transitions, inferred from the segments seen at the capture point: an end
 * moves when it sends a segment (SYN, FIN) and when it receives one, and every packet seen is
 * taken to arrive. The states are those of the connection's socket; a server's listener stays
 * LISTEN beside it, so the server's end starts in LISTEN and leaves it with the SYN.
 *
 * - Opening: the client's SYN takes it from CLOSED to SYN-SENT and the server from LISTEN to
 *   SYN-RECEIVED; the SYN-ACK takes the client to ESTABLISHED (it acknowledges the client's SYN),
 *   the client's ACK of the server's SYN takes the server there. A SYN without ACK received in
 *   SYN-SENT is a simultaneous open: SYN-RECEIVED.
 * - Closing: an end sending a FIN goes from ESTABLISHED (or SYN-RECEIVED) to FIN-WAIT-1, from
 *   CLOSE-WAIT to LAST-ACK; receiving a FIN goes from ESTABLISHED to CLOSE-WAIT, from FIN-WAIT-1
 *   to CLOSING (or straight to TIME-WAIT when the same segment acknowledges its own FIN), from
 *   FIN-WAIT-2 to TIME-WAIT. Packets are taken to arrive in the order captured, except that a FIN
 *   whose ACK does not cover the peer's FIN was sent before that FIN arrived (a simultaneous
 *   close: CLOSING on both ends, then TIME-WAIT). The ACK of an end's FIN (ack ≥ the FIN's sequence number + 1) takes it
 *   from FIN-WAIT-1 to FIN-WAIT-2, from CLOSING to TIME-WAIT, from LAST-ACK to CLOSED.
 * - A RST sent or received closes the end (CLOSED). A SYN answered by a RST: the server had no
 *   listener (the port was closed), so its end is CLOSED from the start.
 * - A connection caught midstream (no SYN seen): both ends start ESTABLISHED, and `assumed` says so.
 *
 * TIME-WAIT lasts 2 MSL after the capture shows nothing more; it is the last state shown.
 */
import { TCP_FLAG } from '../core/packet.js';
import type { LadderPacket } from './ladder.js';

export type TcpState =
  | 'CLOSED' | 'LISTEN' | 'SYN-SENT' | 'SYN-RECEIVED' | 'ESTABLISHED' | 'FIN-WAIT-1' | 'FIN-WAIT-2'
  | 'CLOSE-WAIT' | 'CLOSING' | 'LAST-ACK' | 'TIME-WAIT';

export interface EndStates {
  /** The client's and the server's state after each packet, parallel to the packets (null for a packet that is no TCP segment of the flow). */
  client: (TcpState | null)[];
  server: (TcpState | null)[];
  /** Before the first packet. */
  initial: { client: TcpState; server: TcpState };
  /** No SYN was seen: the ends were taken to be ESTABLISHED at the start. */
  assumed: boolean;
}

interface End {
  state: TcpState;
  /** The sequence number that acknowledges this end's FIN (its seq + length + 1), or null before it sent one. */
  finAck: number | null;
}

const has = (flags: number, bit: number) => (flags & bit) !== 0;

/** a ≥ b in sequence space (RFC 9293's modulo 2^32 comparison). */
const seqAtLeast = (a: number, b: number) => ((a - b) | 0) >= 0;

function sent(end: End, p: LadderPacket, peer: End): void {
  const f = p.flags;
  if (has(f, TCP_FLAG.RST)) {
    end.state = 'CLOSED';
    return;
  }
  if (has(f, TCP_FLAG.SYN)) {
    if (end.state === 'CLOSED') end.state = 'SYN-SENT';
    else if (end.state === 'LISTEN') end.state = 'SYN-RECEIVED';
  }
  if (has(f, TCP_FLAG.FIN)) {
    // The FIN takes one sequence number after the segment's data (and after a SYN's one).
    const syn = has(f, TCP_FLAG.SYN) ? 1 : 0;
    end.finAck ??= (p.seq + syn + p.payloadLength + 1) >>> 0;
    if (end.state === 'ESTABLISHED' || end.state === 'SYN-RECEIVED') end.state = 'FIN-WAIT-1';
    else if (end.state === 'CLOSE-WAIT') {
      // A FIN whose ACK does not cover the peer's FIN was sent before that FIN arrived: a
      // simultaneous close (FIN-WAIT-1, then the peer's FIN: CLOSING), not a passive one.
      const peerFinSeen = peer.finAck !== null && has(f, TCP_FLAG.ACK) && seqAtLeast(p.ack, peer.finAck);
      end.state = peerFinSeen ? 'LAST-ACK' : 'CLOSING';
    }
  }
}

function received(end: End, p: LadderPacket, synAcked: boolean): void {
  const f = p.flags;
  if (has(f, TCP_FLAG.RST)) {
    end.state = 'CLOSED';
    return;
  }
  const ackOfFin = end.finAck !== null && has(f, TCP_FLAG.ACK) && seqAtLeast(p.ack, end.finAck);
  const was = end.state;
  if (has(f, TCP_FLAG.SYN)) {
    if (was === 'LISTEN') end.state = 'SYN-RECEIVED';
    else if (was === 'SYN-SENT') end.state = has(f, TCP_FLAG.ACK) ? 'ESTABLISHED' : 'SYN-RECEIVED';
  }
  // The ACK of its SYN (in a simultaneous open, on the peer's SYN-ACK).
  if (was === 'SYN-RECEIVED' && has(f, TCP_FLAG.ACK) && synAcked) end.state = 'ESTABLISHED';
  if (ackOfFin) {
    if (end.state === 'FIN-WAIT-1') end.state = 'FIN-WAIT-2';
    else if (end.state === 'CLOSING') end.state = 'TIME-WAIT';
    else if (end.state === 'LAST-ACK') end.state = 'CLOSED';
  }
  if (has(f, TCP_FLAG.FIN)) {
    if (end.state === 'ESTABLISHED' || end.state === 'SYN-RECEIVED') end.state = 'CLOSE-WAIT';
    else if (end.state === 'FIN-WAIT-1') end.state = 'CLOSING';
    else if (end.state === 'FIN-WAIT-2') end.state = 'TIME-WAIT';
  }
}

/** The states of both ends after each of a TCP connection's packets (see the module comment). */
export function tcpStates(packets: readonly LadderPacket[]): EndStates {
  const tcp = packets.filter((p) => p.via === 'ports' && p.proto === 6);
  const first = tcp[0];
  const synSeen = tcp.some((p) => has(p.flags, TCP_FLAG.SYN));
  // A SYN answered by a RST: nobody listened.
  const refused = first !== undefined && has(first.flags, TCP_FLAG.SYN) && !has(first.flags, TCP_FLAG.ACK)
    && tcp.some((p) => !p.toServer && has(p.flags, TCP_FLAG.RST)) && !tcp.some((p) => !p.toServer && has(p.flags, TCP_FLAG.SYN));
  const initial: EndStates['initial'] = synSeen
    ? { client: 'CLOSED', server: refused ? 'CLOSED' : 'LISTEN' }
    : { client: 'ESTABLISHED', server: 'ESTABLISHED' };
  const client: End = { state: initial.client, finAck: null };
  const server: End = { state: initial.server, finAck: null };
  // The ISN each end's SYN used, so that "ACK of the SYN" is ack ≥ ISN + 1.
  const isn: [number | null, number | null] = [null, null];
  const out: EndStates = { client: [], server: [], initial, assumed: !synSeen };
  for (const p of packets) {
    if (p.via !== 'ports' || p.proto !== 6) {
      out.client.push(null);
      out.server.push(null);
      continue;
    }
    const [from, to] = p.toServer ? [client, server] : [server, client];
    const side = p.toServer ? 0 : 1;
    if (has(p.flags, TCP_FLAG.SYN) && isn[side] === null) isn[side] = p.seq;
    const peerIsn = isn[1 - side] ?? null;
    const synAcked = peerIsn === null || (has(p.flags, TCP_FLAG.ACK) && seqAtLeast(p.ack, (peerIsn + 1) >>> 0));
    sent(from, p, to);
    received(to, p, synAcked);
    out.client.push(client.state);
    out.server.push(server.state);
  }
  return out;
}
