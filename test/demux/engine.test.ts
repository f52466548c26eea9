/**
 * The engine beyond TCP state: roles, counters, fragments, ICMP, bounded memory, the summary.
 */
import { describe, expect, it } from 'vitest';
import { DemuxEngine } from '../../src/demux/engine.js';
import { newPacket } from '../../src/core/packet.js';
import { Conversation, feed, makePacket } from './packets.js';

const T0 = 1_764_056_602;

describe('roles', () => {
  it('UDP without SYN: a known server port (53) makes the other end the client, whoever spoke first', () => {
    const engine = new DemuxEngine();
    // A DNS answer captured before its query.
    feed(engine, { proto: 17, src: '8.8.8.8', sport: 53, dst: '192.168.1.52', dport: 54585, len: 80 }, T0);
    feed(engine, { proto: 17, src: '192.168.1.52', sport: 54585, dst: '8.8.8.8', dport: 53, len: 30 }, T0 + 1);
    engine.finish();
    const [f] = engine.flows();
    expect(f).toMatchObject({
      proto: 'udp', rolesInferred: true, state: 'SF', history: '^dD',
      client: { ip: '192.168.1.52', port: 54585 }, server: { ip: '8.8.8.8', port: 53 },
    });
    expect(f!.communityId).toBe('1:d/FP5EW3wiY1vCndhwleRRKHowQ='); // peers.md vector
  });

  it('equal ports: the first sender is the client', () => {
    const engine = new DemuxEngine();
    feed(engine, { proto: 17, src: '10.9.9.9', sport: 5353, dst: '10.0.0.1', dport: 5353, len: 1 });
    feed(engine, { proto: 17, src: '10.0.0.1', sport: 5353, dst: '10.9.9.9', dport: 5353, len: 1 });
    engine.finish();
    const [f] = engine.flows();
    expect(f!.client.ip).toBe('10.9.9.9');
    expect(f!.history).toBe('Dd');
  });

  it('TCP: the sender of the first SYN is the client even on a higher port', () => {
    const engine = new DemuxEngine();
    const c = new Conversation(engine, '10.0.0.9:80', '10.0.0.1:50000');
    c.c('S');
    c.s('SA');
    engine.finish();
    expect(engine.flows()[0]).toMatchObject({ rolesInferred: false, client: { ip: '10.0.0.9', port: 80 } });
  });

  it('UDP with only the responder heard is SHR; only the originator S0', () => {
    const engine = new DemuxEngine();
    feed(engine, { proto: 17, src: '10.0.0.2', sport: 53, dst: '10.0.0.1', dport: 40000, len: 1 });
    feed(engine, { proto: 17, src: '10.0.0.1', sport: 40001, dst: '10.0.0.2', dport: 53, len: 1 });
    engine.finish();
    expect(engine.flows().map((f) => f.state)).toEqual(['SHR', 'S0']);
  });
});

