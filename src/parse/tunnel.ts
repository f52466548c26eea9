/**
 * Tunnels: an IP packet whose payload is another packet. Flows are keyed on the innermost
 * IP/transport (as tshark's conversations are), so after the transport of one IP layer is decoded
 * `findTunnel` says whether its payload is a tunnel and where the inner packet starts; decode.ts
 * then decodes that packet into the same Packet, replacing the outer IP and transport fields.
 *
 * Recognised: IPv4/IPv6 in IPv4/IPv6 (IP protocols 4 and 41: IPIP, 6in4, 4in6, 6in6), GRE
 * (protocol 47, RFC 2784/2890, and PPTP's enhanced GRE, RFC 2637) with what it carries (IP,
 * bridged Ethernet, ERSPAN types I-III, WCCP redirection, MPLS, PPP, Aruba's 802.11 frames), PIM
 * Register messages (protocol 103), and the UDP tunnels on their IANA ports: VXLAN 4789,
 * VXLAN-GPE 4790, Geneve 6081, Teredo 3544, GTP-U 2152, GRE-in-UDP 4754, AYIYA 5072. Teredo on
 * any other port is recognised by its content, as Zeek does (`teredoByContent`).
 *
 * Pure and allocation-free: the answer goes into the module's `inner` scratch record, read right
 * after the call (decoding is synchronous).
 */
import { u16be } from './bytes.js';
import { ETHERTYPE, ipByVersion } from './link.js';
import type { Packet, TunnelKind } from '../core/packet.js';

/** More nested tunnels than this is an attack, not a network: the packet stays at that depth. */
export const MAX_TUNNEL_DEPTH = 8;

export const UDP_PORT = {
  VXLAN: 4789, VXLAN_GPE: 4790, GENEVE: 6081, TEREDO: 3544, GTP_U: 2152, GRE_UDP: 4754, AYIYA: 5072,
} as const;

const IP_PROTO_PIM = 103;

/** Where the inner packet starts: an EtherType for `decodeEtherTypePayload`, and its offset. */
export const inner = {
  kind: 'gre' as TunnelKind,
  /** EtherType of what starts at `offset` (IPv4, IPv6, TEB for an Ethernet frame, MPLS, PPP...). */
  type: 0,
  offset: 0,
};

/** 1 at the UDP ports above: two loads tell an ordinary UDP packet it is not a tunnel. */
const TUNNEL_PORTS = new Uint8Array(65536);
for (const port of Object.values(UDP_PORT)) TUNNEL_PORTS[port] = 1;

/**
 * Cheap first test, before `findTunnel`: could this packet's payload be a tunnel at all? IP in
 * IP, GRE, PIM, UDP with a tunnel port on either side, or UDP whose payload could start a Teredo
 * packet (at least 40 bytes, beginning with an IPv6 version nibble or a Teredo indicator's 0).
 */
export function mayBeTunnel(pkt: Packet): boolean {
  const p = pkt.protocol;
  if (p === 17) {
    if (!pkt.hasPorts) return false;
    if ((TUNNEL_PORTS[pkt.dstPort]! | TUNNEL_PORTS[pkt.srcPort]!) !== 0) return true;
    if (pkt.payloadLength < 40) return false;
    const first = pkt.bytes[pkt.payloadOffset]!;
    return first >> 4 === 6 || first === 0;
  }
  return p === 47 || p === 4 || p === 41 || p === IP_PROTO_PIM;
}

const GRE_PPP = 0x880b;
const GRE_ERSPAN_1_2 = 0x88be;
const GRE_ERSPAN_3 = 0x22eb;
const GRE_WCCP = 0x883e;

/** Record the inner packet; none when its type is unknown or it starts past the bytes there are. */
function found(kind: TunnelKind, type: number, offset: number, end: number): boolean {
  if (type === 0 || offset >= end) return false;
  inner.kind = kind;
  inner.type = type;
  inner.offset = offset;
  return true;
}

/**
 * After the transport of the current IP layer was decoded: is its payload a tunnel whose inner
 * packet can be decoded? `end` bounds the outer datagram (captured bytes and IP length). Only
 * called for a whole datagram or a first fragment (later fragments have no header to read); in a
 * first fragment the inner packet is decoded as far as the fragment goes, as tshark does.
 */
