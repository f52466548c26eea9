/**
 * Closed ports: a datagram answered by ICMP/ICMPv6 port unreachable, or a SYN answered by a RST,
 * reached no socket. First the live capture fixtures/closed-ports.pcap (see fixtures/README.md)
 * through the real pipeline, then edge cases built as bytes, decoded by the real decoder and
 * ingested by the real engine: the engine's note, the demux picture, the explanation.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Frame } from '../../src/core/frame.js';
import { LINKTYPE } from '../../src/core/linktypes.js';
import { NoSocketLookahead } from '../../src/demux/closed.js';
import { DemuxEngine } from '../../src/demux/engine.js';
import { explainPacket } from '../../src/demux/explain.js';
import { buildDemux, type ClosedPort, type DemuxGroup, type DemuxReport } from '../../src/demux/groups.js';
import type { Flow } from '../../src/core/flow.js';
import { decodeFrame } from '../../src/parse/decode.js';
import { newPacket } from '../../src/core/packet.js';
import { renderDemuxTable } from '../../src/report/demux.js';
import { buildIcmpError, buildTcp, buildUdp, ethernet, quoteOf, toFrame } from '../helpers/packet-builders.js';
import { runPipeline } from '../report/pipeline.js';

const CAPTURE = new URL('../../fixtures/closed-ports.pcap', import.meta.url).pathname;

function group(r: DemuxReport, proto: string, port: number): DemuxGroup {
  const g = [...r.groups, ...r.singles].filter((x) => x.proto === proto && x.port === port);
  expect(g).toHaveLength(1);
  return g[0]!;
}

const closedOf = (g: DemuxGroup) => g.sockets.filter((s): s is ClosedPort => s.kind === 'closed');

describe('fixtures/closed-ports.pcap (captured on lo)', () => {
  let flows: Flow[];
  let report: DemuxReport;
  const lines = new Map<number, string>();
  beforeAll(async () => {
    // The look ahead `packets --explain` makes over files: two passes, then the explained one.
    const ahead = new NoSocketLookahead(false);
    await runPipeline(CAPTURE, (_f, pkt) => ahead.collect(pkt));
    expect(ahead.needed).toBe(true);
    await runPipeline(CAPTURE, (f, pkt) => ahead.resolve(f, pkt));
    ({ flows } = await runPipeline(CAPTURE, (f, pkt, ref) => lines.set(f.number, explainPacket(pkt, ref, ahead.note(f)))));
    report = buildDemux(flows);
  });

  it('the engine notes which end answered port unreachable, off the flow counters', () => {
    const byId = new Map(flows.map((f) => [f.id, f]));
    expect(byId.get(1)!.portUnreachable).toEqual({ toServer: 2, toClient: 0 });
    expect(byId.get(2)!.portUnreachable).toEqual({ toServer: 1, toClient: 0 });
    expect(byId.get(4)!.portUnreachable).toEqual({ toServer: 1, toClient: 0 });
    for (const id of [3, 5, 6, 7]) expect(byId.get(id)!.portUnreachable).toBeUndefined();
    expect(byId.get(1)!.toClient.packets).toBe(0);
    expect([byId.get(3)!.state, byId.get(6)!.state]).toEqual(['REJ', 'REJ']);
  });

  it('a port where every flow was refused has no socket, only its closed entry', () => {
    expect(report.closedFlows).toBe(4);
    const udp = group(report, 'udp', 9999);
    expect(udp.closed).toEqual([1, 2]);
    expect(udp.sockets.map((s) => s.kind)).toEqual(['closed', 'closed']);
    expect(closedOf(udp).map((s) => [s.local.ip, s.flows, s.answers])).toEqual([
      ['127.0.0.1', [1], ['port-unreachable']], ['::1', [2], ['port-unreachable']]]);
    const tcp = group(report, 'tcp', 8090);
    expect(tcp.sockets).toEqual([{ kind: 'closed', local: { ip: '127.0.0.1', port: 8090 }, flows: [3], peers: [{ ip: '127.0.0.2', port: 40002 }], answers: ['rst'], openedLater: false }]);
  });

  it('a port refused, then opened: both, truthfully', () => {
    const tcp = group(report, 'tcp', 8091);
    expect(tcp.sockets.map((s) => s.kind)).toEqual(['listen', 'connection', 'closed']);
    expect(closedOf(tcp)[0]).toMatchObject({ flows: [6], answers: ['rst'], openedLater: true });
    // UDP 9998: flow 4 was refused once and answered later (the same 5-tuple), flow 5 answered.
    const udp = group(report, 'udp', 9998);
    expect(udp.sockets.map((s) => s.kind)).toEqual(['unconnected']);
    expect(udp.closed).toEqual([]);
    expect(udp.partlyClosed).toEqual([4]);
  });

  it('the table says "closed port: no socket" and counts them', () => {
    const t = renderDemuxTable(report);
    expect(t.split('\n')[0]).toBe('7 flows, 4 server ports, 3 shared by several flows, 4 to a closed port (no socket)');
    expect(t).toContain('udp port 9999 on 2 addresses: 2 flows from 2 peers, one after another, 2 to a closed port');
    expect(t).toContain('    closed port  127.0.0.1:9999 ✕ 127.0.0.2:40001  flow 1: no socket, ICMP port unreachable\n');
    expect(t).toContain('    closed port  [::1]:9999 ✕ [::1]:40001          flow 2: no socket, ICMPv6 port unreachable\n');
    expect(t).toContain('flow 6: no socket, SYN answered by RST (a socket was opened later)\n');
    expect(t).toContain('◀ 127.0.0.3:40003  flow 4 (also ICMP port unreachable: no socket part of the time)\n');
    expect(t).toContain('  tcp 127.0.0.1:8090  flow 3 from 127.0.0.2:40002  closed port: no socket (SYN answered by RST)\n');
    // No "the peers share ONE socket" where there is none.
    const block9999 = t.slice(t.indexOf('udp port 9999'), t.indexOf('One flow each'));
    expect(block9999).not.toContain('share ONE socket');
  });

  it('--explain: no socket claimed for a refused datagram or SYN; the answer says what it refuses', () => {
    for (const n of [1, 3]) expect(lines.get(n)).toBe(`closed port: no socket is bound to 127.0.0.1:9999, so the datagram is dropped; ICMP port unreachable followed (packet ${n + 1})`);
    expect(lines.get(5)).toBe('closed port: no socket is bound to [::1]:9999, so the datagram is dropped; ICMPv6 port unreachable followed (packet 6)');
    expect(lines.get(7)).toBe('closed port: no socket listens on 127.0.0.1:8090, so no listener takes the SYN; it was answered by a RST (packet 8)');
    expect(lines.get(8)).toContain('it refuses the SYN of packet 7 (closed port: no socket listens on 127.0.0.1:8090), so connect() fails with ECONNREFUSED');
    expect(lines.get(9)).toMatch(/^closed port: no socket is bound to 127\.0\.0\.1:9998, .*\(packet 10\)$/);
    expect(lines.get(2)).toMatch(/^udp socket 127\.0\.0\.2:40001 of flow 1: ICMP type 3 code 3 \(port unreachable\) .*a closed port: no socket there/);
    // Once the socket is there, datagrams and SYNs are found as usual.
    expect(lines.get(11)).toBe('udp socket 127.0.0.1:9998: found by address+port; recvfrom() returns the peer 127.0.0.2:40004');
    expect(lines.get(13)).toBe('udp socket 127.0.0.1:9998: found by address+port; recvfrom() returns the peer 127.0.0.3:40003');
    expect(lines.get(15)).toMatch(/^closed port: no socket listens on 127\.0\.0\.1:8091/);
    expect(lines.get(17)).toMatch(/^listener 127\.0\.0\.1:8091: SYN matches no connection/);
    const claims = [...lines.values()].filter((l) => /^(udp socket|listener) 127\.0\.0\.1:(9999|8090)/.test(l) || l.startsWith('udp socket [::1]:9999'));
    expect(claims).toEqual([]);
  });
});

/** Packets as bytes through decoder, look ahead and engine, the way `packets --explain` and `demux` see them. */
function play(packets: Uint8Array[]): { lines: string[]; flows: Flow[]; report: DemuxReport } {
  const frames: Frame[] = packets.map((p, i) => toFrame(LINKTYPE.ETHERNET, ethernet(p), { number: i + 1, tsSec: 1_700_000_000 + i }));
  const pkt = newPacket();
  const ahead = new NoSocketLookahead(false);
  for (const f of frames) ahead.collect((decodeFrame(f, pkt), pkt));
  for (const f of frames) ahead.resolve(f, (decodeFrame(f, pkt), pkt));
  const engine = new DemuxEngine();
  const lines = frames.map((f) => {
    decodeFrame(f, pkt);
    return explainPacket(pkt, engine.ingest(pkt, f.tsSec, f.tsNsec), ahead.note(f));
  });
  engine.finish();
  const flows = engine.flows();
  return { lines, flows, report: buildDemux(flows) };
}

