import { describe, expect, it } from 'vitest';
import { decodeBytes, decodeFrame } from '../../src/parse/decode.js';
import { formatAddress } from '../../src/parse/format.js';
import { newPacket, type Packet } from '../../src/core/packet.js';
import {
  buildTcp, buildUdp, concat, ethernet, fromHex, hex, loopLink, nullLink, rawLink, sll, sll2, toFrame,
} from '../helpers/packet-builders.js';

const pkt = newPacket();
const decode = (linkType: number, bytes: Uint8Array): Packet => decodeBytes(linkType, bytes, bytes.length, bytes.length, pkt);
const v4 = buildTcp({ src: '192.0.2.1', dst: '198.51.100.2', sport: 9157, dport: 80, flags: 'S', seq: 7 });
const v6 = buildTcp({ src: '2001:db8::1', dst: '2001:db8::2', sport: 9157, dport: 80, flags: 'S', seq: 7 });

function expectTcp(p: Packet, version: 4 | 6, networkOffset: number): void {
  expect(p.problems).toEqual([]);
  expect(p.networkOffset).toBe(networkOffset);
  expect(p.ipVersion).toBe(version);
  expect(p.etherType).toBe(version === 4 ? 0x0800 : 0x86dd);
  expect(formatAddress(p.bytes, p.srcAddrOffset, p.addrLength)).toBe(version === 4 ? '192.0.2.1' : '2001:db8::1');
  expect([p.srcPort, p.dstPort, p.tcpSeq]).toEqual([9157, 80, 7]);
}

describe('Ethernet (1)', () => {
  it('untagged IPv4 and IPv6', () => {
    expectTcp(decode(1, ethernet(v4)), 4, 14);
    expect(pkt.vlanCount).toBe(0);
    expectTcp(decode(1, ethernet(v6)), 6, 14);
  });

  it('one 802.1Q tag: the id, not the priority bits', () => {
    const f = ethernet(v4, { vlans: [100], pcp: 5 });
    expect(hex(f.subarray(12, 18))).toBe('8100a0640800'); // PCP 5 → 0xa000 | 100
    expectTcp(decode(1, f), 4, 18);
    expect(pkt.vlanCount).toBe(1);
    expect(pkt.vlanIds[0]).toBe(100);
  });

  it('QinQ (802.1ad outer, 802.1Q inner), outermost first', () => {
    expectTcp(decode(1, ethernet(v6, { vlans: [200, 4094], tpids: [0x88a8, 0x8100] })), 6, 22);
    expect(pkt.vlanIds.slice(0, pkt.vlanCount)).toEqual([200, 4094]);
  });

  it('three tags, including the old 0x9100 TPID', () => {
    expectTcp(decode(1, ethernet(v4, { vlans: [1, 2, 3], tpids: [0x9100, 0x88a8, 0x8100] })), 4, 26);
    expect(pkt.vlanIds.slice(0, pkt.vlanCount)).toEqual([1, 2, 3]);
  });

  it('eight tags decode; a ninth is malformed and stops', () => {
    expectTcp(decode(1, ethernet(v4, { vlans: [1, 2, 3, 4, 5, 6, 7, 8] })), 4, 46);
    expect(pkt.vlanCount).toBe(8);
    decode(1, ethernet(v4, { vlans: [1, 2, 3, 4, 5, 6, 7, 8, 9] }));
    expect(pkt.ipVersion).toBe(0);
    expect(pkt.networkOffset).toBe(-1);
    expect(pkt.vlanCount).toBe(8);
    expect(pkt.problems).toEqual([{ kind: 'malformed', layer: 'vlan', offset: 46, what: 'more than 8 VLAN tags' }]);
  });

  it('vlan counts are reset between packets', () => {
    decode(1, ethernet(v4, { vlans: [5, 6] }));
    decode(1, ethernet(v4));
    expect(pkt.vlanCount).toBe(0);
  });

  it('ARP is ordinary traffic: EtherType recorded, no IP, no problem', () => {
    // Who has 192.0.2.2? Tell 192.0.2.1
    const arp = fromHex('0001 0800 0604 0001 020000000001 c0000201 000000000000 c0000202');
    decode(1, ethernet(arp, { etherType: 0x0806, dst: [255, 255, 255, 255, 255, 255] }));
    expect(pkt.etherType).toBe(0x0806);
    expect(pkt.networkOffset).toBe(-1);
    expect(pkt.ipVersion).toBe(0);
    expect(pkt.problems).toEqual([]);
  });

  it('ARP behind a VLAN tag', () => {
    decode(1, ethernet(new Uint8Array(28), { etherType: 0x0806, vlans: [7] }));
    expect([pkt.etherType, pkt.vlanCount, pkt.problems.length]).toEqual([0x0806, 1, 0]);
  });

  it('an 802.3 length field is not an EtherType', () => {
    decode(1, ethernet(new Uint8Array(46), { etherType: 46 }));
    expect([pkt.etherType, pkt.networkOffset, pkt.problems.length]).toEqual([0, -1, 0]);
  });

  it('minimum-size padding is not payload', () => {
    const udp = buildUdp({ src: '192.0.2.1', dst: '192.0.2.2', sport: 1, dport: 2, payload: 'x' });
    const f = ethernet(udp, { pad: true });
    expect(f.length).toBe(60);
    decode(1, f);
    expect(pkt.problems).toEqual([]);
    expect(pkt.ipLength).toBe(29);
    expect(pkt.ipEnd).toBe(43);
    expect(pkt.payloadLength).toBe(1);
  });

  it('EtherType says IPv4 but the header is IPv6', () => {
    decode(1, ethernet(v6, { etherType: 0x0800 }));
    expect(pkt.ipVersion).toBe(0);
    expect(pkt.problems).toEqual([{ kind: 'malformed', layer: 'ipv4', offset: 14, what: 'IPv4 version field is not 4' }]);
  });
});