export function findTunnel(pkt: Packet, b: Uint8Array, end: number): boolean {
  const off = pkt.transportOffset;
  switch (pkt.protocol) {
    case 17:
      return pkt.hasPorts && udpTunnel(pkt, b, off + 8, end);
    case 4:
      return found('ip-in-ip', ETHERTYPE.IPV4, off, end);
    case 41:
      return found('ip-in-ip', ETHERTYPE.IPV6, off, end);
    case 47:
      return gre(b, off, end, 'gre');
    case IP_PROTO_PIM:
      return pimRegister(b, off, end);
    default:
      return false;
  }
}

function udpTunnel(pkt: Packet, b: Uint8Array, off: number, end: number): boolean {
  // tshark tries both ports (the lower first); a tunnel port on either side counts.
  const dp = pkt.dstPort;
  const sp = pkt.srcPort;
  if (dp === UDP_PORT.VXLAN || sp === UDP_PORT.VXLAN) {
    // RFC 7348: flags, reserved, VNI, reserved (8 bytes), then an Ethernet frame. The flags are
    // not checked: tshark decodes frames with reserved bits set, and so do switches.
    return end - off >= 8 && found('vxlan', ETHERTYPE.TEB, off + 8, end);
  }
  if (dp === UDP_PORT.GENEVE || sp === UDP_PORT.GENEVE) return geneve(b, off, end);
  if (dp === UDP_PORT.GTP_U || sp === UDP_PORT.GTP_U) return gtpU(b, off, end);
  if (dp === UDP_PORT.TEREDO || sp === UDP_PORT.TEREDO) return teredo(b, off, end);
  if (dp === UDP_PORT.VXLAN_GPE || sp === UDP_PORT.VXLAN_GPE) return vxlanGpe(b, off, end);
  // RFC 8086: the UDP payload is a GRE header and what it carries.
  if (dp === UDP_PORT.GRE_UDP || sp === UDP_PORT.GRE_UDP) return gre(b, off, end, 'gre-udp');
  if (dp === UDP_PORT.AYIYA || sp === UDP_PORT.AYIYA) return ayiya(b, off, end);
  return teredoByContent(b, off, pkt.payloadOffset + pkt.payloadLength, end);
}

/** Geneve (RFC 8926): version (2 bits, 0), options length (6 bits, 4-byte words), flags, protocol type (an EtherType), VNI. */
function geneve(b: Uint8Array, off: number, end: number): boolean {
  if (end - off < 8 || b[off]! >> 6 !== 0) return false;
  const len = 8 + (b[off]! & 0x3f) * 4;
  if (end - off < len) return false;
  return found('geneve', u16be(b, off + 2), off + len, end);
}

/** VXLAN-GPE: with the P flag (0x04), byte 3 names the payload: 1 IPv4, 2 IPv6, 3 Ethernet, 4 NSH, 5 MPLS. */
function vxlanGpe(b: Uint8Array, off: number, end: number): boolean {
  if (end - off < 8) return false;
  if ((b[off]! & 0x04) === 0) return found('vxlan-gpe', ETHERTYPE.TEB, off + 8, end);
  const np = b[off + 3]!;
  const type = np === 1 ? ETHERTYPE.IPV4 : np === 2 ? ETHERTYPE.IPV6 : np === 3 ? ETHERTYPE.TEB
    : np === 4 ? ETHERTYPE.NSH : np === 5 ? ETHERTYPE.MPLS : 0;
  return found('vxlan-gpe', type, off + 8, end);
}

/**
 * GTP-U (3GPP TS 29.281): version 1 with the protocol-type bit, message type 255 (G-PDU: a user
 * packet; echo and error messages carry none). 8 bytes, 4 more when any of the E, S, PN flags is
 * set, then the chain of extension headers (length in 4-byte words, next type in the last byte).
 * The user packet is IP, of the version its first nibble says.
 */
