/**
 * src/report/tcp-states.ts and src/report/svg-ladder.ts: each end's RFC 9293 state beside the
 * packets, on the teaching capture's connections (a clean close, a close by RST) and on crafted
 * segments for the transitions the capture does not hold (simultaneous close and open, a refused
 * SYN, a connection caught midstream); the ladder SVG is well-formed and shows them.
 */
import { describe, expect, it } from 'vitest';
import type { Flow } from '../../src/core/flow.js';
import { TCP_FLAG } from '../../src/core/packet.js';
import { ladderPacket, type LadderPacket } from '../../src/report/ladder.js';
import { renderLadderSvg } from '../../src/report/svg-ladder.js';
import { tcpStates } from '../../src/report/tcp-states.js';
import { byName, parseXml, textOf } from '../helpers/markup.js';
import { runPipeline } from './pipeline.js';

const CAPTURE = new URL('../../fixtures/demux-lo.pcap', import.meta.url).pathname;

async function connection(id: number): Promise<{ flow: Flow; packets: LadderPacket[] }> {
  const packets: LadderPacket[] = [];
  const { flows } = await runPipeline(CAPTURE, (frame, pkt, ref) => {
    if (ref?.id === id) packets.push(ladderPacket(frame, pkt, ref));
  });
  return { flow: flows.find((f) => f.id === id)!, packets };
}

const F = TCP_FLAG;

/** A segment: who sends it, its flags, seq, ack and length. */
function seg(toServer: boolean, flags: number, seq: number, ack: number, len = 0): LadderPacket {
  return {
    frame: 0, sec: 0, nsec: 0, toServer, flags, seq, ack, window: 1000, windowScale: -1, payloadLength: len,
    via: 'ports', proto: 6, icmpType: -1, icmpCode: -1, fragmentOffset: 0,
  };
}

const C = true;
const S = false;
const pairs = (packets: LadderPacket[]) => {
  const st = tcpStates(packets);
  return st.client.map((c, i) => `${c}/${st.server[i]}`);
};

