import { describe, expect, it } from 'vitest';
import { decodeBytes } from '../../src/parse/decode.js';
import { formatAddress } from '../../src/parse/format.js';
import { newPacket, TCP_FLAG, type Packet } from '../../src/core/packet.js';
import {
  buildEcho, buildIcmp, buildIcmpError, buildTcp, buildUdp, concat, fromHex, ipv4, ipv6, quoteOf,
  tcpSegment, udpDatagram,
} from '../helpers/packet-builders.js';

const pkt = newPacket();
const raw = (bytes: Uint8Array): Packet => decodeBytes(101, bytes, bytes.length, bytes.length, pkt);
const A = '192.0.2.1';
const B = '198.51.100.2';
const X = '2001:db8::1';
const Y = '2001:db8::2';

describe('TCP', () => {
  it('every option: MSS, SACK-permitted, timestamps, NOP, window scale, SACK, EOL', () => {
    raw(buildTcp({
      src: A, dst: B, sport: 40000, dport: 443, flags: 'A', seq: 0xfffffff0, ack: 0x80000001, window: 501,
      options: [
        { kind: 'mss', value: 1460 }, { kind: 'sackPermitted' }, { kind: 'ts', val: 0xffffffff, ecr: 123 },
        { kind: 'nop' }, { kind: 'ws', shift: 14 }, { kind: 'sack', blocks: [[100, 200], [0xfffffffe, 5]] }, { kind: 'eol' },
      ],
    }));
    expect(pkt.problems).toEqual([]);
    expect([pkt.tcpSeq, pkt.tcpAck, pkt.tcpWindow]).toEqual([0xfffffff0, 0x80000001, 501]);
    expect(pkt.tcpHeaderLength).toBe(20 + 40);
    expect([pkt.mss, pkt.sackPermitted, pkt.windowScale]).toEqual([1460, true, 14]);
    expect([pkt.hasTimestamps, pkt.tsVal, pkt.tsEcr]).toEqual([true, 0xffffffff, 123]);
    expect(pkt.sackCount).toBe(2);
    expect(pkt.sackBlocks.slice(0, 4)).toEqual([100, 200, 0xfffffffe, 5]);
  });

  it('four SACK blocks (the most that fit) and stale blocks reset', () => {
    const blocks: Array<[number, number]> = [[1, 2], [3, 4], [5, 6], [7, 8]];
    raw(buildTcp({ src: A, dst: B, sport: 1, dport: 2, options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks }] }));
    expect(pkt.problems).toEqual([]);
    expect([pkt.sackCount, ...pkt.sackBlocks.slice(0, 8)]).toEqual([4, 1, 2, 3, 4, 5, 6, 7, 8]);
    raw(buildTcp({ src: A, dst: B, sport: 1, dport: 2 }));
    expect([pkt.sackCount, pkt.mss, pkt.windowScale, pkt.hasTimestamps, pkt.sackPermitted]).toEqual([0, -1, -1, false, false]);
  });

  it('unknown options (TFO cookie, MPTCP) are skipped by their length', () => {
    raw(buildTcp({ src: A, dst: B, sport: 1, dport: 2, options: [{ kind: 34, data: [1, 2, 3, 4, 5, 6, 7, 8] }, { kind: 30, data: [0, 1] }, { kind: 'mss', value: 536 }] }));
    expect([pkt.problems.length, pkt.mss]).toEqual([0, 536]);
  });

  it('all flags, NS/AE from the data-offset byte', () => {
    raw(buildTcp({ src: A, dst: B, sport: 1, dport: 2, flags: 0x1ff }));
    expect(pkt.tcpFlags).toBe(0x1ff);
    raw(buildTcp({ src: A, dst: B, sport: 1, dport: 2, flags: 'SEC' }));
    expect(pkt.tcpFlags).toBe(TCP_FLAG.SYN | TCP_FLAG.ECE | TCP_FLAG.CWR);
  });

  it('payload length from the IP length', () => {
    raw(buildTcp({ src: X, dst: Y, sport: 1, dport: 2, payload: 'GET / HTTP/1.1\r\n\r\n', options: [{ kind: 'ts', val: 1, ecr: 2 }] }));
    expect([pkt.payloadOffset, pkt.payloadLength]).toEqual([40 + 32, 18]);
  });

  it('an option length past the header is malformed, but ports and flags count', () => {
    raw(buildTcp({ src: A, dst: B, sport: 7, dport: 8, flags: 'S', options: [2, 8, 5, 180] }));
    expect([pkt.hasPorts, pkt.srcPort, pkt.dstPort, pkt.tcpFlags, pkt.mss]).toEqual([true, 7, 8, TCP_FLAG.SYN, -1]);
    expect(pkt.problems).toEqual([{ kind: 'malformed', layer: 'tcp', offset: 41, what: 'TCP option runs past the header' }]);
  });

  it('an option length < 2 is malformed', () => {
    raw(buildTcp({ src: A, dst: B, sport: 7, dport: 8, options: [1, 8, 0, 0] }));
    expect(pkt.problems).toEqual([{ kind: 'malformed', layer: 'tcp', offset: 42, what: 'TCP option length < 2' }]);
  });

  it('a known option with the wrong length is malformed and skipped', () => {
    raw(buildTcp({ src: A, dst: B, sport: 7, dport: 8, options: [2, 3, 5, 3, 3, 7, 0, 0] }));
    expect(pkt.problems).toEqual([{ kind: 'malformed', layer: 'tcp', offset: 41, what: 'TCP MSS option length is not 4' }]);
    expect([pkt.mss, pkt.windowScale]).toEqual([-1, 7]);
  });

  it('an option kind in the last byte has no length', () => {
    raw(buildTcp({ src: A, dst: B, sport: 7, dport: 8, options: [1, 1, 1, 2] }));
    expect(pkt.problems).toEqual([{ kind: 'malformed', layer: 'tcp', offset: 43, what: 'TCP option without length' }]);
  });

  it.each([0, 1, 2, 3, 4])('data offset %i (< 5) is malformed; ports and flags still count', (doff) => {
    raw(buildTcp({ src: A, dst: B, sport: 7, dport: 8, flags: 'PA', dataOffset: doff, payload: 'abc' }));
    expect(pkt.problems).toEqual([{ kind: 'malformed', layer: 'tcp', offset: 32, what: 'TCP data offset < 5' }]);
    expect([pkt.hasPorts, pkt.srcPort, pkt.tcpFlags, pkt.payloadLength]).toEqual([true, 7, 0x18, 0]);
  });

  it('a data offset past the IP length is cut by the length field', () => {
    raw(buildTcp({ src: A, dst: B, sport: 7, dport: 8, dataOffset: 15, payload: 'abcd' }));
    expect(pkt.problems).toEqual([
      { kind: 'truncated', layer: 'tcp', offset: 20, need: 60, have: 24, cause: 'length-field', what: 'TCP options cut' },
    ]);
    expect([pkt.srcPort, pkt.payloadLength]).toEqual([7, 0]);
  });

  it('an IP length shorter than the captured TCP header: length field, even with bytes captured', () => {
    const p = buildTcp({ src: A, dst: B, sport: 7, dport: 8, ip: { totalLength: 30 } });
    raw(p);
    expect(pkt.problems).toEqual([
      { kind: 'truncated', layer: 'tcp', offset: 20, need: 20, have: 10, cause: 'length-field', what: 'TCP header cut' },
    ]);
  });
});

