/**
 * IPv6 packets whose transport end points differ from the header's addresses: a routing header
 * with segments left names the final destination, a Home Address option names the source (RFC
 * 8200 §8.1, RFC 6275 §6.3: the addresses the transport's pseudo-header uses). The flow is keyed
 * on those, as tshark's conversations and Zeek's connections are.
 */
import { describe, expect, it } from 'vitest';
import { decodeBytes } from '../../src/parse/decode.js';
import { formatAddress, parseAddress } from '../../src/parse/format.js';
import { newPacket, type Packet } from '../../src/core/packet.js';
import { buildIcmpError, buildUdp, concat, quoteOf } from '../helpers/packet-builders.js';

const pkt = newPacket();
const raw = (b: Uint8Array): Packet => decodeBytes(101, b, b.length, b.length, pkt);
const src = (p: Packet) => formatAddress(p.bytes, p.srcAddrOffset, 16);
const dst = (p: Packet) => formatAddress(p.bytes, p.dstAddrOffset, 16);
const S = '2001:db8::1';
const HOP = '2001:db8:1::1';
const MID = '2001:db8:2::2';
const FINAL = '2001:db8:3::3';
const HOME = '2001:db8:4::4';

/** Routing header data after next-header/length: type, segments left, 4 type-specific bytes, addresses. */
function routing(type: number, segmentsLeft: number, addrs: string[], lastEntry = -1): Uint8Array {
  const head = Uint8Array.of(type, segmentsLeft, lastEntry < 0 ? 0 : lastEntry, 0, 0, 0);
  return concat(head, ...addrs.map((a) => parseAddress(a)));
}

const udpWith = (dstAddr: string, ext: Parameters<typeof buildUdp>[0]['ip']) =>
  buildUdp({ src: S, dst: dstAddr, sport: 13000, dport: 30000, payload: 'data', ip: ext });

describe('routing header', () => {
  it('type 0 with segments left: the last address is the final destination', () => {
    raw(udpWith(HOP, { ext: [{ type: 'routing', data: routing(0, 2, [MID, FINAL]) }] }));
    expect(pkt.problems).toEqual([]);
    expect([src(pkt), dst(pkt), pkt.srcPort, pkt.dstPort]).toEqual([S, FINAL, 13000, 30000]);
  });

  it('segment routing (type 4): segment list entry 0 is the final destination', () => {
    raw(udpWith(HOP, { ext: [{ type: 'routing', data: routing(4, 1, [FINAL, HOP], 1) }] }));
    expect(dst(pkt)).toBe(FINAL);
  });

  it('Mobile IPv6 type 2: the home address in it', () => {
    raw(udpWith(HOP, { ext: [{ type: 'routing', data: routing(2, 1, [HOME]) }] }));
    expect(dst(pkt)).toBe(HOME);
  });

  it('no segments left: the header destination is already the final one', () => {
    raw(udpWith(FINAL, { ext: [{ type: 'routing', data: routing(0, 0, [HOP]) }] }));
    expect(dst(pkt)).toBe(FINAL);
  });
});

describe('Home Address destination option', () => {
  it('replaces the source; PadN before it is skipped', () => {
    // PadN (2 bytes of padding), then option 0xC9 with 16 bytes: 2 + 4 + 18 = 24 bytes.
    const data = concat(Uint8Array.of(1, 2, 0, 0), Uint8Array.of(0xc9, 16), parseAddress(HOME));
    raw(udpWith(FINAL, { ext: [{ type: 'dest', data }] }));
    expect(pkt.problems).toEqual([]);
    expect([src(pkt), dst(pkt)]).toEqual([HOME, FINAL]);
  });
});

describe('ICMPv6 error quoting such a packet', () => {
  it('the quoted packet is named by its transport end points too', () => {
    const original = udpWith(HOP, { ext: [{ type: 'routing', data: routing(0, 1, [FINAL]) }] });
    raw(buildIcmpError({ src: HOP, dst: S, type: 1, code: 4, quote: quoteOf(original, original.length) }));
    expect(formatAddress(pkt.bytes, pkt.quotedSrcAddrOffset, 16)).toBe(S);
    expect(formatAddress(pkt.bytes, pkt.quotedDstAddrOffset, 16)).toBe(FINAL);
    expect([pkt.quotedSrcPort, pkt.quotedDstPort]).toEqual([13000, 30000]);
  });
});