describe('Linux cooked capture', () => {
  it('SLL (113): 16-byte header, protocol at 14', () => {
    expectTcp(decode(113, sll(v4)), 4, 16);
    expectTcp(decode(113, sll(v6, { packetType: 4 })), 6, 16);
  });

  it('SLL with a VLAN tag put back by libpcap', () => {
    const tagged = concat(fromHex('0000 0001 0006 020000000001 0000 8100'), fromHex('0064 0800'), v4);
    expectTcp(decode(113, tagged), 4, 20);
    expect(pkt.vlanIds.slice(0, pkt.vlanCount)).toEqual([100]);
  });

  it('SLL2 (276): 20-byte header, protocol at 0', () => {
    expectTcp(decode(276, sll2(v4)), 4, 20);
    expectTcp(decode(276, sll2(v6, { ifindex: 3 })), 6, 20);
  });

  it('non-IP protocol (SLL ARP): recorded, no problem', () => {
    decode(276, sll2(new Uint8Array(28), { protocol: 0x0806 }));
    expect([pkt.etherType, pkt.networkOffset, pkt.problems.length]).toEqual([0x0806, -1, 0]);
  });
});

describe('BSD loopback', () => {
  it.each([
    ['NULL little-endian', 0, nullLink(v4, { af: 2, order: 'le' }), 4],
    ['NULL big-endian', 0, nullLink(v4, { af: 2, order: 'be' }), 4],
    ['LOOP', 108, loopLink(v4, { af: 2 }), 4],
  ] as const)('%s AF_INET', (_name, lt, f, ver) => {
    expectTcp(decode(lt, f), ver, 4);
  });

  it.each([10, 24, 28, 30])('NULL AF %i is IPv6, in either byte order', (af) => {
    expectTcp(decode(0, nullLink(v6, { af, order: 'le' })), 6, 4);
    expectTcp(decode(0, nullLink(v6, { af, order: 'be' })), 6, 4);
  });

  it.each([10, 24, 28, 30])('LOOP AF %i is IPv6', (af) => {
    expectTcp(decode(108, loopLink(v6, { af })), 6, 4);
  });

  it('LOOP is network order only: a little-endian AF is not IP', () => {
    decode(108, nullLink(v4, { af: 2, order: 'le' }));
    expect(pkt.ipVersion).toBe(0);
    expect(pkt.problems).toEqual([{ kind: 'unsupported', layer: 'link', offset: 0, what: 'BSD loopback address family is not IP' }]);
  });

  it('an address family that is not IP', () => {
    decode(0, nullLink(v4, { af: 7 }));
    expect(pkt.networkOffset).toBe(-1);
    expect(pkt.problems.map((p) => p.kind)).toEqual(['unsupported']);
  });
});

