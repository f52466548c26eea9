/**
 * Link-level encapsulations between the link header and IP (MPLS, PPPoE, 802.1ah, MACsec, NSH,
 * E-tag, VN-Tag, FabricPath, LLC/SNAP) and the link types added for them (PPP, Cisco HDLC,
 * 802.11, radiotap, NFLOG, PKTAP, Juniper, ARCNET, FDDI, IPoIB). Headers are written out in hex,
 * field by field.
 */
import { describe, expect, it } from 'vitest';
import { decodeBytes } from '../../src/parse/decode.js';
import { formatAddress } from '../../src/parse/format.js';
import { newPacket, type Packet } from '../../src/core/packet.js';
import { buildTcp, buildUdp, concat, ethernet, fromHex } from '../helpers/packet-builders.js';

const pkt = newPacket();
const decode = (linkType: number, frame: Uint8Array, capturedLength = frame.length): Packet =>
  decodeBytes(linkType, frame, capturedLength, frame.length, pkt);

const v4 = buildTcp({ src: '192.0.2.1', dst: '198.51.100.7', sport: 40000, dport: 80, flags: 'S', seq: 77 });
const v6 = buildUdp({ src: '2001:db8::1', dst: '2001:db8::7', sport: 5353, dport: 53, payload: 'q' });
const MACS = fromHex('020000000002 020000000001');

function expectV4(p: Packet, networkOffset: number): void {
  expect(p.problems).toEqual([]);
  expect([p.etherType, p.networkOffset, p.ipVersion, p.protocol, p.srcPort, p.dstPort, p.tcpSeq]).toEqual([0x0800, networkOffset, 4, 6, 40000, 80, 77]);
  expect(formatAddress(p.bytes, p.srcAddrOffset, 4)).toBe('192.0.2.1');
}

function expectV6(p: Packet, networkOffset: number): void {
  expect(p.problems).toEqual([]);
  expect([p.etherType, p.networkOffset, p.ipVersion, p.protocol, p.srcPort, p.dstPort]).toEqual([0x86dd, networkOffset, 6, 17, 5353, 53]);
}

