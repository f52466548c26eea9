/**
 * Link-layer decoders. Each one finds the network layer: it sets `pkt.etherType` (the EtherType,
 * or the EtherType equivalent of a BSD address family / PPP protocol / raw IP version) and, for
 * IPv4 and IPv6, `pkt.networkOffset`. A non-IP network layer (ARP, LLDP, 802.3 LLC, PPP LCP, ...)
 * is ordinary traffic: its EtherType is recorded and nothing is reported. Dispatch is by
 * LINKTYPE_* number through `LINK_DECODERS`.
 *
 * Encapsulations that sit between a link header and IP (VLAN tags, MPLS labels, PPPoE, 802.1ah
 * PBB, MACsec without encryption, NSH, 802.1BR E-tags, Cisco VN-Tag and FabricPath, LLC/SNAP)
 * are walked by `decodeEtherTypePayload`, which the tunnel decoders (tunnel.ts) reuse for what
 * GRE, VXLAN and Geneve carry.
 */
import { LINKTYPE } from '../core/linktypes.js';
import { u16be, u16le, u32be, u32le } from './bytes.js';
import { malformed, truncated, unsupported } from './damage.js';
import type { Packet } from '../core/packet.js';

export const ETHERTYPE = {
  IPV4: 0x0800,
  ARP: 0x0806,
  TEB: 0x6558, // transparent Ethernet bridging: a whole Ethernet frame follows (GRE, Geneve)
  VLAN: 0x8100, // 802.1Q customer tag
  MPLS: 0x8847,
  MPLS_MULTICAST: 0x8848,
  PPPOE_SESSION: 0x8864,
  PPP: 0x880b, // PPP frame (what PPTP's GRE carries)
  QINQ: 0x88a8, // 802.1ad service tag
  MACSEC: 0x88e5,
  PBB: 0x88e7, // 802.1ah backbone service instance tag (I-TAG)
  FABRICPATH: 0x8903, // Cisco FabricPath: a whole Ethernet frame follows the 16-byte outer header
  ETAG: 0x893f, // 802.1BR E-tag
  VNTAG: 0x8926, // Cisco VN-Tag
  NSH: 0x894f, // network service header (RFC 8300)
  QINQ_OLD: 0x9100, // pre-standard QinQ outer tag, still emitted by some switches
  IPV6: 0x86dd,
  /**
   * Not an EtherType (those are 16 bits): an 802.11 frame follows. What Aruba's GRE protocol
   * types carry (tunnel.ts); `decodeEtherTypePayload` reads it as the 802.11 link type does.
   */
  WLAN: 0x10000,
} as const;

/** More tags than this is not a real network; stop instead of walking a hostile chain. */
export const MAX_VLAN_TAGS = 8;

/**
 * Link-level headers walked before giving up (tags, labels, PBB, ...). Each one moves at least
 * 4 bytes on, so the walk ends anyway; the cap keeps a hostile frame from costing 16k steps.
 * Real stacks are short, but a test capture of recursive 802.1ah frames nests 50 deep and
 * tshark decodes it, so the cap is well above that.
 */
export const MAX_LINK_HEADERS = 128;

/** Decodes the link header of a frame whose captured bytes end at `end`, starting at `off`. */
export type LinkDecoder = (pkt: Packet, b: Uint8Array, off: number, end: number) => void;

/** PPP protocol number → EtherType of the same network layer; 0 for PPP's own protocols (LCP, IPCP, ...). */
export function pppToEtherType(protocol: number): number {
  switch (protocol) {
    case 0x0021:
      return ETHERTYPE.IPV4;
    case 0x0057:
      return ETHERTYPE.IPV6;
    case 0x0281:
      return ETHERTYPE.MPLS;
    case 0x0283:
      return ETHERTYPE.MPLS_MULTICAST;
    default:
      return 0;
  }
}

/** The EtherType of an IP packet at `off` judged by its version nibble (MPLS, GTP-U, ...); 0 when neither. */
export function ipByVersion(b: Uint8Array, off: number, end: number): number {
  if (end - off < 1) return 0;
  const v = b[off]! >> 4;
  return v === 4 ? ETHERTYPE.IPV4 : v === 6 ? ETHERTYPE.IPV6 : 0;
}

