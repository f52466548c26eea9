/**
 * Link-level encapsulations between the link header and IP (MPLS, PPPoE, 802.1ah, MACsec, NSH,
 * E-tag, LLC/SNAP) and the link types added for them (PPP, Cisco HDLC, 802.11, radiotap, NFLOG,
 * PKTAP, Juniper). Headers are written out in hex, field by field.
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

  it('Juniper Ethernet (178): MGC magic, extension TLVs skipped', () => {
    expectV4(decode(178, concat(fromHex('4d4743 80 0004 01020304'), ethernet(v4))), 10 + 14);
    expectV4(decode(178, concat(fromHex('4d4743 00'), ethernet(v4))), 4 + 14);
    decode(178, concat(fromHex('4d4744 00'), ethernet(v4)));
    expect(pkt.problems.map((p) => p.what)).toEqual(['Juniper magic is not MGC']);
  });
});
