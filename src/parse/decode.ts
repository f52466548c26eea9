/**
 * Frame → Packet. `decodeBytes` resets the reused Packet and runs link → IP → transport, each
 * layer a pure function over (bytes, offset, end). Nothing is thrown: damage is pushed on
 * `pkt.problems`, and what was decoded before the damage stays (a frame cut by a snap length of
 * 80 still has its addresses, ports and flags).
 *
 * Tunnels (tunnel.ts): when the transport's payload is another packet, that packet is decoded
 * in turn and replaces the IP and transport fields, so the Packet describes the innermost
 * packet, the one the flow is keyed on (as tshark's conversations are). When what the tunnel
 * carries cannot be keyed (no IP: ARP in VXLAN; IP without TCP, UDP or ICMP: a Teredo bubble),
 * the frame is decoded again stopping before that tunnel, so the packet stays the outer one (a
 * UDP packet of the tunnel's own flow).
 */
import type { Frame } from '../core/frame.js';
import { malformed, unsupported } from './damage.js';
import { decodeIPv4, decodeIPv6 } from './ip.js';
import { decodeEtherTypePayload, ETHERTYPE, LINK_DECODERS, type LinkDecoder } from './link.js';
import type { Packet } from '../core/packet.js';
import { decodeTransport } from './transport.js';
import { findTunnel, inner, MAX_TUNNEL_DEPTH, mayBeTunnel } from './tunnel.js';

/**
 * Decodes the frame where it lies in `frame.bytes` (from `frame.offset`, no copy and no view): the
 * packet's offsets are positions in those bytes, its problems' offsets count from the frame start.
 */
export function decodeFrame(frame: Frame, pkt: Packet, maxTunnelDepth = MAX_TUNNEL_DEPTH): Packet {
  return decodeUpTo(frame.linkType, frame.bytes, frame.offset, frame.capturedLength, frame.originalLength, pkt, maxTunnelDepth);
}

/**
 * Decode `capturedLength` bytes of `bytes` (clamped to its size) as a frame of LINKTYPE
 * `linkType` that was `originalLength` bytes on the wire. Returns `pkt`, filled.
 * `maxTunnelDepth` (default and cap: MAX_TUNNEL_DEPTH) is how many tunnels to decode through;
 * 0 describes the outermost IP packet (to show a tunnel's own headers).
 */
export function decodeBytes(
  linkType: number, bytes: Uint8Array, capturedLength: number, originalLength: number, pkt: Packet,
  maxTunnelDepth = MAX_TUNNEL_DEPTH,
): Packet {
  return decodeUpTo(linkType, bytes, 0, capturedLength, originalLength, pkt, maxTunnelDepth);
}

/**
 * The packet a tunnel layer of `pkt`'s frame describes: `into` is filled as `pkt`'s frame
 * decoded through `depth` tunnels only (0: the outermost IP packet). For the demux, which keys
 * a UDP tunnel's own datagrams as a flow too (Zeek's outer connection). `pkt` is not changed.
 */
export function decodeLayer(pkt: Packet, depth: number, into: Packet): Packet {
  return decodeUpTo(pkt.linkType, pkt.bytes, pkt.frameOffset, pkt.capturedLength, pkt.originalLength, into, depth);
}

/** The last link type looked up, and its decoder: a capture has one or a few (a Map lookup a packet was 1% of a run). */
let lastLinkType = -1;
let lastLink: LinkDecoder | undefined;

function linkDecoder(linkType: number): LinkDecoder | undefined {
  if (linkType !== lastLinkType) {
    lastLink = LINK_DECODERS.get(linkType);
    lastLinkType = linkType;
  }
  return lastLink;
}