/**
 * 802.2 LLC at `off` (after an 802.3 length field, or in 802.11): SNAP (AA-AA-03) with an
 * EtherType OUI (00-00-00, or Cisco's 00-00-F8) carries an EtherType. Returns it, or -1.
 */
function snapEtherType(b: Uint8Array, off: number, end: number): number {
  if (end - off < 8) return -1;
  if (b[off] !== 0xaa || b[off + 1] !== 0xaa || b[off + 2] !== 0x03) return -1;
  if (b[off + 3] !== 0 || b[off + 4] !== 0 || (b[off + 5] !== 0 && b[off + 5] !== 0xf8)) return -1;
  return u16be(b, off + 6);
}

/**
 * The EtherType `type` sits just before `off`: walk the link-level encapsulations that may
 * follow (VLAN tags, MPLS labels, PPPoE, PBB, MACsec, NSH, E-tags, a bridged Ethernet frame),
 * record VLAN ids outermost first, and note where IP starts.
 */
export function decodeEtherTypePayload(pkt: Packet, b: Uint8Array, off: number, end: number, type: number): void {
  for (let hops = 0; ; hops++) {
    // The common case first: one compare for an untagged IP frame.
    if (type === ETHERTYPE.IPV4 || type === ETHERTYPE.IPV6) {
      pkt.etherType = type;
      pkt.networkOffset = off;
      return;
    }
    if (hops === MAX_LINK_HEADERS) {
      malformed(pkt, 'link', off, 'more than 128 link-layer headers');
      return;
    }
    const avail = end - off;
    let next = -1;
    switch (type) {
      case ETHERTYPE.VLAN:
      case ETHERTYPE.QINQ:
      case ETHERTYPE.QINQ_OLD:
        if (pkt.vlanCount === MAX_VLAN_TAGS) {
          malformed(pkt, 'vlan', off, 'more than 8 VLAN tags');
          return;
        }
        if (avail < 4) {
          truncated(pkt, 'vlan', off, 4, avail, false, 'VLAN tag cut');
          return;
        }
        // TCI: PCP (3 bits), DEI (1), VLAN id (12).
        pkt.vlanIds[pkt.vlanCount++] = u16be(b, off) & 0x0fff;
        next = u16be(b, off + 2);
        off += 4;
        break;
      case ETHERTYPE.MPLS:
      case ETHERTYPE.MPLS_MULTICAST: {
        // Labels of 4 bytes until the bottom-of-stack bit; MPLS does not say what it carries,
        // so the first nibble decides (4 or 6: IP; 0: a pseudowire control word, not decoded).
        for (;;) {
          if (end - off < 4) {
            truncated(pkt, 'link', off, 4, end - off, false, 'MPLS label cut');
            return;
          }
          const bottom = (b[off + 2]! & 1) !== 0;
          off += 4;
          if (bottom) break;
        }
        next = ipByVersion(b, off, end);
        if (next === 0) {
          pkt.etherType = type;
          return;
        }
        break;
      }
      case ETHERTYPE.PPPOE_SESSION: {
        // RFC 2516: version/type, code, session id, length (6 bytes), then the PPP protocol: 2
        // bytes, or 1 when the peers agreed on protocol-field compression (RFC 1661 §6.5: an
        // odd first byte, 0x21 IPv4, 0x57 IPv6), as the PPP link types read it too.
        const len = avail >= 7 && (b[off + 6]! & 1) !== 0 ? 7 : 8;
        if (avail < len) {
          truncated(pkt, 'link', off, len, avail, false, 'PPPoE header cut');
          return;
        }
        next = pppToEtherType(len === 7 ? b[off + 6]! : u16be(b, off + 6));
        if (next === 0) {
          pkt.etherType = type;
          return;
        }
        off += len;
        break;
      }
      case ETHERTYPE.PPP:
        off = pppAt(pkt, b, off, end);
        if (off < 0) return;
        next = pendingType;
        break;
      case ETHERTYPE.PBB:
        // I-TAG (4 bytes), then the customer's destination and source MACs and EtherType.
        if (avail < 18) {
          truncated(pkt, 'link', off, 18, avail, false, '802.1ah I-TAG cut');
          return;
        }
        next = u16be(b, off + 16);
        off += 18;
        break;
      case ETHERTYPE.TEB:
        off = ethernetAt(pkt, b, off, end);
        if (off < 0) return;
        next = pendingType;
        break;
      case ETHERTYPE.ETAG:
      case ETHERTYPE.VNTAG: {
        // 802.1BR: 6 bytes of tag control after the TPID; Cisco VN-Tag: 4 (direction, pointer,
        // destination and source virtual interface). Then the next EtherType.
        const len = type === ETHERTYPE.ETAG ? 8 : 6;
        if (avail < len) {
          truncated(pkt, 'link', off, len, avail, false, type === ETHERTYPE.ETAG ? 'E-tag cut' : 'VN-Tag cut');
          return;
        }
        next = u16be(b, off + len - 2);
        off += len;
        break;
      }
      case ETHERTYPE.FABRICPATH:
        // Cisco FabricPath: the outer addresses and this EtherType are followed by the FTag and
        // TTL (2 bytes, ending the 16-byte header), then the frame it carries, Ethernet header
        // and all (as Zeek's Ethernet analyzer and tshark's heuristic read it).
        if (avail < 2) {
          truncated(pkt, 'link', off, 2, avail, false, 'FabricPath header cut');
          return;
        }
        off = ethernetAt(pkt, b, off + 2, end);
        if (off < 0) return;
        next = pendingType;
        break;
      case ETHERTYPE.WLAN:
        ieee80211At(pkt, b, off, end);
        return;
      case ETHERTYPE.MACSEC: {
        // 802.1AE SecTAG: TCI/AN, short length, packet number, SCI when the SC bit is set. With
        // the E (encrypted) or C (changed) bit the payload is ciphertext: nothing more to read.
        if (avail < 6) {
          truncated(pkt, 'link', off, 6, avail, false, 'MACsec SecTAG cut');
          return;
        }
        const tci = b[off]!;
        if ((tci & 0x0c) !== 0) {
          pkt.etherType = type;
          return;
        }
        const len = (tci & 0x20) !== 0 ? 14 : 6;
        if (avail < len + 2) {
          truncated(pkt, 'link', off, len + 2, avail, false, 'MACsec SecTAG cut');
          return;
        }
        next = u16be(b, off + len);
        off += len + 2;
        break;
      }
      case ETHERTYPE.NSH: {
        // RFC 8300: length in 4-byte words (6 bits of the second byte), next protocol in the fourth.
        if (avail < 8) {
          truncated(pkt, 'link', off, 8, avail, false, 'NSH header cut');
          return;
        }
        const len = (b[off + 1]! & 0x3f) * 4;
        if (len < 8) {
          malformed(pkt, 'link', off + 1, 'NSH length < 2');
          return;
        }
        if (avail < len) {
          truncated(pkt, 'link', off, len, avail, false, 'NSH header cut');
          return;
        }
        const np = b[off + 3]!;
        next = np === 1 ? ETHERTYPE.IPV4 : np === 2 ? ETHERTYPE.IPV6 : np === 3 ? ETHERTYPE.TEB
          : np === 4 ? ETHERTYPE.NSH : np === 5 ? ETHERTYPE.MPLS : 0;
        off += len;
        if (next === 0) {
          pkt.etherType = type;
          return;
        }
        break;
      }
      default:
        // Values below 0x0600 are 802.3 length fields (LLC follows), not EtherTypes.
        pkt.etherType = type >= 0x0600 ? type : 0;
        return;
    }
    type = next;
  }
}

