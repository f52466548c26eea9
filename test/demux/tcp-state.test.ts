/**
 * Zeek conn_state and history from hand-made TCP exchanges (client 10.0.0.1:40000, server
 * 10.0.0.2:80, ISNs 1000 / 5000). Each case is the packet sequence that defines the state in
 * shared/peers.md §2.
 */
import { describe, expect, it } from 'vitest';
import { DemuxEngine } from '../../src/demux/engine.js';
import type { Flow } from '../../src/core/flow.js';
import { Conversation } from './packets.js';

function run(script: (c: Conversation) => void, opts: ConstructorParameters<typeof DemuxEngine>[0] = {}): Flow[] {
  const engine = new DemuxEngine(opts);
  script(new Conversation(engine));
  engine.finish();
  return engine.flows();
}

function one(script: (c: Conversation) => void): Flow {
  const flows = run(script);
  expect(flows).toHaveLength(1);
  return flows[0]!;
}

describe('TCP state and history', () => {
  it('normal establish and close: SF, ShADadfF (design.md example)', () => {
    const f = one((c) => {
      c.c('S');
      c.wait(0.01).s('SA');
      c.wait(0.01).c('A');
      c.c('PA', { len: 37 });
      c.wait(0.01).s('A');
      c.s('PA', { len: 71 });
      c.c('A');
      c.wait(0.1).s('FA');
      c.c('FA');
      c.s('A');
    });
    expect(f.state).toBe('SF');
    expect(f.history).toBe('ShADadfF');
    expect(f.rolesInferred).toBe(false);
    expect(f.client).toEqual({ ip: '10.0.0.1', port: 40000 });
    expect(f.server).toEqual({ ip: '10.0.0.2', port: 80 });
    expect(f.endReason).toBe('fin');
    expect(f.generationReason).toBe('first');
  });

  it('established, not closed: S1', () => {
    const f = one((c) => {
      c.c('S');
      c.s('SA');
      c.c('A');
      c.c('PA', { len: 10 });
    });
    expect(f.state).toBe('S1');
    expect(f.history).toBe('ShAD');
    expect(f.endReason).toBe('capture-end');
  });

  it('reset by the client after establishment: RSTO', () => {
    const f = one((c) => {
      c.c('S');
      c.s('SA');
      c.c('A');
      c.c('PA', { len: 5 });
      c.c('RA');
    });
    expect(f.state).toBe('RSTO');
    expect(f.history).toBe('ShADR');
    expect(f.endReason).toBe('rst');
  });

  it('reset by the server after establishment: RSTR', () => {
    const f = one((c) => {
      c.c('S');
      c.s('SA');
      c.c('A');
      c.s('PA', { len: 5 });
      c.s('R');
    });
    expect(f.state).toBe('RSTR');
    expect(f.history).toBe('ShAdr');
  });

  it('rejected: SYN answered by RST-ACK is REJ', () => {
    const f = one((c) => {
      c.c('S');
      c.s('RA', { seq: 0, ack: 1001 });
    });
    expect(f.state).toBe('REJ');
    expect(f.history).toBe('Sr');
    expect(f.toServer.packets).toBe(1);
    expect(f.toClient.packets).toBe(1);
  });

  it('half-open: SYN and its retransmissions (same ISN) stay one S0 flow with one S', () => {
    const f = one((c) => {
      c.c('S', { seq: 1000 });
      c.wait(1).c('S', { seq: 1000 });
      c.wait(2).c('S', { seq: 1000 });
    });
    expect(f.state).toBe('S0');
    expect(f.history).toBe('S');
    expect(f.toServer.packets).toBe(3);
    expect(f.duration).toBeCloseTo(3, 9);
  });

  it('originator SYN then RST, no SYN-ACK: RSTOS0', () => {
    const f = one((c) => {
      c.c('S');
      c.c('R');
    });
    expect(f.state).toBe('RSTOS0');
    expect(f.history).toBe('SR');
  });

  it('originator SYN then FIN, no SYN-ACK: SH', () => {
    const f = one((c) => {
      c.c('S');
      c.c('F');
    });
    expect(f.state).toBe('SH');
    expect(f.history).toBe('SF');
  });

  it('responder SYN-ACK then RST, no SYN: RSTRH with roles inferred and the flip marked', () => {
    const f = one((c) => {
      c.s('SA');
      c.s('R');
    });
    expect(f.state).toBe('RSTRH');
    expect(f.history).toBe('^hr');
    expect(f.rolesInferred).toBe(true);
    expect(f.client.port).toBe(40000);
  });

  it('responder SYN-ACK then FIN, no SYN: SHR', () => {
    const f = one((c) => {
      c.s('SA');
      c.s('FA');
    });
    expect(f.state).toBe('SHR');
    expect(f.history).toBe('^hf');
  });

  it('established, only the originator closes: S2; only the responder: S3', () => {
    const s2 = one((c) => {
      c.c('S');
      c.s('SA');
      c.c('A');
      c.c('FA');
    });
    expect(s2.state).toBe('S2');
    const s3 = one((c) => {
      c.c('S');
      c.s('SA');
      c.c('A');
      c.s('FA');
    });
    expect(s3.state).toBe('S3');
    expect(s3.history).toBe('ShAf');
  });

  it('midstream start (no SYN): OTH, roles by port, no flip when the client spoke first', () => {
    const f = one((c) => {
      c.c('PA', { len: 100 });
      c.s('PA', { len: 200 });
      c.c('A');
    });
    expect(f.state).toBe('OTH');
    expect(f.history).toBe('DdA');
    expect(f.rolesInferred).toBe(true);
    expect(f.client.port).toBe(40000);
  });

  it('midstream start by the server: history starts with ^', () => {
    const f = one((c) => {
      c.s('PA', { len: 200 });
      c.c('A');
    });
    expect(f.history).toBe('^dA');
    expect(f.client.port).toBe(40000);
    expect(f.toClient.payloadBytes).toBe(200);
  });

  it('midstream start closed by FIN both ways is SF, as in Zeek', () => {
    const f = one((c) => {
      c.c('PA', { len: 10 });
      c.s('FA');
      c.c('FA');
    });
    expect(f.state).toBe('SF');
    expect(f.history).toBe('DfF');
  });

  it('FIN+RST gives I, SYN+FIN gives Q, once per direction', () => {
    const f = one((c) => {
      c.c('SF');
      c.c('SF', { seq: 1000 });
      c.s('FR');
    });
    expect(f.history).toBe('Qi');
  });

  it('retransmitted FIN (same sequence) adds no letter; a FIN at a new sequence does', () => {
    const f = one((c) => {
      c.c('S');
      c.s('SA');
      c.c('A');
      c.c('FA', { seq: 1001 });
      c.c('FA', { seq: 1001 });
      c.c('FA', { seq: 1500 });
    });
    // The second FIN repeats seq 1001 (no letter); the third sits at another sequence number.
    expect(f.history).toBe('ShAFF');
  });

  it('RST letters repeat only on a new sequence number', () => {
    const f = one((c) => {
      c.c('S');
      c.s('SA');
      c.c('A');
      c.s('R', { seq: 5001 });
      c.s('R', { seq: 5001 });
      c.s('R', { seq: 9999 });
    });
    expect(f.history).toBe('ShArr');
  });

  it('retransmitted payload: T at the 1st, 10th and 100th', () => {
    const f = one((c) => {
      c.c('S');
      c.s('SA');
      c.c('A');
      c.c('PA', { seq: 1001, len: 100 });
      for (let i = 0; i < 100; i++) c.c('PA', { seq: 1001, len: 100 });
    });
    expect(f.history).toBe('ShADTTT');
    expect(f.toServer.payloadBytes).toBe(10100);
  });

  it('the responder\'s letters are lower case, and logarithmic too: t at its 1st and 10th retransmission, W for the originator\'s zero window', () => {
    const f = one((c) => {
      c.c('S');
      c.s('SA');
      c.c('A');
      c.s('PA', { seq: 5001, len: 100 });
      for (let i = 0; i < 10; i++) c.s('PA', { seq: 5001, len: 100 });
      c.c('A', { ack: 5101, window: 0 });
    });
    expect(f.history).toBe('ShAdttW');
  });

  it('zero window: W logarithmic; not on RST', () => {
    const f = one((c) => {
      c.c('S');
      c.s('SA');
      c.c('A');
      for (let i = 0; i < 10; i++) c.s('A', { window: 0 });
      c.s('R', { window: 0 });
    });
    expect(f.history).toBe('ShAawwr');
  });

  it('a RST after FIN both ways changes nothing: still SF', () => {
    const f = one((c) => {
      c.c('S');
      c.s('SA');
      c.c('A');
      c.c('FA');
      c.s('FA');
      c.c('R');
    });
    expect(f.state).toBe('SF');
    expect(f.history).toBe('ShAFfR');
    expect(f.endReason).toBe('fin');
  });

  it('FIN then RST from one end, answered by a FIN: a normal close (SF)', () => {
    const f = one((c) => {
      c.c('S');
      c.s('SA');
      c.c('A');
      c.c('FA');
      c.c('R');
      c.s('FA');
    });
    expect(f.state).toBe('SF');
    expect(f.endReason).toBe('fin');
  });

  it('payload that reaches past what was sent is not a retransmission; payload inside it is', () => {
    const f = one((c) => {
      c.c('S');
      c.s('SA');
      c.c('A');
      c.c('PA', { seq: 1001, len: 100 });
      c.c('PA', { seq: 1051, len: 100 }); // overlaps, but extends to 1151
      c.c('PA', { seq: 1100, len: 51 }); // ends at 1151: nothing new
    });
    expect(f.history).toBe('ShADT');
  });

  it('a SYN captured after its SYN-ACK is the same connection, and roles come from it', () => {
    const engine = new DemuxEngine();
    // The server's port is not a likely server port: the SYN-ACK's sender is taken for the
    // originator at first (Zeek's rule), until the SYN shows the roles.
    const c = new Conversation(engine, '10.0.0.1:1023', '10.0.0.2:9090');
    c.s('SA', { seq: 5000, ack: 1001 });
    c.c('S', { seq: 1000 });
    c.c('A', { seq: 1001, ack: 5001 });
    c.c('PA', { seq: 1001, len: 10 });
    c.s('FA', { seq: 5001 });
    c.c('FA', { seq: 1011 });
    engine.finish();
    const flows = engine.flows();
    expect(flows).toHaveLength(1);
    const f = flows[0]!;
    expect(f.rolesInferred).toBe(false);
    expect(f.client).toEqual({ ip: '10.0.0.1', port: 1023 });
    expect(f.state).toBe('SF');
    // Letters take their final case; '^' marks where the roles flipped.
    expect(f.history).toBe('h^SADfF');
  });
});
