import { describe, expect, it } from 'vitest';
import { resetPacket } from '../../src/parse/decode.js';
import { decodeBytes } from '../../src/parse/decode.js';
import { newPacket } from '../../src/core/packet.js';
import {
  buildEcho, buildTcp, buildUdp, concat, ethernet, fromHex, hex, internetChecksum, ipv6Extension, LINK_TYPES,
  linkHeaderLength, tcpFlagBits, wrap,
} from '../helpers/packet-builders.js';

describe('packet builders', () => {
  it('IPv4 header and TCP checksums verify (sum to 0)', () => {
    const p = buildTcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, flags: 'S', payload: 'abc' });
    expect(internetChecksum(p.subarray(0, 20))).toBe(0);
    const pseudo = concat(p.subarray(12, 20), Uint8Array.of(0, 6, 0, p.length - 20));
    expect(internetChecksum(pseudo, p.subarray(20))).toBe(0);
  });

  it('the IPv4 header checksum matches a known header (RFC 1071 style example)', () => {
    // 4500 0073 0000 4000 4011 ____ c0a8 0001 c0a8 00c7 → checksum b861
    const h = fromHex('450000730000400040110000c0a80001c0a800c7');
    expect(internetChecksum(h).toString(16)).toBe('b861');
  });

  it('UDP over IPv6 checksum verifies; ICMPv6 echo too', () => {
    const u = buildUdp({ src: '2001:db8::1', dst: '2001:db8::2', sport: 1, dport: 2, payload: 'x' });
    const pseudo = (p: Uint8Array, nh: number): Uint8Array =>
      concat(p.subarray(8, 40), Uint8Array.of(0, 0, (p.length - 40) >> 8, (p.length - 40) & 0xff, 0, 0, 0, nh));
    expect(internetChecksum(pseudo(u, 17), u.subarray(40))).toBe(0);
    const e = buildEcho({ src: 'fe80::1', dst: 'fe80::2', id: 1, seq: 1 });
    expect(internetChecksum(pseudo(e, 58), e.subarray(40))).toBe(0);
  });

  it('extension headers are multiples of 8 bytes (AH: of 4 with 12 minimum)', () => {
    for (const e of [{ type: 'hop' as const }, { type: 'dest' as const, data: new Uint8Array(9) }, { type: 'routing' as const }, { type: 'fragment' as const }]) {
      expect(ipv6Extension(e, 6).length % 8).toBe(0);
    }
    expect(hex(ipv6Extension({ type: 'fragment', offset: 1232, more: true, id: 7 }, 17))).toBe('110004d100000007');
    expect(ipv6Extension({ type: 'ah', icvLength: 0 }, 6).length).toBe(12);
  });

  it('flag letters', () => {
    expect(tcpFlagBits('S')).toBe(0x02);
    expect(tcpFlagBits('SA')).toBe(0x12);
    expect(tcpFlagBits('S.')).toBe(0x12);
    expect(tcpFlagBits('FPA')).toBe(0x19);
    expect(tcpFlagBits('N')).toBe(0x100);
    expect(() => tcpFlagBits('Z')).toThrow();
  });

  it('wrap puts linkHeaderLength bytes in front for every link type', () => {
    const p = buildUdp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2 });
    for (const lt of LINK_TYPES) expect(wrap(lt, p).length).toBe(linkHeaderLength(lt) + p.length);
    expect(ethernet(p, { vlans: [1, 2] }).length).toBe(14 + 8 + p.length);
  });
});

describe('resetPacket', () => {
  it('brings a used packet back to the newPacket() values, keeping its arrays', () => {
    const p = newPacket();
    const f = ethernet(buildTcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, options: [{ kind: 'sack', blocks: [[1, 2]] }, { kind: 'mss', value: 1 }] }), { vlans: [3] });
    decodeBytes(1, f, 30, 80, p);
    decodeBytes(1, f, f.length, f.length, p);
    const arrays = [p.vlanIds, p.sackBlocks, p.problems];
    resetPacket(p);
    const fresh = newPacket();
    const { bytes: _b1, vlanIds: _v1, sackBlocks: _s1, ...rest } = p;
    const { bytes: _b2, vlanIds: _v2, sackBlocks: _s2, ...freshRest } = fresh;
    expect(rest).toEqual(freshRest);
    expect(p.vlanIds).toBe(arrays[0]);
    expect(p.problems).toBe(arrays[2]);
    expect(p.problems.length).toBe(0);
  });
});