const unreachable = (datagram: Uint8Array, from: string, to: string) => buildIcmpError({
  src: from, dst: to, type: from.includes(':') ? 1 : 3, code: from.includes(':') ? 4 : 3, quote: quoteOf(datagram, from.includes(':') ? datagram.length : undefined),
});

describe('edge cases on built bytes', () => {
  it('IPv6: ICMPv6 port unreachable (type 1 code 4)', () => {
    const d = buildUdp({ src: '2001:db8::2', dst: '2001:db8::1', sport: 40000, dport: 5000, payload: 'x' });
    const { lines, flows, report } = play([d, unreachable(d, '2001:db8::1', '2001:db8::2')]);
    expect(flows[0]!.portUnreachable).toEqual({ toServer: 1, toClient: 0 });
    expect(group(report, 'udp', 5000).sockets).toEqual([{ kind: 'closed', local: { ip: '2001:db8::1', port: 5000 }, flows: [1], peers: [{ ip: '2001:db8::2', port: 40000 }], answers: ['port-unreachable'], openedLater: false }]);
    expect(lines[0]).toBe('closed port: no socket is bound to [2001:db8::1]:5000, so the datagram is dropped; ICMPv6 port unreachable followed (packet 2)');
    expect(renderDemuxTable(report)).toContain('closed port: no socket (ICMPv6 port unreachable)');
  });

  it('a UDP port closed, then opened, for another peer: a closed entry and the socket opened later', () => {
    const d1 = buildUdp({ src: '10.0.0.2', dst: '10.0.0.1', sport: 40000, dport: 9000, payload: 'a' });
    const d2 = buildUdp({ src: '10.0.0.3', dst: '10.0.0.1', sport: 40000, dport: 9000, payload: 'b' });
    const r2 = buildUdp({ src: '10.0.0.1', dst: '10.0.0.3', sport: 9000, dport: 40000, payload: 'c' });
    const { lines, report } = play([d1, unreachable(d1, '10.0.0.1', '10.0.0.2'), d2, r2]);
    const g = group(report, 'udp', 9000);
    expect(g.sockets.map((s) => s.kind)).toEqual(['unconnected', 'closed']);
    expect(closedOf(g)[0]).toMatchObject({ flows: [1], openedLater: true });
    expect(lines[0]).toMatch(/^closed port: no socket is bound to 10\.0\.0\.1:9000/);
    expect(lines[2]).toMatch(/^udp socket 10\.0\.0\.1:9000: found by address\+port/);
  });

  it('the same UDP flow refused, then answered: the socket stays, the flow is partly closed', () => {
    const d1 = buildUdp({ src: '10.0.0.2', dst: '10.0.0.1', sport: 40000, dport: 9000, payload: 'a', ip: { id: 1 } });
    const d2 = buildUdp({ src: '10.0.0.2', dst: '10.0.0.1', sport: 40000, dport: 9000, payload: 'b', ip: { id: 2 } });
    const r2 = buildUdp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 9000, dport: 40000, payload: 'c' });
    const { lines, report } = play([d1, unreachable(d1, '10.0.0.1', '10.0.0.2'), d2, r2]);
    const g = group(report, 'udp', 9000);
    expect(g.sockets.map((s) => s.kind)).toEqual(['unconnected']);
    expect(g.partlyClosed).toEqual([1]);
    expect(report.closedFlows).toBe(0);
    expect(lines[0]).toMatch(/^closed port: /);
    expect(lines[2]).toMatch(/^udp socket 10\.0\.0\.1:9000: found/);
    expect(renderDemuxTable(report)).toContain('1 udp socket (also ICMP port unreachable: no socket part of the time)');
  });

  it('IPv4: the quoted IP id picks the refused datagram; a reply in between clears the others', () => {
    const q = (id: number) => buildUdp({ src: '10.0.0.2', dst: '10.0.0.1', sport: 40000, dport: 9000, payload: 'q', ip: { id } });
    const reply = buildUdp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 9000, dport: 40000, payload: 'r' });
    const a = q(7);
    const b = q(8);
    const c = q(9);
    // a is answered; b and c are sent, and only c is quoted: b stays unknown (no answer, no error).
    const { lines } = play([a, reply, b, c, unreachable(c, '10.0.0.1', '10.0.0.2')]);
    expect(lines.map((l) => l.startsWith('closed port'))).toEqual([false, false, false, true, false]);
  });

  it('IPv6 has no IP id: a burst of datagrams answered by errors is refused as a whole', () => {
    const d = (p: string) => buildUdp({ src: '2001:db8::2', dst: '2001:db8::1', sport: 40000, dport: 9000, payload: p });
    const a = d('a');
    const b = d('b');
    const { lines } = play([a, b, unreachable(a, '2001:db8::1', '2001:db8::2'), unreachable(b, '2001:db8::1', '2001:db8::2')]);
    expect(lines[0]).toMatch(/^closed port: .*\(packet 3\)$/);
    expect(lines[1]).toMatch(/^closed port: .*\(packet 3\)$/);
  });

  it('a TCP port refused, then accepted', () => {
    const c = { src: '10.0.0.2', dst: '10.0.0.1', dport: 8000 };
    const s = { src: '10.0.0.1', dst: '10.0.0.2', sport: 8000 };
    const { lines, report } = play([
      buildTcp({ ...c, sport: 5000, flags: 'S', seq: 100 }),
      buildTcp({ ...s, dport: 5000, flags: 'RA', seq: 0, ack: 101 }),
      buildTcp({ ...c, sport: 5001, flags: 'S', seq: 300 }),
      buildTcp({ ...s, dport: 5001, flags: 'SA', seq: 900, ack: 301 }),
      buildTcp({ ...c, sport: 5001, flags: 'A', seq: 301, ack: 901 }),
    ]);
    const g = group(report, 'tcp', 8000);
    expect(g.refused).toEqual([1]);
    expect(g.sockets.map((x) => x.kind)).toEqual(['listen', 'connection', 'closed']);
    expect(closedOf(g)[0]).toMatchObject({ flows: [1], answers: ['rst'], openedLater: true });
    expect(lines[0]).toBe('closed port: no socket listens on 10.0.0.1:8000, so no listener takes the SYN; it was answered by a RST (packet 2)');
    expect(lines[2]).toMatch(/^listener 10\.0\.0\.1:8000: SYN matches no connection/);
  });

  it('a RST that does not acknowledge the SYN refuses nothing', () => {
    const { lines } = play([
      buildTcp({ src: '10.0.0.2', dst: '10.0.0.1', sport: 5000, dport: 8000, flags: 'S', seq: 100 }),
      buildTcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 8000, dport: 5000, flags: 'RA', seq: 0, ack: 555 }),
    ]);
    expect(lines[0]).toMatch(/^listener 10\.0\.0\.1:8000/);
    expect(lines[1]).not.toContain('ECONNREFUSED');
  });

  it("a SYN answered by ICMP port unreachable (a firewall's REJECT) found no socket either", () => {
    const syn = buildTcp({ src: '10.0.0.2', dst: '10.0.0.1', sport: 5000, dport: 8000, flags: 'S', seq: 100 });
    const { lines, report } = play([syn, unreachable(syn, '10.0.0.1', '10.0.0.2')]);
    expect(group(report, 'tcp', 8000).sockets).toEqual([{ kind: 'closed', local: { ip: '10.0.0.1', port: 8000 }, flows: [1], peers: [{ ip: '10.0.0.2', port: 5000 }], answers: ['port-unreachable'], openedLater: false }]);
    expect(lines[0]).toBe("closed port: no socket listens on 10.0.0.1:8000, so no listener takes the SYN; it was answered by ICMP port unreachable (as a firewall's REJECT does) (packet 2)");
    expect(lines[1]).toMatch(/^socket 10\.0\.0\.2:5000 ⇄ 10\.0\.0\.1:8000 of flow 1: ICMP type 3 code 3 \(port unreachable\).*a closed port: no socket there/);
  });

  it('a probe from a low port to a closed high port: the closed end is the server', () => {
    const d = buildUdp({ src: '10.0.0.2', dst: '10.0.0.1', sport: 5000, dport: 33434, payload: 'p' });
    const { flows, report } = play([d, unreachable(d, '10.0.0.1', '10.0.0.2')]);
    // Neither port is a likely server port: the first sender is the client (Zeek's rule), and the
    // error says the server's port 33434 was closed.
    expect(flows[0]!.server.port).toBe(33434);
    expect(flows[0]!.portUnreachable).toEqual({ toServer: 1, toClient: 0 });
    expect(report.singles.map((g) => g.port)).toEqual([33434]);
    expect(report.singles[0]!.sockets[0]).toMatchObject({ kind: 'closed', local: { ip: '10.0.0.1', port: 33434 } });
  });

  it("a late answer to a client whose port was closed: the server's socket stays, the note says so", () => {
    const query = buildUdp({ src: '10.0.0.2', dst: '10.0.0.1', sport: 40000, dport: 53, payload: 'q' });
    const answer = buildUdp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 53, dport: 40000, payload: 'a' });
    const { report } = play([query, answer, answer, unreachable(answer, '10.0.0.2', '10.0.0.1')]);
    const g = group(report, 'udp', 53);
    expect(g.sockets.map((s) => s.kind)).toEqual(['unconnected']);
    expect(report.closedFlows).toBe(0);
    expect(renderDemuxTable(report)).toContain("1 udp socket (an answer found the peer's port closed)");
  });
});
