/**
 * Tunnels: the Packet describes the innermost packet (what the flow is keyed on, as tshark's
 * conversations are), with the tunnel recorded in `tunnelDepth` / `tunnel` / `outerNetworkOffset`.
 * When the inner packet cannot be keyed (not IP, or IP without TCP/UDP/ICMP), the outer packet
 * stands. Frames are built byte by byte here; each test says which header is where.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeBytes } from '../../src/parse/decode.js';
import { formatAddress } from '../../src/parse/format.js';
import { newPacket, type Packet } from '../../src/core/packet.js';
import { MAX_TUNNEL_DEPTH } from '../../src/parse/tunnel.js';
import {
  buildEcho, buildTcp, buildUdp, concat, ethernet, fromHex, ipv4, ipv6, udpDatagram,
} from '../helpers/packet-builders.js';

const pkt = newPacket();
const decode = (frame: Uint8Array, linkType = 1, capturedLength = frame.length, originalLength = frame.length): Packet =>
  decodeBytes(linkType, frame, capturedLength, originalLength, pkt);
const src = (p: Packet) => formatAddress(p.bytes, p.srcAddrOffset, p.addrLength);
const dst = (p: Packet) => formatAddress(p.bytes, p.dstAddrOffset, p.addrLength);

// Outer (tunnel end points) and inner (the flow) addresses.
const O1 = '203.0.113.1';
const O2 = '203.0.113.2';
const O6a = '2001:db8:ffff::1';
const O6b = '2001:db8:ffff::2';
const A = '192.0.2.1';
const B = '198.51.100.7';
const X = '2001:db8::1';
const Y = '2001:db8::7';

const innerTcp = buildTcp({ src: A, dst: B, sport: 40000, dport: 80, flags: 'S', seq: 1000 });
const innerTcp6 = buildTcp({ src: X, dst: Y, sport: 40000, dport: 443, flags: 'PA', seq: 5, payload: 'hello' });
const innerUdp6 = buildUdp({ src: X, dst: Y, sport: 5353, dport: 53, payload: 'query' });
/** An inner Ethernet frame: made-up MACs so they are told apart from the outer ones. */
const innerEth = (payload: Uint8Array, o: Parameters<typeof ethernet>[1] = {}) =>
  ethernet(payload, { dst: [0x0a, 0, 0, 0, 0, 2], src: [0x0a, 0, 0, 0, 0, 1], ...o });
const arp = ethernet(new Uint8Array(28), { etherType: 0x0806, dst: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff] });

function u16(v: number): number[] {
  return [(v >> 8) & 0xff, v & 0xff];
}

/** GRE header (RFC 2784/2890): C, K, S bits from the options given. */
function gre(protocol: number, payload: Uint8Array, o: { key?: number; seq?: number; checksum?: boolean; version?: number; ack?: number } = {}): Uint8Array {
  const flags = (o.checksum ? 0x80 : 0) | (o.key !== undefined ? 0x20 : 0) | (o.seq !== undefined ? 0x10 : 0);
  const h: number[] = [flags, (o.ack !== undefined ? 0x80 : 0) | (o.version ?? 0), ...u16(protocol)];
  if (o.checksum) h.push(0, 0, 0, 0);
  const word = (v: number) => h.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  if (o.key !== undefined) word(o.key);
  if (o.seq !== undefined) word(o.seq);
  if (o.ack !== undefined) word(o.ack);
  return concat(Uint8Array.from(h), payload);
}

const overIpv4 = (protocol: number, payload: Uint8Array, extra: Partial<Parameters<typeof ipv4>[0]> = {}) =>
  ethernet(ipv4({ src: O1, dst: O2, protocol, payload, ...extra }));
const overUdp = (dport: number, payload: Uint8Array, sport = 50000) =>
  ethernet(buildUdp({ src: O1, dst: O2, sport, dport, payload }));

