/**
 * The checksum arithmetic of `--checksums validate` (src/parse/checksum.ts): on a real loopback
 * frame from this machine, on Zeek's own checksum traces (../shared/corpus, when present), and on
 * built packets whose checksums the test helpers compute on their own (RFC 1071). A right
 * checksum validates; one flipped byte anywhere it covers does not; what cannot be checked (a
 * snap-length cut, a fragment, a UDP checksum 0 over IPv4) is never called bad.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CHECKSUM, checkPacket, ipv4HeaderValid, onesSum, transportValid } from '../../src/parse/checksum.js';
import { decodeFrame } from '../../src/parse/decode.js';
import { newPacket, type Packet } from '../../src/core/packet.js';
import { openCapture } from '../../src/capture/open.js';
import { readAll } from '../helpers/capture-builders.js';
import { buildIcmp, buildTcp, buildUdp, ethernet, fromHex, toFrame } from '../helpers/packet-builders.js';

const CORPUS = new URL('../../../shared/corpus/', import.meta.url).pathname;

function decoded(frame: Uint8Array, o: { capturedLength?: number; originalLength?: number } = {}): Packet {
  const pkt = newPacket();
  decodeFrame(toFrame(1, frame, o), pkt);
  return pkt;
}

/** A copy of `bytes` with byte `i` flipped. */
function flipped(bytes: Uint8Array, i: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[i]! ^= 0xff;
  return out;
}

describe('ones-complement sum', () => {
  it("RFC 1071's worked example, and an odd last byte padded with zero", () => {
    // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
    expect(onesSum(fromHex('0001f203f4f5f6f7'), 0, 8)).toBe(0xddf2);
    expect(onesSum(fromHex('0102 03'), 0, 3)).toBe(0x0102 + 0x0300);
  });
});

describe('a real loopback frame (tcpdump: IP checksum right, TCP cksum 0xfe31 incorrect -> 0xb69d)', () => {
  // The SYN of test/parse/real.test.ts: loopback leaves the TCP checksum to an offload that never happens.
  const frame = fromHex(
    '00000000000000000000000008004500003ce9984000400653207f0000027f00' +
      '0001b854b807a5961e9200000000a002ffd7fe3100000204ffd70402080a7046' +
      'f494000000000103030a',
  );

  it('its IPv4 header validates and its TCP checksum does not, as tcpdump said', () => {
    const pkt = decoded(frame);
    expect(ipv4HeaderValid(pkt.bytes, pkt.networkOffset, pkt.capturedLength)).toBe(true);
    expect(transportValid(pkt)).toBe(false);
    expect(checkPacket(pkt)).toBe(CHECKSUM.BAD_TRANSPORT);
  });

  it("with the checksum tcpdump computed (0xb69d) it validates; a flipped IP header byte is BAD_IP", () => {
    const fixed = Uint8Array.from(frame);
    fixed[14 + 20 + 16] = 0xb6;
    fixed[14 + 20 + 17] = 0x9d;
    expect(checkPacket(decoded(fixed))).toBe(CHECKSUM.OK);
    // TTL (byte 8 of the IP header): the header checksum no longer matches.
    expect(checkPacket(decoded(flipped(fixed, 14 + 8)))).toBe(CHECKSUM.BAD_IP);
  });
});