/** EtherType read by `ethernetAt` (a module scratch, so the helper allocates nothing). */
let pendingType = 0;

/**
 * An Ethernet header at `off` (destination, source, EtherType or 802.3 length + LLC/SNAP).
 * Returns the offset after it with the EtherType in `pendingType`, or -1 when decoding stops
 * there (cut header, or LLC that is not SNAP-encapsulated EtherType: ordinary non-IP traffic).
 */
function ethernetAt(pkt: Packet, b: Uint8Array, off: number, end: number): number {
  if (end - off < 14) {
    truncated(pkt, 'link', off, 14, end - off, false, 'Ethernet header cut');
    return -1;
  }
  const type = u16be(b, off + 12);
  if (type >= 0x0600) {
    pendingType = type;
    return off + 14;
  }
  const snap = snapEtherType(b, off + 14, end);
  if (snap < 0) {
    pkt.etherType = 0;
    return -1;
  }
  pendingType = snap;
  return off + 22;
}

/** An Ethernet frame at `off` (a link type, or what a tunnel carries). */
export function decodeEthernet(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  // Untagged IP is by far the most common frame: no helper call for it.
  if (end - off >= 14) {
    const type = u16be(b, off + 12);
    if (type >= 0x0600) {
      decodeEtherTypePayload(pkt, b, off + 14, end, type);
      return;
    }
  }
  const next = ethernetAt(pkt, b, off, end);
  if (next >= 0) decodeEtherTypePayload(pkt, b, next, end, pendingType);
}