describe('counters', () => {
  it('packets, wire, IP and payload bytes per direction; start, end, duration', () => {
    const engine = new DemuxEngine();
    const c = new Conversation(engine);
    c.c('S'); // 40 IP bytes, 54 on the wire
    c.wait(0.1).s('SA');
    c.wait(0.1).c('PA', { len: 37 }); // 77 / 91
    c.wait(0.1).s('PA', { len: 71, link: 16 }); // SLL: 111 / 127
    c.wait(0.001262).c('A');
    engine.finish();
    const [f] = engine.flows();
    expect(f!.toServer).toEqual({ packets: 3, wireBytes: 54 + 91 + 54, ipBytes: 40 + 77 + 40, payloadBytes: 37, missedBytes: 0 });
    expect(f!.toClient).toEqual({ packets: 2, wireBytes: 54 + 127, ipBytes: 40 + 111, payloadBytes: 71, missedBytes: 0 });
    expect(f!.start).toEqual({ sec: T0, nsec: 900_203_000 });
    expect(f!.end).toEqual({ sec: T0 + 1, nsec: 201_465_000 });
    expect(f!.duration).toBeCloseTo(0.301262, 9);
  });

  it('out-of-order timestamps widen the span instead of going negative', () => {
    const engine = new DemuxEngine();
    feed(engine, { proto: 17, src: '10.0.0.1', sport: 1000, dst: '10.0.0.2', dport: 53 }, T0 + 5, 0);
    feed(engine, { proto: 17, src: '10.0.0.2', sport: 53, dst: '10.0.0.1', dport: 1000 }, T0 + 2, 500);
    engine.finish();
    const [f] = engine.flows();
    expect(f!.start).toEqual({ sec: T0 + 2, nsec: 500 });
    expect(f!.end).toEqual({ sec: T0 + 5, nsec: 0 });
  });

  it('ids follow first packets; both directions and IPv6 land on one flow', () => {
    const engine = new DemuxEngine();
    const refs = [
      feed(engine, { src: '2001:db8::1', sport: 40000, dst: '2001:db8::2', dport: 443, flags: 'S', seq: 1 }),
      feed(engine, { src: '10.0.0.1', sport: 40000, dst: '10.0.0.2', dport: 443, flags: 'S', seq: 1 }),
      feed(engine, { src: '2001:db8::2', sport: 443, dst: '2001:db8::1', dport: 40000, flags: 'SA', seq: 9, ack: 2 }),
      feed(engine, { proto: 17, src: '10.0.0.1', sport: 40000, dst: '10.0.0.2', dport: 443 }),
    ];
    expect(refs).toEqual([
      { id: 1, generation: 1, toServer: true, via: 'ports' },
      { id: 2, generation: 1, toServer: true, via: 'ports' },
      { id: 1, generation: 1, toServer: false, via: 'ports' },
      { id: 3, generation: 1, toServer: true, via: 'ports' },
    ]);
    engine.finish();
    const flows = engine.flows();
    expect(flows.map((f) => [f.id, f.proto, f.ipVersion, f.client.ip, f.server.ip])).toEqual([
      [1, 'tcp', 6, '2001:db8::1', '2001:db8::2'],
      [2, 'tcp', 4, '10.0.0.1', '10.0.0.2'],
      [3, 'udp', 4, '10.0.0.1', '10.0.0.2'],
    ]);
  });

  it('a packet to itself (same address and port) is one flow', () => {
    const engine = new DemuxEngine();
    feed(engine, { proto: 17, src: '127.0.0.1', sport: 9, dst: '127.0.0.1', dport: 9, len: 3 });
    feed(engine, { proto: 17, src: '127.0.0.1', sport: 9, dst: '127.0.0.1', dport: 9, len: 3 });
    engine.finish();
    const flows = engine.flows();
    expect(flows).toHaveLength(1);
    expect(flows[0]!.toServer.packets + flows[0]!.toClient.packets).toBe(2);
  });
});