/** The frame is `bytes[start, start + capturedLength)`; `start` is assumed within `bytes`. */
function decodeUpTo(
  linkType: number, bytes: Uint8Array, start: number, capturedLength: number, originalLength: number, pkt: Packet,
  maxDepth: number,
): Packet {
  const room = bytes.length - start;
  const length = capturedLength >= 0 && capturedLength < room ? capturedLength | 0 : room;
  const end = start + length;
  resetPacket(pkt, linkType, bytes, length, originalLength, start);
  if (!(maxDepth <= MAX_TUNNEL_DEPTH)) maxDepth = MAX_TUNNEL_DEPTH;
  try {
    const link = linkDecoder(linkType);
    if (link === undefined) {
      unsupported(pkt, 'link', start, 'link type not supported');
      return pkt;
    }
    link(pkt, bytes, start, end);
    // `limit`: where the bytes of the current layer end (captured bytes, and inside a tunnel the
    // outer datagram too); `container`: where the outer datagram ends (-1 outside tunnels).
    let limit = end;
    let container = -1;
    for (let depth = 0; ; depth++) {
      const off = pkt.networkOffset;
      let more = false;
      if (off >= 0) {
        more = pkt.etherType === ETHERTYPE.IPV4
          ? decodeIPv4(pkt, bytes, off, limit, container)
          : decodeIPv6(pkt, bytes, off, limit, container);
        if (more) decodeTransport(pkt, bytes, limit);
      }
      if (limit < end && pkt.problems.length > 0) blameOuterLength(pkt, limit);
      // Only tunnel protocols and ports lead further: the common case stops at `mayBeTunnel`.
      // The outer datagram bounds the inner packet (an Ethernet trailer is not part of it).
      const ipEnd = pkt.ipEnd;
      const innerLimit = ipEnd < limit ? ipEnd : limit;
      if (!more || !mayBeTunnel(pkt) || depth >= maxDepth || pkt.ipLongerThanFrame
        || !findTunnel(pkt, bytes, innerLimit)) {
        // The innermost packet: if the demux cannot key it, the tunnel's outer packet stands.
        if (depth > 0 && !keyable(pkt)) return outerAgain(linkType, bytes, start, capturedLength, originalLength, pkt, depth - 1);
        return pkt;
      }
      const outer = depth === 0 ? off : pkt.outerNetworkOffset;
      const fragment = pkt.outerFragment || pkt.isFragment;
      resetNetwork(pkt);
      pkt.tunnelDepth = depth + 1;
      pkt.tunnel = inner.kind;
      pkt.outerNetworkOffset = outer;
      pkt.outerFragment = fragment;
      limit = innerLimit;
      container = ipEnd;
      decodeEtherTypePayload(pkt, bytes, inner.offset, limit, inner.type);
      if (limit < end && pkt.problems.length > 0) blameOuterLength(pkt, limit);
    }
  } catch {
    // Every read is bounds-checked, so this is a decoder bug; keep it from taking down a capture
    // and make it visible (the fuzz tests assert it never appears).
    malformed(pkt, 'frame', start, 'internal decoder error');
  }
  return pkt;
}

/**
 * Inside a tunnel the decoders are given the outer datagram's end as their end of bytes; a header
 * cut there was cut by the outer length field, not by the capture: say so.
 */
function blameOuterLength(pkt: Packet, limit: number): void {
  const frameLimit = limit - pkt.frameOffset; // problem offsets count from the frame start
  for (const p of pkt.problems) {
    if (p.cause === 'capture' && p.offset + (p.have ?? 0) === frameLimit) p.cause = 'length-field';
  }
}

/**
 * Can the demux key this (inner) packet? Any IP packet: TCP, UDP, ICMP, a fragment (tied to its
 * first fragment's flow), another IP protocol (OSPF in GRE is an OSPF flow, as Zeek makes it an
 * unknown_transport connection inside the tunnel). An inner packet that is not IP (ARP in
 * VXLAN), or IPv6 with no next header (a Teredo bubble, which Zeek's Teredo analyzer keeps to
 * the tunnel's own connection), is left to the tunnel's outer packet instead; so is IP in IP that
 * was not followed (past the depth cap), and another protocol in a damaged packet (a broken IP
 * header reads as protocol 0).
 */
function keyable(pkt: Packet): boolean {
  if (pkt.ipVersion === 0) return false;
  const p = pkt.protocol;
  if (p === 6 || p === 17 || p === 1 || p === 58 || pkt.isFragment) return true;
  return p >= 0 && p !== 59 && p !== 4 && p !== 41 && pkt.problems.length === 0;
}