/** LINKTYPE_ETHERNET (1): destination MAC, source MAC, EtherType. No FCS is assumed. */
function ethernet(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  decodeEthernet(pkt, b, off, end);
}

/**
 * LINKTYPE_LINUX_SLL (113): packet type (2), ARPHRD type (2), address length (2), address (8),
 * protocol (2, an EtherType for the link types that matter here). libpcap puts a VLAN tag it
 * got from the kernel's auxdata back in, so the protocol may be 0x8100 with a tag after.
 */
function linuxSll(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  if (end - off < 16) {
    truncated(pkt, 'link', off, 16, end - off, false, 'Linux cooked (SLL) header cut');
    return;
  }
  decodeEtherTypePayload(pkt, b, off + 16, end, u16be(b, off + 14));
}

/**
 * LINKTYPE_LINUX_SLL2 (276): protocol (2), reserved (2), interface index (4), ARPHRD type (2),
 * packet type (1), address length (1), address (8).
 */
function linuxSll2(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  if (end - off < 20) {
    truncated(pkt, 'link', off, 20, end - off, false, 'Linux cooked v2 (SLL2) header cut');
    return;
  }
  decodeEtherTypePayload(pkt, b, off + 20, end, u16be(b, off));
}

/**
 * Address family → EtherType. 2 is AF_INET everywhere; AF_INET6 differs by OS: 10 Linux,
 * 24 OpenBSD/NetBSD/BSD/OS, 28 FreeBSD/DragonFly, 30 macOS/iOS. A capture can come from any of
 * them, so all are accepted.
 */
function afToEtherType(af: number): number {
  switch (af) {
    case 2:
      return ETHERTYPE.IPV4;
    case 10:
    case 24:
    case 28:
    case 30:
      return ETHERTYPE.IPV6;
    default:
      return 0;
  }
}

function afPayload(pkt: Packet, off: number, af: number): void {
  const type = afToEtherType(af);
  if (type === 0) {
    unsupported(pkt, 'link', off, 'BSD loopback address family is not IP');
    return;
  }
  pkt.etherType = type;
  pkt.networkOffset = off + 4;
}

/**
 * LINKTYPE_NULL (0): a 4-byte address family in the byte order of the host that captured, which
 * the file does not tell. AF values are small, so the order in which the value is < 256 wins.
 */
function bsdNull(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  if (end - off < 4) {
    truncated(pkt, 'link', off, 4, end - off, false, 'BSD loopback (NULL) header cut');
    return;
  }
  const le = u32le(b, off);
  afPayload(pkt, off, le < 256 ? le : u32be(b, off));
}

/** LINKTYPE_LOOP (108, OpenBSD): the same 4-byte address family, always in network byte order. */
function bsdLoop(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  if (end - off < 4) {
    truncated(pkt, 'link', off, 4, end - off, false, 'BSD loopback (LOOP) header cut');
    return;
  }
  afPayload(pkt, off, u32be(b, off));
}

/** LINKTYPE_RAW (101) and DLT_RAW as 12 / 14: no link header, the IP version nibble decides. */
function rawIp(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  if (end - off < 1) {
    truncated(pkt, 'frame', off, 1, 0, false, 'empty raw IP frame');
    return;
  }
  const type = ipByVersion(b, off, end);
  if (type === 0) {
    malformed(pkt, 'frame', off, 'raw IP version nibble is neither 4 nor 6');
    return;
  }
  pkt.etherType = type;
  pkt.networkOffset = off;
}

/**
 * LINKTYPE_IPV4 (228) / LINKTYPE_IPV6 (229): raw IP of one version. Real files put IPv6 packets
 * in 228 (and the reverse happens), so a packet whose nibble names the other version is decoded
 * as that version; anything else goes to the declared version's decoder, which reports it.
 */
