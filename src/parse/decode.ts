/**
 * Frame → Packet. `decodeBytes` resets the reused Packet and runs link → IP → transport, each
 * layer a pure function over (bytes, offset, end). Nothing is thrown: damage is pushed on
 * `pkt.problems`, and what was decoded before the damage stays (a frame cut by a snap length of
 * 80 still has its addresses, ports and flags).
 */
import type { Frame } from '../capture/frame.js';
import { malformed, unsupported } from './damage.js';
import { decodeIPv4, decodeIPv6 } from './ip.js';
import { ETHERTYPE, LINK_DECODERS } from './link.js';
import type { Packet } from './packet.js';
import { decodeTransport } from './transport.js';

export function decodeFrame(frame: Frame, pkt: Packet): Packet {
  return decodeBytes(frame.linkType, frame.bytes, frame.capturedLength, frame.originalLength, pkt);
}

/**
 * Decode `capturedLength` bytes of `bytes` (clamped to its size) as a frame of LINKTYPE
 * `linkType` that was `originalLength` bytes on the wire. Returns `pkt`, filled.
 */
export function decodeBytes(
  linkType: number, bytes: Uint8Array, capturedLength: number, originalLength: number, pkt: Packet,
): Packet {
  const end = capturedLength >= 0 && capturedLength < bytes.length ? capturedLength | 0 : bytes.length;
  resetPacket(pkt, linkType, bytes, end, originalLength);
  try {
    const link = LINK_DECODERS.get(linkType);
    if (link === undefined) {
      unsupported(pkt, 'link', 0, 'link type not supported');
      return pkt;
    }
    link(pkt, bytes, end);
    const off = pkt.networkOffset;
    if (off < 0) return pkt;
    const more =
      pkt.etherType === ETHERTYPE.IPV4 ? decodeIPv4(pkt, bytes, off, end) : decodeIPv6(pkt, bytes, off, end);
    if (more) decodeTransport(pkt, bytes, end);
  } catch {
    // Every read is bounds-checked, so this is a decoder bug; keep it from taking down a capture
    // and make it visible (the fuzz tests assert it never appears).
    malformed(pkt, 'frame', 0, 'internal decoder error');
  }
  return pkt;
}

/** Put every field back to its `newPacket()` value, keeping the arrays (no allocation). */
export function resetPacket(pkt: Packet, linkType = 0, bytes: Uint8Array = pkt.bytes, capturedLength = 0, originalLength = 0): void {
  pkt.bytes = bytes;
  pkt.linkType = linkType;
  pkt.capturedLength = capturedLength;
  pkt.originalLength = originalLength;
  pkt.snapped = capturedLength < originalLength;
  pkt.ipLongerThanFrame = false;
  pkt.etherType = 0;
  pkt.vlanCount = 0;
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
  pkt.problems.length = 0;
}
