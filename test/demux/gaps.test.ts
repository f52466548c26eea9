/**
 * Content gaps (capture loss) as Zeek counts them: `missedBytes` per direction and the history
 * letter G/g (upper case: the client's bytes were missed), logarithmic like T and W. Client
 * 10.0.0.1:40000, server 10.0.0.2:80, ISNs 1000 / 5000 unless a case says otherwise; the
 * Conversation numbers segments itself, and `{ seq }` sends one out of turn (a capture that
 * missed what came before it, or a retransmission).
 */
import { describe, expect, it } from 'vitest';
import { DemuxEngine } from '../../src/demux/engine.js';
import type { Flow } from '../../src/core/flow.js';
import { Conversation } from './packets.js';

function run(script: (c: Conversation) => void, isn: [number, number] = [1000, 5000]): { flows: Flow[]; warnings: string[] } {
  const engine = new DemuxEngine();
  script(new Conversation(engine, '10.0.0.1:40000', '10.0.0.2:80', 6, isn[0], isn[1]));
  engine.finish();
  return { flows: engine.flows(), warnings: engine.summary('x.pcap').warnings };
}

function one(script: (c: Conversation) => void, isn?: [number, number]): Flow {
  const { flows } = run(script, isn);
  expect(flows).toHaveLength(1);
  return flows[0]!;
}

/** Handshake; the client's next byte is ISN+1. */
function open(c: Conversation): void {
  c.c('S');
  c.s('SA');
  c.c('A');
}

/** The client sends `n` segments of `len` bytes (its next sequence numbers). */
function send(c: Conversation, n: number, len = 100): void {
  for (let i = 0; i < n; i++) c.c('PA', { len });
}

/** The client's next `len` bytes are lost to the capture: its counter moves, nothing is ingested. */
function lose(c: Conversation, len = 100): void {
  c.cSeq = (c.cSeq + len) >>> 0;
}