function expectInnerTcp(p: Packet, tunnel: string, depth = 1): void {
  expect(p.problems).toEqual([]);
  expect([p.tunnel, p.tunnelDepth, p.outerNetworkOffset]).toEqual([tunnel, depth, 14]);
  expect([p.ipVersion, src(p), dst(p), p.protocol, p.srcPort, p.dstPort, p.tcpSeq]).toEqual([4, A, B, 6, 40000, 80, 1000]);
  expect(p.hasPorts).toBe(true);
}

describe('IP in IP (protocols 4 and 41)', () => {
  it('IPv4 in IPv4', () => {
    expectInnerTcp(decode(overIpv4(4, innerTcp)), 'ip-in-ip');
    expect(pkt.networkOffset).toBe(34);
    expect(pkt.ipLength).toBe(innerTcp.length);
  });

  it('IPv6 in IPv4 (6in4), IPv4 in IPv6 (4in6), IPv6 in IPv6', () => {
    decode(overIpv4(41, innerTcp6));
    expect([pkt.tunnel, pkt.ipVersion, src(pkt), dst(pkt), pkt.dstPort, pkt.payloadLength]).toEqual(['ip-in-ip', 6, X, Y, 443, 5]);
    decode(ethernet(ipv6({ src: O6a, dst: O6b, nextHeader: 4, payload: innerTcp })));
    expectInnerTcp(pkt, 'ip-in-ip');
    decode(ethernet(ipv6({ src: O6a, dst: O6b, nextHeader: 41, payload: innerUdp6 })));
    expect([pkt.tunnel, src(pkt), dst(pkt), pkt.protocol, pkt.srcPort, pkt.dstPort]).toEqual(['ip-in-ip', X, Y, 17, 5353, 53]);
  });

  it('the inner IPv6 packet sets no IP id: nothing of the outer header shows through', () => {
    decode(overIpv4(41, innerTcp6, { id: 0x4242, df: true, ttl: 9 }));
    expect([pkt.ipId, pkt.dontFragment, pkt.ttl]).toEqual([0, false, 64]);
  });
});

