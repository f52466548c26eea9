/**
 * IPv4 and IPv6 decoders, and the extension-header walker they share with the ICMP decoder
 * (which walks the IPv6 header quoted in an ICMPv6 error).
 *
 * Each decoder returns true when a transport header follows at `pkt.transportOffset` and should
 * be decoded (first fragment or no fragment, header intact); the datagram's end according to its
 * own length field is `pkt.ipEnd`.
 */
import { u16be, u32be } from './bytes.js';
import { malformed, truncated } from './damage.js';
import type { Packet } from '../core/packet.js';

export const IP_PROTO = {
  HOPOPT: 0,
  ICMP: 1,
  TCP: 6,
  UDP: 17,
  ROUTING: 43,
  FRAGMENT: 44,
  ESP: 50,
  AH: 51,
  ICMPV6: 58,
  NONE: 59,
  DSTOPTS: 60,
  MOBILITY: 135,
  HIP: 139,
  SHIM6: 140,
} as const;

/** More extension headers than this is an attack, not a packet; stop walking. */
export const MAX_EXTENSION_HEADERS = 16;

export const EXT_OK = 0;
export const EXT_TRUNCATED = 1;
export const EXT_TOO_MANY = 2;
export const EXT_BAD_AH = 3;

/**
 * Result of the last `walkExtensions` call. A module-level scratch record (decoding is
 * synchronous and single-threaded) so the walk allocates nothing; read it right after the call.
 */
export const ext = {
  /** Protocol after the last header walked (the upper layer, or 44's payload for a later fragment). */
  nextHeader: 0,
  /** Offset just after the last header walked. */
  offset: 0,
  /** Number of extension headers walked. */
  count: 0,
  /** For EXT_TRUNCATED: where the cut header starts, and bytes needed / present there. */
  problemOffset: 0,
  need: 0,
  have: 0,
  /** A fragment header was seen: its offset in bytes, M flag and identification. */
  fragment: false,
  fragmentOffset: 0,
  moreFragments: false,
  fragmentId: 0,
  /**
   * Offset of the final destination named by a routing header with segments left (RFC 8200
   * §8.1: the address the transport's pseudo-header uses), or -1.
   */
  finalDestination: -1,
  /** Offset of the Home Address in a destination option (RFC 6275 §6.3: the transport's source), or -1. */
  homeAddress: -1,
};

/**
 * Walk extension headers starting at `off` with next-header value `nh`, not reading at or past
 * `limit`. IPv6 (`v6`): hop-by-hop, routing, destination options, mobility, HIP, shim6 (all with
 * the RFC 7045 "length in 8-octet units, not counting the first 8" format), fragment, AH. IPv4
 * only has AH in this position. Stops at the first other value (TCP, UDP, ICMP, ESP, no-next-
 * header, ...) and after a fragment header whose offset is not 0 (the rest is not a header).
 */
export function walkExtensions(b: Uint8Array, off: number, nh: number, limit: number, v6: boolean): number {
  ext.count = 0;
  ext.fragment = false;
  ext.fragmentOffset = 0;
  ext.moreFragments = false;
  ext.fragmentId = 0;
  ext.finalDestination = -1;
  ext.homeAddress = -1;
  for (;;) {
    const generic =
      v6 && (nh === 0 || nh === 43 || nh === 60 || nh === 135 || nh === 139 || nh === 140);
    if (!generic && nh !== IP_PROTO.AH && !(v6 && nh === IP_PROTO.FRAGMENT)) break;
    if (ext.count === MAX_EXTENSION_HEADERS) {
      ext.nextHeader = nh;
      ext.offset = off;
      return EXT_TOO_MANY;
    }
    // Every extension header is at least 8 bytes; read its length only once those are there.
    if (limit - off < 8) return cut(off, nh, 8, limit - off);
    let len: number;
    if (nh === IP_PROTO.FRAGMENT) {
      len = 8;
      const fo = u16be(b, off + 2);
      ext.fragment = true;
      ext.fragmentOffset = fo & 0xfff8; // 13-bit offset in 8-byte units, already shifted by 3
      ext.moreFragments = (fo & 1) !== 0;
      ext.fragmentId = u32be(b, off + 4);
    } else if (nh === IP_PROTO.AH) {
      // RFC 4302: payload length is the AH length in 4-byte units minus 2. SPI and sequence
      // number make 12 bytes the minimum.
      len = (b[off + 1]! + 2) * 4;
      if (len < 12) {
        ext.nextHeader = nh;
        ext.offset = off;
        ext.problemOffset = off + 1;
        return EXT_BAD_AH;
      }
    } else {
      len = (b[off + 1]! + 1) * 8;
    }
    if (limit - off < len) return cut(off, nh, len, limit - off);
    if (nh === IP_PROTO.ROUTING) routingFinalDestination(b, off, len);
    else if (nh === IP_PROTO.DSTOPTS) homeAddressOption(b, off, len);
    ext.count++;
    nh = b[off]!;
    off += len;
    if (ext.fragment && ext.fragmentOffset !== 0) break;
  }
  ext.nextHeader = nh;
  ext.offset = off;
  return EXT_OK;
}