describe('TCP states beside the packets', () => {
  it('follows a handshake, data and a close by FIN (flow 1 of the teaching capture)', async () => {
    const { packets } = await connection(1);
    const st = tcpStates(packets);
    expect([st.initial, st.assumed]).toEqual([{ client: 'CLOSED', server: 'LISTEN' }, false]);
    expect(pairs(packets)).toEqual([
      'SYN-SENT/SYN-RECEIVED', 'ESTABLISHED/SYN-RECEIVED', 'ESTABLISHED/ESTABLISHED',
      'ESTABLISHED/ESTABLISHED', 'ESTABLISHED/ESTABLISHED', 'ESTABLISHED/ESTABLISHED', 'ESTABLISHED/ESTABLISHED',
      'FIN-WAIT-1/CLOSE-WAIT', 'FIN-WAIT-2/CLOSE-WAIT', 'TIME-WAIT/LAST-ACK', 'TIME-WAIT/CLOSED',
    ]);
  });

  it('closes both ends on a RST (flow 3)', async () => {
    const { packets } = await connection(3);
    expect(pairs(packets).at(-1)).toBe('CLOSED/CLOSED');
  });

  it('simultaneous close: both FINs cross, CLOSING, then TIME-WAIT on both ends', () => {
    const open = [seg(C, F.SYN, 100, 0), seg(S, F.SYN | F.ACK, 500, 101), seg(C, F.ACK, 101, 501)];
    const close = [seg(C, F.FIN | F.ACK, 101, 501), seg(S, F.FIN | F.ACK, 501, 101), seg(C, F.ACK, 102, 502), seg(S, F.ACK, 502, 102)];
    expect(pairs([...open, ...close]).slice(3)).toEqual(['FIN-WAIT-1/CLOSE-WAIT', 'CLOSING/CLOSING', 'CLOSING/TIME-WAIT', 'TIME-WAIT/TIME-WAIT']);
  });

  it('a FIN that acknowledges the peer FIN goes straight to TIME-WAIT', () => {
    const p = [
      seg(C, F.SYN, 100, 0), seg(S, F.SYN | F.ACK, 500, 101), seg(C, F.ACK, 101, 501),
      seg(C, F.FIN | F.ACK, 101, 501, 10), seg(S, F.FIN | F.ACK, 501, 112), seg(C, F.ACK, 112, 502),
    ];
    expect(pairs(p).slice(3)).toEqual(['FIN-WAIT-1/CLOSE-WAIT', 'TIME-WAIT/LAST-ACK', 'TIME-WAIT/CLOSED']);
  });

  it('simultaneous open: SYN-SENT then SYN-RECEIVED on both ends', () => {
    const p = [seg(C, F.SYN, 100, 0), seg(S, F.SYN, 500, 0), seg(C, F.SYN | F.ACK, 100, 501), seg(S, F.SYN | F.ACK, 500, 101)];
    // The "server" never listened here: its own SYN takes it from LISTEN to SYN-RECEIVED as well.
    expect(pairs(p)).toEqual(['SYN-SENT/SYN-RECEIVED', 'SYN-RECEIVED/SYN-RECEIVED', 'SYN-RECEIVED/ESTABLISHED', 'ESTABLISHED/ESTABLISHED']);
  });

  it('a SYN answered by a RST: the port had no listener', () => {
    const st = tcpStates([seg(C, F.SYN, 100, 0), seg(S, F.RST | F.ACK, 0, 101)]);
    expect(st.initial).toEqual({ client: 'CLOSED', server: 'CLOSED' });
    expect([st.client, st.server]).toEqual([['SYN-SENT', 'CLOSED'], ['CLOSED', 'CLOSED']]);
  });

  it('midstream: both ends assumed ESTABLISHED', () => {
    const st = tcpStates([seg(C, F.ACK, 1000, 2000, 5), seg(S, F.FIN | F.ACK, 2000, 1005)]);
    expect([st.assumed, st.initial]).toEqual([true, { client: 'ESTABLISHED', server: 'ESTABLISHED' }]);
    expect(st.client.at(-1)).toBe('CLOSE-WAIT');
    expect(st.server.at(-1)).toBe('FIN-WAIT-1');
  });
});

describe('ladder SVG', () => {
  it('draws one arrow a packet, the states beside it, as well-formed SVG', async () => {
    const { flow, packets } = await connection(4);
    const svg = parseXml(renderLadderSvg(flow, packets));
    expect(textOf(byName(svg, 'title')[0]!)).toMatch(/^flow 4: tcp 127\.0\.0\.3:5775 → 127\.0\.0\.1:8089, generation 2 of this 4-tuple/);
    const rows = byName(svg, 'g').filter((g) => g.attrs.class?.startsWith('packet '));
    expect(rows).toHaveLength(packets.length);
    expect(rows[0]!.attrs.class).toBe('packet to-server');
    expect(byName(rows[0]!, 'text').map(textOf)).toEqual(['31  0.000000', 'SYN', 'seq=0 win=65495 len=0']);
    const states = byName(svg, 'g').filter((g) => g.attrs.class?.startsWith('states')).map((g) => byName(g, 'text').map(textOf));
    expect(states[0]).toEqual(['CLOSED', 'LISTEN']);
    expect(states[1]).toEqual(['SYN-SENT', 'SYN-RECEIVED']);
    // The server closed first here: its end waits in TIME-WAIT.
    expect(states.at(-1)).toEqual(['CLOSED', 'TIME-WAIT']);
  });

  it('says how many packets it left out', async () => {
    const { flow, packets } = await connection(1);
    const svg = parseXml(renderLadderSvg(flow, packets, { maxPackets: 3 }));
    expect(byName(svg, 'g').filter((g) => g.attrs.class?.startsWith('packet '))).toHaveLength(3);
    expect(byName(svg, 'text').map(textOf)).toContain('(the first 3 of its 11 packets are drawn)');
  });
});
