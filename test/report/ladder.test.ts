/**
 * src/report/ladder.ts: relative seq/ack as Wireshark computes them, window scaling, and the
 * drawing; then one connection of the seed capture through the real pipeline.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Flow } from '../../src/core/flow.js';
import { TCP_FLAG } from '../../src/core/packet.js';
import { ladderPacket, relativeNumbers, renderLadder, type LadderPacket } from '../../src/report/ladder.js';
import { flagBits } from '../demux/packets.js';
import { runPipeline } from './pipeline.js';

let frame = 0;

/** A TCP segment as the ladder keeps it; `c` client → server, `s` server → client. */
function seg(dir: 'c' | 's', flags: string, seq: number, ack: number, o: Partial<LadderPacket> = {}): LadderPacket {
  frame++;
  return {
    frame, sec: 100, nsec: frame * 1000, toServer: dir === 'c', via: 'ports', proto: 6, flags: flagBits(flags),
    seq: seq >>> 0, ack: ack >>> 0, window: 100, windowScale: -1, payloadLength: 0, icmpType: -1, icmpCode: -1, fragmentOffset: 0,
    ...o,
  };
}

const rel = (ps: LadderPacket[]) => relativeNumbers(ps).map((r) => (r === null ? null : [r.seq, r.ack]));

describe('relative sequence numbers', () => {
  it('from each side\'s ISN: SYN 0, first data byte 1, acks relative to the other side', () => {
    const ps = [
      seg('c', 'S', 1000, 0),
      seg('s', 'SA', 5000, 1001),
      seg('c', 'A', 1001, 5001),
      seg('c', 'PA', 1001, 5001, { payloadLength: 24 }),
      seg('s', 'PA', 5001, 1025, { payloadLength: 27 }),
      seg('c', 'FA', 1025, 5028),
      seg('s', 'FA', 5028, 1026),
      seg('c', 'A', 1026, 5029),
    ];
    expect(rel(ps)).toEqual([[0, null], [0, 1], [1, 1], [1, 1], [1, 25], [25, 28], [28, 26], [26, 29]]);
  });

  it('modulo 2^32: an ISN just below the wrap', () => {
    const isn = 0xffff_fff0;
    const ps = [
      seg('c', 'S', isn, 0),
      seg('s', 'SA', 7, isn + 1),
      seg('c', 'PA', isn + 1, 8, { payloadLength: 100 }),
      seg('s', 'A', 8, isn + 101), // wrapped past 0 on the wire
    ];
    expect(ps[3]!.ack).toBe(85);
    expect(rel(ps)).toEqual([[0, null], [0, 1], [1, 1], [1, 101]]);
  });

  it('no SYN seen (capture started midstream): each side\'s first segment shows 1, as Wireshark does', () => {
    const ps = [
      seg('c', 'PA', 50_000, 90_000, { payloadLength: 10 }),
      seg('s', 'A', 90_000, 50_010),
      seg('c', 'A', 50_010, 90_000),
    ];
    expect(rel(ps)).toEqual([[1, 1], [1, 11], [11, 1]]);
  });

  it('a side that never sent: its base comes from the first ACK of it', () => {
    const ps = [seg('c', 'A', 10, 777), seg('c', 'PA', 10, 780, { payloadLength: 5 })];
    expect(rel(ps)).toEqual([[1, 1], [1, 4]]);
  });

  it('ICMP errors and fragments get no numbers', () => {
    const ps = [seg('c', 'S', 1, 0), seg('s', '', 0, 0, { via: 'icmp-error', proto: 1, icmpType: 3, icmpCode: 4 })];
    expect(rel(ps)).toEqual([[0, null], null]);
  });

  it('window scaled only when both SYNs carried the option, never on a SYN', () => {
    const both = relativeNumbers([
      seg('c', 'S', 1, 0, { window: 65495, windowScale: 7 }),
      seg('s', 'SA', 1, 2, { window: 65483, windowScale: 10 }),
      seg('c', 'A', 2, 2, { window: 512 }),
      seg('s', 'A', 2, 2, { window: 64 }),
    ]).map((r) => r!.window);
    expect(both).toEqual([65495, 65483, 512 * 128, 64 * 1024]);
    const one = relativeNumbers([
      seg('c', 'S', 1, 0, { windowScale: 7 }),
      seg('s', 'SA', 1, 2),
      seg('c', 'A', 2, 2, { window: 512 }),
    ]).map((r) => r!.window);
    expect(one).toEqual([100, 100, 512]);
  });
});

function flowRecord(o: Partial<Flow> = {}): Flow {
  const c = { packets: 2, wireBytes: 120, ipBytes: 80, payloadBytes: 0 };
  return {
    id: 4, proto: 'tcp', generation: 2, client: { ip: '10.0.0.2', port: 40000 }, server: { ip: '10.0.0.1', port: 80 },
    rolesInferred: false, start: { sec: 100, nsec: 0 }, end: { sec: 101, nsec: 0 }, duration: 1,
    toServer: { ...c }, toClient: { ...c }, state: 'SF', history: 'ShAF', communityId: '1:x', generationReason: 'syn-after-fin',
    endReason: 'fin', ipVersion: 4, icmpErrors: 0, icmpError: null, ...o,
  };
}

