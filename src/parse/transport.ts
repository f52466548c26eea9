/**
 * TCP, UDP, ICMP and ICMPv6 decoders. They start at `pkt.transportOffset` and never read past
 * min(pkt.ipEnd, end): the IP length field bounds the transport as much as the captured bytes.
 * When a header is cut, the problem's cause says which of the two limits cut it.
 */
import { u16be, u32be } from './bytes.js';
import { malformed, truncated } from './damage.js';
import { EXT_OK, EXT_TRUNCATED, ext, IP_PROTO, walkExtensions } from './ip.js';
import type { Layer, Packet } from '../core/packet.js';

/** Decode the transport header the IP layer found; `end` is the end of the captured bytes. */
export function decodeTransport(pkt: Packet, b: Uint8Array, end: number): void {
  switch (pkt.protocol) {
    case IP_PROTO.TCP:
      decodeTcp(pkt, b, pkt.transportOffset, end);
      return;
    case IP_PROTO.UDP:
      decodeUdp(pkt, b, pkt.transportOffset, end);
      return;
    case IP_PROTO.ICMP:
      decodeIcmp(pkt, b, pkt.transportOffset, end, false);
      return;
    case IP_PROTO.ICMPV6:
      decodeIcmp(pkt, b, pkt.transportOffset, end, true);
      return;
    default:
      // Another protocol (SCTP, GRE, ...): no header decoded, the whole IP payload is payload.
      pkt.payloadOffset = pkt.transportOffset;
      pkt.payloadLength = pkt.ipEnd > pkt.transportOffset ? pkt.ipEnd - pkt.transportOffset : 0;
  }
}

/**
 * A transport header cut after its first 4 bytes still names its ports: shown (as tshark shows
 * them), but `hasPorts` stays false, so the packet is counted as damaged rather than in a flow
 * (tshark's conversations leave such frames out too).
 */
function readPortsOnly(pkt: Packet, b: Uint8Array, off: number, avail: number): void {
  if (avail < 4) return;
  pkt.portsRead = true;
  pkt.srcPort = u16be(b, off);
  pkt.dstPort = u16be(b, off + 2);
}

/**
 * TCP (RFC 9293). The fixed 20 bytes give ports, sequence numbers, flags and window; they count
 * even when the data offset is bad or the options are cut.
 */
export function decodeTcp(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  const ipEnd = pkt.ipEnd;
  const byLength = ipEnd <= end;
  const limit = byLength ? ipEnd : end;
  const avail = limit - off;
  if (avail < 20) {
    truncated(pkt, 'tcp', off, 20, avail, byLength, 'TCP header cut');
    readPortsOnly(pkt, b, off, avail);
    return;
  }
  pkt.hasPorts = true;
  pkt.portsRead = true;
  pkt.srcPort = u16be(b, off);
  pkt.dstPort = u16be(b, off + 2);
  pkt.tcpSeq = u32be(b, off + 4);
  pkt.tcpAck = u32be(b, off + 8);
  const b12 = b[off + 12]!;
  // NS (RFC 3540, now AE in RFC 9768) is the low bit of the data-offset byte.
  pkt.tcpFlags = b[off + 13]! | ((b12 & 1) << 8);
  pkt.tcpWindow = u16be(b, off + 14);
  const headerLength = (b12 >> 4) * 4;
  pkt.tcpHeaderLength = headerLength;
  if (headerLength < 20) {
    malformed(pkt, 'tcp', off + 12, 'TCP data offset < 5');
    // Where the payload starts is unknown; count none rather than invent it.
    pkt.payloadOffset = off + 20;
    pkt.payloadLength = 0;
    return;
  }
  const payloadOffset = off + headerLength;
  pkt.payloadOffset = payloadOffset;
  pkt.payloadLength = ipEnd > payloadOffset ? ipEnd - payloadOffset : 0;
  if (avail < headerLength) {
    truncated(pkt, 'tcp', off, headerLength, avail, byLength, 'TCP options cut');
    // Still take the options that are wholly present (the MSS of a SYN cut by a small snaplen).
    walkTcpOptions(pkt, b, off + 20, limit, false);
    return;
  }
  if (headerLength > 20) walkTcpOptions(pkt, b, off + 20, payloadOffset, true);
}

/**
 * TCP options (RFC 9293 §3.1, RFC 7323, RFC 2018). `complete` is false when the header was cut:
 * an option running past `end` then ends the walk quietly, since the cut is already reported.
 */