function rawIPv4(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  pkt.etherType = end - off >= 1 && b[off]! >> 4 === 6 ? ETHERTYPE.IPV6 : ETHERTYPE.IPV4;
  pkt.networkOffset = off;
}

function rawIPv6(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  pkt.etherType = end - off >= 1 && b[off]! >> 4 === 4 ? ETHERTYPE.IPV4 : ETHERTYPE.IPV6;
  pkt.networkOffset = off;
}

/**
 * A PPP frame at `off`: the HDLC-like address and control bytes FF 03 when present (RFC 1662;
 * files have both), then the protocol: 2 bytes, or 1 when compressed (RFC 1661 §6.5: an odd
 * first byte). Returns the offset after it with the EtherType in `pendingType`, or -1 when
 * decoding stops (cut, or PPP's own LCP, IPCP, CHAP, ... traffic).
 */
function pppAt(pkt: Packet, b: Uint8Array, off: number, end: number): number {
  if (end - off >= 2 && b[off] === 0xff && b[off + 1] === 0x03) off += 2;
  let protocol: number;
  if (end - off >= 1 && (b[off]! & 1) !== 0) {
    protocol = b[off]!;
    off += 1;
  } else {
    if (end - off < 2) {
      truncated(pkt, 'link', off, 2, end - off, false, 'PPP protocol cut');
      return -1;
    }
    protocol = u16be(b, off);
    off += 2;
  }
  const type = pppToEtherType(protocol);
  if (type === 0) {
    pkt.etherType = ETHERTYPE.PPP;
    return -1;
  }
  pendingType = type;
  return off;
}

/**
 * LINKTYPE_PPP (9) and LINKTYPE_PPP_HDLC (50): PPP, with or without FF 03 in front. A frame
 * starting 0x0F or 0x8F, 0x00 is Cisco HDLC, which some captures store under these link types.
 */
function ppp(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  if (end - off >= 4 && (b[off] === 0x0f || b[off] === 0x8f) && b[off + 1] === 0x00) {
    decodeEtherTypePayload(pkt, b, off + 4, end, u16be(b, off + 2));
    return;
  }
  decodeEtherTypePayload(pkt, b, off, end, ETHERTYPE.PPP);
}

/** LINKTYPE_C_HDLC (104): Cisco HDLC: address (0x0F unicast, 0x8F broadcast), control, EtherType. */
function ciscoHdlc(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  if (end - off < 4) {
    truncated(pkt, 'link', off, 4, end - off, false, 'Cisco HDLC header cut');
    return;
  }
  decodeEtherTypePayload(pkt, b, off + 4, end, u16be(b, off + 2));
}

/**
 * IEEE 802.11 data frame at `off` (LINKTYPE_IEEE802_11 105, and after radiotap). Only data
 * frames carry IP: 24-byte header, +6 with both DS bits (4 addresses), +2 for QoS subtypes, +4
 * for the HT control field (QoS with the order bit), then LLC/SNAP. Protected frames are
 * ciphertext, later fragments and A-MSDUs have no LLC header at the start: not decoded.
 */
function ieee80211At(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  if (end - off < 24) {
    truncated(pkt, 'link', off, 24, end - off, false, '802.11 header cut');
    return;
  }
  const fc0 = b[off]!;
  const flags = b[off + 1]!;
  if (((fc0 >> 2) & 3) !== 2) return; // management / control frame
  const subtype = fc0 >> 4;
  if ((subtype & 0x04) !== 0) return; // null data: no body
  if ((flags & 0x40) !== 0) return; // protected
  if ((b[off + 22]! & 0x0f) !== 0) return; // fragment number > 0
  let len = 24;
  if ((flags & 0x03) === 0x03) len += 6;
  const qos = (subtype & 0x08) !== 0;
  if (qos) {
    if (end - off < len + 2) {
      truncated(pkt, 'link', off, len + 2, end - off, false, '802.11 header cut');
      return;
    }
    if ((b[off + len]! & 0x80) !== 0) return; // A-MSDU
    len += 2;
    if ((flags & 0x80) !== 0) len += 4;
  }
  const snap = snapEtherType(b, off + len, end);
  if (snap >= 0) decodeEtherTypePayload(pkt, b, off + len + 8, end, snap);
}

function ieee80211(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  ieee80211At(pkt, b, off, end);
}