describe('encapsulations inside Ethernet', () => {
  it('MPLS: one label, a stack of two, IPv6 after the stack; a control word is not decoded', () => {
    expectV4(decode(1, concat(MACS, fromHex('8847 00064140'), v4)), 18);
    expectV4(decode(1, concat(MACS, fromHex('8847 00064040 000c8140'), v4)), 22);
    expectV6(decode(1, concat(MACS, fromHex('8848 00065140'), v6)), 18);
    decode(1, concat(MACS, fromHex('8847 00064140 00000000'), ethernet(v4)));
    expect([pkt.etherType, pkt.networkOffset, pkt.problems]).toEqual([0x8847, -1, []]);
  });

  it('MPLS label stack cut before its bottom', () => {
    decode(1, concat(MACS, fromHex('8847 00064040 000c')));
    expect(pkt.problems).toEqual([{ kind: 'truncated', layer: 'link', offset: 18, need: 4, have: 2, cause: 'capture', what: 'MPLS label cut' }]);
  });

  it('PPPoE session: IPv4 and IPv6 PPP protocols; LCP is PPPoE traffic, not damage', () => {
    // version/type 0x11, code 0, session 0x0001, length, PPP protocol.
    expectV4(decode(1, concat(MACS, fromHex('8864 1100 0001 0000 0021'), v4)), 22);
    expectV6(decode(1, concat(MACS, fromHex('8100 0064 8864 1100 0001 0000 0057'), v6)), 26);
    expect(pkt.vlanIds.slice(0, pkt.vlanCount)).toEqual([100]);
    decode(1, concat(MACS, fromHex('8864 1100 0001 0006 c021 0101 0004')));
    expect([pkt.etherType, pkt.networkOffset, pkt.problems]).toEqual([0x8864, -1, []]);
  });

  it('PPPoE session with a compressed (1-byte) PPP protocol: 0x21 IPv4, 0x57 IPv6; cut before it', () => {
    expectV4(decode(1, concat(MACS, fromHex('8864 1100 1234 0000 21'), v4)), 21);
    expectV6(decode(1, concat(MACS, fromHex('8100 0014 8864 1100 1234 0000 57'), v6)), 25);
    // An even first byte is the 2-byte form, whatever follows (0x0021 here).
    expectV4(decode(1, concat(MACS, fromHex('8864 1100 1234 0000 0021'), v4)), 22);
    decode(1, concat(MACS, fromHex('8864 1100 1234 0000')));
    expect(pkt.problems).toEqual([{ kind: 'truncated', layer: 'link', offset: 14, need: 8, have: 6, cause: 'capture', what: 'PPPoE header cut' }]);
    decode(1, concat(MACS, fromHex('8864 1100 1234 0000 2b'), new Uint8Array(30))); // IPX, compressed
    expect([pkt.etherType, pkt.networkOffset, pkt.problems]).toEqual([0x8864, -1, []]);
  });

  it('Cisco VN-Tag (0x8926): 4 bytes of tag, then the next EtherType (a VLAN tag here); cut', () => {
    expectV4(decode(1, concat(MACS, fromHex('8926 8005 0003 8100 000a 0800'), v4)), 14 + 6 + 4);
    expect(pkt.vlanIds.slice(0, pkt.vlanCount)).toEqual([10]);
    expectV6(decode(1, concat(MACS, fromHex('8926 0000 0001 86dd'), v6)), 14 + 6);
    decode(1, concat(MACS, fromHex('8926 8005 00')));
    expect(pkt.problems).toEqual([{ kind: 'truncated', layer: 'link', offset: 14, need: 6, have: 3, cause: 'capture', what: 'VN-Tag cut' }]);
  });

  it('Cisco FabricPath (0x8903): FTag/TTL, then a whole Ethernet frame; cut', () => {
    expectV4(decode(1, concat(MACS, fromHex('8903 0060'), MACS, fromHex('0800'), v4)), 16 + 14);
    expectV4(decode(1, concat(MACS, fromHex('8903 0060'), MACS, fromHex('8100 0007 0800'), v4)), 16 + 18);
    expect(pkt.vlanIds.slice(0, pkt.vlanCount)).toEqual([7]);
    decode(1, concat(MACS, fromHex('8903 00')));
    expect(pkt.problems).toEqual([{ kind: 'truncated', layer: 'link', offset: 14, need: 2, have: 1, cause: 'capture', what: 'FabricPath header cut' }]);
    decode(1, concat(MACS, fromHex('8903 0060'), MACS));
    expect(pkt.problems.map((p) => [p.offset, p.what])).toEqual([[16, 'Ethernet header cut']]);
  });

  it('802.1ah PBB: I-TAG, customer MACs, then a tagged customer frame', () => {
    expectV4(decode(1, concat(MACS, fromHex('88e7 00000100'), MACS, fromHex('8100 0007 0800'), v4)), 14 + 4 + 12 + 4 + 2);
    expect(pkt.vlanIds.slice(0, pkt.vlanCount)).toEqual([7]);
  });

  it('MACsec: SecTAG with and without SCI; encrypted payload is not read', () => {
    expectV4(decode(1, concat(MACS, fromHex('88e5 00 00 00000001 0800'), v4)), 14 + 6 + 2);
    expectV4(decode(1, concat(MACS, fromHex('88e5 20 00 00000001 0011223344550001 0800'), v4)), 14 + 14 + 2);
    decode(1, concat(MACS, fromHex('88e5 2c 00 00000001 0011223344550001'), new Uint8Array(40)));
    expect([pkt.etherType, pkt.networkOffset, pkt.problems]).toEqual([0x88e5, -1, []]);
  });

  it('NSH: base + service path header (length 2 words), next protocol IPv4; Ethernet', () => {
    expectV4(decode(1, concat(MACS, fromHex('894f 0fc2 0101 000001ff'), v4)), 14 + 8);
    expectV4(decode(1, concat(MACS, fromHex('894f 0fc2 0103 000001ff'), ethernet(v4))), 14 + 8 + 14);
    decode(1, concat(MACS, fromHex('894f 0fc1 0101 000001ff'), v4));
    expect(pkt.problems).toEqual([{ kind: 'malformed', layer: 'link', offset: 15, what: 'NSH length < 2' }]);
  });

  it('802.1BR E-tag', () => {
    expectV4(decode(1, concat(MACS, fromHex('893f 000000000000 0800'), v4)), 14 + 8);
  });

  it('802.3 length + LLC/SNAP with an EtherType; other LLC is non-IP traffic', () => {
    const llc = fromHex('aaaa03 000000 0800');
    const len = llc.length + v4.length;
    expectV4(decode(1, concat(MACS, Uint8Array.of(len >> 8, len & 0xff), llc, v4)), 22);
    decode(1, concat(MACS, fromHex('0026 4242 03'), new Uint8Array(35))); // spanning tree
    expect([pkt.etherType, pkt.networkOffset, pkt.problems]).toEqual([0, -1, []]);
  });

  it('more than 128 link-level headers is malformed (each one is a step; no frame is that deep)', () => {
    let f = concat(fromHex('0800'), v4);
    for (let i = 0; i < 130; i++) f = concat(fromHex('88e7 00000100'), MACS, f);
    decode(1, concat(MACS, f));
    expect(pkt.problems.map((p) => p.what)).toEqual(['more than 128 link-layer headers']);
    expect(pkt.networkOffset).toBe(-1);
  });
});