function walkTcpOptions(pkt: Packet, b: Uint8Array, p: number, end: number, complete: boolean): void {
  while (p < end) {
    const kind = b[p]!;
    if (kind === 0) return; // EOL
    if (kind === 1) {
      p++; // NOP
      continue;
    }
    if (end - p < 2) {
      if (complete) malformed(pkt, 'tcp', p, 'TCP option without length');
      return;
    }
    const len = b[p + 1]!;
    if (len < 2) {
      malformed(pkt, 'tcp', p + 1, 'TCP option length < 2');
      return;
    }
    if (len > end - p) {
      if (complete) malformed(pkt, 'tcp', p + 1, 'TCP option runs past the header');
      return;
    }
    switch (kind) {
      case 2: // MSS
        if (len === 4) pkt.mss = u16be(b, p + 2);
        else malformed(pkt, 'tcp', p + 1, 'TCP MSS option length is not 4');
        break;
      case 3: // window scale
        if (len === 3) pkt.windowScale = b[p + 2]!;
        else malformed(pkt, 'tcp', p + 1, 'TCP window scale option length is not 3');
        break;
      case 4: // SACK permitted
        if (len === 2) pkt.sackPermitted = true;
        else malformed(pkt, 'tcp', p + 1, 'TCP SACK-permitted option length is not 2');
        break;
      case 5: {
        // SACK: 1 to 4 blocks of (left edge, right edge); 40 option bytes fit at most 4.
        const n = (len - 2) >> 3;
        if (n < 1 || len !== 2 + n * 8) {
          malformed(pkt, 'tcp', p + 1, 'TCP SACK option length is not 2 + 8n');
          break;
        }
        const blocks = pkt.sackBlocks;
        for (let i = 0; i < n; i++) {
          blocks[2 * i] = u32be(b, p + 2 + 8 * i);
          blocks[2 * i + 1] = u32be(b, p + 6 + 8 * i);
        }
        pkt.sackCount = n;
        break;
      }
      case 8: // timestamps
        if (len === 10) {
          pkt.tsVal = u32be(b, p + 2);
          pkt.tsEcr = u32be(b, p + 6);
          pkt.hasTimestamps = true;
        } else malformed(pkt, 'tcp', p + 1, 'TCP timestamps option length is not 10');
        break;
      default:
        break; // other options (TFO, MPTCP, MD5, ...) are skipped by their length
    }
    p += len;
  }
}

/**
 * UDP (RFC 768). payloadLength follows the UDP length field, as tshark's udp.length does, when
 * that fits in the IP payload: a shorter UDP length leaves a surplus area that RFC 9868 uses for
 * UDP options, so it is not data. A UDP length longer than the IP payload (or < 8) is malformed
 * and the IP payload is used instead. A first fragment carries only part of the datagram, and a
 * jumbogram (RFC 2675) or a length-0 super-packet has UDP length 0: those use the IP payload
 * without a problem.
 */
export function decodeUdp(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  const ipEnd = pkt.ipEnd;
  const byLength = ipEnd <= end;
  const avail = (byLength ? ipEnd : end) - off;
  if (avail < 8) {
    truncated(pkt, 'udp', off, 8, avail, byLength, 'UDP header cut');
    readPortsOnly(pkt, b, off, avail);
    return;
  }
  pkt.hasPorts = true;
  pkt.portsRead = true;
  pkt.srcPort = u16be(b, off);
  pkt.dstPort = u16be(b, off + 2);
  const udpLength = u16be(b, off + 4);
  pkt.udpLength = udpLength;
  pkt.payloadOffset = off + 8;
  const ipPayload = ipEnd - off;
  if (udpLength >= 8 && udpLength <= ipPayload && !pkt.isFragment) {
    pkt.payloadLength = udpLength - 8;
    return;
  }
  pkt.payloadLength = ipPayload - 8;
  if (pkt.isFragment || pkt.ipLengthFromFrame || (udpLength === 0 && ipPayload > 0xffff)) return;
  malformed(pkt, 'udp', off + 4, udpLength < 8 ? 'UDP length < 8' : 'UDP length > IP payload');
}

