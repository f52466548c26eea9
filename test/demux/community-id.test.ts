/**
 * Community ID v1 against published vectors: shared/peers.md, the spec's baseline as used in
 * Zeek's and VAST's test suites (seed 0 and 1, IPv4/IPv6, TCP/UDP/ICMP/ICMPv6).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { communityId } from '../../src/demux/community-id.js';
import { DemuxEngine } from '../../src/demux/engine.js';
import { parseAddress } from '../../src/parse/format.js';
import { feed } from './packets.js';

function cid(proto: number, src: string, sport: number, dst: string, dport: number, seed = 0): string {
  const s = parseAddress(src);
  const d = parseAddress(dst);
  return communityId(proto, s, 0, d, 0, s.length, sport, dport, seed);
}

describe('Community ID v1', () => {
  it.each([
    // shared/peers.md
    [6, '128.232.110.120', 34855, '66.35.250.204', 80, 0, '1:LQU9qZlK+B5F3KDmev6m5PMibrg='],
    [17, '192.168.1.52', 54585, '8.8.8.8', 53, 0, '1:d/FP5EW3wiY1vCndhwleRRKHowQ='],
    // spec baseline (Zeek's community_id_v1 tests)
    [6, '1.2.3.4', 1122, '5.6.7.8', 3344, 0, '1:wCb3OG7yAFWelaUydu0D+125CLM='],
    [17, '1.2.3.4', 1122, '5.6.7.8', 3344, 0, '1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg='],
    [1, '1.2.3.4', 8, '5.6.7.8', 0, 0, '1:crodRHL2FEsHjbv3UkRrfbs4bZ0='],
    [58, 'fe80:1:203:405:607:809:a0b:c0d', 128, 'fe80:1011:1213:1415:1617:1819:1a1b:1c1d', 0, 0, '1:0bf7hyMJUwt3fMED7z8LIfRpBeo='],
    [6, '1.2.3.4', 1122, '5.6.7.8', 3344, 1, '1:HhA1B+6CoLbiKPEs5nhNYN4XWfk='],
    [17, '1.2.3.4', 1122, '5.6.7.8', 3344, 1, '1:OShq+iKDAMVouh/4bMxB9Sz4amw='],
    [1, '1.2.3.4', 8, '5.6.7.8', 0, 1, '1:9pr4ZGTICiuZoIh90RRYE2RyXpU='],
    // VAST's ground truth from the Python reference module
    [17, '192.168.1.102', 68, '192.168.1.1', 67, 0, '1:aWZfLIquYlCxKGuJ62fQGlgFzAI='],
    [17, 'fe80::2c23:b96c:78d:e116', 58544, 'ff02::c', 3702, 0, '1:Zi9AdIwYvZnYvuObTPgGWCBSYRs='],
    [6, '192.168.1.102', 1180, '68.216.79.113', 37, 0, '1:9L/tZ1ebHzlWhzB/pJyS9AVJWy8='],
    [6, 'fe80::219:e3ff:fee7:5d23', 5353, 'ff02::fb', 53, 0, '1:A6qv/ihCkQJXov31L4YzlcuKR2k='],
    [58, 'fe80::200:86ff:fe05:80da', 135, 'fe80::260', 0, 0, '1:/7LYMhcIgEqIOsAv5sdmVUmbP/U='],
  ])('proto %i %s:%i → %s:%i seed %i', (proto, src, sport, dst, dport, seed, expected) => {
    expect(cid(proto, src, sport, dst, dport, seed)).toBe(expected);
  });

  it('the reverse direction hashes alike (TCP, UDP, ICMP echo reply)', () => {
    expect(cid(6, '66.35.250.204', 80, '128.232.110.120', 34855)).toBe('1:LQU9qZlK+B5F3KDmev6m5PMibrg=');
    expect(cid(1, '5.6.7.8', 0, '1.2.3.4', 0)).toBe('1:crodRHL2FEsHjbv3UkRrfbs4bZ0=');
    expect(cid(58, 'fe80:1011:1213:1415:1617:1819:1a1b:1c1d', 129, 'fe80:1:203:405:607:809:a0b:c0d', 0))
      .toBe('1:0bf7hyMJUwt3fMED7z8LIfRpBeo=');
  });

  it('one-way ICMP types are not reordered', () => {
    const ab = cid(1, '10.0.0.2', 3, '10.0.0.1', 1);
    const ba = cid(1, '10.0.0.1', 3, '10.0.0.2', 1);
    expect(ab).not.toBe(ba);
  });

  it('the engine gives a flow the ID of its tuple, in either direction (property)', () => {
    const addr = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }))
      .map(([x, y]) => `10.${x}.${y}.1`);
    fc.assert(fc.property(addr, addr, fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 }),
      fc.boolean(), fc.constantFrom(6, 17), (a, b, pa, pb, reverse, proto) => {
        const engine = new DemuxEngine();
        const spec = reverse
          ? { proto, src: b, sport: pb, dst: a, dport: pa }
          : { proto, src: a, sport: pa, dst: b, dport: pb };
        feed(engine, spec);
        feed(engine, { proto, src: spec.dst, sport: spec.dport, dst: spec.src, dport: spec.sport });
        engine.finish();
        const flows = engine.flows();
        expect(flows).toHaveLength(1);
        expect(flows[0]!.communityId).toBe(cid(proto, a, pa, b, pb));
        expect(flows[0]!.toServer.packets).toBe(1);
        expect(flows[0]!.toClient.packets).toBe(1);
      }), { numRuns: 300 });
  });
});