/** LINKTYPE_IEEE802_11_RADIOTAP (127): version, pad, header length (2, little-endian), then 802.11. */
function radiotap(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  if (end - off < 8) {
    truncated(pkt, 'link', off, 8, end - off, false, 'radiotap header cut');
    return;
  }
  const len = u16le(b, off + 2);
  if (len < 8) {
    malformed(pkt, 'link', off + 2, 'radiotap length < 8');
    return;
  }
  if (end - off < len) {
    truncated(pkt, 'link', off, len, end - off, false, 'radiotap header cut');
    return;
  }
  ieee80211At(pkt, b, off + len, end);
}

/**
 * LINKTYPE_NFLOG (239): family, version, resource id (4 bytes), then TLVs whose length and type
 * are in host byte order (little-endian on the hosts that write these files), each padded to
 * 4 bytes. TLV type 9 (NFULA_PAYLOAD) holds the IP packet.
 */
function nflog(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  if (end - off < 4) {
    truncated(pkt, 'link', off, 4, end - off, false, 'NFLOG header cut');
    return;
  }
  let p = off + 4;
  while (end - p >= 4) {
    const len = u16le(b, p);
    const type = u16le(b, p + 2);
    if (len < 4) {
      malformed(pkt, 'link', p, 'NFLOG TLV length < 4');
      return;
    }
    if (type === 9) {
      rawIp(pkt, b, p + 4, end);
      return;
    }
    p += (len + 3) & ~3;
  }
}

/**
 * PKTAP (LINKTYPE_PKTAP 258, and DLT_USER2 149, which is what macOS's libpcap names DLT_PKTAP):
 * a little-endian header whose first word is its length and second the link type that follows.
 */
function pktap(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  if (end - off < 8) {
    truncated(pkt, 'link', off, 8, end - off, false, 'PKTAP header cut');
    return;
  }
  const len = u32le(b, off);
  const inner = u32le(b, off + 4);
  const link = inner === 258 || inner === 149 ? undefined : LINK_DECODERS.get(inner);
  if (len < 8 || len > end - off) {
    malformed(pkt, 'link', off, 'PKTAP header length');
    return;
  }
  if (link === undefined) {
    unsupported(pkt, 'link', off + 4, 'link type inside PKTAP not supported');
    return;
  }
  link(pkt, b, off + len, end);
}

/**
 * LINKTYPE_JUNIPER_ETHER (178): magic "MGC", flags; with the extension flag (0x80) a 2-byte
 * length of TLV extensions follows; then the Ethernet frame. With the no-L2 flag (0x02) the
 * frame has no Ethernet header and a Juniper-specific one instead: not decoded.
 */
function juniperEther(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  if (end - off < 4) {
    truncated(pkt, 'link', off, 4, end - off, false, 'Juniper header cut');
    return;
  }
  if (b[off] !== 0x4d || b[off + 1] !== 0x47 || b[off + 2] !== 0x43) {
    malformed(pkt, 'link', off, 'Juniper magic is not MGC');
    return;
  }
  const flags = b[off + 3]!;
  let p = off + 4;
  if ((flags & 0x80) !== 0) {
    if (end - off < 6) {
      truncated(pkt, 'link', off, 6, end - off, false, 'Juniper header cut');
      return;
    }
    p = off + 6 + u16be(b, off + 4);
    if (p > end) {
      truncated(pkt, 'link', off, p - off, end - off, false, 'Juniper extensions cut');
      return;
    }
  }
  if ((flags & 0x02) !== 0) {
    unsupported(pkt, 'link', off + 3, 'Juniper frame without layer 2 header');
    return;
  }
  decodeEthernet(pkt, b, p, end);
}

/**
 * ARCNET (LINKTYPE_ARCNET_BSD 7; LINKTYPE_ARCNET_LINUX 129, which keeps the 2-byte offset field
 * of the hardware packet after the addresses): source and destination id (1 byte each), then a
 * protocol id. RFC 1201 ids (IP 212, ARP 213, RARP 214, IPv6 196 per RFC 2497, ...) are followed
 * by a split flag and a 2-byte sequence number; in a BSD exception packet (split flag 0xFF) two
 * bytes of padding, the id again and the real split flag come first. RFC 1051's ids (IP 240,
 * ARP 241) have no more header. Captures hold reassembled packets, as tshark assumes.
 */
