/**
 * The pipeline's checksum hook (pump.ts `checksums`): off, no checksum is looked at; on, a packet
 * with a wrong IPv4 header checksum is dropped before the engine (counted as bad-checksum, seen
 * by `each` without a flow) and one with a wrong TCP checksum reaches the engine as bad (C).
 * Real bytes: built frames whose checksums the helpers compute, one byte then spoilt.
 */
import { describe, expect, it } from 'vitest';
import type { Frame } from '../../src/core/frame.js';
import type { FlowRef } from '../../src/core/flow.js';
import { DemuxEngine } from '../../src/demux/engine.js';
import { pump } from '../../src/pipeline/pump.js';
import { buildTcp, buildUdp, ethernet, toFrame } from '../helpers/packet-builders.js';

const T0 = 1_700_000_000;

/** Frames numbered from 1, 0.1 s apart. */
function frames(ips: Uint8Array[]): Frame[] {
  return ips.map((ip, i) => toFrame(1, ethernet(ip), { number: i + 1, tsSec: T0, tsNsec: i * 100_000_000 }));
}

async function* once(batch: Frame[]): AsyncIterable<Frame[]> {
  yield batch;
}

/** A UDP exchange and a TCP SYN; the 2nd datagram's IP header and the SYN's TCP checksum are spoilt. */
function spoilt(): Frame[] {
  const q = buildUdp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 5000, dport: 53, payload: new Uint8Array(12) });
  const q2 = buildUdp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 5000, dport: 53, payload: new Uint8Array(14) });
  const r = buildUdp({ src: '10.0.0.2', dst: '10.0.0.1', sport: 53, dport: 5000, payload: new Uint8Array(40) });
  const syn = buildTcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80, flags: 'S', seq: 1 });
  q2[10]! ^= 0x01; // IPv4 header checksum
  syn[20 + 16]! ^= 0x01; // TCP checksum
  return frames([q, q2, r, syn]);
}

describe('pump with checksums', () => {
  it('off (the default): every packet is ingested as it is', async () => {
    const engine = new DemuxEngine();
    const result = await pump(once(spoilt()), engine);
    engine.finish();
    expect(result.badChecksums.size).toBe(0);
    const s = engine.summary();
    expect(s.byKind['bad-checksum']).toBe(0);
    expect(engine.flows().map((f) => f.history)).toEqual(['Dd', 'S']);
    expect(engine.flows()[0]!.toServer.packets).toBe(2);
  });

  it('on: the bad IP header is dropped and counted, the bad TCP checksum marks its connection', async () => {
    const engine = new DemuxEngine();
    const seen: [number, FlowRef | null][] = [];
    const result = await pump(once(spoilt()), engine, {
      checksums: true,
      each: (frame, _pkt, ref) => void seen.push([frame.number, ref === null ? null : { ...ref }]),
    });
    engine.finish();
    expect(result.badChecksums.get(0)).toEqual({ ip: { count: 1, first: 2 }, transport: { count: 1, first: 4 } });
    // Every frame is still handed on; the dropped one without a flow.
    expect(seen.map(([n, ref]) => [n, ref?.id ?? null])).toEqual([[1, 1], [2, null], [3, 1], [4, 2]]);
    const s = engine.summary();
    expect(s.packets).toBe(4);
    expect(s.byKind['bad-checksum']).toBe(2);
    expect(s.byKind.udp).toBe(2);
    const [udp, tcp] = engine.flows();
    expect(udp!.toServer.packets).toBe(1);
    expect(udp!.history).toBe('Dd');
    expect(tcp!.history).toBe('C');
    expect(tcp!.toServer.packets).toBe(0);
  });
});
