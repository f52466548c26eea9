/**
 * Hellos that take more than one packet: QUIC Initials opened with their public keys (RFC 9001
 * 5.2, RFC 9369 3.3), a ClientHello spread over two Initials, and a TLS ClientHello over three
 * TCP segments with a retransmission. On the crafted captures (scripts/fixtures/craft.mjs), which
 * tshark reads the same way (fixtures/golden/tls-names.tsv).
 */
import { describe, expect, it } from 'vitest';
import { clientKeys, QuicHello, versionKeys } from '../../src/demux/quic-initial.js';
import { sniff } from '../../src/demux/services.js';
import { runPipeline } from '../report/pipeline.js';

const CRAFTED = new URL('../../fixtures/crafted/', import.meta.url).pathname;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('QUIC Initial keys', () => {
  it('are derived as RFC 9001 Appendix A.1 (v1) and RFC 9369 Appendix A.1 (v2) give them', () => {
    const dcid = Buffer.from('8394c8f03e515708', 'hex');
    const v1 = clientKeys(versionKeys(1)!, dcid);
    expect([hex(v1.key), hex(v1.iv), hex(v1.hp)]).toEqual(['1f369613dd76d5467730efcbe3b1a22d', 'fa044b2f42a3fd3b46fb255c', '9f50449e04a0e810283a1e9933adedd2']);
    const v2 = clientKeys(versionKeys(0x6b3343cf)!, dcid);
    expect([hex(v2.key), hex(v2.iv), hex(v2.hp)]).toEqual(['8b1a0bc121284290a29e0971b5cd045d', '91f73e2351d8fa91660e909f', '45b95e15235d6f45a6b19cbcb0294ba9']);
  });

  it('are known for v1, v2 and drafts 23 to 29 only', () => {
    expect(versionKeys(0xff00001d)?.name).toBe('draft-29');
    expect(versionKeys(0xff000017)?.name).toBe('draft-23');
    expect(versionKeys(0xff000016)).toBeNull();
    expect(versionKeys(0x51303530)).toBeNull(); // Google QUIC Q050
  });
});

describe('hellos over several packets', () => {
  it('QUIC: the server name and ALPN from Initials, the ClientHello put together from two datagrams out of order; a damaged Initial gives the version only', async () => {
    const { flows } = await runPipeline(`${CRAFTED}quic-initials-v1-split-v2-broken.pcap`);
    expect(flows.map((f) => [f.client.port, f.service, f.summary])).toEqual([
      [51001, 'quic', 'quic v1 sni=split.example alpn=h3'],
      [51002, 'quic', 'quic v2 sni=v2.example alpn=h3'],
      [51003, 'quic', 'quic v1'],
    ]);
  });

  it('TLS over TCP: a ClientHello over three segments, one of them sent twice, then the ServerHello', async () => {
    const { flows } = await runPipeline(`${CRAFTED}tls-client-hello-3-segments.pcap`);
    expect(flows.map((f) => [f.service, f.summary])).toEqual([['ssl', 'sni=three-segments.example alpn=h2,http/1.1 -> tls1.3']]);
  });

  it('the first segment alone says what it holds and asks for more; a segment after a hole ends the reading', () => {
    // The crafted ClientHello record, rebuilt: 1,500 bytes of padding before the server name.
    const name = Buffer.from('late.example');
    const ext = (t: number, body: Buffer) => Buffer.concat([Buffer.from([t >> 8, t & 255, body.length >> 8, body.length & 255]), body]);
    const exts = Buffer.concat([ext(21, Buffer.alloc(1500)), ext(0, Buffer.concat([Buffer.from([0, name.length + 3, 0, 0, name.length]), name]))]);
    const body = Buffer.concat([Buffer.from([3, 3]), Buffer.alloc(32, 1), Buffer.from([0, 0, 2, 0x13, 1, 1, 0, exts.length >> 8, exts.length & 255]), exts]);
    const hs = Buffer.concat([Buffer.from([1, 0, body.length >> 8, body.length & 255]), body]);
    const rec = Buffer.concat([Buffer.from([0x16, 3, 1, hs.length >> 8, hs.length & 255]), hs]);
    const first = sniff(rec, 0, 700, true, 1000)!;
    expect(first.text).toBe('client hello');
    expect(first.more).toBeDefined();
    // In order: the name comes with the last bytes.
    const done = first.more!.read(rec.subarray(700), 0, rec.length - 700, 1700)!;
    expect(done.text).toBe('sni=late.example');
    expect(done.more).toBeUndefined();
    // A hole (the next segment starts later than expected): given up.
    const again = sniff(rec, 0, 700, true, 1000)!;
    expect(again.more!.read(rec.subarray(800), 0, rec.length - 800, 1800)).toBeNull();
    // No sequence number (UDP, or a payload the capture cut): no reading further.
    expect(sniff(rec, 0, 700, true, null)!.more).toBeUndefined();
  });

  it('QUIC reading is bounded: random datagrams with a v1 long header are given up after 12', () => {
    const hello = new QuicHello(versionKeys(1)!);
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    for (let i = 0; i < 20; i++) {
      const d = Uint8Array.from({ length: 1200 }, rnd);
      d.set([0xc0, 0, 0, 0, 1, 8], 0);
      expect(hello.feed(d, 0, d.length)).toBeNull();
    }
    expect(hello.alive).toBe(false);
  });
});