describe('raw IP', () => {
  it.each([101, 12, 14])('link type %i takes the version from the first nibble', (lt) => {
    expectTcp(decode(lt, rawLink(v4)), 4, 0);
    expectTcp(decode(lt, rawLink(v6)), 6, 0);
  });

  it('228 is IPv4, but an IPv6 packet in it (as real files have) is decoded as IPv6', () => {
    expectTcp(decode(228, v4), 4, 0);
    expectTcp(decode(228, v6), 6, 0);
  });

  it('229 is IPv6 (and the reverse leniency)', () => {
    expectTcp(decode(229, v6), 6, 0);
    expectTcp(decode(229, v4), 4, 0);
  });

  it('a version nibble that is neither 4 nor 6', () => {
    decode(101, Uint8Array.of(0x50, 0, 0, 0));
    expect(pkt.problems).toEqual([{ kind: 'malformed', layer: 'frame', offset: 0, what: 'raw IP version nibble is neither 4 nor 6' }]);
    decode(228, Uint8Array.of(0x50, ...new Uint8Array(19)));
    expect(pkt.problems.map((p) => [p.kind, p.layer])).toEqual([['malformed', 'ipv4']]);
  });

  it('an empty raw frame', () => {
    decode(101, new Uint8Array(0));
    expect(pkt.problems).toEqual([
      { kind: 'truncated', layer: 'frame', offset: 0, need: 1, have: 0, cause: 'capture', what: 'empty raw IP frame' },
    ]);
    decode(229, new Uint8Array(0));
    expect(pkt.problems.map((p) => [p.kind, p.layer, p.need, p.have])).toEqual([['truncated', 'ipv6', 40, 0]]);
  });
});

describe('link headers cut by the capture', () => {
  it.each([
    [1, 14, 'Ethernet header cut'],
    [113, 16, 'Linux cooked (SLL) header cut'],
    [276, 20, 'Linux cooked v2 (SLL2) header cut'],
    [0, 4, 'BSD loopback (NULL) header cut'],
    [108, 4, 'BSD loopback (LOOP) header cut'],
  ])('link type %i needs %i bytes', (lt, need, what) => {
    for (let have = 0; have < need; have++) {
      decodeBytes(lt, new Uint8Array(have), have, 100, pkt);
      expect(pkt.problems).toEqual([{ kind: 'truncated', layer: 'link', offset: 0, need, have, cause: 'capture', what }]);
      expect(pkt.snapped).toBe(true);
    }
  });

  it('a VLAN tag cut', () => {
    const f = ethernet(v4, { vlans: [10, 20] });
    decodeBytes(1, f, 20, f.length, pkt);
    expect(pkt.vlanIds.slice(0, pkt.vlanCount)).toEqual([10]);
    expect(pkt.problems).toEqual([
      { kind: 'truncated', layer: 'vlan', offset: 18, need: 4, have: 2, cause: 'capture', what: 'VLAN tag cut' },
    ]);
  });
});

describe('other link types and frame plumbing', () => {
  it('an unknown link type is one unsupported problem', () => {
    decode(147, ethernet(v4));
    expect(pkt.problems).toEqual([{ kind: 'unsupported', layer: 'link', offset: 0, what: 'link type not supported' }]);
    expect(pkt.networkOffset).toBe(-1);
  });

  it('decodeFrame takes the frame fields', () => {
    const f = ethernet(v4);
    decodeFrame(toFrame(1, f, { capturedLength: 40, originalLength: f.length }), pkt);
    expect(pkt.linkType).toBe(1);
    expect(pkt.capturedLength).toBe(40);
    expect(pkt.originalLength).toBe(f.length);
    expect(pkt.snapped).toBe(true);
    expect(pkt.bytes.length).toBe(40);
  });

  it('a captured length beyond the buffer is clamped to the buffer', () => {
    const f = ethernet(v4);
    decodeBytes(1, f.subarray(0, 30), 200, 200, pkt);
    expect(pkt.capturedLength).toBe(30);
    expect(pkt.problems.map((p) => [p.layer, p.cause])).toEqual([['ipv4', 'capture']]);
  });

  it('bytes past capturedLength are not read', () => {
    const f = ethernet(v4);
    decodeBytes(1, f, 33, f.length, pkt); // the whole frame is in the buffer, but only 33 count
    expect(pkt.ipVersion).toBe(0);
    expect(pkt.problems).toEqual([
      { kind: 'truncated', layer: 'ipv4', offset: 14, need: 20, have: 19, cause: 'capture', what: 'IPv4 header cut' },
    ]);
  });
});