function arcnetAt(pkt: Packet, b: Uint8Array, off: number, end: number, idAt: number, exceptions: boolean): void {
  if (end - off <= idAt) {
    truncated(pkt, 'link', off, idAt + 1, end - off, false, 'ARCNET header cut');
    return;
  }
  const id = b[off + idAt]!;
  const type = id === 212 || id === 240 ? ETHERTYPE.IPV4 : id === 196 ? ETHERTYPE.IPV6
    : id === 213 || id === 214 || id === 241 ? ETHERTYPE.ARP : 0;
  if (type === 0) {
    pkt.etherType = 0;
    return;
  }
  let p = off + idAt + 1;
  if (id !== 240 && id !== 241) {
    if (exceptions && end - p >= 1 && b[p] === 0xff) p += 4;
    p += 3;
    if (p > end) {
      truncated(pkt, 'link', off, p - off, end - off, false, 'ARCNET header cut');
      return;
    }
  }
  decodeEtherTypePayload(pkt, b, p, end, type);
}

function arcnetBsd(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  arcnetAt(pkt, b, off, end, 2, true);
}

function arcnetLinux(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  arcnetAt(pkt, b, off, end, 4, false);
}

/**
 * LINKTYPE_FDDI (10): frame control (1 byte), destination and source addresses (6 each), then
 * for LLC frames (format bits 01 in the frame control) 802.2 LLC, SNAP carrying an EtherType.
 * MAC and station management frames carry no IP.
 */
function fddi(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  if (end - off < 13) {
    truncated(pkt, 'link', off, 13, end - off, false, 'FDDI header cut');
    return;
  }
  const snap = ((b[off]! >> 4) & 3) === 1 ? snapEtherType(b, off + 13, end) : -1;
  if (snap < 0) {
    pkt.etherType = 0;
    return;
  }
  decodeEtherTypePayload(pkt, b, off + 21, end, snap);
}

/**
 * LINKTYPE_IPOIB (242): IP over InfiniBand. RFC 4391 §6's encapsulation header (an EtherType and
 * 2 reserved bytes) comes after 40 bytes of InfiniBand addressing: the global route header of a
 * received packet, or 20 zero bytes and the destination's queue pair and GID. That is the
 * 44-byte header Solaris's DLT_IPOIB writes and tshark reads.
 */
function ipoib(pkt: Packet, b: Uint8Array, off: number, end: number): void {
  if (end - off < 44) {
    truncated(pkt, 'link', off, 44, end - off, false, 'IPoIB header cut');
    return;
  }
  decodeEtherTypePayload(pkt, b, off + 44, end, u16be(b, off + 40));
}

export const LINK_DECODERS: ReadonlyMap<number, LinkDecoder> = new Map<number, LinkDecoder>([
  [LINKTYPE.NULL, bsdNull],
  [LINKTYPE.ETHERNET, ethernet],
  [LINKTYPE.ARCNET_BSD, arcnetBsd],
  [LINKTYPE.PPP, ppp],
  [LINKTYPE.FDDI, fddi],
  [LINKTYPE.RAW_12, rawIp],
  [LINKTYPE.RAW_14, rawIp],
  [LINKTYPE.PPP_SERIAL, ppp],
  [LINKTYPE.RAW, rawIp],
  [LINKTYPE.C_HDLC, ciscoHdlc],
  [LINKTYPE.IEEE802_11, ieee80211],
  [LINKTYPE.LOOP, bsdLoop],
  [LINKTYPE.LINUX_SLL, linuxSll],
  [LINKTYPE.IEEE802_11_RADIOTAP, radiotap],
  [LINKTYPE.ARCNET_LINUX, arcnetLinux],
  [LINKTYPE.USER2, pktap],
  [LINKTYPE.JUNIPER_ETHER, juniperEther],
  [LINKTYPE.IPV4, rawIPv4],
  [LINKTYPE.IPV6, rawIPv6],
  [LINKTYPE.NFLOG, nflog],
  [LINKTYPE.IPOIB, ipoib],
  [LINKTYPE.PKTAP, pktap],
  [LINKTYPE.LINUX_SLL2, linuxSll2],
]);

export function isSupportedLinkType(linkType: number): boolean {
  return LINK_DECODERS.has(linkType);
}