describe('the drawing', () => {
  it('client left, server right, one arrow a packet; the bars line up under the names', () => {
    frame = 0;
    const ps = [seg('c', 'S', 1000, 0), seg('s', 'SA', 5000, 1001), seg('c', 'A', 1001, 5001)];
    ps[1]!.nsec = 1_000 + 15_000;
    const text = renderLadder(flowRecord(), ps);
    const lines = text.split('\n');
    expect(lines[0]).toBe('flow 4: tcp 10.0.0.2:40000 → 10.0.0.1:80, generation 2 of this 4-tuple, state SF, 4 packets (2 →, 2 ←)');
    expect(lines[1]).toBe('');
    const header = lines[2]!;
    const rows = lines.slice(3, 6);
    const left = header.indexOf('10.0.0.2:40000');
    const right = header.indexOf('10.0.0.1:80') + '10.0.0.1:80'.length - 1;
    for (const r of rows) {
      expect([...r][left]).toBe('|');
      expect([...r][right]).toBe('|');
    }
    expect(rows[0]).toMatch(/^1 {3}0\.000000 {2}\|─+ SYN ─+▶\| {2}seq=0 win=100 len=0$/);
    expect(rows[1]).toMatch(/^2 {3}0\.000015 {2}\|◀─+ SYN, ACK ─+\| {2}seq=0 ack=1 win=100 len=0$/);
    expect(rows[2]).toMatch(/^3 {3}0\.000002 {2}\|─+ ACK ─+▶\| {2}seq=1 ack=1 win=100 len=0$/);
  });

  it('IPv6 names in brackets, UDP and an ICMP error about the flow, nanosecond digits', () => {
    frame = 0;
    const flow = flowRecord({ proto: 'udp', generation: 1, client: { ip: '2001:db8::2', port: 5353 }, server: { ip: '2001:db8::1', port: 53 }, rolesInferred: true, state: 'SF' });
    const ps = [
      seg('c', '', 0, 0, { proto: 17, payloadLength: 25 }),
      seg('s', '', 0, 0, { proto: 58, via: 'icmp-error', icmpType: 1, icmpCode: 4 }),
    ];
    const text = renderLadder(flow, ps, { digits: 9 });
    expect(text).toContain('flow 4: udp [2001:db8::2]:5353 → [2001:db8::1]:53, state SF, 4 packets (2 →, 2 ←), client guessed (no SYN seen)\n');
    expect(text).toMatch(/\n1 {3}0\.000000000 {2}\|─+ UDP ─+▶\| {2}len=25\n/);
    expect(text).toMatch(/\n2 {3}0\.000001000 {2}\|◀─+ ICMP 1\/4 ─+\| {2}error about this flow, sent toward the client\n/);
  });

  it('no packets collected', () => {
    expect(renderLadder(flowRecord(), [])).toContain('(no packets of this flow were collected)');
  });
});

describe('the seed capture, flow 1 (a full HTTP-like exchange)', () => {
  let packets: LadderPacket[] = [];
  let flow: Flow;
  beforeAll(async () => {
    packets = [];
    const { flows } = await runPipeline('fixtures/demux-lo.pcap', (f, pkt, ref) => {
      if (ref !== null && ref.id === 1) packets.push(ladderPacket(f, pkt, ref));
    });
    flow = flows.find((f) => f.id === 1)!;
  });

  it('collects exactly the flow\'s packets; seq/ack follow the payload lengths from 0', () => {
    expect(packets).toHaveLength(flow.toServer.packets + flow.toClient.packets);
    const r = relativeNumbers(packets);
    expect(r[0]).toEqual({ seq: 0, ack: null, window: packets[0]!.window, factor: 1, marks: [] });
    expect((packets[0]!.flags & TCP_FLAG.SYN) !== 0).toBe(true);
    // Each side's next seq is its previous seq + length (+1 for SYN/FIN); the other side acks it.
    const next = [0, 0];
    for (let i = 0; i < packets.length; i++) {
      const p = packets[i]!;
      const side = p.toServer ? 0 : 1;
      expect(r[i]!.seq).toBe(next[side]);
      next[side] = r[i]!.seq + p.payloadLength + ((p.flags & TCP_FLAG.SYN) ? 1 : 0) + ((p.flags & TCP_FLAG.FIN) ? 1 : 0);
      if (r[i]!.ack !== null) expect(r[i]!.ack).toBeLessThanOrEqual(next[1 - side]!);
    }
    // Everything sent was acknowledged at the end.
    const lastAck = (side: number) => r.filter((x, i) => x!.ack !== null && packets[i]!.toServer === (side === 1)).at(-1)!.ack;
    expect(lastAck(1)).toBe(next[1]); // the client acked all the server sent
    expect(lastAck(0)).toBe(next[0]);
    expect(next[0]).toBe(flow.toServer.payloadBytes + 2);
    expect(next[1]).toBe(flow.toClient.payloadBytes + 2);
  });

  it('renders one line a packet, arrows pointing the way each went', () => {
    const text = renderLadder(flow, packets);
    const rows = text.split('\n').slice(3, -1);
    expect(rows).toHaveLength(packets.length);
    rows.forEach((row, i) => {
      expect(row.startsWith(String(packets[i]!.frame))).toBe(true);
      expect(row.includes('▶|')).toBe(packets[i]!.toServer);
      expect(row.includes('|◀')).toBe(!packets[i]!.toServer);
    });
    expect(rows[0]).toContain(' SYN ');
    expect(rows[1]).toContain(' SYN, ACK ');
  });
});