/**
 * A routing header (whole, `len` bytes at `off`) that still has segments to visit names the
 * packet's final destination: type 0 (deprecated source route) and type 2 (Mobile IPv6) in their
 * last address, type 4 (segment routing, RFC 8754) in segment list entry 0.
 */
function routingFinalDestination(b: Uint8Array, off: number, len: number): void {
  if (b[off + 3] === 0) return; // segments left 0: the header's destination is the final one
  const type = b[off + 2]!;
  if (type === 0 || type === 2) {
    const n = (len - 8) >> 4;
    if (n >= 1) ext.finalDestination = off + 8 + 16 * (n - 1);
  } else if (type === 4 && len >= 24) {
    ext.finalDestination = off + 8;
  }
}

/** Home Address option (type 0xC9, 16 bytes) in a destination options header. */
function homeAddressOption(b: Uint8Array, off: number, len: number): void {
  const end = off + len;
  let p = off + 2;
  while (p < end) {
    const type = b[p]!;
    if (type === 0) {
      p++; // Pad1
      continue;
    }
    if (end - p < 2) return;
    const optLen = b[p + 1]!;
    if (type === 0xc9 && optLen === 16 && end - p >= 18) {
      ext.homeAddress = p + 2;
      return;
    }
    p += 2 + optLen;
  }
}

function cut(off: number, nh: number, need: number, have: number): number {
  ext.nextHeader = nh;
  ext.offset = off;
  ext.problemOffset = off;
  ext.need = need;
  ext.have = have;
  return EXT_TRUNCATED;
}

/**
 * The datagram ends past the frame: the IP length field claims more than was on the wire.
 * In a file the record's length is what tshark counts, so it stays; the transport is bounded by
 * the frame (`ipEnd` is clamped, so a lying length adds no payload) and the header is reported
 * malformed. `ipLength` keeps the claimed value, and `networkOffset + ipLength` is the claimed
 * end: live capture through `cap` has no original length (on `lo` GSO frames are clipped at
 * 65535 and look complete), so the live source takes that as the frame's length instead.
 *
 * A packet inside a tunnel (`container` ≥ 0) is bounded by its outer datagram instead. When that
 * datagram is a first fragment the inner packet simply continues in the next fragment (no
 * reassembly here): not damage. Otherwise the inner length field lies, which is malformed.
 */
function flagLongerThanFrame(pkt: Packet, layer: 'ipv4' | 'ipv6', off: number, container: number): void {
  if (container >= 0) {
    if (pkt.ipEnd > container) {
      pkt.ipEnd = container;
      if (!pkt.outerFragment) {
        malformed(pkt, layer, off + (layer === 'ipv4' ? 2 : 4), layer === 'ipv4' ? 'IPv4 total length past the end of the tunnel payload' : 'IPv6 payload length past the end of the tunnel payload');
      }
    }
    return;
  }
  const frameEnd = frameLength(pkt);
  if (pkt.ipEnd > frameEnd) {
    pkt.ipLongerThanFrame = true;
    pkt.ipEnd = frameEnd;
    malformed(pkt, layer, off + (layer === 'ipv4' ? 2 : 4), layer === 'ipv4' ? 'IPv4 total length past the end of the frame' : 'IPv6 payload length past the end of the frame');
  }
}

/**
 * Where a length-0 IP header's datagram ends: the frame's original length (unless the file claims
 * less than it holds), or the end of the outer datagram for a packet inside a tunnel.
 */
function frameLength(pkt: Packet, container = -1): number {
  if (container >= 0) return container;
  // A position in `bytes`, like `container`: the lengths count from the frame's start.
  return pkt.frameOffset + (pkt.originalLength > pkt.capturedLength ? pkt.originalLength : pkt.capturedLength);
}

/** The payload after the IP headers when no transport header is decoded (later fragment, ESP, ...). */
function opaquePayload(pkt: Packet): void {
  pkt.payloadOffset = pkt.transportOffset;
  pkt.payloadLength = pkt.ipEnd > pkt.transportOffset ? pkt.ipEnd - pkt.transportOffset : 0;
}

