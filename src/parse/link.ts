/**
 * Link-layer decoders. Each one finds the network layer: it sets `pkt.etherType` (the EtherType,
 * or the EtherType equivalent of a BSD address family / raw IP version) and, for IPv4 and IPv6,
 * `pkt.networkOffset`. A non-IP network layer (ARP, LLDP, 802.3 LLC, ...) is ordinary traffic:
 * its EtherType is recorded and nothing is reported. Dispatch is by LINKTYPE_* number through
 * `LINK_DECODERS`.
 */
import { u16be, u32be, u32le } from './bytes.js';
import { malformed, truncated, unsupported } from './damage.js';
import type { Packet } from './packet.js';

export const ETHERTYPE = {
  IPV4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100, // 802.1Q customer tag
  QINQ: 0x88a8, // 802.1ad service tag
  QINQ_OLD: 0x9100, // pre-standard QinQ outer tag, still emitted by some switches
  IPV6: 0x86dd,
} as const;

/** More tags than this is not a real network; stop instead of walking a hostile chain. */
export const MAX_VLAN_TAGS = 8;

/** Decodes the link header of a frame whose captured bytes end at `end`. */
export type LinkDecoder = (pkt: Packet, b: Uint8Array, end: number) => void;

/**
 * The EtherType `type` sits just before `off`: walk any VLAN tags (each 4 bytes: TCI, next
 * EtherType), record their ids outermost first, and note where IP starts.
 */
export function decodeEtherTypePayload(pkt: Packet, b: Uint8Array, off: number, end: number, type: number): void {
  let tags = 0;
  while (type === ETHERTYPE.VLAN || type === ETHERTYPE.QINQ || type === ETHERTYPE.QINQ_OLD) {
    if (tags === MAX_VLAN_TAGS) {
      malformed(pkt, 'vlan', off, 'more than 8 VLAN tags');
      return;
    }
    if (end - off < 4) {
      truncated(pkt, 'vlan', off, 4, end - off, false, 'VLAN tag cut');
      return;
    }
    // TCI: PCP (3 bits), DEI (1), VLAN id (12).
    pkt.vlanIds[tags] = u16be(b, off) & 0x0fff;
    tags++;
    pkt.vlanCount = tags;
    type = u16be(b, off + 2);
    off += 4;
  }
  // Values below 0x0600 are 802.3 length fields (LLC follows), not EtherTypes.
  pkt.etherType = type >= 0x0600 ? type : 0;
  if (type === ETHERTYPE.IPV4 || type === ETHERTYPE.IPV6) pkt.networkOffset = off;
}

/** LINKTYPE_ETHERNET (1): destination MAC, source MAC, EtherType. No FCS is assumed. */
function ethernet(pkt: Packet, b: Uint8Array, end: number): void {
  if (end < 14) {
    truncated(pkt, 'link', 0, 14, end, false, 'Ethernet header cut');
    return;
  }
  decodeEtherTypePayload(pkt, b, 14, end, u16be(b, 12));
}

/**
 * LINKTYPE_LINUX_SLL (113): packet type (2), ARPHRD type (2), address length (2), address (8),
 * protocol (2, an EtherType for the link types that matter here). libpcap puts a VLAN tag it
 * got from the kernel's auxdata back in, so the protocol may be 0x8100 with a tag after.
 */
function linuxSll(pkt: Packet, b: Uint8Array, end: number): void {
  if (end < 16) {
    truncated(pkt, 'link', 0, 16, end, false, 'Linux cooked (SLL) header cut');
    return;
  }
  decodeEtherTypePayload(pkt, b, 16, end, u16be(b, 14));
}

/**
 * LINKTYPE_LINUX_SLL2 (276): protocol (2), reserved (2), interface index (4), ARPHRD type (2),
 * packet type (1), address length (1), address (8).
 */
function linuxSll2(pkt: Packet, b: Uint8Array, end: number): void {
  if (end < 20) {
    truncated(pkt, 'link', 0, 20, end, false, 'Linux cooked v2 (SLL2) header cut');
    return;
  }
  decodeEtherTypePayload(pkt, b, 20, end, u16be(b, 0));
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

function afPayload(pkt: Packet, af: number): void {
  const type = afToEtherType(af);
  if (type === 0) {
    unsupported(pkt, 'link', 0, 'BSD loopback address family is not IP');
    return;
  }
  pkt.etherType = type;
  pkt.networkOffset = 4;
}

/**
 * LINKTYPE_NULL (0): a 4-byte address family in the byte order of the host that captured, which
 * the file does not tell. AF values are small, so the order in which the value is < 256 wins.
 */
function bsdNull(pkt: Packet, b: Uint8Array, end: number): void {
  if (end < 4) {
    truncated(pkt, 'link', 0, 4, end, false, 'BSD loopback (NULL) header cut');
    return;
  }
  const le = u32le(b, 0);
  afPayload(pkt, le < 256 ? le : u32be(b, 0));
}

/** LINKTYPE_LOOP (108, OpenBSD): the same 4-byte address family, always in network byte order. */
function bsdLoop(pkt: Packet, b: Uint8Array, end: number): void {
  if (end < 4) {
    truncated(pkt, 'link', 0, 4, end, false, 'BSD loopback (LOOP) header cut');
    return;
  }
  afPayload(pkt, u32be(b, 0));
}

/** LINKTYPE_RAW (101) and DLT_RAW as 12 / 14: no link header, the IP version nibble decides. */
function rawIp(pkt: Packet, b: Uint8Array, end: number): void {
  if (end < 1) {
    truncated(pkt, 'frame', 0, 1, 0, false, 'empty raw IP frame');
    return;
  }
  const version = b[0]! >> 4;
  if (version === 4) pkt.etherType = ETHERTYPE.IPV4;
  else if (version === 6) pkt.etherType = ETHERTYPE.IPV6;
  else {
    malformed(pkt, 'frame', 0, 'raw IP version nibble is neither 4 nor 6');
    return;
  }
  pkt.networkOffset = 0;
}

/**
 * LINKTYPE_IPV4 (228) / LINKTYPE_IPV6 (229): raw IP of one version. Real files put IPv6 packets
 * in 228 (and the reverse happens), so a packet whose nibble names the other version is decoded
 * as that version; anything else goes to the declared version's decoder, which reports it.
 */
function rawIPv4(pkt: Packet, b: Uint8Array, end: number): void {
  pkt.etherType = end >= 1 && b[0]! >> 4 === 6 ? ETHERTYPE.IPV6 : ETHERTYPE.IPV4;
  pkt.networkOffset = 0;
}

function rawIPv6(pkt: Packet, b: Uint8Array, end: number): void {
  pkt.etherType = end >= 1 && b[0]! >> 4 === 4 ? ETHERTYPE.IPV4 : ETHERTYPE.IPV6;
  pkt.networkOffset = 0;
}

export const LINK_DECODERS: ReadonlyMap<number, LinkDecoder> = new Map<number, LinkDecoder>([
  [0, bsdNull],
  [1, ethernet],
  [12, rawIp],
  [14, rawIp],
  [101, rawIp],
  [108, bsdLoop],
  [113, linuxSll],
  [228, rawIPv4],
  [229, rawIPv6],
  [276, linuxSll2],
]);

export function isSupportedLinkType(linkType: number): boolean {
  return LINK_DECODERS.has(linkType);
}
