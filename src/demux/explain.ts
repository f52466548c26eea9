/**
 * `packets --explain`: for one packet, which socket the RECEIVING host's kernel would hand it to,
 * and why. On loopback both ends are the same machine, and both demultiplex: a segment to the
 * server is looked up by the server side, its answer by the client side. So the lookup explained
 * is always the destination's, and the side comes from the engine's FlowRef (`toServer`).
 *
 * The rules, as Linux and the BSDs apply them:
 * - TCP: the established table is searched first, by the full 4-tuple. A SYN without ACK that
 *   matches no connection goes to the listening socket of (destination address, port), falling
 *   back to a wildcard-bound listener; the listener makes a new socket for that 4-tuple, which
 *   takes every later segment. The SYN-ACK and everything else to the client side hit the
 *   client's connecting socket by its 4-tuple.
 * - UDP: an unconnected socket is found by destination address and port alone, so all peers
 *   share it; the application learns the peer from recvfrom()'s source address. (A socket that
 *   called connect() matches the full 4-tuple and is preferred.)
 * - ICMP errors carry the header of the datagram that caused them. That datagram was sent by the
 *   host now receiving the error, so its quoted source is the local end: the error is handed to
 *   the socket of the quoted flow (TCP by 4-tuple, UDP by the quoted source address and port).
 *   A port unreachable also says that the quoted destination had no socket: a closed port.
 * - A closed port: no socket has the destination, so the kernel answers a datagram with ICMP port
 *   unreachable and a SYN with a RST. That is only known from the answer, which comes later: the
 *   caller passes what its look ahead found (src/demux/closed.ts), and without it the packet gets
 *   the usual lookup.
 * - Other ICMP (echo...) is answered by the kernel itself; a later IP fragment waits for its
 *   datagram to be reassembled, and only the whole datagram is looked up.
 *
 * Cost: `explainKind` allocates nothing; `explainPacket` builds its one output string (addresses
 * become text there, the only per-packet allocation).
 */
import { formatAddress } from '../parse/format.js';
import { IPPROTO, TCP_FLAG, type Packet } from '../core/packet.js';
import { isPortUnreachable, type NoSocketNote } from './closed.js';
import type { FlowRef } from '../core/flow.js';

/** Which kind of lookup the receiving kernel does for a packet. */
export type SocketLookup =
  /** TCP SYN without ACK toward the server: the listening socket. */
  | 'listener'
  /** TCP segment to the server side, found by its 4-tuple. */
  | 'connection'
  /** TCP segment to the client side, found by its 4-tuple. */
  | 'client-connection'
  /** UDP: the socket bound to the destination address and port. */
  | 'udp'
  /** ICMP error: the socket of the flow whose datagram it quotes. */
  | 'icmp-error'
  /** ICMP handled by the kernel itself (echo, router messages...). */
  | 'kernel'
  /** A later IP fragment: held until the datagram is reassembled. */
  | 'reassembly'
  /** Nothing to look up: not IP, damaged headers, or a protocol without ports. */
  | 'none';