/** Report a walk that did not end cleanly. Returns false when decoding must stop. */
function extensionProblem(pkt: Packet, status: number, ipEnd: number, end: number, v6: boolean): boolean {
  const layer = v6 ? 'ipv6-ext' : 'ipv4';
  if (status === EXT_TRUNCATED) {
    truncated(pkt, layer, ext.problemOffset, ext.need, ext.have, ipEnd <= end,
      ext.nextHeader === IP_PROTO.AH ? 'AH header cut' : 'IPv6 extension header cut');
    return false;
  }
  if (status === EXT_TOO_MANY) {
    malformed(pkt, layer, ext.offset, 'more than 16 extension headers');
    return false;
  }
  if (status === EXT_BAD_AH) {
    malformed(pkt, layer, ext.problemOffset, 'AH payload length < 1');
    return false;
  }
  return true;
}

/**
 * IPv4 (RFC 791). Header length IHL*4 ≥ 20; options are bounds-checked and skipped (their TLVs
 * are walked only to report a bad length). Transport is decoded only in the first fragment.
 * `container` ≥ 0: the packet is inside a tunnel and its outer datagram ends there.
 */
export function decodeIPv4(pkt: Packet, b: Uint8Array, off: number, end: number, container = -1): boolean {
  const avail = end - off;
  if (avail < 20) {
    truncated(pkt, 'ipv4', off, 20, avail, false, 'IPv4 header cut');
    return false;
  }
  const vihl = b[off]!;
  if (vihl >> 4 !== 4) {
    malformed(pkt, 'ipv4', off, 'IPv4 version field is not 4');
    return false;
  }
  const ihl = (vihl & 0x0f) * 4;
  if (ihl < 20) {
    malformed(pkt, 'ipv4', off, 'IPv4 IHL < 5');
    return false;
  }
  // The fixed 20 bytes are there and sane: everything in them counts from here on, even when
  // the options or the length are damaged.
  pkt.ipVersion = 4;
  pkt.addrLength = 4;
  pkt.srcAddrOffset = off + 12;
  pkt.dstAddrOffset = off + 16;
  pkt.ipHeaderLength = ihl;
  pkt.ttl = b[off + 8]!;
  pkt.protocol = b[off + 9]!;
  pkt.ipId = u16be(b, off + 4);
  const ff = u16be(b, off + 6);
  pkt.dontFragment = (ff & 0x4000) !== 0;
  pkt.moreFragments = (ff & 0x2000) !== 0;
  pkt.fragmentOffset = (ff & 0x1fff) * 8;
  pkt.isFragment = pkt.moreFragments || pkt.fragmentOffset !== 0;
  pkt.transportOffset = off + ihl;

  let total = u16be(b, off + 2);
  if (total === 0) {
    // TCP segmentation offload: the capture sees the unsegmented super-packet, whose total
    // length the NIC fills in later, so it is 0. The frame's length is the real one.
    total = frameLength(pkt, container) - off;
    pkt.ipLengthFromFrame = true;
  }
  pkt.ipLength = total;
  pkt.ipEnd = off + total;
  flagLongerThanFrame(pkt, 'ipv4', off, container);
  if (total < ihl) {
    malformed(pkt, 'ipv4', off + 2, 'IPv4 total length < header length');
    return false;
  }
  if (avail < ihl) {
    truncated(pkt, 'ipv4', off, ihl, avail, false, 'IPv4 options cut');
    return false;
  }
  if (ihl > 20) checkIPv4Options(pkt, b, off + 20, off + ihl);

  if (pkt.fragmentOffset !== 0) {
    opaquePayload(pkt);
    return false;
  }
  if (pkt.protocol === IP_PROTO.AH) {
    const ipEnd = pkt.ipEnd;
    const status = walkExtensions(b, pkt.transportOffset, IP_PROTO.AH, ipEnd < end ? ipEnd : end, false);
    if (!extensionProblem(pkt, status, ipEnd, end, false)) return false;
    pkt.protocol = ext.nextHeader;
    pkt.transportOffset = ext.offset;
  }
  return true;
}

/**
 * Options are TLVs except EOL (0) and NOP (1); a length < 2 or past the header is malformed.
 * A loose or strict source route with hops left names the packet's final destination.
 */
function checkIPv4Options(pkt: Packet, b: Uint8Array, p: number, end: number): void {
  while (p < end) {
    const type = b[p]!;
    if (type === 0) return;
    if (type === 1) {
      p++;
      continue;
    }
    if (end - p < 2 || b[p + 1]! < 2 || b[p + 1]! > end - p) {
      malformed(pkt, 'ipv4', p, 'IPv4 option length');
      return;
    }
    if (type === IPV4_OPTION_LSRR || type === IPV4_OPTION_SSRR) sourceRouteDestination(pkt, b, p, b[p + 1]!);
    p += b[p + 1]!;
  }
}

const IPV4_OPTION_LSRR = 131;
const IPV4_OPTION_SSRR = 137;