describe('fragments', () => {
  const first = { proto: 17, src: '10.0.0.1', sport: 50000, dst: '10.0.0.2', dport: 7000, ipId: 77, moreFragments: true, len: 1472 };
  const later = { proto: 17, src: '10.0.0.1', dst: '10.0.0.2', ipId: 77, fragmentOffset: 1480, len: 520 };

  it('first fragment first: later fragments count with its flow', () => {
    const engine = new DemuxEngine();
    expect(feed(engine, first)).toMatchObject({ id: 1, via: 'ports' });
    expect(feed(engine, later)).toEqual({ id: 1, generation: 1, toServer: true, via: 'fragment' });
    engine.finish();
    const [f] = engine.flows();
    expect(f!.toServer).toEqual({ packets: 2, wireBytes: 1514 + 554, ipBytes: 1500 + 540, payloadBytes: 1472 + 520, missedBytes: 0 });
    expect(engine.summary().byKind).toMatchObject({ udp: 1, fragment: 1, 'fragment-pending': 0, 'fragment-unmatched': 0 });
  });

  it('later fragment first: held, then counted when the first fragment names the flow', () => {
    const engine = new DemuxEngine();
    expect(feed(engine, later, T0, 0)).toBeNull();
    expect(engine.summary().byKind['fragment-pending']).toBe(1);
    feed(engine, first, T0, 1000);
    engine.finish();
    const [f] = engine.flows();
    expect(f!.toServer.packets).toBe(2);
    expect(f!.toServer.payloadBytes).toBe(1992);
    expect(f!.start).toEqual({ sec: T0, nsec: 0 });
    const s = engine.summary();
    expect(s.byKind).toMatchObject({ udp: 1, fragment: 1, 'fragment-pending': 0 });
    expect(s.inFlows).toBe(2);
  });

  it('a later fragment whose flow ended is unmatched, even when a new flow reuses that flow\'s object', () => {
    // Flow 1 (the first fragment) idles out; flow 2 starts on another tuple and takes over the
    // engine's object of flow 1; the straggler of flow 1 must not be counted in flow 2.
    const engine = new DemuxEngine({ udpIdleTimeout: 5, fragmentTimeout: 120 });
    feed(engine, first, T0);
    const other = { proto: 17, src: '10.0.0.3', sport: 40000, dst: '10.0.0.2', dport: 53, len: 20 };
    expect(feed(engine, other, T0 + 30)).toMatchObject({ id: 2 });
    expect(feed(engine, later, T0 + 31)).toBeNull();
    engine.finish();
    const flows = engine.flows();
    expect(flows.map((f) => [f.id, f.toServer.packets])).toEqual([[1, 1], [2, 1]]);
    expect(engine.summary().byKind).toMatchObject({ udp: 2, fragment: 0, 'fragment-unmatched': 1 });
  });

  it('IPv6 fragments (32-bit id) and a reply in the other direction', () => {
    const engine = new DemuxEngine();
    const v6first = { ...first, src: 'fe80::1', dst: 'fe80::2', ipId: 0xdeadbeef };
    const v6later = { ...later, src: 'fe80::1', dst: 'fe80::2', ipId: 0xdeadbeef };
    feed(engine, v6later);
    feed(engine, v6first);
    feed(engine, { proto: 17, src: 'fe80::2', sport: 7000, dst: 'fe80::1', dport: 50000, len: 8 });
    engine.finish();
    const [f] = engine.flows();
    expect(f!.toServer.packets).toBe(2);
    expect(f!.toClient.packets).toBe(1);
  });

  it('fragments that never meet their first fragment are unmatched, never lost', () => {
    const engine = new DemuxEngine({ fragmentTimeout: 30 });
    feed(engine, later, T0);
    feed(engine, { ...later, ipId: 78 }, T0);
    feed(engine, { ...first, ipId: 99 }, T0 + 31); // expires the two waiting ones
    expect(engine.summary().byKind).toMatchObject({ 'fragment-pending': 0, 'fragment-unmatched': 2 });
    feed(engine, { ...later, ipId: 5 }, T0 + 31);
    engine.finish();
    const s = engine.summary();
    expect(s.byKind).toMatchObject({ 'fragment-pending': 0, 'fragment-unmatched': 3, udp: 1 });
    expect(Object.values(s.byKind).reduce((a, b) => a + b, 0)).toBe(s.packets);
  });

  it('a first fragment whose transport header is cut counts as fragment-unmatched', () => {
    const engine = new DemuxEngine();
    const pkt = makePacket({ ...first });
    pkt.hasPorts = false;
    expect(engine.ingest(pkt, T0, 0)).toBeNull();
    expect(engine.summary().byKind['fragment-unmatched']).toBe(1);
  });
});

