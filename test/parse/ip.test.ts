import { describe, expect, it } from 'vitest';
import { decodeBytes } from '../../src/parse/decode.js';
import { formatAddress } from '../../src/parse/format.js';
import { transportValid } from '../../src/parse/checksum.js';
import { newPacket, type Packet } from '../../src/core/packet.js';
import {
  buildIcmp, buildTcp, buildUdp, concat, ethernet, fromHex, ipv4, ipv6, tcpSegment, udpDatagram,
} from '../helpers/packet-builders.js';

const pkt = newPacket();
const raw = (bytes: Uint8Array, originalLength = bytes.length): Packet =>
  decodeBytes(101, bytes, bytes.length, originalLength, pkt);
const A = '192.0.2.1';
const B = '198.51.100.2';
const X = '2001:db8::1';
const Y = '2001:db8::2';

describe('IPv4', () => {
  it('fixed header fields', () => {
    raw(buildTcp({ src: A, dst: B, sport: 1, dport: 2, ip: { ttl: 3, id: 0xbeef, df: true } }));
    expect(pkt.problems).toEqual([]);
    expect(pkt.ipVersion).toBe(4);
    expect([pkt.srcAddrOffset, pkt.dstAddrOffset, pkt.addrLength]).toEqual([12, 16, 4]);
    expect([pkt.ttl, pkt.ipId, pkt.dontFragment, pkt.moreFragments, pkt.isFragment]).toEqual([3, 0xbeef, true, false, false]);
    expect([pkt.ipHeaderLength, pkt.ipLength, pkt.transportOffset, pkt.ipEnd]).toEqual([20, 40, 20, 40]);
  });

  it('options are skipped (record route + NOP + timestamp)', () => {
    // RR with room for 2 addresses (length 11), NOP, a 12-byte timestamp option: 24 bytes.
    const options = fromHex('07 0b 04 00000000 00000000 01 44 0c 05 00 00000000 00000000');
    const p = buildTcp({ src: A, dst: B, sport: 1234, dport: 80, flags: 'S', ip: { options } });
    expect(p.length).toBe(20 + 24 + 20);
    raw(p);
    expect(pkt.problems).toEqual([]);
    expect(pkt.ipHeaderLength).toBe(44);
    expect(pkt.transportOffset).toBe(44);
    expect([pkt.srcPort, pkt.dstPort]).toEqual([1234, 80]);
  });

  it('a loose or strict source route with hops left: the route\'s last address is the destination the flow is keyed on', () => {
    // Sent to the first hop R (the header's destination); the route holds what remains, ending
    // at the final destination B. The TCP checksum is computed with B, as the source computes it.
    const R = '203.0.113.9';
    const seg = tcpSegment({ sport: 1234, dport: 80, flags: 'S', seq: 5 }, Uint8Array.of(192, 0, 2, 1), Uint8Array.of(198, 51, 100, 2));
    const routed = (options: string) => raw(ipv4({ src: A, dst: R, protocol: 6, payload: seg, options: fromHex(options) }));
    const hd = (p: Packet) => formatAddress(p.bytes, p.networkOffset + 16, 4);
    // LSRR (131), length 7, pointer 4: one hop left, B.
    routed('01 83 07 04 c6336402');
    expect(pkt.problems).toEqual([]);
    expect([formatAddress(pkt.bytes, pkt.srcAddrOffset, 4), formatAddress(pkt.bytes, pkt.dstAddrOffset, 4), hd(pkt)]).toEqual([A, B, R]);
    expect(transportValid(pkt)).toBe(true);
    // SSRR (137), length 11, pointer 4: via 203.0.113.10, then B.
    routed('89 0b 04 cb00710a c6336402 00');
    expect([formatAddress(pkt.bytes, pkt.dstAddrOffset, 4), hd(pkt), pkt.dstPort]).toEqual([B, R, 80]);
    // Pointer 8 > length 7: the route is done (R recorded), the header's destination is final.
    routed('01 83 07 08 cb007109');
    expect(formatAddress(pkt.bytes, pkt.dstAddrOffset, 4)).toBe(R);
    // Too short to hold an address: not a route; the header's destination stands.
    routed('83 03 04 00');
    expect([formatAddress(pkt.bytes, pkt.dstAddrOffset, 4), pkt.problems]).toEqual([R, []]);
    // Record route (7) is only a record: never a destination.
    routed('07 07 04 c6336402');
    expect(formatAddress(pkt.bytes, pkt.dstAddrOffset, 4)).toBe(R);
  });

  it('an option whose length runs past the header is malformed; the transport still decodes', () => {
    raw(buildUdp({ src: A, dst: B, sport: 5, dport: 6, ip: { options: [0x07, 0x09, 4, 0] } }));
    expect(pkt.problems).toEqual([{ kind: 'malformed', layer: 'ipv4', offset: 20, what: 'IPv4 option length' }]);
    expect([pkt.srcPort, pkt.dstPort]).toEqual([5, 6]);
  });

  it('IHL < 5 is malformed and nothing of the header is used', () => {
    raw(buildTcp({ src: A, dst: B, sport: 1, dport: 2, ip: { ihl: 4 } }));
    expect(pkt.problems).toEqual([{ kind: 'malformed', layer: 'ipv4', offset: 0, what: 'IPv4 IHL < 5' }]);
    expect(pkt.ipVersion).toBe(0);
    expect(pkt.hasPorts).toBe(false);
  });

  it('options cut by the capture: addresses stay, no transport', () => {
    const p = buildTcp({ src: A, dst: B, sport: 1, dport: 2, ip: { options: new Uint8Array(8).fill(1) } });
    decodeBytes(101, p, 24, p.length, pkt);
    expect(formatAddress(p, pkt.srcAddrOffset, 4)).toBe(A);
    expect(pkt.hasPorts).toBe(false);
    expect(pkt.problems).toEqual([
      { kind: 'truncated', layer: 'ipv4', offset: 0, need: 28, have: 24, cause: 'capture', what: 'IPv4 options cut' },
    ]);
  });

  it('total length < IHL*4 is malformed', () => {
    raw(buildTcp({ src: A, dst: B, sport: 1, dport: 2, ip: { totalLength: 19 } }));
    expect(pkt.problems).toEqual([{ kind: 'malformed', layer: 'ipv4', offset: 2, what: 'IPv4 total length < header length' }]);
    expect(pkt.hasPorts).toBe(false);
    expect(formatAddress(pkt.bytes, pkt.dstAddrOffset, 4)).toBe(B);
  });

  it('total length < IHL*4 in a file whose original length is below the header: the datagram end still fits', () => {
    const p = buildTcp({ src: A, dst: B, sport: 1, dport: 2, ip: { options: new Uint8Array(20).fill(1), totalLength: 30 } });
    decodeBytes(101, p, p.length, 10, pkt);
    expect(pkt.problems.map((x) => x.what)).toEqual(['IPv4 total length < header length']);
    expect(pkt.ipEnd).toBe(30);
    // The frame holds more bytes than its recorded length says: the captured bytes bound it.
    expect([pkt.originalLength, pkt.ipLongerThanFrame]).toEqual([10, false]);
  });

  it('total length 0 (TSO super-packet): the length comes from the frame, and says so', () => {
    const p = buildTcp({ src: A, dst: B, sport: 1, dport: 2, payload: new Uint8Array(3000), ip: { totalLength: 0 } });
    const f = ethernet(p);
    decodeBytes(1, f, f.length, f.length, pkt);
    expect(pkt.problems).toEqual([]);
    expect(pkt.ipLengthFromFrame).toBe(true);
    expect(pkt.ipLength).toBe(20 + 20 + 3000);
    expect(pkt.payloadLength).toBe(3000);
  });

  it('the IP length tells the payload even when the capture cut it', () => {
    const p = buildTcp({ src: A, dst: B, sport: 1, dport: 2, payload: new Uint8Array(1000) });
    decodeBytes(101, p, 60, p.length, pkt);
    expect(pkt.problems).toEqual([]);
    expect(pkt.snapped).toBe(true);
    expect(pkt.payloadLength).toBe(1000);
    expect(pkt.ipEnd).toBe(1040);
  });

  it('a frame claiming less than its IP datagram (live capture) is flagged, its recorded length kept', () => {
    // As `cap` on lo: a GSO frame clipped to 65535 bytes, reported as captured = original.
    const p = buildTcp({ src: A, dst: B, sport: 1, dport: 2, payload: new Uint8Array(65495) });
    const f = ethernet(p);
    expect(f.length).toBe(65549);
    decodeBytes(1, f, 65535, 65535, pkt);
    expect(pkt.problems.map((x) => x.what)).toEqual(['IPv4 total length past the end of the frame']);
    expect(pkt.originalLength).toBe(65535);
    expect(pkt.ipLongerThanFrame).toBe(true);
    // The claimed end (what the live source takes as the frame's length) ...
    expect(pkt.networkOffset + pkt.ipLength).toBe(65549);
    // ... while the transport is bounded by the frame: a lying length adds no payload.
    expect(pkt.ipEnd).toBe(65535);
    expect(pkt.payloadLength).toBe(65535 - 14 - 20 - 20);
    // and an honest frame (as the live source hands it on) keeps its own length
    decodeBytes(1, f, 65535, 65549, pkt);
    expect([pkt.originalLength, pkt.ipLongerThanFrame, pkt.payloadLength, pkt.problems]).toEqual([65549, false, 65495, []]);
  });

  describe('fragments', () => {
    const whole = udpDatagram({ sport: 5353, dport: 53, payload: new Uint8Array(100).fill(7) });

    it('first fragment: ports, isFragment, payload of this fragment', () => {
      raw(ipv4({ src: A, dst: B, protocol: 17, id: 77, mf: true, payload: whole.subarray(0, 64) }));
      expect(pkt.problems).toEqual([]);
      expect([pkt.isFragment, pkt.moreFragments, pkt.fragmentOffset, pkt.ipId]).toEqual([true, true, 0, 77]);
      expect(pkt.hasPorts).toBe(true);
      expect([pkt.srcPort, pkt.dstPort, pkt.udpLength]).toEqual([5353, 53, 108]);
      expect(pkt.payloadLength).toBe(56);
    });

    it('later fragment: offset in bytes, no ports, the whole fragment is payload', () => {
      raw(ipv4({ src: A, dst: B, protocol: 17, id: 77, fragOffset: 64, payload: whole.subarray(64) }));
      expect(pkt.problems).toEqual([]);
      expect([pkt.isFragment, pkt.moreFragments, pkt.fragmentOffset, pkt.protocol]).toEqual([true, false, 64, 17]);
      expect(pkt.hasPorts).toBe(false);
      expect([pkt.payloadOffset, pkt.payloadLength]).toEqual([20, 44]);
    });

    it('a middle fragment', () => {
      raw(ipv4({ src: A, dst: B, protocol: 6, mf: true, fragOffset: 8 * 185, payload: new Uint8Array(1480) }));
      expect([pkt.isFragment, pkt.moreFragments, pkt.fragmentOffset, pkt.hasPorts]).toEqual([true, true, 1480, false]);
    });

    it('a first fragment too short for the TCP header is cut by the length field', () => {
      const seg = tcpSegment({ sport: 1, dport: 2 });
      raw(ipv4({ src: A, dst: B, protocol: 6, mf: true, payload: seg.subarray(0, 8) }));
      expect(pkt.hasPorts).toBe(false);
      expect(pkt.problems).toEqual([
        { kind: 'truncated', layer: 'tcp', offset: 20, need: 20, have: 8, cause: 'length-field', what: 'TCP header cut' },
      ]);
    });
  });

  it('AH over IPv4 is walked to the transport', () => {
    const ah = fromHex('06 04 0000 00000100 00000001 000000000000000000000000'); // next TCP, 24 bytes
    raw(ipv4({ src: A, dst: B, protocol: 51, payload: concat(ah, tcpSegment({ sport: 443, dport: 50000, flags: 'SA' })) }));
    expect(pkt.problems).toEqual([]);
    expect([pkt.protocol, pkt.transportOffset, pkt.srcPort, pkt.dstPort]).toEqual([6, 44, 443, 50000]);
  });

  it('version mismatch inside a raw IPv4 link type', () => {
    decodeBytes(228, fromHex('55' + '00'.repeat(19)), 20, 20, pkt);
    expect(pkt.problems).toEqual([{ kind: 'malformed', layer: 'ipv4', offset: 0, what: 'IPv4 version field is not 4' }]);
  });
});