describe('UDP', () => {
  it('ports, length, payload', () => {
    raw(buildUdp({ src: A, dst: B, sport: 5353, dport: 5353, payload: 'abcdef' }));
    expect(pkt.problems).toEqual([]);
    expect([pkt.hasPorts, pkt.srcPort, pkt.dstPort, pkt.udpLength, pkt.payloadOffset, pkt.payloadLength]).toEqual([true, 5353, 5353, 14, 28, 6]);
  });

  it('UDP length shorter than the IP payload (RFC 9868 surplus area): UDP length wins, no problem', () => {
    raw(ipv4({ src: A, dst: B, protocol: 17, payload: concat(udpDatagram({ sport: 1, dport: 2, payload: 'ab' }), fromHex('01 01 00')) }));
    expect(pkt.problems).toEqual([]);
    expect([pkt.udpLength, pkt.payloadLength]).toEqual([10, 2]);
  });

  it('UDP length longer than the IP payload is malformed; the IP payload is used', () => {
    raw(buildUdp({ src: A, dst: B, sport: 1, dport: 2, payload: 'abc', length: 100 }));
    expect(pkt.problems).toEqual([{ kind: 'malformed', layer: 'udp', offset: 24, what: 'UDP length > IP payload' }]);
    expect(pkt.payloadLength).toBe(3);
  });

  it('UDP length < 8 is malformed', () => {
    raw(buildUdp({ src: X, dst: Y, sport: 1, dport: 2, payload: 'abc', length: 5 }));
    expect(pkt.problems).toEqual([{ kind: 'malformed', layer: 'udp', offset: 44, what: 'UDP length < 8' }]);
    expect([pkt.hasPorts, pkt.payloadLength]).toEqual([true, 3]);
  });

  it('header cut by the capture', () => {
    const p = buildUdp({ src: A, dst: B, sport: 1, dport: 2 });
    decodeBytes(101, p, 25, p.length, pkt);
    expect(pkt.hasPorts).toBe(false);
    expect(pkt.problems).toEqual([
      { kind: 'truncated', layer: 'udp', offset: 20, need: 8, have: 5, cause: 'capture', what: 'UDP header cut' },
    ]);
  });
});