describe('ICMP', () => {
  it('an ICMP error quoting a flow is attached to it, not counted in its packets', () => {
    const engine = new DemuxEngine();
    feed(engine, { proto: 17, src: '10.0.0.1', sport: 40000, dst: '10.0.0.2', dport: 9999, len: 4 });
    const ref = feed(engine, {
      proto: 1, src: '10.0.0.2', dst: '10.0.0.1', icmpType: 3, icmpCode: 3, len: 32,
      quoted: { src: '10.0.0.1', dst: '10.0.0.2', proto: 17, sport: 40000, dport: 9999 },
    });
    expect(ref).toEqual({ id: 1, generation: 1, toServer: false, via: 'icmp-error' });
    engine.finish();
    const flows = engine.flows();
    expect(flows).toHaveLength(1);
    expect(flows[0]).toMatchObject({
      icmpErrors: 1, icmpError: { type: 3, code: 3, reporter: '10.0.0.2' }, state: 'S0',
      toClient: { packets: 0, wireBytes: 0, ipBytes: 0, payloadBytes: 0 },
    });
    const s = engine.summary();
    expect(s.icmpErrorsAttached).toBe(1);
    expect(s.byKind.icmp).toBe(1);
  });

  it('a time-exceeded from a router on the path (IPv6) attaches too', () => {
    const engine = new DemuxEngine();
    feed(engine, { src: '2001:db8::1', sport: 33000, dst: '2001:db8::2', dport: 443, flags: 'S', seq: 5 });
    const ref = feed(engine, {
      proto: 58, src: '2001:db8:ffff::1', dst: '2001:db8::1', icmpType: 3, icmpCode: 0,
      quoted: { src: '2001:db8::1', dst: '2001:db8::2', proto: 6, sport: 33000, dport: 443 },
    });
    expect(ref).toMatchObject({ id: 1, via: 'icmp-error', toServer: false });
    engine.finish();
    expect(engine.flows()[0]!.icmpError).toEqual({ type: 3, code: 0, reporter: '2001:db8:ffff::1' });
  });

  it('echo request and reply are one ICMP flow keyed as Community ID does; the first sender is the client', () => {
    const engine = new DemuxEngine();
    feed(engine, { proto: 1, src: '5.6.7.8', dst: '1.2.3.4', icmpType: 0, len: 56 }); // reply seen first
    feed(engine, { proto: 1, src: '1.2.3.4', dst: '5.6.7.8', icmpType: 8, len: 56 });
    feed(engine, { proto: 1, src: '1.2.3.4', dst: '5.6.7.8', icmpType: 8, len: 56 });
    feed(engine, { proto: 1, src: '1.2.3.4', dst: '9.9.9.9', icmpType: 8, len: 56 }); // request first
    engine.finish();
    const flows = engine.flows();
    expect(flows).toHaveLength(2);
    // As in Zeek's conn.log: the answer's sender is the originator (orig_p 0, resp_p 8), a guess.
    expect(flows[0]).toMatchObject({
      proto: 'icmp', client: { ip: '5.6.7.8', port: 0 }, server: { ip: '1.2.3.4', port: 8 }, rolesInferred: true,
      state: 'OTH', history: '', communityId: '1:crodRHL2FEsHjbv3UkRrfbs4bZ0=',
    });
    expect(flows[0]!.toServer.packets).toBe(1);
    expect(flows[0]!.toClient.packets).toBe(2);
    expect(flows[1]).toMatchObject({ client: { ip: '1.2.3.4', port: 8 }, server: { ip: '9.9.9.9', port: 0 }, rolesInferred: false });
  });

  it('one-way ICMP (an unmatched error) is a flow per direction; ICMP flows can be turned off', () => {
    const engine = new DemuxEngine();
    feed(engine, { proto: 1, src: '10.0.0.2', dst: '10.0.0.1', icmpType: 3, icmpCode: 1 });
    feed(engine, { proto: 1, src: '10.0.0.1', dst: '10.0.0.2', icmpType: 3, icmpCode: 1 });
    engine.finish();
    expect(engine.flows().map((f) => [f.client.ip, f.client.port, f.server.port])).toEqual([
      ['10.0.0.2', 3, 1],
      ['10.0.0.1', 3, 1],
    ]);
    const off = new DemuxEngine({ icmpFlows: false });
    expect(feed(off, { proto: 1, src: '1.2.3.4', dst: '5.6.7.8', icmpType: 8 })).toBeNull();
    off.finish();
    expect(off.flows()).toEqual([]);
    expect(off.summary().byKind.icmp).toBe(1);
  });
});