/**
 * Decode the frame again, stopping before tunnel number `maxDepth + 1`, keeping the problems the
 * deeper attempt found (a damaged inner header is still worth reporting). Rare path: tunnels
 * carrying ARP, bubbles, damaged packets.
 */
function outerAgain(
  linkType: number, bytes: Uint8Array, start: number, capturedLength: number, originalLength: number, pkt: Packet,
  maxDepth: number,
): Packet {
  const innerProblems = pkt.problems.length > 0 ? pkt.problems.slice() : null;
  const carried = pkt.tunnel;
  decodeUpTo(linkType, bytes, start, capturedLength, originalLength, pkt, maxDepth);
  pkt.carried ??= carried; // a nested call named the tunnel right around the packet already
  if (innerProblems !== null) {
    for (const p of innerProblems) if (!pkt.problems.some((q) => q.offset === p.offset && q.what === p.what)) pkt.problems.push(p);
  }
  return pkt;
}

/** Put every field back to its `newPacket()` value, keeping the arrays (no allocation). */
export function resetPacket(
  pkt: Packet, linkType = 0, bytes: Uint8Array = pkt.bytes, capturedLength = 0, originalLength = 0, frameOffset = 0,
): void {
  pkt.bytes = bytes;
  pkt.frameOffset = frameOffset;
  pkt.linkType = linkType;
  pkt.capturedLength = capturedLength;
  pkt.originalLength = originalLength;
  pkt.snapped = capturedLength < originalLength;
  pkt.ipLongerThanFrame = false;
  pkt.etherType = 0;
  pkt.vlanCount = 0;
  pkt.tunnelDepth = 0;
  pkt.tunnel = null;
  pkt.outerNetworkOffset = -1;
  pkt.outerFragment = false;
  pkt.carried = null;
  resetNetwork(pkt);
  // Setting an array's length is a runtime call even when it is already 0 (measured: about a
  // tenth of the time of a clean frame), and most frames have no problems.
  if (pkt.problems.length !== 0) pkt.problems.length = 0;
}

/**
 * The IP and transport fields back to their `newPacket()` values: before an inner packet is
 * decoded over the outer one, so that nothing of the outer packet shows through (an IPv6 inner
 * packet sets no IP identification, for one). Frame, link, tunnel fields and problems stay.
 */
function resetNetwork(pkt: Packet): void {
  pkt.networkOffset = -1;
  pkt.ipVersion = 0;
  pkt.srcAddrOffset = 0;
  pkt.dstAddrOffset = 0;
  pkt.addrLength = 0;
  pkt.ipLength = 0;
  pkt.ipLengthFromFrame = false;
  pkt.ipHeaderLength = 0;
  pkt.ttl = 0;
  pkt.ipId = 0;
  pkt.dontFragment = false;
  pkt.moreFragments = false;
  pkt.fragmentOffset = 0;
  pkt.isFragment = false;
  pkt.protocol = -1;
  pkt.transportOffset = 0;
  pkt.ipEnd = 0;
  pkt.hasPorts = false;
  pkt.portsRead = false;
  pkt.srcPort = 0;
  pkt.dstPort = 0;
  pkt.tcpSeq = 0;
  pkt.tcpAck = 0;
  pkt.tcpFlags = 0;
  pkt.tcpWindow = 0;
  pkt.tcpHeaderLength = 0;
  pkt.mss = -1;
  pkt.windowScale = -1;
  pkt.sackPermitted = false;
  pkt.sackCount = 0;
  pkt.tsVal = 0;
  pkt.tsEcr = 0;
  pkt.hasTimestamps = false;
  pkt.udpLength = 0;
  pkt.payloadLength = 0;
  pkt.payloadOffset = 0;
  pkt.icmpType = -1;
  pkt.icmpCode = -1;
  pkt.icmpId = -1;
  pkt.quotedProtocol = -1;
  pkt.quotedSrcAddrOffset = 0;
  pkt.quotedDstAddrOffset = 0;
  pkt.quotedAddrLength = 0;
  pkt.quotedSrcPort = 0;
  pkt.quotedDstPort = 0;
}