/** ICMPv4 errors that quote the offending datagram: unreachable, source quench, redirect, time exceeded, parameter problem. */
function isIcmpv4Error(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

/** Messages with an identifier in bytes 4-5: echo, timestamp, information (v4); echo (v6). */
function hasIcmpId(type: number, v6: boolean): boolean {
  if (v6) return type === 128 || type === 129;
  return type === 0 || type === 8 || (type >= 13 && type <= 16);
}

/**
 * ICMP (RFC 792) / ICMPv6 (RFC 4443): type, code, and for an error message the quoted IP header
 * and the first 8 bytes of its transport (the ports of the flow the error is about). ICMP has no
 * ports: `hasPorts` stays false.
 */
export function decodeIcmp(pkt: Packet, b: Uint8Array, off: number, end: number, v6: boolean): void {
  const layer: Layer = v6 ? 'icmpv6' : 'icmp';
  const ipEnd = pkt.ipEnd;
  const byLength = ipEnd <= end;
  const limit = byLength ? ipEnd : end;
  const avail = limit - off;
  if (avail < 8) {
    truncated(pkt, layer, off, 8, avail, byLength, 'ICMP header cut');
    return;
  }
  const type = b[off]!;
  pkt.icmpType = type;
  pkt.icmpCode = b[off + 1]!;
  if (hasIcmpId(type, v6)) pkt.icmpId = u16be(b, off + 4);
  pkt.payloadOffset = off + 8;
  pkt.payloadLength = ipEnd - off - 8;
  if (v6 ? type >= 1 && type <= 4 : isIcmpv4Error(type)) decodeQuoted(pkt, b, off + 8, limit, byLength, layer);
}

/**
 * The datagram quoted by an ICMP error, at `q`. Its own length field describes the original
 * datagram, not the quote, so only `limit` (the ICMP message's end) bounds it.
 */
function decodeQuoted(pkt: Packet, b: Uint8Array, q: number, limit: number, byLength: boolean, layer: Layer): void {
  const avail = limit - q;
  const version = avail >= 1 ? b[q]! >> 4 : layer === 'icmpv6' ? 6 : 4;
  let nh: number;
  let tp: number;
  if (version === 4) {
    if (avail < 20) {
      truncated(pkt, layer, q, 20, avail, byLength, 'quoted IPv4 header cut');
      return;
    }
    const ihl = (b[q]! & 0x0f) * 4;
    if (ihl < 20) {
      malformed(pkt, layer, q, 'quoted IPv4 IHL < 5');
      return;
    }
    pkt.quotedAddrLength = 4;
    pkt.quotedSrcAddrOffset = q + 12;
    pkt.quotedDstAddrOffset = q + 16;
    nh = b[q + 9]!;
    pkt.quotedProtocol = nh;
    if (avail < ihl) {
      truncated(pkt, layer, q, ihl, avail, byLength, 'quoted IPv4 options cut');
      return;
    }
    if ((u16be(b, q + 6) & 0x1fff) !== 0) return; // a later fragment was quoted: no ports in it
    tp = q + ihl;
  } else if (version === 6) {
    if (avail < 40) {
      truncated(pkt, layer, q, 40, avail, byLength, 'quoted IPv6 header cut');
      return;
    }
    pkt.quotedAddrLength = 16;
    pkt.quotedSrcAddrOffset = q + 8;
    pkt.quotedDstAddrOffset = q + 24;
    const status = walkExtensions(b, q + 40, b[q + 6]!, limit, true);
    pkt.quotedProtocol = ext.nextHeader;
    // The quoted packet's flow was keyed on its transport's end points, as the packet's own.
    if (ext.finalDestination >= 0) pkt.quotedDstAddrOffset = ext.finalDestination;
    if (ext.homeAddress >= 0) pkt.quotedSrcAddrOffset = ext.homeAddress;
    if (status !== EXT_OK) {
      if (status === EXT_TRUNCATED) truncated(pkt, layer, ext.problemOffset, ext.need, ext.have, byLength, 'quoted IPv6 extension header cut');
      else malformed(pkt, layer, ext.offset, 'quoted IPv6 extension headers');
      return;
    }
    if (ext.fragmentOffset !== 0) return;
    nh = ext.nextHeader;
    tp = ext.offset;
  } else {
    malformed(pkt, layer, q, 'quoted IP version is neither 4 nor 6');
    return;
  }
  if (nh !== IP_PROTO.TCP && nh !== IP_PROTO.UDP) return;
  // RFC 792 guarantees the first 64 bits of the original datagram's data.
  if (limit - tp < 8) {
    truncated(pkt, layer, tp, 8, limit - tp, byLength, 'quoted transport header cut');
    return;
  }
  pkt.quotedSrcPort = u16be(b, tp);
  pkt.quotedDstPort = u16be(b, tp + 2);
}