function gtpU(b: Uint8Array, off: number, end: number): boolean {
  if (end - off < 8) return false;
  const flags = b[off]!;
  if (flags >> 5 !== 1 || (flags & 0x10) === 0 || b[off + 1] !== 0xff) return false;
  let p = off + 8;
  if ((flags & 0x07) !== 0) {
    if (end - off < 12) return false;
    p = off + 12;
    if ((flags & 0x04) !== 0) {
      let next = b[off + 11]!;
      for (let n = 0; next !== 0; n++) {
        if (n === 16 || end - p < 4) return false;
        const len = b[p]! * 4;
        if (len === 0 || end - p < len) return false;
        next = b[p + len - 1]!;
        p += len;
      }
    }
  }
  return found('gtp-u', ipByVersion(b, p, end), p, end);
}

/**
 * Teredo (RFC 4380): an IPv6 packet, optionally after an authentication indicator (type 1: id and
 * auth lengths, id, auth value, 8-byte nonce, confirmation byte) and/or an origin indication
 * (type 0, 8 bytes). Anything that is not IPv6 after those is not Teredo data.
 */
function teredo(b: Uint8Array, off: number, end: number): boolean {
  const p = teredoIPv6At(b, off, end);
  if (p < 0 || end - p < 40 || b[p]! >> 4 !== 6) return false;
  return found('teredo', ETHERTYPE.IPV6, p, end);
}

/** Where a Teredo packet's IPv6 header starts, after the optional indicators; -1 when they are cut. */
function teredoIPv6At(b: Uint8Array, off: number, end: number): number {
  let p = off;
  if (end - p >= 4 && b[p] === 0 && b[p + 1] === 1) {
    p += 4 + b[p + 2]! + b[p + 3]! + 9;
  }
  if (end - p >= 8 && b[p] === 0 && b[p + 1] === 0) p += 8;
  return p <= end ? p : -1;
}

/**
 * Teredo on a port other than 3544 (a relay's or a peer's, chosen freely), recognised by content
 * as Zeek's Teredo analyzer does, but stricter, so that ordinary UDP (DNS, games, media) is never
 * taken for it: after the optional indicators, an IPv6 header (version 6) that is all there, whose
 * length fills the UDP payload exactly (`dgramEnd`), with a Teredo address (2001:0::/32, RFC 4380
 * §2.6) on one end: a Teredo client is always one of the two. A bubble (no next header) passes
 * too, and is then left to the UDP flow as at 3544.
 */
function teredoByContent(b: Uint8Array, off: number, dgramEnd: number, end: number): boolean {
  const limit = dgramEnd < end ? dgramEnd : end;
  const p = teredoIPv6At(b, off, limit);
  if (p < 0 || limit - p < 40 || b[p]! >> 4 !== 6 || 40 + u16be(b, p + 4) !== dgramEnd - p) return false;
  if (!isTeredoAddress(b, p + 8) && !isTeredoAddress(b, p + 24)) return false;
  return found('teredo', ETHERTYPE.IPV6, p, end);
}

function isTeredoAddress(b: Uint8Array, off: number): boolean {
  return b[off] === 0x20 && b[off + 1] === 0x01 && b[off + 2] === 0 && b[off + 3] === 0;
}

/**
 * AYIYA ("anything in anything", SixXS's tunnel broker protocol, UDP 5072; read as Zeek's AYIYA
 * analyzer reads it): identity length (2^n bytes, high nibble of byte 0), signature length (in
 * 4-byte words, high nibble of byte 1), opcode (low nibble of byte 2: 1 forwards a packet; the
 * others, such as heartbeats, carry none), next header (byte 3, an IP protocol number: 4 IPv4, 41
 * IPv6), a 4-byte time, the identity and the signature, then the packet.
 */
function ayiya(b: Uint8Array, off: number, end: number): boolean {
  if (end - off < 8 || (b[off + 2]! & 0x0f) !== 1) return false;
  const len = 8 + (1 << (b[off]! >> 4)) + (b[off + 1]! >> 4) * 4;
  const nh = b[off + 3]!;
  return end - off >= len && found('ayiya', nh === 4 ? ETHERTYPE.IPV4 : nh === 41 ? ETHERTYPE.IPV6 : 0, off + len, end);
}