describe('bounded memory', () => {
  it('max-flows evicts the least recently active flow and says how many', () => {
    const ended: string[] = [];
    const engine = new DemuxEngine({ maxFlows: 2, onFlowEnd: (f) => ended.push(`${f.id}:${f.endReason}`) });
    const udp = (sport: number, sec: number) =>
      feed(engine, { proto: 17, src: '10.0.0.1', sport, dst: '10.0.0.2', dport: 53, len: 1 }, T0 + sec);
    udp(1001, 0);
    udp(1002, 1);
    udp(1001, 2); // 1001 is now more recent than 1002
    udp(1003, 3); // over the cap: 1002 goes
    expect(ended).toEqual(['2:evicted']);
    expect(udp(1002, 4)).toMatchObject({ id: 4, generation: 2 }); // and 1001 goes now
    expect(ended).toEqual(['2:evicted', '1:evicted']);
    const s = engine.summary();
    expect(s.evicted).toBe(2);
    expect(s.openFlows).toBe(2);
    expect(s.warnings).toHaveLength(1);
    expect(s.warnings[0]).toMatch(/^2 flows were evicted .*--max-flows 2/);
    engine.finish();
    expect(ended.slice(2)).toEqual(['3:capture-end', '4:capture-end']);
  });

  it('evicted tuples say so when their traffic comes back', () => {
    const engine = new DemuxEngine({ maxFlows: 1 });
    feed(engine, { proto: 17, src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 53 }, T0);
    feed(engine, { proto: 17, src: '10.0.0.1', sport: 2, dst: '10.0.0.2', dport: 53 }, T0);
    feed(engine, { proto: 17, src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 53 }, T0);
    engine.finish();
    expect(engine.flows().map((f) => [f.id, f.generation, f.generationReason])).toEqual([
      [1, 1, 'first'], [2, 1, 'first'], [3, 2, 'after-eviction'],
    ]);
  });

  it('a closed connection waiting for stray packets is finished first, without counting as evicted', () => {
    const engine = new DemuxEngine({ maxFlows: 1 });
    const c = new Conversation(engine);
    c.c('S');
    c.c('R');
    feed(engine, { proto: 17, src: '10.0.0.1', sport: 2, dst: '10.0.0.2', dport: 53 }, c.sec, c.nsec);
    expect(engine.summary().evicted).toBe(0);
    engine.finish();
    expect(engine.flows().map((f) => f.endReason)).toEqual(['rst', 'capture-end']);
  });

  it('many tuples through a small table: released slots are reused and lookups stay exact', () => {
    const engine = new DemuxEngine({ maxFlows: 50, maxRemembered: 20, udpIdleTimeout: 1 });
    let sec = T0;
    const ids = new Map<number, number>();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 2000; i++) {
        const ref = feed(engine, { proto: 17, src: `10.${i >> 8}.${i & 255}.1`, sport: 1024 + i, dst: '10.0.0.2', dport: 53 }, sec);
        const back = feed(engine, { proto: 17, src: '10.0.0.2', sport: 53, dst: `10.${i >> 8}.${i & 255}.1`, dport: 1024 + i }, sec);
        expect(back!.id).toBe(ref!.id);
        expect(ids.has(ref!.id)).toBe(false);
        ids.set(ref!.id, i);
      }
      sec += 10;
    }
    engine.finish();
    const flows = engine.flows();
    expect(flows).toHaveLength(6000);
    for (const f of flows) {
      expect(f.toServer.packets).toBe(1);
      expect(f.toClient.packets).toBe(1);
      expect(f.client.port).toBe(1024 + ids.get(f.id)!);
    }
  });
});

