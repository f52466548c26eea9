/**
 * src/demux/tcp-analysis.ts and src/demux/window-scale.ts. Each analysis kind on the real packets
 * of fixtures/crafted/tcp-analysis-events.pcap (craft.mjs; one connection with every event,
 * tshark's answer in its .analysis.tsv, compared frame by frame in test/golden/tcp-analysis.test.ts),
 * then the rules that depend on time and on the handshake, on segments made here.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { IPPROTO, newPacket, TCP_FLAG } from '../../src/core/packet.js';
import { analysisMarks, analyzeTcp, TCP_A, TcpAnalyzer, type TcpSegment } from '../../src/demux/tcp-analysis.js';
import { factorOf, WindowScales } from '../../src/demux/window-scale.js';
import { ladderPacket, type LadderPacket } from '../../src/report/ladder.js';
import { flagBits } from './packets.js';
import { runPipeline } from '../report/pipeline.js';

const EVENTS = new URL('../../fixtures/crafted/tcp-analysis-events.pcap', import.meta.url).pathname;

describe('each kind, on the crafted connection', () => {
  let marks = new Map<number, string[]>();
  let factors = new Map<number, number>();
  beforeAll(async () => {
    const packets: LadderPacket[] = [];
    await runPipeline(EVENTS, (frame, pkt, ref) => {
      if (ref !== null) packets.push(ladderPacket(frame, pkt, ref));
    });
    const analysis = analyzeTcp(packets);
    marks = new Map(packets.map((p, i) => [p.frame, analysisMarks(analysis[i]!)]));
    factors = new Map(packets.map((p, i) => [p.frame, analysis[i]!.windowFactor]));
  });

  it.each([
    [7, 'TCP Previous segment not captured'],
    [9, 'TCP Dup ACK 8#1'],
    [10, 'TCP Dup ACK 8#2'],
    [11, 'TCP Fast Retransmission'],
    [13, 'TCP Spurious Retransmission'],
    [15, 'TCP Retransmission'],
    [17, 'TCP Out-Of-Order'],
    [19, 'TCP ZeroWindow'],
    [20, 'TCP ZeroWindowProbe'],
    [22, 'TCP Window Update'],
    [25, 'TCP Keep-Alive'],
    [26, 'TCP Keep-Alive ACK'],
    [28, 'TCP Window Full'],
    [30, 'TCP ACKed unseen segment'],
  ])('frame %i: %s', (frame, mark) => {
    expect(marks.get(frame)).toEqual([mark]);
  });

  it('a probe\'s ACK that keeps the window shut: both marks, in tshark\'s Info order', () => {
    expect(marks.get(21)).toEqual(['TCP ZeroWindowProbeAck', 'TCP ZeroWindow']);
  });

  it('a clean exchange is not marked; the same ACK of unseen data twice is marked once', () => {
    for (const f of [1, 2, 3, 4, 5, 6, 8, 12, 14, 18, 23, 24, 29, 31]) expect(marks.get(f), `frame ${f}`).toEqual([]);
  });

  it('window factors from the handshake: 1 on the SYNs, then 2^2 for the client and 2^3 for the server', () => {
    expect([1, 2, 3, 5].map((f) => factors.get(f))).toEqual([1, 1, 4, 8]);
  });
});

let frame = 0;
function seg(dir: 'c' | 's', flags: string, seq: number, ack: number, o: Partial<TcpSegment> = {}): TcpSegment {
  frame++;
  return { frame, sec: 100, nsec: 0, toServer: dir === 'c', flags: flagBits(flags), seq, ack, window: 1000, windowScale: -1, payloadLength: 0, ...o };
}
const at = (ms: number) => ({ sec: 100 + Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 });

describe('rules that depend on time', () => {
  const handshake = () => {
    frame = 0;
    return [seg('c', 'S', 1000, 0, at(0)), seg('s', 'SA', 5000, 1001, at(10)), seg('c', 'A', 1001, 5001, at(20))];
  };

  it('a segment below the highest one: out-of-order within the handshake\'s round trip, else a retransmission', () => {
    const base = handshake(); // round trip 20 ms
    const send = [seg('c', 'PA', 1001, 5001, { ...at(100), payloadLength: 10 }), seg('c', 'PA', 1021, 5001, { ...at(110), payloadLength: 10 })];
    const soon = analyzeTcp([...base, ...send, seg('c', 'PA', 1011, 5001, { ...at(115), payloadLength: 10 })]).at(-1)!;
    const late = analyzeTcp([...base, ...send, seg('c', 'PA', 1011, 5001, { ...at(200), payloadLength: 10 })]).at(-1)!;
    expect(soon.flags & (TCP_A.OUT_OF_ORDER | TCP_A.RETRANSMISSION)).toBe(TCP_A.OUT_OF_ORDER);
    expect(late.flags & (TCP_A.OUT_OF_ORDER | TCP_A.RETRANSMISSION)).toBe(TCP_A.RETRANSMISSION);
  });

  it('fast retransmission only within 20 ms of the second duplicate ACK', () => {
    const base = handshake();
    const data = [
      seg('c', 'PA', 1001, 5001, { ...at(100), payloadLength: 10 }),
      seg('c', 'PA', 1011, 5001, { ...at(101), payloadLength: 10 }),
      seg('s', 'A', 5001, 1001, at(110)),
      seg('s', 'A', 5001, 1001, at(111)),
      seg('s', 'A', 5001, 1001, at(112)),
    ];
    const fast = analyzeTcp([...base, ...data, seg('c', 'PA', 1001, 5001, { ...at(120), payloadLength: 10 })]).at(-1)!;
    const slow = analyzeTcp([...base, ...data, seg('c', 'PA', 1001, 5001, { ...at(300), payloadLength: 10 })]).at(-1)!;
    expect(analysisMarks(fast)).toEqual(['TCP Fast Retransmission']);
    expect(analysisMarks(slow)).toEqual(['TCP Retransmission']);
  });

  it('a SYN sent again with the same ISN is a retransmission', () => {
    frame = 0;
    const r = analyzeTcp([seg('c', 'S', 7, 0, at(0)), seg('c', 'S', 7, 0, at(1000))]);
    expect(analysisMarks(r[1]!)).toEqual(['TCP Retransmission']);
  });

  it('sequence numbers compare modulo 2^32: data across the wrap is no gap', () => {
    frame = 0;
    const r = analyzeTcp([
      seg('c', 'PA', 0xffff_fff0, 1, { payloadLength: 16 }),
      seg('c', 'PA', 0, 1, { ...at(1), payloadLength: 16 }),
      seg('c', 'PA', 32, 1, { ...at(2), payloadLength: 16 }),
    ]);
    expect(r.map((a) => analysisMarks(a))).toEqual([[], [], ['TCP Previous segment not captured']]);
  });
});

describe('window scaling (Wireshark\'s rule)', () => {
  const factors = (ws: [number, number]) => {
    frame = 0;
    return analyzeTcp([
      seg('c', 'S', 1, 0, { windowScale: ws[0] }), seg('s', 'SA', 1, 2, { windowScale: ws[1] }),
      seg('c', 'A', 2, 2), seg('s', 'A', 2, 2),
    ]).map((a) => a.windowFactor);
  };

  it('both SYNs with the option: each side its own factor; shifts above 14 count as 14', () => {
    expect(factors([7, 10])).toEqual([1, 1, 128, 1024]);
    expect(factors([15, 0])).toEqual([1, 1, 2 ** 14, 1]);
  });

  it('either SYN without it: no scaling (factor 1)', () => {
    expect(factors([7, -1])).toEqual([1, 1, 1, 1]);
    expect(factors([-1, 7])).toEqual([1, 1, 1, 1]);
  });

  it('no handshake seen: unknown (-1)', () => {
    frame = 0;
    expect(analyzeTcp([seg('c', 'A', 2, 2), seg('s', 'A', 2, 2)]).map((a) => a.windowFactor)).toEqual([-1, -1]);
    expect(factorOf(-1)).toBe(-1);
  });

  it('packets: the same factors from the per-flow table, and a slot taken by a flow 65,536 ids later', () => {
    const w = new WindowScales();
    const pkt = newPacket();
    pkt.protocol = IPPROTO.TCP;
    const ref = (id: number, toServer: boolean) => ({ id, generation: 1, toServer, via: 'ports' as const });
    const send = (id: number, toServer: boolean, flags: number, ws = -1) => {
      pkt.tcpFlags = flags;
      pkt.windowScale = ws;
      return w.factor(pkt, ref(id, toServer));
    };
    expect(send(1, true, TCP_FLAG.SYN, 7)).toBe(1);
    expect(send(1, false, TCP_FLAG.SYN | TCP_FLAG.ACK, 10)).toBe(1);
    expect(send(1, true, TCP_FLAG.ACK)).toBe(128);
    expect(send(1, false, TCP_FLAG.ACK)).toBe(1024);
    expect(send(2, true, TCP_FLAG.ACK)).toBe(-1); // midstream
    expect(send(1 + 65_536, true, TCP_FLAG.ACK)).toBe(-1);
    expect(send(1, true, TCP_FLAG.ACK)).toBe(-1); // its slot was reused: unknown, not wrong
    expect(w.factor(pkt, null)).toBe(-1);
  });
});

describe('TcpAnalyzer: one segment at a time, and what a connection adds up to', () => {
  it('the handshake from the last SYN: a SYN sent again does not count its wait', () => {
    frame = 0;
    const a = new TcpAnalyzer();
    for (const s of [seg('c', 'S', 1000, 0, at(0)), seg('c', 'S', 1000, 0, at(1000)), seg('s', 'SA', 5000, 1001, at(1010)), seg('c', 'A', 1001, 5001, at(1030))]) a.add(s);
    expect(a.summary().handshake).toEqual({ synToSynAck: 0.01, synAckToAck: 0.02, total: 0.03 });
  });

  it('ACK round trips by the direction of the data; the median of an even count is the mean of the middle two', () => {
    frame = 0;
    const a = new TcpAnalyzer();
    const rtts: number[] = [];
    const feed = (s: TcpSegment) => {
      const r = a.add(s);
      if (r.ackRtt >= 0) rtts.push(r.ackRtt);
    };
    [seg('c', 'S', 1000, 0, at(0)), seg('s', 'SA', 5000, 1001, at(10)), seg('c', 'A', 1001, 5001, at(20))].forEach(feed);
    // The client's data, ACKed 4, 6, 10 and 20 ms later; one segment of the server's, 3 ms.
    for (const [i, wait] of [4, 6, 10, 20].entries()) {
      feed(seg('c', 'PA', 1001 + i * 10, 5001, { ...at(100 * (i + 1)), payloadLength: 10 }));
      feed(seg('s', 'A', 5001, 1011 + i * 10, at(100 * (i + 1) + wait)));
    }
    feed(seg('s', 'PA', 5001, 1041, { ...at(600), payloadLength: 5 }));
    feed(seg('c', 'A', 1041, 5006, at(603)));
    // The SYN-ACK's and the ACK's round trips (10 ms each) count too: SYN and SYN-ACK take a sequence number.
    expect(rtts).toEqual([0.01, 0.01, 0.004, 0.006, 0.01, 0.02, 0.003]);
    const { ackRtt } = a.summary();
    expect(ackRtt.toServer).toEqual({ samples: 5, min: 0.004, median: 0.01 });
    expect(ackRtt.toClient).toEqual({ samples: 2, min: 0.003, median: 0.0065 });
    // Sides given the other way round (the caller's toServer was the server's): swapped back.
    expect(a.summary(false).ackRtt.toServer).toEqual(ackRtt.toClient);
  });

  it('at most 10,000 unacknowledged segments a direction, as Wireshark: an ACK of a later one times nothing', () => {
    frame = 0;
    const a = new TcpAnalyzer(false);
    for (let i = 0; i <= 10_000; i++) a.add(seg('c', 'PA', 1 + i * 10, 1, { ...at(i), payloadLength: 10 }));
    expect(a.add(seg('s', 'A', 1, 1 + 10_001 * 10, at(20_000))).ackRtt).toBe(-1);
    const b = new TcpAnalyzer(false);
    frame = 0;
    for (let i = 0; i < 10_000; i++) b.add(seg('c', 'PA', 1 + i * 10, 1, { ...at(i), payloadLength: 10 }));
    expect(b.add(seg('s', 'A', 1, 1 + 10_000 * 10, at(20_000))).ackRtt).toBeCloseTo(20_000 / 1000 - 9.999, 9);
  });

  it('analyzeTcp is the analyser over a list: the same marks as feeding it one by one', () => {
    frame = 0;
    const list = [
      seg('c', 'S', 1000, 0, at(0)), seg('s', 'SA', 5000, 1001, at(10)), seg('c', 'A', 1001, 5001, at(20)),
      seg('c', 'PA', 1011, 5001, { ...at(30), payloadLength: 10 }), seg('s', 'A', 5001, 1001, at(40)), seg('s', 'A', 5001, 1001, at(41)),
    ];
    const a = new TcpAnalyzer();
    expect(list.map((s) => analysisMarks(a.add(s)))).toEqual(analyzeTcp(list).map((r) => analysisMarks(r)));
    expect(a.summary().marks.lost_segment).toBe(1);
    // Both of the server's ACKs repeat its SYN-ACK's ACK number: tshark marks them too (Dup ACK 2#1 and 2#2).
    expect(a.summary().marks.duplicate_ack).toBe(2);
    expect(a.summary().marks.ack_lost_segment).toBe(0);
  });
});