describe('content gaps: missed bytes and history g', () => {
  it('a clean transfer has no gap', () => {
    const f = one((c) => {
      open(c);
      send(c, 5);
      c.s('A');
      c.c('FA');
      c.s('FA');
      c.c('A');
    });
    expect(f.toServer.missedBytes).toBe(0);
    expect(f.toClient.missedBytes).toBe(0);
    expect(f.history).toBe('ShADaFf');
  });

  it('a segment the capture missed, then acknowledged by the server: one gap of its size, G', () => {
    const f = one((c) => {
      open(c);
      send(c, 1);
      lose(c, 100);
      send(c, 1);
      c.s('A'); // acks 1301: the server got the lost bytes
    });
    expect(f.toServer.missedBytes).toBe(100);
    expect(f.toClient.missedBytes).toBe(0);
    expect(f.history).toBe('ShADaG');
  });

  it('the server\'s bytes acknowledged by the client but never seen: g, and toClient', () => {
    const f = one((c) => {
      open(c);
      c.s('PA', { len: 200 });
      c.sSeq += 1460; // lost
      c.c('A'); // acks 5001 + 200 + 1460
    });
    expect(f.toClient.missedBytes).toBe(1460);
    expect(f.toServer.missedBytes).toBe(0);
    expect(f.history).toBe('ShAdg');
  });

  it('an ACK past everything seen: the bytes between are missed (Zeek\'s Undelivered up to the ack)', () => {
    const f = one((c) => {
      open(c);
      send(c, 2);
      lose(c, 300);
      c.s('A');
    });
    expect(f.toServer.missedBytes).toBe(300);
    expect(f.history).toBe('ShADaG');
  });

  it('letters are logarithmic: G at the 1st, 10th and 100th gap; the bytes all count', () => {
    const f = one((c) => {
      open(c);
      for (let i = 0; i < 100; i++) {
        send(c, 1);
        lose(c, 10);
        send(c, 1);
        c.s('A');
      }
    });
    expect(f.toServer.missedBytes).toBe(1000);
    expect(f.history).toBe('ShADaGGG');
  });

  it('9 gaps are one G, 10 are two', () => {
    const gaps = (n: number) => one((c) => {
      open(c);
      for (let i = 0; i < n; i++) {
        lose(c, 1);
        send(c, 1);
        c.s('A');
      }
    });
    expect(gaps(9).history).toBe('ShADaG');
    expect(gaps(10).history).toBe('ShADaGG');
  });

  it('retransmissions are no gap (T, not G)', () => {
    const f = one((c) => {
      open(c);
      send(c, 3);
      c.c('PA', { seq: 1101, len: 100 });
      c.c('PA', { seq: 1001, len: 300 });
      c.s('A');
    });
    expect(f.toServer.missedBytes).toBe(0);
    expect(f.history).toBe('ShADTa');
  });

  it('out of order: a hole filled later by the late segment is no gap, even when the ACK follows', () => {
    const f = one((c) => {
      open(c);
      c.c('PA', { seq: 1001, len: 100 });
      c.c('PA', { seq: 1201, len: 100 }); // 1101..1200 comes later
      c.c('PA', { seq: 1301, len: 100 });
      c.c('PA', { seq: 1101, len: 100 });
      c.s('A', { ack: 1401 });
    });
    expect(f.toServer.missedBytes).toBe(0);
    expect(f.history).not.toMatch(/g/i);
  });

  it('a hole filled by two retransmissions, front and back, is no gap; one filled halfway misses the rest', () => {
    const filled = one((c) => {
      open(c);
      c.c('PA', { seq: 1001, len: 100 });
      c.c('PA', { seq: 1401, len: 100 }); // hole 1101..1400
      c.c('PA', { seq: 1101, len: 100 });
      c.c('PA', { seq: 1301, len: 100 });
      c.c('PA', { seq: 1201, len: 100 });
      c.s('A', { ack: 1501 });
    });
    expect(filled.toServer.missedBytes).toBe(0);
    const half = one((c) => {
      open(c);
      c.c('PA', { seq: 1001, len: 100 });
      c.c('PA', { seq: 1401, len: 100 });
      c.c('PA', { seq: 1201, len: 100 }); // the middle: two holes of 100 remain
      c.s('A', { ack: 1501 });
    });
    expect(half.toServer.missedBytes).toBe(200);
    // A segment below the highest one sent is a retransmission to Zeek too (T), wherever it lands.
    expect(half.history).toBe('ShADTaG');
  });

  it('a hole no ACK covers still counts when the flow ends (a later segment proves it was sent)', () => {
    const f = one((c) => {
      open(c);
      send(c, 1);
      lose(c, 500);
      send(c, 1);
    });
    expect(f.toServer.missedBytes).toBe(500);
    expect(f.history).toBe('ShADG');
  });

  it('a segment far ahead that no ACK covers (outside any unscaled window) is not believed at the end', () => {
    const far = one((c) => {
      open(c);
      send(c, 1);
      c.c('PA', { seq: 1101 + 100_000, len: 11 });
    });
    expect(far.toServer.missedBytes).toBe(0);
    const acked = one((c) => {
      open(c);
      send(c, 1);
      c.c('PA', { seq: 1101 + 100_000, len: 11 });
      c.s('A', { ack: 1101 + 100_011 });
    });
    expect(acked.toServer.missedBytes).toBe(100_000);
  });

  it('an ACK that covers only the front of a hole: that part now, the rest when the flow ends', () => {
    const f = one((c) => {
      open(c);
      send(c, 1); // 1001..1100
      lose(c, 400);
      send(c, 1); // 1501..1600
      c.s('A', { ack: 1301 });
    });
    expect(f.toServer.missedBytes).toBe(400);
    expect(f.history).toBe('ShADaG'); // two gaps (at the ACK, and the rest): still one letter
  });

  it('several holes: an ACK past them all confirms each one, plus the bytes past the last segment', () => {
    const f = one((c) => {
      open(c);
      for (let i = 0; i < 4; i++) {
        send(c, 1);
        lose(c, 50);
      }
      c.s('A'); // also acks the 50 after the last segment seen
    });
    expect(f.toServer.missedBytes).toBe(200);
    expect(f.history).toBe('ShADaG');
  });

  it('SYN and FIN take a sequence number each, and acknowledging them is no gap', () => {
    const f = one((c) => {
      open(c);
      send(c, 1);
      c.c('FA');
      c.s('A'); // acks the FIN: 1000 + 1 + 100 + 1
      c.s('FA');
      c.c('A');
      c.s('A', { ack: 1103 }); // an ACK past the FIN is not about missing bytes
    });
    expect(f.toServer.missedBytes).toBe(0);
    expect(f.toClient.missedBytes).toBe(0);
    expect(f.state).toBe('SF');
  });

  it('data lost before a FIN: a hole below the FIN (the FIN octet itself is not data)', () => {
    const f = one((c) => {
      open(c);
      send(c, 1);
      lose(c, 100);
      c.c('FA');
      c.s('FA');
      c.c('A');
    });
    expect(f.toServer.missedBytes).toBe(100);
    // The server's FIN acknowledges the client's: the gap letter follows the f of that packet.
    expect(f.history).toBe('ShADFfG');
  });

  it('a lost FIN that the peer acknowledges counts its octet, as Zeek does', () => {
    const f = one((c) => {
      open(c);
      send(c, 1);
      c.cSeq += 1; // the FIN, not captured
      c.s('A');
    });
    expect(f.toServer.missedBytes).toBe(1);
  });

  it('sequence numbers wrapping past 2^32: no false gap, and a gap across the wrap is its true size', () => {
    const isn: [number, number] = [0xffffff00, 0xfffffff0];
    const clean = one((c) => {
      open(c);
      send(c, 5); // crosses 0
      c.s('PA', { len: 100 }); // the server crosses 0 too
      c.c('A');
      c.s('A');
    }, isn);
    expect(clean.toServer.missedBytes).toBe(0);
    expect(clean.toClient.missedBytes).toBe(0);
    const lost = one((c) => {
      open(c);
      send(c, 2); // 0xffffff01 .. 0xffffffc8
      lose(c, 100); // 0xffffffc9 .. 0x2c: across 0
      send(c, 2);
      c.s('A');
    }, isn);
    expect(lost.toServer.missedBytes).toBe(100);
    expect(lost.history).toBe('ShADaG');
  });

  it('mid-stream: bytes sent before the capture began and acknowledged after it are no gap', () => {
    const f = one((c) => {
      // No handshake: the server's ACK of older data comes first, then the client's data.
      c.s('A', { seq: 90_000, ack: 50_000 });
      c.c('PA', { seq: 52_000, len: 1000 });
      c.s('A', { seq: 90_000, ack: 53_000 });
      c.c('PA', { seq: 53_000, len: 1000 });
      c.s('A', { seq: 90_000, ack: 54_000 });
    });
    expect(f.rolesInferred).toBe(true);
    expect(f.toServer.missedBytes).toBe(0);
    expect(f.toClient.missedBytes).toBe(0);
    expect(f.history).not.toMatch(/g/i);
  });

  it('mid-stream starting on a keep-alive (one byte below the stream) is no gap', () => {
    const f = one((c) => {
      c.c('A', { seq: 52_999, ack: 90_000 }); // keep-alive: SND.NXT - 1, no data
      c.s('A', { seq: 90_000, ack: 53_000 });
      c.c('PA', { seq: 53_000, len: 10 });
      c.s('A', { seq: 90_000, ack: 53_010 });
    });
    expect(f.toServer.missedBytes).toBe(0);
  });

  it('mid-stream loss is counted once the stream is anchored (Zeek counts none on a partial connection)', () => {
    const f = one((c) => {
      c.c('PA', { seq: 52_000, len: 1000, ack: 90_000 });
      c.s('A', { seq: 90_000, ack: 53_000 });
      c.c('PA', { seq: 54_000, len: 1000, ack: 90_000 }); // 53,000..53,999 missed
      c.s('A', { seq: 90_000, ack: 55_000 });
    });
    expect(f.toServer.missedBytes).toBe(1000);
  });

  it('an ACK in a RST reveals no gap (Zeek distrusts it), and nothing after the RST counts', () => {
    const f = one((c) => {
      open(c);
      send(c, 1);
      c.s('RA', { ack: 9999 });
    });
    expect(f.toServer.missedBytes).toBe(0);
    expect(f.state).toBe('RSTR');
  });

  it('an absurd jump is not believed: an ACK a gigabyte and more ahead, a segment 2^31 away', () => {
    const f = one((c) => {
      open(c);
      send(c, 1);
      c.s('A', { ack: (1101 + 0x50000000) >>> 0 });
      c.c('PA', { seq: (1101 + 0x60000000) >>> 0, len: 10 });
      c.s('A', { ack: (1111 + 0x60000000) >>> 0 });
    });
    expect(f.toServer.missedBytes).toBe(0);
  });

  it('a segment in IP fragments (only the first one has the TCP header) is no gap', () => {
    const f = one((c) => {
      open(c);
      send(c, 1); // 1001..1100
      c.c('PA', { seq: 1101, len: 1480, ipId: 7, moreFragments: true }); // the segment is 3000 bytes
      c.c('', { len: 1520, ipId: 7, fragmentOffset: 1488 });
      c.cSeq = 4101;
      send(c, 1);
      c.s('A');
    });
    expect(f.toServer.missedBytes).toBe(0);
    expect(f.history).not.toMatch(/G/);
  });

  it('no gap before the handshake completes (the SYN-ACK and the SYN\'s ACK are not data)', () => {
    const f = one((c) => {
      c.c('S');
      c.s('SA');
      c.c('A');
    });
    expect(f.toServer.missedBytes).toBe(0);
    expect(f.toClient.missedBytes).toBe(0);
    expect(f.history).toBe('ShA');
  });

  it('payload the snap length cut is content not captured, as in Zeek: G/g and missed bytes, unless a whole copy fills it', () => {
    const { flows, warnings } = run((c) => {
      open(c);
      c.c('PA', { len: 100, held: 40 }); // 60 bytes not captured
      c.c('PA', { len: 100 });
      c.s('A');
      c.s('PA', { len: 300, held: 0 }); // headers only, as a capture with -s 54
      c.c('A');
      // A segment cut the first time and captured whole when retransmitted: nothing missed.
      const seq = c.cSeq;
      c.c('PA', { len: 50, held: 10 });
      c.c('PA', { len: 50, seq });
      c.s('A');
      c.c('FA');
      c.s('FA');
      c.c('A');
    });
    expect(flows).toHaveLength(1);
    const f = flows[0]!;
    expect([f.toServer.missedBytes, f.toClient.missedBytes]).toEqual([60, 300]);
    expect(f.history).toMatch(/G/);
    expect(f.history).toMatch(/g/);
    expect(warnings).toEqual(['x.pcap: 1 TCP flow has sequence gaps: 360 bytes were acknowledged or followed by later data but not captured '
      + '(missed_bytes; the snap length cut the payload of 3 segments)']);
  });

  it('UDP flows have no missed bytes', () => {
    const engine = new DemuxEngine();
    const c = new Conversation(engine, '10.0.0.1:40000', '10.0.0.2:53', 17);
    c.c('', { len: 30 });
    c.s('', { len: 90 });
    engine.finish();
    const [f] = engine.flows();
    expect(f!.toServer.missedBytes).toBe(0);
    expect(f!.toClient.missedBytes).toBe(0);
  });

  it('one warning for the input, with the flows and bytes in all', () => {
    const engine = new DemuxEngine();
    for (let i = 0; i < 3; i++) {
      const c = new Conversation(engine, `10.0.0.1:${40000 + i}`, '10.0.0.2:80');
      open(c);
      send(c, 1);
      lose(c, 600_000 + i);
      send(c, 1);
      c.s('A');
    }
    const clean = new Conversation(engine, '10.0.0.1:50000', '10.0.0.2:80');
    open(clean);
    send(clean, 3);
    engine.finish();
    expect(engine.summary('capture.pcap').warnings).toEqual([
      'capture.pcap: 3 TCP flows have sequence gaps: 1,800,003 bytes were acknowledged or followed by later data '
        + 'but not captured (missed_bytes)',
    ]);
    expect(engine.summary().warnings[0]).toMatch(/^3 TCP flows have/);
  });

  it('no warning without gaps', () => {
    const { warnings } = run((c) => {
      open(c);
      send(c, 2);
      c.s('A');
    });
    expect(warnings).toEqual([]);
  });

  it('an open flow\'s snapshot shows confirmed gaps only; its pending hole counts when it ends', () => {
    const engine = new DemuxEngine();
    const c = new Conversation(engine);
    open(c);
    send(c, 1);
    lose(c, 100);
    send(c, 1);
    expect(engine.flows()[0]!.toServer.missedBytes).toBe(0);
    expect(engine.summary().warnings).toEqual([]);
    engine.finish();
    expect(engine.flows()[0]!.toServer.missedBytes).toBe(100);
  });
});