/**
 * PIM version 2 Register (RFC 7761 §4.9.3, type 1): a designated router sends a source's
 * multicast packet to the rendezvous point inside it. Version/type byte 0x21, reserved,
 * checksum, then 4 bytes of flags (B border, N null-register), then the packet. A Null-Register
 * carries only a dummy IP header (no data): not a tunnelled packet.
 */
function pimRegister(b: Uint8Array, off: number, end: number): boolean {
  if (end - off < 8 || b[off] !== 0x21 || (b[off + 4]! & 0x40) !== 0) return false;
  return found('pim', ipByVersion(b, off + 8, end), off + 8, end);
}

/**
 * Aruba's access points tunnel 802.11 frames to their controller in GRE with protocol types
 * 0x8200 to 0x8370, every 16th: the types tshark decodes as 802.11, all of which Zeek's GRE
 * analyzer takes as Aruba too (its test is wider: more types with those bits, and 0x9000).
 */
function isArubaType(protocol: number): boolean {
  return protocol >= 0x8200 && protocol <= 0x8370 && (protocol & 0x0f) === 0;
}

/**
 * GRE (RFC 2784 with RFC 2890's key and sequence number; RFC 1701's routing field; version 1 is
 * PPTP's enhanced GRE, RFC 2637: key always, sequence and acknowledgment optional, carrying PPP).
 * The protocol type is an EtherType, except for ERSPAN and WCCP, which have a header of their own
 * before the frame or packet they mirror/redirect, and Aruba's types (802.11 frames). `kind`:
 * GRE over IP, or over UDP (RFC 8086).
 */
function gre(b: Uint8Array, off: number, end: number, kind: TunnelKind): boolean {
  if (end - off < 4) return false;
  const flags = b[off]!;
  const version = b[off + 1]! & 0x07;
  const protocol = u16be(b, off + 2);
  let p = off + 4;
  if (version === 0) {
    if ((flags & 0xc0) !== 0) p += 4; // checksum and offset, present when C or R is set
    if ((flags & 0x20) !== 0) p += 4; // key
    if ((flags & 0x10) !== 0) p += 4; // sequence number
    if ((flags & 0x40) !== 0) {
      // Source route entries: address family (2), offset (1), length (1), then `length` bytes;
      // a family 0 / length 0 entry ends the list.
      for (let n = 0; ; n++) {
        if (n === 64 || end - p < 4) return false;
        const len = b[p + 3]!;
        const last = u16be(b, p) === 0 && len === 0;
        p += 4 + len;
        if (last) break;
      }
    }
  } else if (version === 1) {
    if ((flags & 0x20) === 0) return false; // the key (payload length, call id) is mandatory
    p += 4;
    if ((flags & 0x10) !== 0) p += 4;
    if ((b[off + 1]! & 0x80) !== 0) p += 4; // acknowledgment number
  } else return false;
  if (p > end) return false;

  switch (protocol) {
    case GRE_ERSPAN_1_2:
      // ERSPAN type II has an 8-byte header and GRE's sequence number; type I has neither.
      return found(kind, ETHERTYPE.TEB, (flags & 0x10) !== 0 ? p + 8 : p, end);
    case GRE_ERSPAN_3: {
      // 12-byte header; the O flag (last bit) adds an 8-byte platform-specific subheader. The
      // frame type (5 bits in the third word) is 0 for Ethernet, 2 for IP.
      if (end - p < 12) return false;
      const ft = (u16be(b, p + 10) >> 10) & 0x1f;
      const q = p + 12 + ((b[p + 11]! & 1) !== 0 ? 8 : 0);
      return found(kind, ft === 0 ? ETHERTYPE.TEB : ft === 2 ? ipByVersion(b, q, end) : 0, q, end);
    }
    case GRE_WCCP: {
      // WCCP v2 puts a 4-byte redirect header before the IP packet; v1 does not.
      const direct = ipByVersion(b, p, end);
      return direct !== 0 ? found(kind, direct, p, end) : found(kind, ipByVersion(b, p + 4, end), p + 4, end);
    }
    case GRE_PPP:
      return found(kind, ETHERTYPE.PPP, p, end);
    default:
      return found(kind, isArubaType(protocol) ? ETHERTYPE.WLAN : protocol, p, end);
  }
}