describe('built packets: right, then one byte flipped', () => {
  const cases: [string, Uint8Array][] = [
    ['TCP over IPv4', buildTcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80, flags: 'PA', seq: 1, ack: 2, payload: new Uint8Array([1, 2, 3]) })],
    ['TCP over IPv6', buildTcp({ src: '2001:db8::1', dst: '2001:db8::2', sport: 40000, dport: 80, flags: 'S', seq: 7 })],
    ['UDP over IPv4', buildUdp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 5000, dport: 53, payload: new Uint8Array([9, 8, 7, 6, 5]) })],
    ['UDP over IPv6', buildUdp({ src: '2001:db8::1', dst: '2001:db8::2', sport: 5000, dport: 53, payload: new Uint8Array([1]) })],
    ['ICMPv4 echo', buildIcmp({ src: '10.0.0.1', dst: '10.0.0.2', type: 8, rest: 0x00070001, payload: new Uint8Array([1, 2, 3]) })],
    ['ICMPv6 echo (pseudo-header)', buildIcmp({ src: '2001:db8::1', dst: '2001:db8::2', type: 128, rest: 0x00070001 })],
  ];
  for (const [name, ip] of cases) {
    it(`${name}: validates; every byte of the segment and of the addresses flipped does not`, () => {
      const frame = ethernet(ip);
      expect(checkPacket(decoded(frame))).toBe(CHECKSUM.OK);
      const pkt = decoded(frame);
      const v6 = pkt.ipVersion === 6;
      for (let i = pkt.transportOffset; i < frame.length; i++) {
        expect(transportValid(decoded(flipped(frame, i))), `byte ${i}`).toBe(false);
      }
      // The pseudo-header's source address (not part of ICMPv4's checksum).
      if (pkt.protocol !== 1) {
        const bad = decoded(flipped(frame, pkt.srcAddrOffset + 1));
        expect(checkPacket(bad)).toBe(v6 ? CHECKSUM.BAD_TRANSPORT : CHECKSUM.BAD_IP);
        expect(transportValid(bad)).toBe(false);
      }
    });
  }

  it('UDP checksum 0: none over IPv4 (not checked), wrong over IPv6', () => {
    const v4 = ethernet(buildUdp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 5000, dport: 53, payload: new Uint8Array([1, 2]) }));
    v4[14 + 20 + 6] = 0;
    v4[14 + 20 + 7] = 0;
    expect(transportValid(decoded(v4))).toBeNull();
    expect(checkPacket(decoded(v4))).toBe(CHECKSUM.OK);
    const v6 = ethernet(buildUdp({ src: '2001:db8::1', dst: '2001:db8::2', sport: 5000, dport: 53, payload: new Uint8Array([1, 2]) }));
    v6[14 + 40 + 6] = 0;
    v6[14 + 40 + 7] = 0;
    expect(checkPacket(decoded(v6))).toBe(CHECKSUM.BAD_TRANSPORT);
  });

  it('a segment cut by the snap length, or a first fragment, is not checked', () => {
    const frame = ethernet(buildTcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, flags: 'PA', payload: new Uint8Array(100) }));
    const bad = flipped(frame, frame.length - 1);
    expect(transportValid(decoded(bad))).toBe(false);
    const cut = decoded(bad, { capturedLength: frame.length - 10, originalLength: frame.length });
    expect(transportValid(cut)).toBeNull();
    expect(checkPacket(cut)).toBe(CHECKSUM.OK);
    const first = ethernet(buildUdp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, payload: new Uint8Array(40), ip: { mf: true } }));
    expect(transportValid(decoded(flipped(first, first.length - 1)))).toBeNull();
  });
});

describe.runIf(existsSync(CORPUS))("Zeek's checksum traces", () => {
  const verdicts: [string, number][] = [
    ['ip4-bad-chksum', CHECKSUM.BAD_IP],
    ['ip4-tcp-bad-chksum', CHECKSUM.BAD_TRANSPORT],
    ['ip4-tcp-good-chksum', CHECKSUM.OK],
    ['ip6-udp-bad-chksum', CHECKSUM.BAD_TRANSPORT],
    ['ip6-udp-good-chksum', CHECKSUM.OK],
    // Home Address option and type 0 routing header: the pseudo-header's addresses are the final ones.
    ['ip6-hoa-udp-bad-chksum', CHECKSUM.BAD_TRANSPORT],
    ['ip6-route0-udp-good-chksum', CHECKSUM.OK],
    ['ip6-icmp6-bad-chksum', CHECKSUM.BAD_TRANSPORT],
    ['ip6-icmp6-good-chksum', CHECKSUM.OK],
    ['ip6-route0-icmp6-bad-chksum', CHECKSUM.BAD_TRANSPORT],
    ['ip6-route0-icmp6-good-chksum', CHECKSUM.OK],
  ];
  it('every trace whose conn.log baseline Zeek made without -C has no wrong checksum (tunnels, PPPoE, PBB...)', async () => {
    const readme = readFileSync(new URL('../golden/zeek-conn/README.md', import.meta.url), 'utf8');
    const checked = readme.split('\n').filter((l) => l.startsWith('| `zeek__') && !/ -C\b/.test(l)).map((l) => l.split('`')[1]!);
    expect(checked.length).toBeGreaterThan(10);
    // The packets wrong on purpose: Zeek dropped them, and its baseline shows it (the responder silent).
    const wrong: Record<string, number[]> = { 'zeek__auth_change_session_keys.pcap': [2, 5, 7] };
    const pkt = newPacket();
    let packets = 0;
    for (const trace of checked) {
      if (!existsSync(`${CORPUS}${trace}`)) continue;
      for (const f of await readAll(await openCapture(`${CORPUS}${trace}`, 0))) {
        decodeFrame(f, pkt);
        if (pkt.ipVersion === 0) continue;
        packets++;
        const expected = wrong[trace]?.includes(f.number) ? CHECKSUM.BAD_IP : CHECKSUM.OK;
        expect(checkPacket(pkt), `${trace} packet ${f.number}`).toBe(expected);
      }
    }
    expect(packets).toBeGreaterThan(100);
  });

  for (const [trace, verdict] of verdicts) {
    it(`${trace}: ${Object.entries(CHECKSUM).find(([, v]) => v === verdict)![0]}`, async () => {
      const frames = await readAll(await openCapture(`${CORPUS}zeek__chksums__${trace}.pcap`, 0));
      expect(frames.length).toBeGreaterThan(0);
      const pkt = newPacket();
      for (const f of frames) {
        decodeFrame(f, pkt);
        expect(checkPacket(pkt)).toBe(verdict);
      }
    });
  }
});
