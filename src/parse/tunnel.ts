/**
 * Tunnels: an IP packet whose payload is another packet. Flows are keyed on the innermost
 * IP/transport (as tshark's conversations are), so after the transport of one IP layer is decoded
 * `findTunnel` says whether its payload is a tunnel and where the inner packet starts; decode.ts
 * then decodes that packet into the same Packet, replacing the outer IP and transport fields.
 *
 * Recognised: IPv4/IPv6 in IPv4/IPv6 (IP protocols 4 and 41: IPIP, 6in4, 4in6, 6in6), GRE
 * (protocol 47, RFC 2784/2890, and PPTP's enhanced GRE, RFC 2637) with what it carries (IP,
 * bridged Ethernet, ERSPAN types I-III, WCCP redirection, MPLS, PPP), and the UDP tunnels on
 * their IANA ports: VXLAN 4789, VXLAN-GPE 4790, Geneve 6081, Teredo 3544, GTP-U 2152.
 *
 * Pure and allocation-free: the answer goes into the module's `inner` scratch record, read right
 * after the call (decoding is synchronous).
 */
import { u16be } from './bytes.js';
import { ETHERTYPE, ipByVersion } from './link.js';
import type { Packet, TunnelKind } from '../core/packet.js';

/** More nested tunnels than this is an attack, not a network: the packet stays at that depth. */
export const MAX_TUNNEL_DEPTH = 8;

export const UDP_PORT = { VXLAN: 4789, VXLAN_GPE: 4790, GENEVE: 6081, TEREDO: 3544, GTP_U: 2152 } as const;

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
 * IP, GRE, or UDP with a tunnel port on either side.
 */
export function mayBeTunnel(pkt: Packet): boolean {
  const p = pkt.protocol;
  if (p === 17) return pkt.hasPorts && (TUNNEL_PORTS[pkt.dstPort]! | TUNNEL_PORTS[pkt.srcPort]!) !== 0;
  return p === 47 || p === 4 || p === 41;
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
      return gre(b, off, end);
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
  return false;
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
  let p = off;
  if (end - p >= 4 && b[p] === 0 && b[p + 1] === 1) {
    p += 4 + b[p + 2]! + b[p + 3]! + 9;
  }
  if (end - p >= 8 && b[p] === 0 && b[p + 1] === 0) p += 8;
  if (end - p < 40 || b[p]! >> 4 !== 6) return false;
  return found('teredo', ETHERTYPE.IPV6, p, end);
}

/**
 * GRE (RFC 2784 with RFC 2890's key and sequence number; RFC 1701's routing field; version 1 is
 * PPTP's enhanced GRE, RFC 2637: key always, sequence and acknowledgment optional, carrying PPP).
 * The protocol type is an EtherType, except for ERSPAN and WCCP, which have a header of their own
 * before the frame or packet they mirror/redirect.
 */
function gre(b: Uint8Array, off: number, end: number): boolean {
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
      return found('gre', ETHERTYPE.TEB, (flags & 0x10) !== 0 ? p + 8 : p, end);
    case GRE_ERSPAN_3: {
      // 12-byte header; the O flag (last bit) adds an 8-byte platform-specific subheader. The
      // frame type (5 bits in the third word) is 0 for Ethernet, 2 for IP.
      if (end - p < 12) return false;
      const ft = (u16be(b, p + 10) >> 10) & 0x1f;
      const q = p + 12 + ((b[p + 11]! & 1) !== 0 ? 8 : 0);
      return found('gre', ft === 0 ? ETHERTYPE.TEB : ft === 2 ? ipByVersion(b, q, end) : 0, q, end);
    }
    case GRE_WCCP: {
      // WCCP v2 puts a 4-byte redirect header before the IP packet; v1 does not.
      const direct = ipByVersion(b, p, end);
      return direct !== 0 ? found('gre', direct, p, end) : found('gre', ipByVersion(b, p + 4, end), p + 4, end);
    }
    case GRE_PPP:
      return found('gre', ETHERTYPE.PPP, p, end);
    default:
      return found('gre', protocol, p, end);
  }
}
