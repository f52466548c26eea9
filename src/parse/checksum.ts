/**
 * Internet checksums (RFC 1071) of a decoded packet, for `--checksums validate`: the IPv4 header
 * checksum, and the TCP, UDP, ICMP and ICMPv6 checksums with their pseudo-headers (RFC 793,
 * RFC 768, RFC 8200 §8.1). Called only when validation was asked for: the default path never
 * reads a checksum.
 *
 * What Zeek checks, and when it cannot: a transport checksum covers the whole segment, so a
 * segment the snap length cut, a later fragment or a first fragment (no reassembly here) is not
 * checked and never called bad; nor is a frame whose IP length field was 0 (segmentation
 * offload: the checksum is filled in by the card after capture).
 */
import type { Packet } from '../core/packet.js';
import { IPPROTO } from '../core/packet.js';

/** The verdicts of `checkPacket`. */
export const CHECKSUM = { OK: 0, BAD_IP: 1, BAD_TRANSPORT: 2 } as const;
export type ChecksumVerdict = (typeof CHECKSUM)[keyof typeof CHECKSUM];

/**
 * The 16-bit ones' complement sum of bytes [start, end) added to `sum` (folded; not
 * complemented). An odd last byte is padded with a zero, as RFC 1071 says.
 */
export function onesSum(b: Uint8Array, start: number, end: number, sum = 0): number {
  let i = start;
  for (; i + 1 < end; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (i < end) sum += b[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * The IPv4 header at `offset` (IHL*4 bytes) sums to 0xffff: its checksum is right. A header that
 * does not end before `capturedEnd` cannot be checked and counts as right.
 */
export function ipv4HeaderValid(b: Uint8Array, offset: number, capturedEnd: number): boolean {
  const length = (b[offset]! & 0x0f) * 4;
  if (length < 20 || offset + length > capturedEnd) return true;
  return onesSum(b, offset, offset + length) === 0xffff;
}

/**
 * The packet's transport checksum: true right, false wrong, null not checked (not TCP, UDP or
 * ICMP(v6), a fragment, cut by the snap length, a length taken from the frame, or a UDP checksum
 * 0 over IPv4, which means none; over IPv6 a 0 is wrong, as RFC 8200 says).
 */
export function transportValid(pkt: Packet): boolean | null {
  const proto = pkt.protocol;
  if (proto !== IPPROTO.TCP && proto !== IPPROTO.UDP && proto !== IPPROTO.ICMP && proto !== IPPROTO.ICMPV6) return null;
  if (pkt.isFragment || pkt.outerFragment || pkt.ipLengthFromFrame) return null;
  const b = pkt.bytes;
  const start = pkt.transportOffset;
  const end = pkt.ipEnd;
  if (end > pkt.frameOffset + pkt.capturedLength || end - start < 8) return null;
  if (proto === IPPROTO.UDP && pkt.ipVersion === 4 && b[start + 6] === 0 && b[start + 7] === 0) return null;
  let sum = 0;
  // ICMPv4 has no pseudo-header; the others add source, destination, protocol and length.
  if (proto !== IPPROTO.ICMP) {
    const len = pkt.addrLength;
    sum = onesSum(b, pkt.srcAddrOffset, pkt.srcAddrOffset + len);
    sum = onesSum(b, pkt.dstAddrOffset, pkt.dstAddrOffset + len, sum);
    const upper = end - start;
    sum += proto + (upper & 0xffff) + (upper >>> 16);
  }
  return onesSum(b, start, end, sum) === 0xffff;
}

/**
 * Every checksum of a decoded IP packet that can be checked: the IPv4 headers (the outer one of
 * a tunnel too) first, as Zeek drops a packet whose IP header is wrong before its transport is
 * looked at; then the innermost transport.
 */
export function checkPacket(pkt: Packet): ChecksumVerdict {
  const b = pkt.bytes;
  const capturedEnd = pkt.frameOffset + pkt.capturedLength;
  const outer = pkt.outerNetworkOffset;
  if (outer >= 0 && b[outer]! >> 4 === 4 && !ipv4HeaderValid(b, outer, capturedEnd)) return CHECKSUM.BAD_IP;
  if (pkt.ipVersion === 4 && !ipv4HeaderValid(b, pkt.networkOffset, capturedEnd)) return CHECKSUM.BAD_IP;
  return transportValid(pkt) === false ? CHECKSUM.BAD_TRANSPORT : CHECKSUM.OK;
}