/**
 * Loose / strict source and record route (RFC 791 §3.1) of `len` bytes at `p`: type, length,
 * pointer (1-based, counted from the option's start), then 4-byte addresses. While the pointer
 * is not past the end, hops remain: the header's destination is only the next hop, and the
 * route's last address is where the packet goes, the address the transport's pseudo-header uses
 * (RFC 1122 §3.2.1.8) and the flow's end point (as the IPv6 routing header's final destination).
 */
function sourceRouteDestination(pkt: Packet, b: Uint8Array, p: number, len: number): void {
  const pointer = b[p + 2]!;
  if (len >= 7 && pointer >= 4 && pointer <= len - 3) pkt.dstAddrOffset = p + len - 4;
}

/**
 * IPv6 (RFC 8200): 40-byte fixed header, then extension headers up to the upper layer. Stops
 * without a problem at ESP (encrypted, nothing more to read) and at no-next-header (59).
 * `container` as for IPv4.
 */
export function decodeIPv6(pkt: Packet, b: Uint8Array, off: number, end: number, container = -1): boolean {
  const avail = end - off;
  if (avail < 40) {
    truncated(pkt, 'ipv6', off, 40, avail, false, 'IPv6 header cut');
    return false;
  }
  if (b[off]! >> 4 !== 6) {
    malformed(pkt, 'ipv6', off, 'IPv6 version field is not 6');
    return false;
  }
  pkt.ipVersion = 6;
  pkt.addrLength = 16;
  pkt.srcAddrOffset = off + 8;
  pkt.dstAddrOffset = off + 24;
  pkt.ttl = b[off + 7]!;
  const nh = b[off + 6]!;
  const payloadLength = u16be(b, off + 4);
  let length = 40 + payloadLength;
  if (payloadLength === 0 && nh !== IP_PROTO.NONE) {
    // Payload length 0 with something after the header: a jumbogram (RFC 2675: the real length
    // is in a hop-by-hop Jumbo Payload option) or Linux BIG TCP / GSO, where the capture sees a
    // super-packet longer than 64 KiB whose length field is 0 and the hop-by-hop header may
    // have been left out. Take the jumbo option when present, else the frame's length.
    const jumbo = nh === IP_PROTO.HOPOPT ? jumboPayloadLength(b, off + 40, end) : -1;
    if (jumbo > 0) length = 40 + jumbo;
    else {
      length = frameLength(pkt, container) - off;
      if (length < 40) length = 40;
      pkt.ipLengthFromFrame = true;
    }
  }
  pkt.ipLength = length;
  pkt.ipEnd = off + length;
  flagLongerThanFrame(pkt, 'ipv6', off, container);
  const ipEnd = pkt.ipEnd;

  const status = walkExtensions(b, off + 40, nh, ipEnd < end ? ipEnd : end, true);
  pkt.protocol = ext.nextHeader;
  pkt.transportOffset = ext.offset;
  pkt.ipHeaderLength = ext.offset - off;
  // The transport's end points, which the flow is keyed on (and tshark's conversations use).
  if (ext.finalDestination >= 0) pkt.dstAddrOffset = ext.finalDestination;
  if (ext.homeAddress >= 0) pkt.srcAddrOffset = ext.homeAddress;
  if (ext.fragment) {
    pkt.ipId = ext.fragmentId;
    pkt.fragmentOffset = ext.fragmentOffset;
    pkt.moreFragments = ext.moreFragments;
    pkt.isFragment = ext.moreFragments || ext.fragmentOffset !== 0;
  }
  if (!extensionProblem(pkt, status, ipEnd, end, true)) return false;
  if (pkt.fragmentOffset !== 0 || pkt.protocol === IP_PROTO.ESP || pkt.protocol === IP_PROTO.NONE) {
    opaquePayload(pkt);
    return false;
  }
  return true;
}

/**
 * Jumbo Payload option (type 0xC2, length 4) in the hop-by-hop header at `hbh`, or -1. Only
 * read when the whole hop-by-hop header was captured.
 */
function jumboPayloadLength(b: Uint8Array, hbh: number, end: number): number {
  if (end - hbh < 8) return -1;
  const hbhEnd = hbh + (b[hbh + 1]! + 1) * 8;
  if (hbhEnd > end) return -1;
  let p = hbh + 2;
  while (p < hbhEnd) {
    const type = b[p]!;
    if (type === 0) {
      p++; // Pad1
      continue;
    }
    if (hbhEnd - p < 2) return -1;
    const len = b[p + 1]!;
    if (type === 0xc2 && len === 4 && hbhEnd - p >= 6) return u32be(b, p + 2);
    p += 2 + len;
  }
  return -1;
}