describe('GRE (protocol 47)', () => {
  it('IPv4 payload, with checksum, key and sequence number', () => {
    expectInnerTcp(decode(overIpv4(47, gre(0x0800, innerTcp, { checksum: true, key: 7, seq: 1 }))), 'gre');
    expect(pkt.networkOffset).toBe(14 + 20 + 16);
  });

  it('transparent Ethernet bridging (0x6558): inner Ethernet with a VLAN tag', () => {
    decode(overIpv4(47, gre(0x6558, innerEth(innerTcp, { vlans: [42] }), { key: 1 })));
    expectInnerTcp(pkt, 'gre');
    expect(pkt.vlanIds.slice(0, pkt.vlanCount)).toEqual([42]);
  });

  it('ERSPAN type I (no sequence bit: no header), type II (8-byte header), type III (12, +8 with O)', () => {
    expectInnerTcp(decode(overIpv4(47, gre(0x88be, innerEth(innerTcp)))), 'gre');
    const type2 = fromHex('1007 0005 0000 0012'); // version 1, VLAN 7, session 5, index 18
    expectInnerTcp(decode(overIpv4(47, gre(0x88be, concat(type2, innerEth(innerTcp)), { seq: 0 }))), 'gre');
    const type3 = fromHex('2000 0005 00000000 0000 0000'); // version 2, frame type 0 (Ethernet), O clear
    expectInnerTcp(decode(overIpv4(47, gre(0x22eb, concat(type3, innerEth(innerTcp)), { seq: 0 }))), 'gre');
    const type3o = fromHex('2000 0005 00000000 0000 0001 0000000000000000'); // O set: platform subheader
    expectInnerTcp(decode(overIpv4(47, gre(0x22eb, concat(type3o, innerEth(innerTcp)), { seq: 0 }))), 'gre');
  });

  it('WCCP redirection (0x883e): v2 with its 4-byte header, v1 without', () => {
    expectInnerTcp(decode(overIpv4(47, gre(0x883e, concat(fromHex('05590048'), innerTcp)))), 'gre');
    expectInnerTcp(decode(overIpv4(47, gre(0x883e, innerTcp))), 'gre');
  });

  it("PPTP's enhanced GRE (version 1): key, sequence, acknowledgment, then PPP", () => {
    const ppp = concat(fromHex('ff03 0021'), innerTcp);
    expectInnerTcp(decode(overIpv4(47, gre(0x880b, ppp, { version: 1, key: 0x00200001, seq: 3, ack: 2 }))), 'gre');
    // PPP control traffic (LCP) is not IP: the GRE packet stands.
    decode(overIpv4(47, gre(0x880b, fromHex('ff03 c021 0101 0004'), { version: 1, key: 1 })));
    expect([pkt.tunnelDepth, pkt.protocol, src(pkt)]).toEqual([0, 47, O1]);
  });

  it('MPLS over GRE', () => {
    expectInnerTcp(decode(overIpv4(47, gre(0x8847, concat(fromHex('00064140'), innerTcp)))), 'gre');
  });

  it("Aruba (0x8200-0x8370, every 16th): an 802.11 data frame with LLC/SNAP; protected frames leave the GRE packet", () => {
    // QoS data, to-DS: frame control, duration, 3 addresses, sequence control, QoS control.
    const qosData = fromHex('8801 2c00 020000000aaa 02000000000a 02000000000b 1000 0600');
    const snap = fromHex('aaaa03 000000 0800');
    expectInnerTcp(decode(overIpv4(47, gre(0x8210, concat(qosData, snap, innerTcp)))), 'gre');
    expect(pkt.networkOffset).toBe(14 + 20 + 4 + 26 + 8);
    expectInnerTcp(decode(overIpv4(47, gre(0x8370, concat(qosData, snap, innerTcp)))), 'gre');
    // Protected (CCMP, as in Zeek's test trace): ciphertext, nothing to key on.
    decode(overIpv4(47, gre(0x8300, concat(fromHex('8841'), qosData.subarray(2), new Uint8Array(60)))));
    expect([pkt.tunnelDepth, pkt.protocol, src(pkt), dst(pkt), pkt.problems]).toEqual([0, 47, O1, O2, []]);
    // Not an Aruba type: 0x8211 (low nibble set), 0x8380 (past the range).
    for (const type of [0x8211, 0x8380]) {
      decode(overIpv4(47, gre(type, concat(qosData, snap, innerTcp))));
      expect([pkt.tunnelDepth, pkt.protocol]).toEqual([0, 47]);
    }
  });

  it('GRE in GRE: depth 2, offsets still point into the frame', () => {
    const inner = ipv4({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 47, payload: gre(0x0800, innerTcp) });
    expectInnerTcp(decode(overIpv4(47, gre(0x0800, inner))), 'gre', 2);
    expect(pkt.networkOffset).toBe(14 + 20 + 4 + 20 + 4);
  });

  it('ICMP inside: the inner ICMP is the packet (an ICMP flow, not the GRE packet)', () => {
    decode(overIpv4(47, gre(0x0800, buildEcho({ src: A, dst: B, id: 1, seq: 2 }))));
    expect([pkt.tunnel, pkt.protocol, pkt.icmpType, pkt.icmpId, src(pkt)]).toEqual(['gre', 1, 8, 1, A]);
  });

  it('nothing keyable inside (ARP): the GRE packet stands, naming the tunnel it carries', () => {
    decode(overIpv4(47, gre(0x6558, arp)));
    expect([pkt.tunnelDepth, pkt.tunnel, pkt.carried, pkt.protocol, src(pkt), pkt.networkOffset]).toEqual([0, null, 'gre', 47, O1, 14]);
    expect(pkt.problems).toEqual([]);
  });

  it('another IP protocol inside (OSPF) is the packet, as Zeek keys it inside the tunnel', () => {
    decode(overIpv4(47, gre(0x0800, ipv4({ src: A, dst: B, protocol: 89, payload: new Uint8Array(24) }))));
    expect([pkt.tunnelDepth, pkt.tunnel, pkt.carried, pkt.protocol, src(pkt)]).toEqual([1, 'gre', null, 89, A]);
    expect(pkt.problems).toEqual([]);
  });

  it('unknown GRE version or protocol type: not followed', () => {
    decode(overIpv4(47, gre(0x0800, innerTcp, { version: 2 })));
    expect([pkt.tunnelDepth, pkt.protocol]).toEqual([0, 47]);
    decode(overIpv4(47, gre(0x9999, innerTcp)));
    expect([pkt.tunnelDepth, pkt.protocol]).toEqual([0, 47]);
  });
});

