/**
 * The engine's side of `--checksums validate`: what Zeek does with a packet whose transport
 * checksum is wrong (TCP: history C/c and nothing else; UDP: counted, C/c, no payload and no
 * time; ICMP: counted, no time), its scaled letters (1st, 10th, 100th...), and the count of the
 * packets dropped before it for a wrong IPv4 header checksum. Which packet is bad is the
 * pipeline's verdict (parse/checksum.ts); here it is given by calling ingestBadChecksum.
 */
import { describe, expect, it } from 'vitest';
import { DemuxEngine } from '../../src/demux/engine.js';
import type { Flow } from '../../src/core/flow.js';
import { makePacket, type PacketSpec } from './packets.js';

const T0 = 1_764_056_602;
const C = { src: '10.0.0.1', sport: 40000, dst: '10.0.0.2', dport: 80 };
const S = { src: '10.0.0.2', sport: 80, dst: '10.0.0.1', dport: 40000 };

/** Packets at T0 + i*0.1 s; those marked `bad` go through ingestBadChecksum. */
function run(packets: (PacketSpec & { bad?: boolean })[]): { flows: Flow[]; engine: DemuxEngine } {
  const engine = new DemuxEngine();
  packets.forEach((p, i) => {
    const pkt = makePacket(p);
    const nsec = i * 100_000_000;
    if (p.bad === true) engine.ingestBadChecksum(pkt, T0 + Math.floor(nsec / 1e9), nsec % 1e9);
    else engine.ingest(pkt, T0 + Math.floor(nsec / 1e9), nsec % 1e9);
  });
  engine.finish();
  return { flows: engine.flows(), engine };
}

/** A whole connection; `bad` marks the index of the packet (if any) whose checksum is wrong. */
function connection(bad: number[] = []): (PacketSpec & { bad?: boolean })[] {
  const packets: PacketSpec[] = [
    { ...C, flags: 'S', seq: 1000 },
    { ...S, flags: 'SA', seq: 5000, ack: 1001 },
    { ...C, flags: 'A', seq: 1001, ack: 5001 },
    { ...C, flags: 'PA', seq: 1001, ack: 5001, len: 10 },
    { ...S, flags: 'PA', seq: 5001, ack: 1011, len: 20 },
    { ...C, flags: 'FA', seq: 1011, ack: 5021 },
    { ...S, flags: 'FA', seq: 5021, ack: 1012 },
    { ...C, flags: 'A', seq: 1012, ack: 5022 },
  ];
  return packets.map((p, i) => ({ ...p, bad: bad.includes(i) }));
}

