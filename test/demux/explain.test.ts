/**
 * src/demux/explain.ts: which socket the receiving host would hand each packet to. On the seed
 * capture through the real pipeline, then on frames built as bytes, decoded by the real decoder
 * and ingested by the real engine, one case at a time.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { LINKTYPE } from '../../src/core/linktypes.js';
import { DemuxEngine } from '../../src/demux/engine.js';
import { explainKind, explainPacket, type SocketLookup } from '../../src/demux/explain.js';
import type { FlowRef } from '../../src/core/flow.js';
import { decodeFrame } from '../../src/parse/decode.js';
import { IPPROTO, newPacket, TCP_FLAG } from '../../src/core/packet.js';
import {
  buildEcho, buildIcmpError, buildTcp, buildUdp, ethernet, ipv4, quoteOf, toFrame,
} from '../helpers/packet-builders.js';
import { runPipeline } from '../report/pipeline.js';

interface Seen {
  frame: number;
  kind: SocketLookup;
  text: string;
  proto: number;
  flags: number;
  dstPort: number;
  ref: { id: number; generation: number; toServer: boolean } | null;
}

describe('the seed capture', () => {
  const seen: Seen[] = [];
  beforeAll(async () => {
    await runPipeline('fixtures/demux-lo.pcap', (frame, pkt, ref) => {
      seen.push({
        frame: frame.number, kind: explainKind(pkt, ref), text: explainPacket(pkt, ref), proto: pkt.protocol,
        flags: pkt.tcpFlags, dstPort: pkt.dstPort, ref: ref && { id: ref.id, generation: ref.generation, toServer: ref.toServer },
      });
    });
  });

  const synOnly = (s: Seen) => s.proto === IPPROTO.TCP && (s.flags & (TCP_FLAG.SYN | TCP_FLAG.ACK)) === TCP_FLAG.SYN;

  it('every SYN to a server goes to its listener, and only SYNs do', () => {
    const listener = seen.filter((s) => s.kind === 'listener');
    expect(listener.length).toBeGreaterThan(0);
    expect(listener).toEqual(seen.filter(synOnly));
    expect(listener.every((s) => s.ref!.toServer)).toBe(true);
    const first80 = listener.find((s) => s.dstPort === 80)!;
    expect(first80.text).toBe(
      'listener 127.0.0.1:80: SYN matches no connection; the listener makes the socket 127.0.0.1:80 ⇄ 127.0.0.2:9157',
    );
  });

  it('a SYN reusing a 4-tuple names its generation', () => {
    const again = seen.filter((s) => s.kind === 'listener' && s.ref!.generation > 1);
    expect(again.length).toBeGreaterThanOrEqual(1);
    for (const s of again) {
      expect(s.dstPort).toBe(8089);
      expect(s.text).toContain(`so this is generation ${s.ref!.generation}`);
    }
  });

  it('later segments: the server-side socket or the client socket by the 4-tuple, as the direction says', () => {
    const tcp = seen.filter((s) => s.proto === IPPROTO.TCP && !synOnly(s));
    expect(tcp.length).toBeGreaterThan(0);
    for (const s of tcp) {
      expect(s.kind).toBe(s.ref!.toServer ? 'connection' : 'client-connection');
      expect(s.text).toMatch(s.ref!.toServer ? /^socket 127\.0\.0\.1:(80|8089) ⇄ / : /^client socket 127\.0\.0\.[23]:\d+ ⇄ 127\.0\.0\.1:/);
    }
    const synAck = tcp.find((s) => (s.flags & (TCP_FLAG.SYN | TCP_FLAG.ACK)) === (TCP_FLAG.SYN | TCP_FLAG.ACK))!;
    expect(synAck.text).toBe('client socket 127.0.0.2:9157 ⇄ 127.0.0.1:80: SYN-ACK for the connecting socket, found by the 4-tuple');
  });

  it('UDP to 5353: the one socket 127.0.0.1:5353, whoever the peer', () => {
    const udp = seen.filter((s) => s.proto === IPPROTO.UDP && s.ref!.toServer);
    expect(udp.length).toBeGreaterThanOrEqual(2);
    expect(new Set(udp.map((s) => s.text.split(':').slice(0, 2).join(':')))).toEqual(new Set(['udp socket 127.0.0.1:5353']));
    expect(new Set(udp.map((s) => s.text))).toEqual(new Set([
      'udp socket 127.0.0.1:5353: found by address+port; recvfrom() returns the peer 127.0.0.2:9157',
      'udp socket 127.0.0.1:5353: found by address+port; recvfrom() returns the peer 127.0.0.3:9157',
    ]));
    const back = seen.find((s) => s.proto === IPPROTO.UDP && !s.ref!.toServer)!;
    expect(back.text).toMatch(/^client udp socket 127\.0\.0\.[23]:9157: found by address\+port; recvfrom\(\) returns the peer 127\.0\.0\.1:5353$/);
  });
});

/** Decode real bytes and run them through an engine, one frame at a time. */
class Host {
  readonly engine = new DemuxEngine();
  private readonly pkt = newPacket();
  private n = 0;