describe('PIM Register (protocol 103)', () => {
  // Version 2 / type 1, reserved, checksum, flags (B, N), then the source's packet.
  const register = (flags: string, payload: Uint8Array) => overIpv4(103, concat(fromHex(`21 00 0000 ${flags}`), payload));

  it('the multicast packet inside is the one the flow is keyed on', () => {
    expectInnerTcp(decode(register('00000000', innerTcp)), 'pim');
    expect(pkt.networkOffset).toBe(14 + 20 + 8);
    decode(register('80000000', innerUdp6)); // border bit, IPv6 inside
    expect([pkt.tunnel, src(pkt), dst(pkt), pkt.protocol, pkt.dstPort]).toEqual(['pim', X, Y, 17, 53]);
  });

  it('a Null-Register (only a dummy header) and the other PIM messages stay PIM', () => {
    decode(register('40000000', ipv4({ src: A, dst: '239.1.2.3', protocol: 0 })));
    expect([pkt.tunnelDepth, pkt.protocol, src(pkt), dst(pkt)]).toEqual([0, 103, O1, O2]);
    decode(overIpv4(103, concat(fromHex('20 00 0000 0001 0002 0069'), new Uint8Array(20)))); // hello
    expect([pkt.tunnelDepth, pkt.protocol]).toEqual([0, 103]);
    decode(overIpv4(103, concat(fromHex('22 00 0000'), innerTcp))); // register-stop
    expect([pkt.tunnelDepth, pkt.protocol]).toEqual([0, 103]);
  });
});