describe('a wrong transport checksum, as Zeek treats it', () => {
  it("TCP: the originator's bad segment adds C and is not counted; its good resend is", () => {
    const good = run(connection()).flows[0]!;
    expect(good.history).toBe('ShADdFf');
    // The client's data arrives bad first (index 3), then again, good.
    const packets = connection();
    packets.splice(3, 0, { ...packets[3]!, bad: true });
    const { flows, engine } = run(packets);
    expect(flows).toHaveLength(1);
    const f = flows[0]!;
    expect(f.history).toBe('ShACDdFf');
    expect(f.state).toBe('SF');
    expect(f.toServer).toEqual(good.toServer);
    expect(f.toClient).toEqual(good.toClient);
    const s = engine.summary();
    expect(s.byKind['bad-checksum']).toBe(1);
    expect(s.inFlows).toBe(8);
    expect(Object.values(s.byKind).reduce((a, b) => a + b, 0)).toBe(s.packets);
  });

  it("TCP: the responder's bad segment adds c and changes no state (its FIN, bad, closes nothing)", () => {
    const f = run(connection([6]).slice(0, 7)).flows[0]!;
    expect(f.history).toBe('ShADdFc');
    expect(f.toClient.packets).toBe(2);
    // As if the server's FIN had not been there at all: the state of the first six packets.
    expect(f.state).toBe(run(connection().slice(0, 6)).flows[0]!.state);
    expect(f.state).not.toBe('SF');
  });

  it("TCP: a connection's only packet is bad: the connection exists, with history C and no packets", () => {
    const { flows, engine } = run([{ ...C, flags: 'S', seq: 1000, bad: true }]);
    expect(flows).toHaveLength(1);
    expect(flows[0]).toMatchObject({ history: 'C', state: 'OTH', client: { ip: '10.0.0.1', port: 40000 } });
    expect(flows[0]!.toServer.packets).toBe(0);
    expect(flows[0]!.start).toEqual({ sec: T0, nsec: 0 });
    expect(engine.summary().byKind['bad-checksum']).toBe(1);
  });

  it("TCP: a bad first packet makes the connection, so its sender is the originator (Zeek's NewConn runs first)", () => {
    const a = { src: '10.0.9.1', sport: 5000, dst: '10.0.9.2', dport: 6000 };
    const b = { src: '10.0.9.2', sport: 6000, dst: '10.0.9.1', dport: 5000 };
    const f = run([{ ...a, flags: 'PA', seq: 1, ack: 1, len: 5, bad: true }, { ...b, flags: 'A', seq: 1, ack: 6 }]).flows[0]!;
    expect(f.client).toEqual({ ip: '10.0.9.1', port: 5000 });
    expect(f.history).toBe('Ca');
    expect([f.toServer.packets, f.toClient.packets]).toEqual([0, 1]);
  });

  it('the letter comes at the 1st, 10th and 100th bad packet of an end', () => {
    const bad = (n: number) => Array.from({ length: n }, (_, i) => ({ ...C, flags: 'PA', seq: 1001 + i, ack: 5001, len: 1, bad: true }));
    const history = (n: number) => run([...connection().slice(0, 3), ...bad(n)]).flows[0]!.history;
    expect(history(9)).toBe('ShAC');
    expect(history(10)).toBe('ShACC');
    expect(history(99)).toBe('ShACC');
    expect(history(100)).toBe('ShACCC');
  });

  it('UDP: a bad datagram is counted (packets, IP bytes) with C, no payload, no D, and does not move the end', () => {
    const q = { src: '10.0.0.1', sport: 5000, dst: '10.0.0.2', dport: 53, proto: 17 };
    const r = { src: '10.0.0.2', sport: 53, dst: '10.0.0.1', dport: 5000, proto: 17 };
    const { flows, engine } = run([{ ...q, len: 30 }, { ...r, len: 60 }, { ...q, len: 30, bad: true }]);
    const f = flows[0]!;
    expect(f.history).toBe('DdC');
    expect(f.toServer.packets).toBe(2);
    expect(f.toServer.ipBytes).toBe(2 * (20 + 8 + 30));
    expect(f.toServer.payloadBytes).toBe(30);
    expect(f.end).toEqual({ sec: T0, nsec: 100_000_000 });
    expect(engine.summary().byKind.udp).toBe(3);
    // Only bad from the responder: c, and no d.
    expect(run([{ ...q, len: 30 }, { ...r, len: 60, bad: true }]).flows[0]!.history).toBe('Dc');
  });

  it('ICMP: a bad message is counted, with no letter and no later end', () => {
    const echo = { src: '10.0.0.1', dst: '10.0.0.2', proto: 1, icmpType: 8, icmpCode: 0, len: 56 };
    const reply = { src: '10.0.0.2', dst: '10.0.0.1', proto: 1, icmpType: 0, icmpCode: 0, len: 56 };
    const f = run([echo, { ...reply, bad: true }]).flows[0]!;
    expect(f.toClient.packets).toBe(1);
    expect(f.toClient.payloadBytes).toBe(0);
    expect(f.end).toEqual({ sec: T0, nsec: 0 });
  });

  it('a packet dropped for a wrong IPv4 header checksum is counted as bad-checksum, in no flow', () => {
    const engine = new DemuxEngine();
    engine.countBadIpChecksum();
    const s = engine.summary();
    expect(s).toMatchObject({ packets: 1, inFlows: 0, flows: 0 });
    expect(s.byKind['bad-checksum']).toBe(1);
  });
});