describe('ICMP', () => {
  it('echo request: type, code, identifier; no ports', () => {
    raw(buildEcho({ src: A, dst: B, id: 0x1234, seq: 1, payload: 'abcdefgh' }));
    expect(pkt.problems).toEqual([]);
    expect([pkt.protocol, pkt.icmpType, pkt.icmpCode, pkt.icmpId, pkt.hasPorts, pkt.quotedProtocol]).toEqual([1, 8, 0, 0x1234, false, -1]);
    expect(pkt.payloadLength).toBe(8);
  });

  it('ICMPv6 echo reply', () => {
    raw(buildEcho({ src: X, dst: Y, id: 99, seq: 2, reply: true }));
    expect([pkt.protocol, pkt.icmpType, pkt.icmpId]).toEqual([58, 129, 99]);
  });

  it('port unreachable quoting a UDP header', () => {
    const original = buildUdp({ src: B, dst: A, sport: 33434, dport: 53, payload: 'query' });
    const p = buildIcmpError({ src: A, dst: B, type: 3, code: 3, quote: quoteOf(original) });
    raw(p);
    expect(pkt.problems).toEqual([]);
    expect([pkt.icmpType, pkt.icmpCode, pkt.icmpId, pkt.hasPorts]).toEqual([3, 3, -1, false]);
    expect([pkt.quotedProtocol, pkt.quotedAddrLength, pkt.quotedSrcPort, pkt.quotedDstPort]).toEqual([17, 4, 33434, 53]);
    expect(formatAddress(pkt.bytes, pkt.quotedSrcAddrOffset, 4)).toBe(B);
    expect(formatAddress(pkt.bytes, pkt.quotedDstAddrOffset, 4)).toBe(A);
  });

  it('time exceeded quoting TCP behind IPv4 options', () => {
    const original = buildTcp({ src: B, dst: A, sport: 50000, dport: 22, flags: 'S', ip: { options: [1, 1, 1, 1] } });
    raw(buildIcmpError({ src: '203.0.113.9', dst: B, type: 11, code: 0, quote: quoteOf(original) }));
    expect(pkt.problems).toEqual([]);
    expect([pkt.quotedProtocol, pkt.quotedSrcPort, pkt.quotedDstPort]).toEqual([6, 50000, 22]);
  });

  it('ICMPv6 packet too big quoting TCP (as much as fits)', () => {
    const original = buildTcp({ src: X, dst: Y, sport: 443, dport: 51000, flags: 'PA', payload: new Uint8Array(1400) });
    raw(buildIcmpError({ src: '2001:db8:ffff::1', dst: X, type: 2, code: 0, rest: 1280, quote: quoteOf(original, 1232) }));
    expect(pkt.problems).toEqual([]);
    expect([pkt.protocol, pkt.icmpType, pkt.icmpCode]).toEqual([58, 2, 0]);
    expect([pkt.quotedProtocol, pkt.quotedAddrLength, pkt.quotedSrcPort, pkt.quotedDstPort]).toEqual([6, 16, 443, 51000]);
    expect(formatAddress(pkt.bytes, pkt.quotedSrcAddrOffset, 16)).toBe(X);
    expect(formatAddress(pkt.bytes, pkt.quotedDstAddrOffset, 16)).toBe(Y);
  });

  it('ICMPv6 error quoting an IPv6 packet with extension headers', () => {
    const original = buildUdp({ src: X, dst: Y, sport: 1000, dport: 2000, ip: { ext: [{ type: 'hop' }, { type: 'dest' }] } });
    raw(buildIcmpError({ src: Y, dst: X, type: 1, code: 4, quote: original }));
    expect(pkt.problems).toEqual([]);
    expect([pkt.quotedProtocol, pkt.quotedSrcPort, pkt.quotedDstPort]).toEqual([17, 1000, 2000]);
  });

  it('an error quoting a later fragment: protocol, no ports', () => {
    const frag = ipv4({ src: B, dst: A, protocol: 17, fragOffset: 1480, payload: new Uint8Array(8) });
    raw(buildIcmpError({ src: A, dst: B, type: 3, code: 1, quote: frag }));
    expect(pkt.problems).toEqual([]);
    expect([pkt.quotedProtocol, pkt.quotedSrcPort, pkt.quotedDstPort]).toEqual([17, 0, 0]);
    const frag6 = ipv6({ src: X, dst: Y, nextHeader: 6, ext: [{ type: 'fragment', offset: 8 }], payload: new Uint8Array(8) });
    raw(buildIcmpError({ src: Y, dst: X, type: 3, code: 1, quote: frag6 }));
    expect(pkt.problems).toEqual([]);
    expect([pkt.quotedProtocol, pkt.quotedSrcPort]).toEqual([6, 0]);
  });

  it('a quote shorter than IP header + 8 bytes: addresses, no ports, truncated by the length field', () => {
    const original = buildUdp({ src: B, dst: A, sport: 1, dport: 2 });
    raw(buildIcmpError({ src: A, dst: B, type: 3, code: 3, quote: original.subarray(0, 24) }));
    expect(pkt.quotedProtocol).toBe(17);
    expect(formatAddress(pkt.bytes, pkt.quotedSrcAddrOffset, 4)).toBe(B);
    expect(pkt.quotedSrcPort).toBe(0);
    expect(pkt.problems).toEqual([
      { kind: 'truncated', layer: 'icmp', offset: 48, need: 8, have: 4, cause: 'length-field', what: 'quoted transport header cut' },
    ]);
  });

  it('a quote that is not IP', () => {
    raw(buildIcmpError({ src: A, dst: B, type: 3, code: 3, quote: new Uint8Array(28) }));
    expect(pkt.problems).toEqual([{ kind: 'malformed', layer: 'icmp', offset: 28, what: 'quoted IP version is neither 4 nor 6' }]);
    expect([pkt.icmpType, pkt.quotedProtocol]).toEqual([3, -1]);
  });

  it('non-error messages do not look for a quote', () => {
    raw(buildIcmp({ src: X, dst: Y, type: 135, payload: new Uint8Array(16) })); // neighbour solicitation
    expect([pkt.problems.length, pkt.icmpType, pkt.icmpId, pkt.quotedProtocol]).toEqual([0, 135, -1, -1]);
  });

  it('header cut by the capture', () => {
    const p = buildEcho({ src: X, dst: Y, id: 1, seq: 1 });
    decodeBytes(101, p, 45, p.length, pkt);
    expect([pkt.icmpType, pkt.protocol]).toEqual([-1, 58]);
    expect(pkt.problems).toEqual([
      { kind: 'truncated', layer: 'icmpv6', offset: 40, need: 8, have: 5, cause: 'capture', what: 'ICMP header cut' },
    ]);
  });
});

describe('other protocols', () => {
  it('SCTP / GRE: protocol and payload, no ports, no problem', () => {
    raw(ipv4({ src: A, dst: B, protocol: 132, payload: new Uint8Array(28) }));
    expect([pkt.problems.length, pkt.protocol, pkt.hasPorts, pkt.payloadOffset, pkt.payloadLength]).toEqual([0, 132, false, 20, 28]);
    raw(ipv6({ src: X, dst: Y, nextHeader: 47, payload: tcpSegment({ sport: 1, dport: 2 }) }));
    expect([pkt.problems.length, pkt.protocol, pkt.hasPorts]).toEqual([0, 47, false]);
  });
});