function endpoint(b: Uint8Array, off: number, len: number, port: number): string {
  const ip = formatAddress(b, off, len);
  return len === 16 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function quotesPortedFlow(pkt: Packet): boolean {
  return pkt.icmpType >= 0 && (pkt.quotedProtocol === IPPROTO.TCP || pkt.quotedProtocol === IPPROTO.UDP) && pkt.quotedAddrLength !== 0;
}

/**
 * The kind of lookup, without building text. `ref` is what `DemuxEngine.ingest` returned for this
 * packet (read it before the next `ingest`: the engine reuses the object).
 */
export function explainKind(pkt: Packet, ref: FlowRef | null): SocketLookup {
  if (pkt.ipVersion === 0) return 'none';
  if (pkt.isFragment && pkt.fragmentOffset !== 0) return 'reassembly';
  const proto = pkt.protocol;
  if (proto === IPPROTO.TCP && pkt.hasPorts) {
    const synOnly = (pkt.tcpFlags & (TCP_FLAG.SYN | TCP_FLAG.ACK)) === TCP_FLAG.SYN;
    // Without a ref (no engine) the side is unknown: a SYN goes to a listener, anything else to
    // the socket of its 4-tuple, named from the destination.
    if (ref === null) return synOnly ? 'listener' : 'connection';
    if (!ref.toServer) return 'client-connection';
    return synOnly ? 'listener' : 'connection';
  }
  if (proto === IPPROTO.UDP && pkt.hasPorts) return 'udp';
  if (proto === IPPROTO.ICMP || proto === IPPROTO.ICMPV6) {
    if (pkt.icmpType < 0) return 'none';
    return quotesPortedFlow(pkt) ? 'icmp-error' : 'kernel';
  }
  return 'none';
}

/** Text of the flow id the engine gave, for the few explanations that name it. */
function flowText(ref: FlowRef | null): string {
  if (ref === null) return '';
  return ref.generation > 1 ? `flow ${ref.id} (generation ${ref.generation})` : `flow ${ref.id}`;
}

/**
 * One line: `<socket>: <why>`. Examples:
 * `listener 127.0.0.1:80: SYN matches no connection; the listener makes the socket 127.0.0.1:80 ⇄ 127.0.0.2:9157`,
 * `socket 127.0.0.1:80 ⇄ 127.0.0.2:9157: found by the 4-tuple`,
 * `udp socket 127.0.0.1:5353: found by address+port; recvfrom() returns the peer 127.0.0.2:9157`.
 */
export function explainPacket(pkt: Packet, ref: FlowRef | null, noSocket?: NoSocketNote): string {
  const kind = explainKind(pkt, ref);
  const b = pkt.bytes;
  const len = pkt.addrLength;
  if (noSocket !== undefined && noSocket.role === 'refused' && (kind === 'udp' || kind === 'listener')) {
    return closedPortText(pkt, noSocket);
  }
  switch (kind) {
    case 'listener':
    case 'connection':
    case 'client-connection': {
      const dst = endpoint(b, pkt.dstAddrOffset, len, pkt.dstPort);
      const src = endpoint(b, pkt.srcAddrOffset, len, pkt.srcPort);
      const fragment = pkt.isFragment ? ' (after reassembly)' : '';
      if (kind === 'listener') {
        const reuse = ref !== null && ref.generation > 1
          ? `; the 4-tuple's previous connection is closed (TIME-WAIT lets a new SYN in), so this is generation ${ref.generation}`
          : '';
        return `listener ${dst}: SYN matches no connection; the listener makes the socket ${dst} ⇄ ${src}${reuse}${fragment}`;
      }
      const f = pkt.tcpFlags;
      let why = 'found by the 4-tuple';
      if (kind === 'client-connection') {
        if ((f & (TCP_FLAG.SYN | TCP_FLAG.ACK)) === (TCP_FLAG.SYN | TCP_FLAG.ACK)) why = 'SYN-ACK for the connecting socket, found by the 4-tuple';
        else if ((f & (TCP_FLAG.SYN | TCP_FLAG.ACK)) === TCP_FLAG.SYN) why = "SYN crossing the client's own SYN (simultaneous open), found by the 4-tuple";
        if (noSocket !== undefined && noSocket.role === 'refusal') {
          why += `; it refuses the SYN of packet ${noSocket.at} (closed port: no socket listens on ${src}), so connect() fails with ECONNREFUSED`;
        }
        return `client socket ${dst} ⇄ ${src}: ${why}${fragment}`;
      }
      return `socket ${dst} ⇄ ${src}: ${why}${fragment}`;
    }
    case 'udp': {
      const dst = endpoint(b, pkt.dstAddrOffset, len, pkt.dstPort);
      const src = endpoint(b, pkt.srcAddrOffset, len, pkt.srcPort);
      const side = ref !== null && !ref.toServer ? 'client ' : '';
      const fragment = pkt.isFragment ? ' (after reassembly)' : '';
      return `${side}udp socket ${dst}: found by address+port; recvfrom() returns the peer ${src}${fragment}`;
    }
    case 'icmp-error': {
      const q = pkt.quotedAddrLength;
      const local = endpoint(b, pkt.quotedSrcAddrOffset, q, pkt.quotedSrcPort);
      const remote = endpoint(b, pkt.quotedDstAddrOffset, q, pkt.quotedDstPort);
      const of = ref !== null && ref.via === 'icmp-error' ? ` of ${flowText(ref)}` : '';
      const what = `ICMP${pkt.protocol === IPPROTO.ICMPV6 ? 'v6' : ''} type ${pkt.icmpType} code ${pkt.icmpCode}`;
      const closed = isPortUnreachable(pkt);
      if (pkt.quotedProtocol === IPPROTO.TCP) {
        if (closed) {
          return `socket ${local} ⇄ ${remote}${of}: ${what} (port unreachable) quotes a segment this host sent to ${remote}, a closed port: no socket there; its 4-tuple finds the socket`;
        }
        return `socket ${local} ⇄ ${remote}${of}: ${what} quotes a segment this host sent; its 4-tuple finds the socket`;
      }
      if (closed) {
        return `udp socket ${local}${of}: ${what} (port unreachable) quotes a datagram this host sent to ${remote}, a closed port: no socket there; its source address+port finds the socket`;
      }
      return `udp socket ${local}${of}: ${what} quotes a datagram this host sent to ${remote}; its source address+port finds the socket`;
    }
    case 'kernel':
      return `kernel: ICMP${pkt.protocol === IPPROTO.ICMPV6 ? 'v6' : ''} type ${pkt.icmpType} is handled by the kernel itself, no socket (a ping socket would be found by the echo id)`;
    case 'reassembly': {
      const of = ref !== null ? `, then the whole datagram goes where ${flowText(ref)}'s first fragment went` : '';
      return `reassembly: IP fragment (id ${pkt.ipId}, offset ${pkt.fragmentOffset}) waits for the rest of its datagram${of}`;
    }
    case 'none':
      if (pkt.ipVersion === 0) return 'none: not IP, no socket lookup';
      if ((pkt.protocol === IPPROTO.TCP || pkt.protocol === IPPROTO.UDP || pkt.protocol === IPPROTO.ICMP || pkt.protocol === IPPROTO.ICMPV6)) {
        return 'none: transport header unreadable, no socket lookup';
      }
      return `none: IP protocol ${pkt.protocol} has no ports; its own handler takes it`;
  }
}

/** A datagram or SYN the look ahead saw refused: no socket took it. */
function closedPortText(pkt: Packet, n: NoSocketNote): string {
  const dst = endpoint(pkt.bytes, pkt.dstAddrOffset, pkt.addrLength, pkt.dstPort);
  const icmp = `ICMP${n.v6 ? 'v6' : ''} port unreachable`;
  if (pkt.protocol === IPPROTO.TCP) {
    const answer = n.answer === 'rst' ? 'a RST' : `${icmp} (as a firewall's REJECT does)`;
    return `closed port: no socket listens on ${dst}, so no listener takes the SYN; it was answered by ${answer} (packet ${n.at})`;
  }
  const fragment = pkt.isFragment ? ' (after reassembly)' : '';
  return `closed port: no socket is bound to ${dst}, so the datagram is dropped; ${icmp} followed (packet ${n.at})${fragment}`;
}
