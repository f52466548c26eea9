/**
 * Connection generations on one tuple: what starts a new flow record, with which reason, and
 * what stays in the old one.
 */
import { describe, expect, it } from 'vitest';
import { DemuxEngine } from '../../src/demux/engine.js';
import type { Flow } from '../../src/core/flow.js';
import { Conversation } from './packets.js';

function setup(opts: ConstructorParameters<typeof DemuxEngine>[0] = {}, proto = 6) {
  const engine = new DemuxEngine(opts);
  const c = new Conversation(engine, '10.0.0.1:40000', '10.0.0.2:80', proto);
  return { engine, c };
}

function handshake(c: Conversation): void {
  c.c('S');
  c.s('SA');
  c.c('A');
}

describe('generations', () => {
  it('RST then SYN with a new ISN: generation 2, reason syn-after-rst', () => {
    const { engine, c } = setup();
    handshake(c);
    c.c('RA');
    c.wait(1);
    c.cSeq = 777_777;
    const ref = c.c('S');
    expect(ref).toMatchObject({ id: 2, generation: 2, toServer: true });
    c.s('SA');
    engine.finish();
    const [g1, g2] = engine.flows();
    expect(g1).toMatchObject({ id: 1, generation: 1, state: 'RSTO', endReason: 'rst', generationReason: 'first' });
    expect(g2).toMatchObject({ id: 2, generation: 2, state: 'S1', generationReason: 'syn-after-rst', history: 'Sh' });
    expect(g2!.communityId).toBe(g1!.communityId); // Community ID collides across generations by design
  });

  it('RST then SYN with the same ISN is still a new generation (Zeek policy, unlike tshark)', () => {
    const { engine, c } = setup();
    c.c('S', { seq: 1000 });
    c.s('RA', { seq: 0, ack: 1001 });
    c.wait(0.5).c('S', { seq: 1000 });
    engine.finish();
    const flows = engine.flows();
    expect(flows.map((f) => [f.generation, f.state, f.generationReason])).toEqual([
      [1, 'REJ', 'first'],
      [2, 'S0', 'syn-after-rst'],
    ]);
  });

  it('FIN both ways then SYN: generation 2, reason syn-after-fin; the last ACK stays in generation 1', () => {
    const { engine, c } = setup();
    handshake(c);
    c.c('FA');
    c.s('FA');
    c.wait(0.2).c('A'); // last ACK, after both FINs: still the old connection
    c.wait(2);
    c.cSeq = 424_242;
    c.c('S');
    engine.finish();
    const [g1, g2] = engine.flows();
    expect(g1).toMatchObject({ generation: 1, state: 'SF', endReason: 'fin' });
    expect(g1!.toServer.packets).toBe(4);
    expect(g2).toMatchObject({ generation: 2, generationReason: 'syn-after-fin', state: 'S0' });
  });

  it('SYN with a different ISN while the connection is open: new-isn; the old one is superseded', () => {
    const { engine, c } = setup();
    c.c('S', { seq: 1000 });
    c.wait(3).c('S', { seq: 2_000_000 });
    engine.finish();
    const flows = engine.flows();
    expect(flows).toHaveLength(2);
    expect(flows[0]).toMatchObject({ state: 'S0', endReason: 'superseded' });
    expect(flows[1]).toMatchObject({ generation: 2, generationReason: 'new-isn', state: 'S0' });
  });

  it('retransmitted SYN with the same ISN stays one flow', () => {
    const { engine, c } = setup();
    c.c('S', { seq: 1000 });
    c.wait(1).c('S', { seq: 1000 });
    c.s('SA', { seq: 5000, ack: 1001 });
    c.c('A', { seq: 1001, ack: 5001 });
    engine.finish();
    const flows = engine.flows();
    expect(flows).toHaveLength(1);
    expect(flows[0]).toMatchObject({ state: 'S1', history: 'ShA' });
    expect(flows[0]!.toServer.packets).toBe(3);
  });

  it('SYN on a connection whose start was not seen: syn-after-midstream', () => {
    const { engine, c } = setup();
    c.c('PA', { len: 10 });
    c.s('A');
    c.wait(1);
    c.cSeq = 99;
    c.c('S');
    engine.finish();
    expect(engine.flows().map((f) => f.generationReason)).toEqual(['first', 'syn-after-midstream']);
  });

  it('TCP idle timeout: traffic after the timeout is generation 2 (default 300 s)', () => {
    const { engine, c } = setup();
    handshake(c);
    c.wait(299).c('PA', { len: 1 }); // within 300 s: same flow
    c.wait(300.5).c('PA', { len: 1 }); // silent past 300 s
    engine.finish();
    const flows = engine.flows();
    expect(flows).toHaveLength(2);
    expect(flows[0]).toMatchObject({ endReason: 'idle-timeout', state: 'S1' });
    expect(flows[0]!.toServer.packets).toBe(3);
    expect(flows[1]).toMatchObject({ generation: 2, generationReason: 'idle-timeout', state: 'OTH', rolesInferred: true });
  });

  it('TCP idle timeout option', () => {
    const { engine, c } = setup({ tcpIdleTimeout: 10 });
    handshake(c);
    c.wait(11).c('A');
    engine.finish();
    expect(engine.flows().map((f) => f.generation)).toEqual([1, 2]);
  });

  it('UDP idle timeout: 60 s by default', () => {
    const { engine, c } = setup({}, 17);
    c.c('', { len: 30 });
    c.wait(59).s('', { len: 40 }); // within 60 s
    c.wait(61).c('', { len: 30 }); // after 61 s of silence
    engine.finish();
    const flows = engine.flows();
    expect(flows.map((f) => [f.generation, f.generationReason, f.state])).toEqual([
      [1, 'first', 'SF'],
      [2, 'idle-timeout', 'S0'],
    ]);
    expect(flows[0]!.history).toBe('Dd');
  });

  it('expiry releases the flow; the tuple is remembered so later traffic is generation 2', () => {
    const ended: number[] = [];
    const { engine, c } = setup({ udpIdleTimeout: 5, onFlowEnd: (f) => ended.push(f.id) }, 17);
    c.c('', { len: 1 });
    engine.expire(c.sec + 4, 0);
    expect(ended).toEqual([]);
    engine.expire(c.sec + 6, 0);
    expect(ended).toEqual([1]);
    expect(engine.summary().openFlows).toBe(0);
    c.wait(100);
    expect(c.c('', { len: 1 })).toMatchObject({ id: 2, generation: 2 });
    engine.finish();
    expect(ended).toEqual([1, 2]);
    expect(engine.flows()).toEqual([]); // streamed, not kept
  });

  it('the engine expires by itself as capture time passes', () => {
    const ended: number[] = [];
    const engine = new DemuxEngine({ udpIdleTimeout: 5, onFlowEnd: (f) => ended.push(f.id) });
    const a = new Conversation(engine, '10.0.0.1:1111', '10.0.0.2:53', 17);
    const b = new Conversation(engine, '10.0.0.3:2222', '10.0.0.2:53', 17);
    a.c('', { len: 1 });
    b.sec = a.sec + 10;
    b.c('', { len: 1 });
    expect(ended).toEqual([1]);
  });

  it('a closed connection lingers 5 s for stray packets; a packet after that is after-close', () => {
    const { engine, c } = setup();
    handshake(c);
    c.c('RA');
    c.wait(4).s('R', { seq: 5001 }); // within the linger: same flow
    c.wait(6).s('R', { seq: 5001 });
    engine.finish();
    const flows = engine.flows();
    expect(flows.map((f) => [f.generation, f.generationReason, f.endReason])).toEqual([
      [1, 'first', 'rst'],
      [2, 'after-close', 'rst'],
    ]);
    expect(flows[0]!.toClient.packets).toBe(2);
  });

  it('SYN after a released closed connection still says syn-after-fin', () => {
    const { engine, c } = setup();
    handshake(c);
    c.c('FA');
    c.s('FA');
    c.c('A');
    c.wait(60);
    c.cSeq = 31337;
    c.c('S');
    engine.finish();
    expect(engine.flows().map((f) => f.generationReason)).toEqual(['first', 'syn-after-fin']);
  });

  it('forgotten tuples start again at generation 1', () => {
    const { engine, c } = setup({ udpIdleTimeout: 5, maxRemembered: 0 }, 17);
    c.c('', { len: 1 });
    c.wait(10).c('', { len: 1 });
    engine.finish();
    expect(engine.flows().map((f) => [f.generation, f.generationReason])).toEqual([[1, 'first'], [1, 'first']]);
  });
  it('one packet far in the future (a fuzzed time stamp) ends no open flow; a clock that really moved there does', () => {
    const run = (confirmed: boolean) => {
      const ended: Flow[] = [];
      const engine = new DemuxEngine({ onFlowEnd: (f) => ended.push(f) });
      const c = new Conversation(engine, '10.0.0.1:40000', '10.0.0.2:80', 6);
      const u = new Conversation(engine, '10.0.0.3:5000', '10.0.0.4:53', 17);
      handshake(c);
      c.c('PA', { len: 10 });
      // Another flow's packet, a year ahead.
      u.wait(365 * 86400);
      u.c('', { len: 20 });
      const endedAtJump = ended.length;
      if (confirmed) {
        u.wait(1);
        u.c('', { len: 20 }); // the next packet agrees: the clock moved
      }
      const endedAfter = ended.length;
      c.wait(1);
      c.c('PA', { len: 10 });
      engine.finish();
      return { endedAtJump, endedAfter, tcp: ended.filter((f) => f.proto === 'tcp').sort((x, y) => x.id - y.id) };
    };
    const lone = run(false);
    expect(lone.endedAtJump).toBe(0);
    // The TCP connection was never idle by its own packets: one flow, one generation.
    expect(lone.tcp.map((f) => [f.generation, f.toServer.packets])).toEqual([[1, 4]]);
    const moved = run(true);
    // Two packets a year ahead: the connection idle past its timeout is ended then...
    expect(moved.endedAtJump).toBe(0);
    expect(moved.endedAfter).toBe(1);
    // ...as its own next packet would have found it anyway.
    expect(moved.tcp.map((f) => [f.generation, f.generationReason])).toEqual([[1, 'first'], [2, 'idle-timeout']]);
  });
});