describe('summary', () => {
  it('counts packets without ports by kind, and the kinds add up (another IP protocol is in a flow too)', () => {
    const engine = new DemuxEngine();
    const arp = newPacket(); // no IP layer, nothing wrong
    arp.problems.push({ kind: 'unsupported', layer: 'link', offset: 12, what: 'EtherType not IP' });
    engine.ingest(arp, T0, 0);
    const cut = newPacket(); // IPv4 header cut
    cut.problems.push({ kind: 'truncated', layer: 'ipv4', offset: 14, need: 20, have: 6, cause: 'capture', what: 'IPv4 header cut' });
    engine.ingest(cut, T0, 0);
    const gre = makePacket({ proto: 47, src: '10.0.0.1', dst: '10.0.0.2', len: 100 });
    expect(engine.ingest(gre, T0, 0)).toMatchObject({ id: 1, generation: 1, toServer: true });
    const tcpCut = makePacket({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2 });
    tcpCut.hasPorts = false;
    tcpCut.problems.push({ kind: 'truncated', layer: 'tcp', offset: 34, need: 20, have: 4, what: 'TCP header cut' });
    engine.ingest(tcpCut, T0, 0);
    const icmpCut = makePacket({ proto: 58, src: 'fe80::1', dst: 'fe80::2' });
    icmpCut.icmpType = -1;
    engine.ingest(icmpCut, T0, 0);
    feed(engine, { proto: 58, src: 'fe80::1', dst: 'ff02::1', icmpType: 134 }, T0);
    feed(engine, { src: '10.0.0.1', sport: 1, dst: '10.0.0.2', dport: 2, flags: 'S' }, T0);
    const s = engine.summary();
    expect(s.byKind).toEqual({
      tcp: 1, udp: 0, icmp: 0, icmpv6: 1, fragment: 0, 'fragment-pending': 0, 'fragment-unmatched': 0,
      'non-ip': 1, damaged: 3, 'other-ip-protocol': 1, 'bad-checksum': 0,
    });
    expect(s.packets).toBe(7);
    expect(s.inFlows).toBe(3);
    expect(s.flows).toBe(3);
    expect(s.warnings).toEqual([]);
  });

  it('another IP protocol: one flow a protocol and address pair, both directions, ports 0, a new generation after 60 s idle', () => {
    const engine = new DemuxEngine();
    const ospf = (src: string, dst: string, t: number) => engine.ingest(makePacket({ proto: 89, src, dst, len: 64 }), t, 0);
    expect(ospf('10.0.0.2', '10.0.0.1', T0)).toMatchObject({ id: 1, toServer: true });
    expect(ospf('10.0.0.1', '10.0.0.2', T0 + 1)).toMatchObject({ id: 1, toServer: false });
    expect(engine.ingest(makePacket({ proto: 112, src: '10.0.0.1', dst: '10.0.0.2', len: 40 }), T0 + 2, 0)).toMatchObject({ id: 2 });
    expect(ospf('10.0.0.1', '10.0.0.2', T0 + 62)).toMatchObject({ id: 3, generation: 2, toServer: true });
    engine.finish();
    const flows = engine.flows();
    expect(flows.map((f) => [f.id, f.proto, f.ipProtocol, f.client.ip, f.client.port, f.server.port, f.toServer.packets, f.toClient.packets,
      f.state, f.history, f.generationReason, f.endReason])).toEqual([
      [1, 'ospf', 89, '10.0.0.2', 0, 0, 1, 1, 'OTH', '', 'first', 'idle-timeout'],
      [2, 'vrrp', 112, '10.0.0.1', 0, 0, 1, 0, 'OTH', '', 'first', 'capture-end'],
      [3, 'ospf', 89, '10.0.0.1', 0, 0, 1, 0, 'OTH', '', 'idle-timeout', 'capture-end'],
    ]);
    expect(engine.summary().byKind['other-ip-protocol']).toBe(4);
  });

  it('flows() shows open flows as snapshots without ending them', () => {
    const engine = new DemuxEngine();
    const c = new Conversation(engine);
    c.c('S');
    const snap = engine.flows();
    expect(snap[0]).toMatchObject({ endReason: null, state: 'S0' });
    c.s('SA');
    engine.finish();
    expect(engine.flows()[0]).toMatchObject({ endReason: 'capture-end', state: 'S1' });
  });

  it('the packet bytes are not kept: reusing the buffer does not change a flow', () => {
    const engine = new DemuxEngine();
    const pkt = makePacket({ proto: 17, src: '192.0.2.1', sport: 1000, dst: '192.0.2.2', dport: 53 });
    engine.ingest(pkt, T0, 0);
    pkt.bytes.fill(0);
    engine.finish();
    expect(engine.flows()[0]!.client.ip).toBe('192.0.2.1');
  });
});
