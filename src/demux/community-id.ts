/**
 * Community ID v1 (https://github.com/corelight/community-id-spec): a flow hash that Zeek,
 * Suricata, Arkime and others compute the same way, so records can be joined across tools.
 *
 *   "1:" + base64(SHA-1(seed u16 BE ‖ saddr ‖ daddr ‖ proto u8 ‖ 0x00 ‖ sport u16 BE ‖ dport u16 BE))
 *
 * with the ends ordered smaller address first (raw network-order bytes), then smaller port. ICMP
 * and ICMPv6 use the type as source "port" and, for the request/reply pairs, the counterpart
 * type as destination "port" (so a request and its reply hash alike); other ICMP types use the
 * code and are not reordered (one-way). Protocols without ports hash without the port fields.
 * Computed once per flow, never per packet.
 */
import * as crypto from 'node:crypto';

/**
 * SHA-1 as base64 in one call. `crypto.hash` (Node 20.12+) skips the Hash object that
 * `createHash` builds and throws away per flow (a twentieth of a 2M-packet run, issue 6); older
 * Node 20 releases fall back to createHash.
 */
const sha1Base64: (data: Uint8Array) => string = typeof crypto.hash === 'function'
  ? (data) => crypto.hash('sha1', data, 'base64')
  : (data) => crypto.createHash('sha1').update(data).digest('base64');

/** Reused input buffers by length (16 bytes for IPv4 with ports, 40 for IPv6): no allocation per flow. */
const scratch: (Uint8Array | undefined)[] = [];

/** ICMPv4 request/reply pairs (both directions): echo, timestamp, information, router, mask. */
const ICMP4_PAIRS: ReadonlyMap<number, number> = new Map([
  [8, 0], [0, 8], [13, 14], [14, 13], [15, 16], [16, 15], [10, 9], [9, 10], [17, 18], [18, 17],
]);
/**
 * ICMPv6 pairs: echo 128/129, router solicit/advert 133/134, neighbour solicit/advert 135/136,
 * MLD query/report 130/131, node information 139/140, home agent discovery 144/145.
 */
const ICMP6_PAIRS: ReadonlyMap<number, number> = new Map([
  [128, 129], [129, 128], [133, 134], [134, 133], [135, 136], [136, 135], [130, 131], [131, 130],
  [139, 140], [140, 139], [144, 145], [145, 144],
]);
/** The first type of each pair: the one sent by the side that asks. */
const ICMP4_REQUESTS = new Set([8, 13, 15, 10, 17]);
const ICMP6_REQUESTS = new Set([128, 133, 135, 130, 139, 144]);

/** The counterpart type of an ICMP request/reply type, or -1 for a one-way type. */
export function icmpCounterpart(type: number, v6: boolean): number {
  return (v6 ? ICMP6_PAIRS : ICMP4_PAIRS).get(type) ?? -1;
}

/** True for the asking half of a request/reply pair (echo request, router solicitation...). */
export function isIcmpRequest(type: number, v6: boolean): boolean {
  return (v6 ? ICMP6_REQUESTS : ICMP4_REQUESTS).has(type);
}

/** Protocols whose Community ID includes ports: ICMP, TCP, UDP, ICMPv6, SCTP. */
function hasPortFields(proto: number): boolean {
  return proto === 1 || proto === 6 || proto === 17 || proto === 58 || proto === 132;
}

/**
 * Order of two ends on raw network-order address bytes, then port (negative: src first). The
 * spec's order, and the engine's canonical key order too.
 */
export function compareEnds(src: Uint8Array, sOff: number, dst: Uint8Array, dOff: number, len: number, sport: number, dport: number): number {
  for (let i = 0; i < len; i++) {
    const d = src[sOff + i]! - dst[dOff + i]!;
    if (d !== 0) return d;
  }
  return sport - dport;
}

/**
 * Community ID of a tuple given as the ends appear in a packet (or already ordered: the
 * function orders them itself). For TCP/UDP/SCTP `sport`/`dport` are the ports; for ICMP/ICMPv6
 * pass the type and code, the mapping is applied here. `len` is 4 or 16.
 */
export function communityId(
  proto: number,
  src: Uint8Array, srcOff: number,
  dst: Uint8Array, dstOff: number,
  len: number,
  sport: number, dport: number,
  seed = 0,
): string {
  let oneWay = false;
  if (proto === 1 || proto === 58) {
    const counterpart = icmpCounterpart(sport, proto === 58);
    if (counterpart >= 0) dport = counterpart;
    else oneWay = true; // sport = type, dport = code, order as sent
  }
  let swap = false;
  if (!oneWay) swap = compareEnds(src, srcOff, dst, dstOff, len, sport, dport) > 0;
  return hashOrdered(proto, swap ? dst : src, swap ? dstOff : srcOff, swap ? src : dst, swap ? srcOff : dstOff, len,
    swap ? dport : sport, swap ? sport : dport, seed);
}

/**
 * Community ID of ends that are already in the order to hash (the engine's canonical key uses
 * the spec's order; one-way ICMP keys keep the sender first) and ports already mapped.
 */
export function hashOrdered(
  proto: number,
  a: Uint8Array, aOff: number,
  b: Uint8Array, bOff: number,
  len: number,
  aPort: number, bPort: number,
  seed = 0,
): string {
  const withPorts = hasPortFields(proto);
  const size = 2 + 2 * len + 2 + (withPorts ? 4 : 0);
  const buf = scratch[size] ?? (scratch[size] = new Uint8Array(size));
  buf[0] = (seed >>> 8) & 0xff;
  buf[1] = seed & 0xff;
  let p = 2;
  for (let i = 0; i < len; i++) buf[p++] = a[aOff + i]!;
  for (let i = 0; i < len; i++) buf[p++] = b[bOff + i]!;
  buf[p++] = proto & 0xff;
  buf[p++] = 0; // padding to 32-bit alignment
  if (withPorts) {
    buf[p++] = (aPort >>> 8) & 0xff;
    buf[p++] = aPort & 0xff;
    buf[p++] = (bPort >>> 8) & 0xff;
    buf[p] = bPort & 0xff;
  }
  return '1:' + sha1Base64(buf);
}
