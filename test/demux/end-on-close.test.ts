/**
 * `endOnClose` (streaming input): a TCP connection goes to onFlowEnd when it is over, not when it
 * is released after the close linger. Each test compares with the default engine on the same
 * packets: the record handed over is the one a file read gives.
 */
import { describe, expect, it } from 'vitest';
import { DemuxEngine } from '../../src/demux/engine.js';
import type { Flow } from '../../src/core/flow.js';
import { Conversation } from './packets.js';

/** An engine that records what onFlowEnd got, and when (after how many packets). */
function recording(endOnClose: boolean) {
  const ended: { flow: Flow; afterPackets: number }[] = [];
  let packets = 0;
  const engine = new DemuxEngine({ endOnClose, onFlowEnd: (flow) => ended.push({ flow, afterPackets: packets }) });
  const conv = (client?: string, server?: string) => {
    const c = new Conversation(engine, client, server);
    // Counted before the packet is ingested: a hand-over during the ingest sees it counted.
    const conv = {
      c: (flags?: string, opts?: Parameters<Conversation['c']>[1]) => (packets++, c.c(flags, opts)),
      s: (flags?: string, opts?: Parameters<Conversation['s']>[1]) => (packets++, c.s(flags, opts)),
      wait: (sec: number) => (c.wait(sec), conv),
    };
    return conv;
  };
  return { engine, ended, conv };
}

type Script = (c: ReturnType<ReturnType<typeof recording>['conv']>) => void;

/** Runs `script` through a streaming and a default engine; returns both engines' hand-overs. */
function both(script: Script) {
  const streaming = recording(true);
  const file = recording(false);
  for (const r of [streaming, file]) {
    script(r.conv());
    r.engine.finish();
  }
  return { streaming: streaming.ended, file: file.ended };
}

describe('endOnClose', () => {
  it('a FIN close is handed over at the ACK of the second FIN, and is the record a file gives', () => {
    const { streaming, file } = both((c) => {
      c.c('S'); c.s('SA'); c.c('A');
      c.c('PA', { len: 10 }); c.s('A');
      c.wait(0.1).c('FA'); c.s('A'); c.s('FA');
      c.c('A'); // 9th packet: both FINs acknowledged
    });
    expect(streaming.map((e) => e.afterPackets)).toEqual([9]);
    expect(file.map((e) => e.afterPackets)).toEqual([9]); // only at finish() in a file
    expect(streaming[0]!.flow).toEqual(file[0]!.flow);
    expect(streaming[0]!.flow).toMatchObject({ state: 'SF', endReason: 'fin', toServer: { packets: 5 }, toClient: { packets: 4 } });
  });

  it('not at the second FIN: the last ACK still belongs to the connection', () => {
    const r = recording(true);
    const c = r.conv();
    c.c('S'); c.s('SA'); c.c('A'); c.c('FA'); c.s('FA');
    expect(r.ended).toEqual([]);
    c.c('A');
    expect(r.ended.map((e) => [e.flow.toServer.packets, e.flow.toClient.packets])).toEqual([[4, 2]]);
  });

  it('simultaneous close: over only when each FIN is acknowledged', () => {
    const r = recording(true);
    const c = r.conv();
    c.c('S'); c.s('SA'); c.c('A');
    c.c('FA', { ack: 5001 }); c.s('FA', { ack: 1001 }); // the FINs cross: neither acknowledges the other
    c.c('A', { ack: 5002 });
    expect(r.ended).toEqual([]);
    c.s('A', { ack: 1002 });
    expect(r.ended).toHaveLength(1);
    expect(r.ended[0]!.flow.state).toBe('SF');
  });

  it('a RST is handed over at once; stray packets after it keep the flow id and are not handed over again', () => {
    const r = recording(true);
    const c = r.conv();
    c.c('S'); c.s('SA'); c.c('A'); c.c('R');
    expect(r.ended.map((e) => [e.flow.id, e.flow.endReason, e.afterPackets])).toEqual([[1, 'rst', 4]]);
    const stray = c.s('PA', { len: 5 });
    expect(stray.id).toBe(1);
    r.engine.finish();
    expect(r.ended).toHaveLength(1);
  });

  it('a RST after its sender\'s own FIN waits: the peer\'s FIN may still make it a normal close', () => {
    const { streaming, file } = both((c) => {
      c.c('S'); c.s('SA'); c.c('A');
      c.c('FA'); c.c('R');
      c.s('FA'); // answers the FIN: a normal close after all
    });
    expect(streaming.map((e) => e.flow)).toEqual(file.map((e) => e.flow));
    expect(streaming.map((e) => [e.flow.state, e.flow.endReason])).toEqual([['SF', 'fin']]);
  });

  it('a new connection on the tuple after the hand-over is the next generation, handed over once', () => {
    const r = recording(true);
    const c = r.conv();
    c.c('S'); c.s('SA'); c.c('A'); c.c('R');
    c.wait(1).c('S', { seq: 90_000 }); c.s('SA', { ack: 90_001 }); c.c('A', { seq: 90_001 }); c.s('R');
    r.engine.finish();
    expect(r.ended.map((e) => [e.flow.id, e.flow.generation, e.flow.generationReason, e.afterPackets])).toEqual([
      [1, 1, 'first', 4],
      [2, 2, 'syn-after-rst', 8],
    ]);
  });

  it('handOverOnClose() before the first packet is the option', () => {
    const ended: Flow[] = [];
    const engine = new DemuxEngine({ onFlowEnd: (f) => ended.push(f) });
    engine.handOverOnClose();
    const c = new Conversation(engine);
    c.c('S'); c.s('SA'); c.c('R');
    expect(ended.map((f) => f.endReason)).toEqual(['rst']);
    engine.finish();
    expect(ended).toHaveLength(1);
  });

  it('without onFlowEnd the option does nothing (flows() keeps every flow)', () => {
    const engine = new DemuxEngine({ endOnClose: true });
    const c = new Conversation(engine);
    c.c('S'); c.s('SA'); c.c('R');
    engine.finish();
    expect(engine.flows()).toHaveLength(1);
  });
});