describe('UDP tunnels on their ports', () => {
  const vxlanHeader = fromHex('08000000 00007b00'); // I flag, VNI 123

  it('VXLAN (4789): Ethernet inside; either port', () => {
    expectInnerTcp(decode(overUdp(4789, concat(vxlanHeader, innerEth(innerTcp)))), 'vxlan');
    expect(pkt.networkOffset).toBe(14 + 20 + 8 + 8 + 14);
    expectInnerTcp(decode(ethernet(buildUdp({ src: O1, dst: O2, sport: 4789, dport: 50000, payload: concat(vxlanHeader, innerEth(innerTcp)) }))), 'vxlan');
  });

  it('VXLAN carrying ARP: the outer UDP packet stands (its flow is the tunnel)', () => {
    decode(overUdp(4789, concat(vxlanHeader, arp)));
    expect([pkt.tunnelDepth, pkt.protocol, src(pkt), dst(pkt), pkt.srcPort, pkt.dstPort]).toEqual([0, 17, O1, O2, 50000, 4789]);
    expect(pkt.problems).toEqual([]);
  });

  it('VXLAN-GPE (4790): next protocol IPv4 / Ethernet', () => {
    expectInnerTcp(decode(overUdp(4790, concat(fromHex('0c000001 00007b00'), innerTcp))), 'vxlan-gpe');
    expectInnerTcp(decode(overUdp(4790, concat(fromHex('0c000003 00007b00'), innerEth(innerTcp)))), 'vxlan-gpe');
  });

  it('Geneve (6081): options skipped; protocol type Ethernet or IPv6', () => {
    const opt = fromHex('0102 0301 00000000'); // one 8-byte option (class 0x0102, type 3, length 1 word)
    expectInnerTcp(decode(overUdp(6081, concat(fromHex('02006558 00007b00'), opt, innerEth(innerTcp)))), 'geneve');
    decode(overUdp(6081, concat(fromHex('000086dd 00007b00'), innerUdp6)));
    expect([pkt.tunnel, src(pkt), dst(pkt), pkt.protocol, pkt.dstPort]).toEqual(['geneve', X, Y, 17, 53]);
  });

  it('Teredo (3544): IPv6 after an origin indication; a bubble (no next header) leaves the UDP packet', () => {
    const origin = fromHex('0000 7f7b ac55fed9');
    decode(overUdp(3544, concat(origin, innerUdp6)));
    expect([pkt.tunnel, src(pkt), dst(pkt), pkt.srcPort, pkt.dstPort]).toEqual(['teredo', X, Y, 5353, 53]);
    decode(overUdp(3544, ipv6({ src: X, dst: Y, nextHeader: 59 })));
    expect([pkt.tunnelDepth, pkt.protocol, src(pkt), pkt.dstPort, pkt.carried]).toEqual([0, 17, O1, 3544, 'teredo']);
    // Not IPv6 at all (Teredo is only ever IPv6): plain UDP.
    decode(overUdp(3544, innerTcp));
    expect([pkt.tunnelDepth, pkt.protocol, pkt.carried]).toEqual([0, 17, null]);
  });

  it('GTP-U (2152): G-PDU with sequence number and an extension header; echo is not a tunnel', () => {
    // Version 1, PT, E and S flags; type 255; length; TEID; seq 1, N-PDU 0, next ext 0x85;
    // PDU session container (1 word: 0x85 type content, next 0).
    const h = fromHex('36ff 0000 00000001 0001 00 85 01 10 09 00');
    expectInnerTcp(decode(overUdp(2152, concat(h, innerTcp))), 'gtp-u');
    decode(overUdp(2152, concat(fromHex('3201 0004 00000000 0001 0000'))));
    expect([pkt.tunnelDepth, pkt.protocol, pkt.dstPort]).toEqual([0, 17, 2152]);
  });

  it('GRE in UDP (4754, RFC 8086): the GRE header and what it carries', () => {
    expectInnerTcp(decode(overUdp(4754, gre(0x0800, innerTcp), 61000)), 'gre-udp');
    expect(pkt.networkOffset).toBe(14 + 20 + 8 + 4);
    expectInnerTcp(decode(overUdp(4754, gre(0x6558, innerEth(innerTcp), { key: 9 }))), 'gre-udp');
  });

  it('AYIYA (5072): identity and signature skipped; next header 41 or 4; a heartbeat carries nothing', () => {
    // Identity length 2^4 = 16 (an IPv6 address), signature 5 words (SHA-1), auth 1 / opcode 1
    // (forward), next header, epoch time.
    const ayiya = (opcode: number, nh: number) => concat(Uint8Array.of(0x41, 0x52, 0x10 | opcode, nh), fromHex('6935c700'), new Uint8Array(16).fill(1), new Uint8Array(20).fill(2));
    decode(overUdp(5072, concat(ayiya(1, 41), innerUdp6), 5072));
    expect([pkt.problems, pkt.tunnel, pkt.networkOffset, src(pkt), dst(pkt), pkt.dstPort]).toEqual([[], 'ayiya', 14 + 20 + 8 + 44, X, Y, 53]);
    expectInnerTcp(decode(overUdp(5072, concat(ayiya(1, 4), innerTcp))), 'ayiya');
    decode(overUdp(5072, ayiya(0, 59)));
    expect([pkt.tunnelDepth, pkt.protocol, pkt.dstPort]).toEqual([0, 17, 5072]);
    // Identity 2^8 = 256 bytes claimed, 40 there: not followed.
    decode(overUdp(5072, concat(Uint8Array.of(0x81, 0x52, 0x11, 41), new Uint8Array(40))));
    expect([pkt.tunnelDepth, pkt.protocol, pkt.problems]).toEqual([0, 17, []]);
  });

  it('Teredo on another port, found by content: IPv6 filling the datagram, a Teredo address on one end', () => {
    const T = '2001:0:4137:9e50:8000:f12a:b9c8:2815';
    const toTeredo = buildTcp({ src: Y, dst: T, sport: 80, dport: 1286, flags: 'SA', seq: 9 });
    decode(overUdp(50000, toTeredo, 32900));
    expect([pkt.problems, pkt.tunnel, src(pkt), dst(pkt), pkt.srcPort, pkt.dstPort, pkt.tcpSeq]).toEqual([[], 'teredo', Y, T, 80, 1286, 9]);
    // After an origin indication, and after an authentication indicator (id 2, auth 0) too.
    decode(overUdp(50000, concat(fromHex('0000 7f7b ac55fed9'), toTeredo), 32900));
    expect([pkt.tunnel, dst(pkt)]).toEqual(['teredo', T]);
    decode(overUdp(50000, concat(fromHex('0001 0200 abcd 0102030405060708 00 0000 7f7b ac55fed9'), toTeredo), 32900));
    expect([pkt.tunnel, dst(pkt)]).toEqual(['teredo', T]);
  });

  it('Teredo by content never takes ordinary UDP: look-alikes stay UDP packets of their own flow', () => {
    const T = '2001:0:4137:9e50:8000:f12a:b9c8:2815';
    const stays = (payload: Uint8Array, dport = 40001) => {
      decode(overUdp(dport, payload, 40000));
      expect([pkt.tunnelDepth, pkt.protocol, src(pkt), pkt.dstPort, pkt.problems]).toEqual([0, 17, O1, dport, []]);
    };
    // Random bytes starting 0x60 (an IPv6 version nibble), 56 of them.
    stays(Uint8Array.from({ length: 56 }, (_, i) => (i === 0 ? 0x60 : (i * 73 + 11) & 0xff)));
    // A whole IPv6 packet, but between two native addresses (no Teredo client on either end).
    stays(innerUdp6);
    // A Teredo packet with bytes after it (the datagram is longer than the IPv6 length says).
    stays(concat(buildUdp({ src: T, dst: Y, sport: 1, dport: 2, payload: 'x' }), new Uint8Array(4)));
    // ... or cut short (the IPv6 length claims more than the datagram holds).
    const long = buildUdp({ src: T, dst: Y, sport: 1, dport: 2, payload: 'xxxxxxxx' });
    stays(long.subarray(0, long.length - 4));
    // DNS on port 53 whose message happens to start 0x60.
    stays(concat(fromHex('6000 0100 0001 0000 0000 0000'), new Uint8Array(40)), 53);
  });

  it('three VXLANs deep', () => {
    let frame = innerEth(innerTcp);
    for (let i = 0; i < 3; i++) frame = ethernet(buildUdp({ src: O1, dst: O2, sport: 50000 + i, dport: 4789, payload: concat(vxlanHeader, frame) }));
    expectInnerTcp(decode(frame), 'vxlan', 3);
  });

  it('sFlow (6343), GTP prime (3386) and LWAPP (12222) are not tunnels: a sampled or charged packet is not traffic of its own flow', () => {
    decode(overUdp(6343, concat(new Uint8Array(28), innerTcp)));
    expect([pkt.tunnelDepth, pkt.protocol, pkt.dstPort]).toEqual([0, 17, 6343]);
    decode(overUdp(3386, concat(fromHex('2eff 0028 0001'), innerTcp)));
    expect([pkt.tunnelDepth, pkt.protocol, pkt.dstPort]).toEqual([0, 17, 3386]);
    // LWAPP (12222) carries 802.11 frames; not decoded: the datagram is its own flow's.
    decode(overUdp(12222, concat(fromHex('00 00 0000'), innerTcp)));
    expect([pkt.tunnelDepth, pkt.protocol, pkt.dstPort]).toEqual([0, 17, 12222]);
  });
});