  send(ipPacket: Uint8Array): { kind: SocketLookup; text: string; ref: FlowRef | null } {
    const frame = toFrame(LINKTYPE.ETHERNET, ethernet(ipPacket), { number: ++this.n, tsSec: 1_700_000_000 + this.n });
    decodeFrame(frame, this.pkt);
    const ref = this.engine.ingest(this.pkt, frame.tsSec, frame.tsNsec);
    return { kind: explainKind(this.pkt, ref), text: explainPacket(this.pkt, ref), ref: ref && { ...ref } };
  }
}

describe('one case at a time, on real bytes', () => {
  it('IPv6 TCP: endpoints in brackets, handshake sides', () => {
    const h = new Host();
    const c = { src: '2001:db8::2', dst: '2001:db8::1', sport: 40000, dport: 443 };
    const s = { src: '2001:db8::1', dst: '2001:db8::2', sport: 443, dport: 40000 };
    expect(h.send(buildTcp({ ...c, flags: 'S', seq: 100 })).text).toBe(
      'listener [2001:db8::1]:443: SYN matches no connection; the listener makes the socket [2001:db8::1]:443 ⇄ [2001:db8::2]:40000',
    );
    expect(h.send(buildTcp({ ...s, flags: 'SA', seq: 900, ack: 101 })).kind).toBe('client-connection');
    expect(h.send(buildTcp({ ...c, flags: 'A', seq: 101, ack: 901 })).text).toBe(
      'socket [2001:db8::1]:443 ⇄ [2001:db8::2]:40000: found by the 4-tuple',
    );
    expect(h.send(buildTcp({ ...s, flags: 'R', seq: 901 })).text).toBe(
      'client socket [2001:db8::2]:40000 ⇄ [2001:db8::1]:443: found by the 4-tuple',
    );
  });

  it('simultaneous open: a SYN to the client side meets its own SYN', () => {
    const h = new Host();
    h.send(buildTcp({ src: '10.0.0.2', dst: '10.0.0.1', sport: 5000, dport: 6000, flags: 'S', seq: 1 }));
    const r = h.send(buildTcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 6000, dport: 5000, flags: 'S', seq: 7 }));
    expect(r.ref!.toServer).toBe(false);
    expect(r.text).toBe("client socket 10.0.0.2:5000 ⇄ 10.0.0.1:6000: SYN crossing the client's own SYN (simultaneous open), found by the 4-tuple");
  });

  it('an ICMP port unreachable goes to the UDP socket of the quoted datagram (its source is local)', () => {
    const h = new Host();
    const query = buildUdp({ src: '10.0.0.2', dst: '10.0.0.1', sport: 40000, dport: 53, payload: 'q' });
    const q = h.send(query);
    const r = h.send(buildIcmpError({ src: '10.0.0.1', dst: '10.0.0.2', type: 3, code: 3, quote: quoteOf(query) }));
    expect(r.kind).toBe('icmp-error');
    expect(r.ref!.id).toBe(q.ref!.id);
    expect(r.text).toBe(
      `udp socket 10.0.0.2:40000 of flow ${q.ref!.id}: ICMP type 3 code 3 (port unreachable) quotes a datagram this host sent to 10.0.0.1:53, a closed port: no socket there; its source address+port finds the socket`,
    );
  });

  it('an ICMPv6 packet too big goes to the TCP socket of the quoted segment', () => {
    const h = new Host();
    const seg = buildTcp({ src: '2001:db8::2', dst: '2001:db8::1', sport: 40000, dport: 443, flags: 'PA', seq: 5, ack: 9, payload: 'x'.repeat(40) });
    h.send(seg);
    const r = h.send(buildIcmpError({ src: '2001:db8::ff', dst: '2001:db8::2', type: 2, rest: 1280, quote: quoteOf(seg) }));
    expect(r.kind).toBe('icmp-error');
    expect(r.text).toMatch(/^socket \[2001:db8::2\]:40000 ⇄ \[2001:db8::1\]:443 of flow 1: ICMPv6 type 2 code 0 quotes a segment this host sent; its 4-tuple finds the socket$/);
  });

  it('echo is the kernel\'s own business', () => {
    const h = new Host();
    const r = h.send(buildEcho({ src: '10.0.0.2', dst: '10.0.0.1', id: 7, seq: 1 }));
    expect(r.kind).toBe('kernel');
    expect(r.text).toMatch(/^kernel: ICMP type 8 is handled by the kernel itself/);
  });

  it('IP fragments: the first is looked up after reassembly, later ones wait for it', () => {
    const h = new Host();
    const whole = buildUdp({ src: '10.0.0.2', dst: '10.0.0.1', sport: 40000, dport: 9000, payload: new Uint8Array(64) });
    // Split the UDP datagram (8 + 64 bytes) at 40 bytes of IP payload, with IP id 77.
    const udp = whole.subarray(20);
    const first = buildUdp({ src: '10.0.0.2', dst: '10.0.0.1', sport: 40000, dport: 9000, payload: udp.subarray(8, 40), length: udp.length, ip: { id: 77, mf: true } });
    const r1 = h.send(first);
    expect(r1.kind).toBe('udp');
    expect(r1.text).toBe('udp socket 10.0.0.1:9000: found by address+port; recvfrom() returns the peer 10.0.0.2:40000 (after reassembly)');
    const r2 = h.send(ipv4({ src: '10.0.0.2', dst: '10.0.0.1', protocol: 17, payload: udp.subarray(40), id: 77, fragOffset: 40 }));
    expect(r2.kind).toBe('reassembly');
    expect(r2.text).toBe(`reassembly: IP fragment (id 77, offset 40) waits for the rest of its datagram, then the whole datagram goes where flow ${r1.ref!.id}'s first fragment went`);
  });

  it('nothing to look up: not IP, or a protocol without ports', () => {
    const pkt = newPacket();
    const arp = toFrame(LINKTYPE.ETHERNET, ethernet(new Uint8Array(28), { etherType: 0x0806 }));
    decodeFrame(arp, pkt);
    expect(explainKind(pkt, null)).toBe('none');
    expect(explainPacket(pkt, null)).toBe('none: not IP, no socket lookup');
    decodeFrame(toFrame(LINKTYPE.ETHERNET, ethernet(ipv4({ src: '10.0.0.2', dst: '10.0.0.1', protocol: 47, payload: new Uint8Array(8) }))), pkt);
    expect(explainKind(pkt, null)).toBe('none');
    expect(explainPacket(pkt, null)).toBe('none: IP protocol 47 has no ports; its own handler takes it');
  });

  it("without an engine: a SYN goes to the listener, anything else to its 4-tuple's socket", () => {
    const pkt = newPacket();
    decodeFrame(toFrame(LINKTYPE.ETHERNET, ethernet(buildTcp({ src: '10.0.0.2', dst: '10.0.0.1', sport: 5000, dport: 22, flags: 'S' }))), pkt);
    expect(explainKind(pkt, null)).toBe('listener');
    decodeFrame(toFrame(LINKTYPE.ETHERNET, ethernet(buildTcp({ src: '10.0.0.2', dst: '10.0.0.1', sport: 5000, dport: 22, flags: 'A' }))), pkt);
    expect(explainKind(pkt, null)).toBe('connection');
    expect(explainPacket(pkt, null)).toBe('socket 10.0.0.1:22 ⇄ 10.0.0.2:5000: found by the 4-tuple');
  });
});