describe('IPv6', () => {
  it('fixed header', () => {
    raw(buildUdp({ src: X, dst: Y, sport: 1, dport: 2, payload: 'abc', ip: { hopLimit: 9 } }));
    expect(pkt.problems).toEqual([]);
    expect([pkt.ipVersion, pkt.srcAddrOffset, pkt.dstAddrOffset, pkt.addrLength]).toEqual([6, 8, 24, 16]);
    expect([pkt.ttl, pkt.ipLength, pkt.ipHeaderLength, pkt.transportOffset, pkt.ipEnd]).toEqual([9, 51, 40, 40, 51]);
    expect([pkt.isFragment, pkt.ipId]).toEqual([false, 0]);
  });

  it('hop-by-hop + routing + destination options + fragment (first) + TCP', () => {
    const p = buildTcp({
      src: X, dst: Y, sport: 9157, dport: 80, flags: 'PA', payload: 'hello',
      ip: { ext: [{ type: 'hop' }, { type: 'routing' }, { type: 'dest' }, { type: 'fragment', offset: 0, more: true, id: 0xdeadbeef }] },
    });
    raw(p);
    expect(pkt.problems).toEqual([]);
    // 40 + 8 (hop) + 24 (SRH, one segment) + 8 (dest) + 8 (fragment)
    expect(pkt.transportOffset).toBe(88);
    expect(pkt.ipHeaderLength).toBe(88); // IPv6: fixed header + extension headers
    expect(pkt.protocol).toBe(6);
    expect([pkt.isFragment, pkt.moreFragments, pkt.fragmentOffset, pkt.ipId]).toEqual([true, true, 0, 0xdeadbeef]);
    expect([pkt.srcPort, pkt.dstPort, pkt.payloadLength]).toEqual([9157, 80, 5]);
  });

  it('a later fragment stops at the fragment header: protocol from it, no ports', () => {
    raw(ipv6({ src: X, dst: Y, nextHeader: 17, ext: [{ type: 'dest' }, { type: 'fragment', offset: 1232, id: 5 }], payload: new Uint8Array(100) }));
    expect(pkt.problems).toEqual([]);
    expect([pkt.protocol, pkt.isFragment, pkt.fragmentOffset, pkt.moreFragments, pkt.ipId]).toEqual([17, true, 1232, false, 5]);
    expect(pkt.hasPorts).toBe(false);
    expect([pkt.transportOffset, pkt.payloadLength]).toEqual([56, 100]);
  });

  it('an atomic fragment (offset 0, M clear) is not a fragment', () => {
    raw(buildUdp({ src: X, dst: Y, sport: 1, dport: 2, ip: { ext: [{ type: 'fragment', id: 9 }] } }));
    expect([pkt.isFragment, pkt.ipId, pkt.hasPorts]).toEqual([false, 9, true]);
  });

  it('AH: length in 4-byte units + 2', () => {
    raw(buildTcp({ src: X, dst: Y, sport: 1, dport: 2, ip: { ext: [{ type: 'ah', icvLength: 16 }] } }));
    expect(pkt.problems).toEqual([]);
    expect([pkt.protocol, pkt.transportOffset, pkt.srcPort]).toEqual([6, 40 + 28, 1]);
  });

  it('AH with payload length 0 is malformed', () => {
    const bad = fromHex('06 00 0000 00000001');
    raw(ipv6({ src: X, dst: Y, nextHeader: 51, payload: concat(bad, tcpSegment({ sport: 1, dport: 2 })) }));
    expect(pkt.problems).toEqual([{ kind: 'malformed', layer: 'ipv6-ext', offset: 41, what: 'AH payload length < 1' }]);
    expect(pkt.hasPorts).toBe(false);
  });

  it('ESP: stop, protocol 50, no ports, no problem', () => {
    const esp = fromHex('00000100 00000001' + 'aa'.repeat(40));
    raw(ipv6({ src: X, dst: Y, nextHeader: 50, ext: [{ type: 'dest' }], payload: esp }));
    expect(pkt.problems).toEqual([]);
    expect([pkt.protocol, pkt.hasPorts, pkt.transportOffset, pkt.payloadLength]).toEqual([50, false, 48, 48]);
  });

  it('ESP over IPv4 likewise', () => {
    raw(ipv4({ src: A, dst: B, protocol: 50, payload: new Uint8Array(32) }));
    expect([pkt.problems.length, pkt.protocol, pkt.hasPorts, pkt.payloadLength]).toEqual([0, 50, false, 32]);
  });

  it('no next header (59): stop, no problem', () => {
    raw(ipv6({ src: X, dst: Y, nextHeader: 59, ext: [{ type: 'hop' }] }));
    expect([pkt.problems.length, pkt.protocol, pkt.hasPorts, pkt.ipLength]).toEqual([0, 59, false, 48]);
    // payload length 0 with 59 straight away is a 40-byte packet, padding or not
    const bare = ipv6({ src: X, dst: Y, nextHeader: 59 });
    decodeBytes(1, ethernet(bare, { pad: true }), 60, 60, pkt);
    expect([pkt.problems.length, pkt.ipLength, pkt.ipLengthFromFrame]).toEqual([0, 40, false]);
  });

  it('mobility header (135) is walked', () => {
    raw(ipv6({ src: X, dst: Y, nextHeader: 59, ext: [{ type: 'mobility', data: [5, 0, 0, 0, 0, 0] }] }));
    expect([pkt.problems.length, pkt.protocol, pkt.transportOffset]).toEqual([0, 59, 48]);
  });

  it('more than 16 extension headers stop the walk', () => {
    const ext = Array.from({ length: 17 }, () => ({ type: 'dest' as const }));
    raw(ipv6({ src: X, dst: Y, nextHeader: 6, ext, payload: tcpSegment({ sport: 1, dport: 2 }) }));
    expect(pkt.problems).toEqual([{ kind: 'malformed', layer: 'ipv6-ext', offset: 40 + 16 * 8, what: 'more than 16 extension headers' }]);
    expect(pkt.hasPorts).toBe(false);
    // 16 are fine
    raw(ipv6({ src: X, dst: Y, nextHeader: 6, ext: ext.slice(1), payload: tcpSegment({ sport: 1, dport: 2 }) }));
    expect([pkt.problems.length, pkt.srcPort]).toEqual([0, 1]);
  });

  it('an extension header longer than the payload length is cut by the length field', () => {
    const p = ipv6({ src: X, dst: Y, nextHeader: 6, ext: [{ type: 'hop', data: new Uint8Array(14) }], payload: tcpSegment({ sport: 1, dport: 2 }) });
    p[5] = 12; // payload length 12 < the 16-byte hop-by-hop header
    raw(p);
    expect(pkt.problems).toEqual([
      { kind: 'truncated', layer: 'ipv6-ext', offset: 40, need: 16, have: 12, cause: 'length-field', what: 'IPv6 extension header cut' },
    ]);
  });

  it('jumbogram: payload length 0 and a Jumbo Payload option', () => {
    const tcp = tcpSegment({ sport: 1, dport: 2, payload: new Uint8Array(70000) });
    // hop-by-hop: next TCP, len 0, option 0xC2 len 4 = 8 + tcp length
    const hbh = concat(fromHex('06 00 c2 04'), Uint8Array.of(0, (8 + tcp.length) >> 16, ((8 + tcp.length) >> 8) & 0xff, (8 + tcp.length) & 0xff));
    const p = ipv6({ src: X, dst: Y, nextHeader: 0, payload: concat(hbh, tcp), payloadLength: 0 });
    p[6] = 0;
    // captured with a small snap length: the jumbo option gives the length, not the frame
    decodeBytes(101, p, 200, p.length, pkt);
    expect(pkt.problems).toEqual([]);
    expect(pkt.ipLengthFromFrame).toBe(false);
    expect(pkt.ipLength).toBe(40 + 8 + 20 + 70000);
    expect(pkt.payloadLength).toBe(70000);
    expect(pkt.ipLongerThanFrame).toBe(false);
    // a frame that says it was 200 bytes on the wire cannot carry 70000: flagged, bounded
    decodeBytes(101, p, 200, 200, pkt);
    expect(pkt.ipLongerThanFrame).toBe(true);
    expect(pkt.networkOffset + pkt.ipLength).toBe(p.length);
    expect(pkt.problems.map((x) => x.what)).toEqual(['IPv6 payload length past the end of the frame']);
  });

  it('BIG TCP: payload length 0 without a jumbo option, length from the frame', () => {
    const p = buildTcp({ src: X, dst: Y, sport: 1, dport: 2, payload: new Uint8Array(80000), ip: { payloadLength: 0 } });
    decodeBytes(1, ethernet(p), 128, 14 + p.length, pkt);
    expect(pkt.problems).toEqual([]);
    expect(pkt.ipLengthFromFrame).toBe(true);
    expect(pkt.ipLength).toBe(40 + 20 + 80000);
    expect(pkt.payloadLength).toBe(80000);
  });

  it('header cut by the capture', () => {
    const p = buildTcp({ src: X, dst: Y, sport: 1, dport: 2 });
    decodeBytes(101, p, 39, p.length, pkt);
    expect(pkt.ipVersion).toBe(0);
    expect(pkt.problems).toEqual([
      { kind: 'truncated', layer: 'ipv6', offset: 0, need: 40, have: 39, cause: 'capture', what: 'IPv6 header cut' },
    ]);
  });

  it('ICMPv6 over an IPv6 packet with a hop-by-hop header (MLD-like)', () => {
    raw(buildIcmp({ src: 'fe80::1', dst: 'ff02::16', type: 143, ip: { ext: [{ type: 'hop', data: [5, 2, 0, 0] }] } }));
    expect(pkt.problems).toEqual([]);
    expect([pkt.protocol, pkt.icmpType, pkt.transportOffset]).toEqual([58, 143, 48]);
  });
});