describe('link types', () => {
  it('PPP (9): with FF 03, without, with a compressed protocol; MPLS; LCP is not damage', () => {
    expectV4(decode(9, concat(fromHex('ff03 0021'), v4)), 4);
    expectV4(decode(9, concat(fromHex('0021'), v4)), 2);
    expectV6(decode(9, concat(fromHex('57'), v6)), 1);
    expectV4(decode(9, concat(fromHex('ff03 0281 00064140'), v4)), 8);
    decode(9, fromHex('ff03 c021 0101 0004'));
    expect([pkt.networkOffset, pkt.problems]).toEqual([-1, []]);
  });

  it('PPP_HDLC (50): PPP, or Cisco HDLC framing stored under it', () => {
    expectV4(decode(50, concat(fromHex('ff03 0021'), v4)), 4);
    expectV4(decode(50, concat(fromHex('0f00 0800'), v4)), 4);
  });

  it('Cisco HDLC (104)', () => {
    expectV4(decode(104, concat(fromHex('0f00 0800'), v4)), 4);
    expectV6(decode(104, concat(fromHex('8f00 86dd'), v6)), 4);
  });

  // QoS data, to-DS: frame control 88 01, duration, 3 addresses, sequence control, QoS control.
  const qosData = fromHex('8801 2c00 8a15149b5ae0 907240 97b6f5 442b03aaab8d 1000 0600');
  const snap = fromHex('aaaa03 000000 0800');

  it('802.11 (105): QoS data + LLC/SNAP; protected, management and null frames carry no IP', () => {
    expectV4(decode(105, concat(qosData, snap, v4)), 26 + 8);
    const plain = fromHex('0802 2c00 8a15149b5ae0 907240 97b6f5 442b03aaab8d 1000');
    expectV4(decode(105, concat(plain, snap, v4)), 24 + 8);
    const protectedFrame = concat(fromHex('8841'), qosData.subarray(2), new Uint8Array(60));
    decode(105, protectedFrame);
    expect([pkt.networkOffset, pkt.problems]).toEqual([-1, []]);
    decode(105, concat(fromHex('8000'), new Uint8Array(40))); // beacon
    expect([pkt.networkOffset, pkt.problems]).toEqual([-1, []]);
    decode(105, qosData.subarray(0, 20));
    expect(pkt.problems).toEqual([{ kind: 'truncated', layer: 'link', offset: 0, need: 24, have: 20, cause: 'capture', what: '802.11 header cut' }]);
  });

  it('radiotap (127): the header length (little-endian) says where 802.11 starts', () => {
    const rt = fromHex('0000 0c00 04800000 02000000'); // 12 bytes: flags + rate present
    expectV4(decode(127, concat(rt, qosData, snap, v4)), 12 + 26 + 8);
    decode(127, fromHex('0000 4000 00000000'));
    expect(pkt.problems).toEqual([{ kind: 'truncated', layer: 'link', offset: 0, need: 64, have: 8, cause: 'capture', what: 'radiotap header cut' }]);
  });

  it('NFLOG (239): TLVs (little-endian lengths, 4-byte aligned) up to the payload TLV (type 9)', () => {
    const tlvPrefix = fromHex('0500 0a00 000000 00'); // length 5, type 10 (prefix "\0"), padded to 8
    const payloadTlv = concat(Uint8Array.of((4 + v4.length) & 0xff, (4 + v4.length) >> 8, 9, 0), v4);
    expectV4(decode(239, concat(fromHex('02 00 002a'), tlvPrefix, payloadTlv)), 4 + 8 + 4);
  });

  it('PKTAP (258, and 149 as macOS names it): header length and inner link type, little-endian', () => {
    const header = new Uint8Array(108);
    header.set(fromHex('6c000000 01000000'), 0);
    expectV4(decode(258, concat(header, ethernet(v4))), 108 + 14);
    expectV4(decode(149, concat(header, ethernet(v4))), 108 + 14);
    header[4] = 0xf0; // link type 240 inside: not decoded
    decode(258, concat(header, ethernet(v4)));
    expect(pkt.problems.map((p) => p.kind)).toEqual(['unsupported']);
  });

  it('ARCNET, BSD header (7): RFC 1201 IP with split flag and sequence; an exception packet; RFC 1051 IP; ARP is not IP', () => {
    expectV4(decode(7, concat(fromHex('01 07 d4 00 0001'), v4)), 6);
    expectV4(decode(7, concat(fromHex('01 07 d4 ff 0000 d4 00 0001'), v4)), 10);
    expectV4(decode(7, concat(fromHex('01 07 f0'), v4)), 3);
    expectV6(decode(7, concat(fromHex('01 07 c4 00 0001'), v6)), 6);
    decode(7, concat(fromHex('01 07 d5 00 0001'), new Uint8Array(28)));
    expect([pkt.etherType, pkt.networkOffset, pkt.problems]).toEqual([0x0806, -1, []]);
    decode(7, concat(fromHex('01 07 fa 00 0001'), new Uint8Array(28))); // IPX
    expect([pkt.etherType, pkt.networkOffset, pkt.problems]).toEqual([0, -1, []]);
    decode(7, fromHex('01 07 d4 00'));
    expect(pkt.problems).toEqual([{ kind: 'truncated', layer: 'link', offset: 0, need: 6, have: 4, cause: 'capture', what: 'ARCNET header cut' }]);
  });

  it('ARCNET, Linux header (129): a 2-byte offset after the addresses; no exception packets', () => {
    expectV4(decode(129, concat(fromHex('01 07 0000 d4 00 0001'), v4)), 8);
    expectV6(decode(129, concat(fromHex('01 07 0000 c4 00 0001'), v6)), 8);
    expectV4(decode(129, concat(fromHex('01 07 0000 f0'), v4)), 5);
    decode(129, fromHex('01 07 00'));
    expect(pkt.problems.map((p) => p.what)).toEqual(['ARCNET header cut']);
  });

  it('FDDI (10): frame control, addresses, LLC/SNAP; station management frames carry no IP', () => {
    expectV4(decode(10, concat(fromHex('50'), MACS, fromHex('aaaa03 000000 0800'), v4)), 21);
    expectV6(decode(10, concat(fromHex('51'), MACS, fromHex('aaaa03 000000 86dd'), v6)), 21);
    decode(10, concat(fromHex('41'), MACS, fromHex('aaaa03 000000 0800'), v4));
    expect([pkt.etherType, pkt.networkOffset, pkt.problems]).toEqual([0, -1, []]);
    decode(10, fromHex('50 0200000000'));
    expect(pkt.problems.map((p) => p.what)).toEqual(['FDDI header cut']);
  });

  it('IP over InfiniBand (242): 40 bytes of addressing, then EtherType and reserved', () => {
    const ib = (type: string) => concat(new Uint8Array(20), fromHex('00000048 fe800000000000000002c903000a1b2c'), fromHex(type), fromHex('0000'));
    expectV4(decode(242, concat(ib('0800'), v4)), 44);
    expectV6(decode(242, concat(ib('86dd'), v6)), 44);
    decode(242, ib('0806').subarray(0, 30));
    expect(pkt.problems).toEqual([{ kind: 'truncated', layer: 'link', offset: 0, need: 44, have: 30, cause: 'capture', what: 'IPoIB header cut' }]);
  });

  it('Juniper Ethernet (178): MGC magic, extension TLVs skipped', () => {
    expectV4(decode(178, concat(fromHex('4d4743 80 0004 01020304'), ethernet(v4))), 10 + 14);
    expectV4(decode(178, concat(fromHex('4d4743 00'), ethernet(v4))), 4 + 14);
    decode(178, concat(fromHex('4d4744 00'), ethernet(v4)));
    expect(pkt.problems.map((p) => p.what)).toEqual(['Juniper magic is not MGC']);
  });
});