describe('bounds, damage and caps', () => {
  it('a tunnel in a first fragment: the inner packet is decoded as far as the fragment goes', () => {
    const big = buildTcp({ src: A, dst: B, sport: 40000, dport: 80, flags: 'A', seq: 1000, payload: new Uint8Array(1400) });
    const grePayload = gre(0x0800, big);
    const first = overIpv4(47, grePayload.subarray(0, 800), { mf: true, id: 9, totalLength: 820 });
    decode(first);
    expectInnerTcp(pkt, 'gre');
    expect(pkt.outerFragment).toBe(true);
    // Inner length 1440 claims more than the fragment holds: bounded, not damage.
    expect(pkt.ipLength).toBe(1440);
    expect(pkt.ipEnd).toBe(14 + 820);
    expect(pkt.payloadLength).toBe(14 + 820 - (14 + 20 + 4 + 20 + 20));
    expect(pkt.ipLongerThanFrame).toBe(false);
    // The next fragment has no GRE header: it stays the outer packet, a later fragment.
    decode(overIpv4(47, grePayload.subarray(800), { id: 9, fragOffset: 800 }));
    expect([pkt.tunnelDepth, pkt.protocol, pkt.isFragment, pkt.fragmentOffset]).toEqual([0, 47, true, 800]);
  });

  it('an inner length past the tunnel payload (outer whole) is malformed, and bounded', () => {
    const lying = ipv4({ src: A, dst: B, protocol: 17, payload: udpDatagram({ sport: 1, dport: 2, payload: 'x' }), totalLength: 200 });
    decode(overIpv4(4, lying));
    expect(pkt.tunnelDepth).toBe(1);
    expect(pkt.problems.map((p) => p.what)).toContain('IPv4 total length past the end of the tunnel payload');
    expect(pkt.ipEnd).toBe(14 + 20 + lying.length);
    expect(pkt.ipLongerThanFrame).toBe(false);
  });

  it('an inner header cut by the snap length is truncated by the capture; cut by the outer length, by a length field', () => {
    const frame = overIpv4(4, innerTcp);
    decode(frame, 1, 14 + 20 + 20 + 10);
    expect(pkt.tunnelDepth).toBe(1);
    expect(pkt.problems).toEqual([{ kind: 'truncated', layer: 'tcp', offset: 54, need: 20, have: 10, cause: 'capture', what: 'TCP header cut' }]);
    expect([pkt.portsRead, pkt.hasPorts, pkt.srcPort]).toEqual([true, false, 40000]);
    // The outer datagram claims to end 10 bytes into the inner TCP header (the rest is trailer):
    // the inner IPv4 length lies about its container, and the TCP header is cut by that length.
    decode(overIpv4(4, innerTcp, { totalLength: 20 + 20 + 10 }));
    expect(pkt.problems).toEqual([
      { kind: 'malformed', layer: 'ipv4', offset: 36, what: 'IPv4 total length past the end of the tunnel payload' },
      { kind: 'truncated', layer: 'tcp', offset: 54, need: 20, have: 10, cause: 'length-field', what: 'TCP header cut' },
    ]);
  });

  it(`nesting deeper than ${MAX_TUNNEL_DEPTH} is not followed: the outermost packet stands`, () => {
    let p = innerTcp;
    for (let i = 0; i < MAX_TUNNEL_DEPTH; i++) p = ipv4({ src: O1, dst: O2, protocol: 4, payload: p });
    expectInnerTcp(decode(ethernet(p)), 'ip-in-ip', MAX_TUNNEL_DEPTH);
    p = ipv4({ src: O1, dst: O2, protocol: 4, payload: p });
    decode(ethernet(p));
    expect([pkt.tunnelDepth, pkt.protocol, pkt.networkOffset]).toEqual([0, 4, 14]);
  });

  it('a damaged inner packet: the outer packet stands and the damage is still reported', () => {
    decode(overIpv4(4, concat(fromHex('4f00'), new Uint8Array(30))));
    expect([pkt.tunnelDepth, pkt.protocol, src(pkt)]).toEqual([0, 4, O1]);
    expect(pkt.problems).toEqual([{ kind: 'malformed', layer: 'ipv4', offset: 36, what: 'IPv4 total length < header length' }]);
  });

  it('a GSO super-packet through VXLAN (outer lengths 0, inner IPv6 payload length 0): lengths from the frame', () => {
    // tshark calls the outer UDP length 0 bogus and leaves the frame out of its streams;
    // flowdemux takes the lengths from the frame, as for any super-packet, and keys the inner TCP.
    const segment = buildTcp({ src: X, dst: Y, sport: 40000, dport: 443, flags: 'A', seq: 9, payload: new Uint8Array(70000), ip: { payloadLength: 0 } });
    const vx = concat(fromHex('08000000 00007b00'), innerEth(segment));
    const outer = ipv4({ src: O1, dst: O2, protocol: 17, payload: udpDatagram({ sport: 50000, dport: 4789, payload: vx, length: 0 }), totalLength: 0 });
    decode(ethernet(outer));
    expect(pkt.problems).toEqual([]);
    expect([pkt.tunnel, pkt.protocol, pkt.srcPort, pkt.dstPort, pkt.ipLengthFromFrame]).toEqual(['vxlan', 6, 40000, 443, true]);
    expect(pkt.payloadLength).toBe(70000);
  });

  it('the tunnel fields are reset for the next frame', () => {
    decode(overIpv4(4, innerTcp));
    decode(ethernet(innerTcp));
    expect([pkt.tunnelDepth, pkt.tunnel, pkt.outerNetworkOffset, pkt.outerFragment]).toEqual([0, null, -1, false]);
  });

  it('fuzz: tunnel frames with bytes overwritten never throw and keep offsets inside the frame', () => {
    const frames = [
      overIpv4(47, gre(0x6558, innerEth(innerTcp, { vlans: [3] }), { key: 1, seq: 2 })),
      overIpv4(47, gre(0x88be, concat(fromHex('1007 0005 0000 0012'), innerEth(innerTcp)), { seq: 0 })),
      overUdp(4789, concat(fromHex('08000000 00007b00'), innerEth(innerTcp6))),
      overUdp(6081, concat(fromHex('02006558 00007b00 0102 0301 00000000'), innerEth(innerTcp))),
      overUdp(2152, concat(fromHex('36ff 0000 00000001 0001 00 85 01 10 09 00'), innerTcp)),
      overUdp(3544, concat(fromHex('0001 0000 0000000000000000 00'), innerUdp6)),
      ethernet(ipv6({ src: O6a, dst: O6b, nextHeader: 41, payload: innerUdp6 })),
      overUdp(32900, buildUdp({ src: '2001:0:4137:9e50::1', dst: Y, sport: 1, dport: 2, payload: 'teredo' })),
      overUdp(5072, concat(fromHex('41521129 00000000'), new Uint8Array(36), innerUdp6)),
      overUdp(4754, gre(0x0800, innerTcp)),
      overIpv4(47, gre(0x8220, concat(fromHex('0802 2c00 020000000aaa 02000000000a 02000000000b 1000 aaaa03 000000 0800'), innerTcp))),
      overIpv4(103, concat(fromHex('2100 0000 00000000'), innerTcp)),
    ];
    const fresh = newPacket();
    fc.assert(
      fc.property(fc.nat(frames.length - 1), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 8 }), fc.nat(), (i, edits, cut) => {
        const f = frames[i]!.slice();
        for (const [at, v] of edits) f[14 + (at % (f.length - 14))] = v;
        const cap = cut % (f.length + 1);
        expect(() => decodeBytes(1, f, cap, f.length, fresh)).not.toThrow();
        for (const pr of fresh.problems) {
          expect(pr.what).not.toBe('internal decoder error');
          expect(pr.offset).toBeLessThanOrEqual(cap);
        }
        if (fresh.ipVersion !== 0) expect(fresh.dstAddrOffset + fresh.addrLength).toBeLessThanOrEqual(cap);
        if (fresh.hasPorts) expect(fresh.transportOffset + 8).toBeLessThanOrEqual(cap);
        expect(fresh.tunnelDepth).toBeLessThanOrEqual(MAX_TUNNEL_DEPTH);
        expect(fresh.ipEnd).toBeLessThanOrEqual(f.length);
      }),
      { numRuns: 2000 },
    );
  });
});
