/**
 * One input's flows over several engines, one shard each (demux/shards.ts, pipeline/shards.ts),
 * run one after the other in this thread: merged, they must be one engine's flows exactly (same
 * order of handing out, ids, generations, every field) and its summary, or say why they cannot
 * be. On every fixture, and on generated captures with thousands of address pairs, tuples used
 * again after one engine forgot them, and the TCP analysis.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemuxOptions, Flow } from '../../src/core/flow.js';
import { DEFAULTS, summaryOf } from '../../src/demux/engine.js';
import { asOneEngine, inOneEngineOrder, mergeShards } from '../../src/demux/shards.js';
import { readFlows } from '../../src/pipeline/flows.js';
import { readShard, type ShardDone } from '../../src/pipeline/shards.js';
import { newPacket } from '../../src/core/packet.js';
import { shardOf } from '../../src/demux/shards.js';
import { decodeBytes } from '../../src/parse/decode.js';
import { buildPcap, tempDir } from '../helpers/capture-builders.js';
import { captureFiles } from '../helpers/fixture-files.js';
import { buildIcmpError, buildTcp, buildUdp, ethernet, quoteOf } from '../helpers/packet-builders.js';

const tmp = tempDir('flowdemux-shards-');
afterAll(() => tmp.cleanup());

/** Generated captures (scripts/bench/generate.mjs, deterministic). */
const GEN = {
  busy: ['--packets', '40000', '--busy-server', '--seed', '5'],
  mixed: ['--packets', '40000', '--flows', '3000', '--seed', '7'],
  // 100 clients, slow: connections end, linger, are remembered, and their tuples come back.
  reuse: ['--packets', '60000', '--busy-server', '--clients', '100', '--open', '50', '--gap', '2000', '--seed', '9'],
};
const gen: Record<keyof typeof GEN, string> = { busy: '', mixed: '', reuse: '' };

beforeAll(() => {
  for (const [name, args] of Object.entries(GEN)) {
    const path = tmp.path(`${name}.pcap`);
    execFileSync(process.execPath, ['scripts/bench/generate.mjs', path, ...args], { stdio: 'ignore' });
    gen[name as keyof typeof GEN] = path;
  }
});

interface Compared {
  /** null: the shards stood for one engine. */
  unsafe: string | null;
  single: string;
  merged: string;
  shardsWithFlows: number;
  /** Flows in each shard. */
  sizes: number[];
  forgotten: number;
}

async function compare(path: string, shards: number, engine: DemuxOptions = {}): Promise<Compared> {
  const single: Flow[] = [];
  const one = await readFlows([path], { progress: false, engine: { ...engine, onFlowEnd: (f) => single.push(f) } });
  const done: ShardDone[] = [];
  for (let k = 0; k < shards; k++) done.push(await readShard({ paths: [path], shard: k, shards, engine, checksums: false, progress: false }));
  const merged = mergeShards(done.map((d) => d.part), engine.maxRemembered ?? DEFAULTS.maxRemembered);
  const result = {
    single: JSON.stringify([single, one.engine.summary(path)]),
    shardsWithFlows: done.filter((d) => d.flows.length > 0).length,
    sizes: done.map((d) => d.flows.length),
  };
  if (merged.unsafe !== null) return { ...result, unsafe: merged.unsafe, merged: '', forgotten: 0 };
  done.forEach((d, k) => asOneEngine(d.flows, merged.ids[k]!, merged.forgotten[k]!, d.part.lineages));
  const flows = inOneEngineOrder(merged, done.map((d) => d.flows));
  return {
    ...result,
    unsafe: null,
    merged: JSON.stringify([flows, summaryOf(merged.counts, path)]),
    forgotten: merged.forgotten.reduce((n, f) => n + f.length, 0),
  };
}

describe('sharded engines merged', () => {
  it('give one engine\'s flows on every fixture, or say why they cannot', async () => {
    const reasons = new Set<string>();
    let same = 0;
    for (const path of captureFiles()) {
      const r = await compare(path, 3);
      if (r.unsafe !== null) {
        reasons.add(r.unsafe);
        continue;
      }
      expect(r.merged, path).toBe(r.single);
      same++;
    }
    expect(same).toBeGreaterThan(60);
    // The fixtures with VXLAN, Geneve, Teredo and GTP-U tunnels cannot be split.
    expect([...reasons]).toContain('it has UDP tunnels, whose flows and the flows inside them have different address pairs');
  });

  it('give one engine\'s flows on thousands of address pairs, split over every shard', async () => {
    for (const name of ['busy', 'mixed'] as const) {
      for (const shards of [2, 3, 5]) {
        const r = await compare(gen[name], shards);
        expect(r.unsafe, name).toBeNull();
        expect(r.shardsWithFlows, `${name} ${shards}`).toBe(shards);
        // The address-pair hash spreads them about evenly.
        expect(Math.min(...r.sizes) / Math.max(...r.sizes), `${name} ${shards}: ${r.sizes.join(' ')}`).toBeGreaterThan(0.75);
        expect(r.merged, `${name} ${shards}`).toBe(r.single);
      }
    }
  });

  it('with the TCP analysis', async () => {
    const r = await compare(gen.busy, 3, { tcpAnalysis: true });
    expect(r.unsafe).toBeNull();
    expect(r.single).toContain('"analysis"');
    expect(r.merged).toBe(r.single);
  });

  it('number a tuple\'s generations from 1 again where one engine had forgotten it', async () => {
    let forgotten = 0;
    for (const maxRemembered of [10, 100, 1000]) {
      const r = await compare(gen.reuse, 3, { maxRemembered });
      expect(r.unsafe).toBeNull();
      expect(r.merged, `maxRemembered ${maxRemembered}`).toBe(r.single);
      forgotten += r.forgotten;
    }
    // The case is there: shards knew tuples that one engine had forgotten.
    expect(forgotten).toBeGreaterThan(5);
  });

  it('say so when one engine would have evicted flows (--max-flows)', async () => {
    const r = await compare(gen.busy, 2, { maxFlows: 1500 });
    expect(r.unsafe).toBe('more than --max-flows 1500 flows may have been open at once');
    const fits = await compare(gen.busy, 2, { maxFlows: 100_000 });
    expect(fits.merged).toBe(fits.single);
  });
});

/** The shard (of `shards`) of an IP packet, as the feeder computes it from the decoded packet. */
function shardOfIp(packet: Uint8Array, shards: number): number {
  const frame = ethernet(packet);
  return shardOf(decodeBytes(1, frame, frame.length, frame.length, newPacket()), shards);
}

/** A UDP datagram from 10.1.0.N to 10.2.0.N, port 5000 to 53, whose pair is in shard `want` of 2. */
function udpInShard(want: number, from: number): Uint8Array {
  for (let n = from; ; n++) {
    const d = buildUdp({ src: `10.1.0.${n}`, dst: `10.2.0.${n}`, sport: 5000, dport: 53, payload: new Uint8Array(4) });
    if (shardOfIp(d, 2) === want) return d;
  }
}

function writeCapture(name: string, packets: [number, Uint8Array][]): string {
  return tmp.write(name, buildPcap({}, packets.map(([tsSec, p]) => ({ tsSec, tsFrac: 0, data: ethernet(p) }))));
}

describe('what shards cannot split', () => {
  it('an ICMP error goes with the flow it quotes, in the quoted pair\'s shard', async () => {
    // Routers in shards other than the quoted pair's: the error still reaches its flow.
    const syn = buildTcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80, flags: 'S', seq: 1 });
    const quoted = shardOfIp(syn, 2);
    const routers = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => `192.0.2.${n}`);
    const errors = routers.map((r) => buildIcmpError({ src: r, dst: '10.0.0.1', type: 11, quote: quoteOf(syn) }));
    expect(errors.some((e) => shardOfIp(e, 2) === quoted)).toBe(true); // by the quoted pair...
    const outer = (r: string) => buildUdp({ src: r, dst: '10.0.0.1', sport: 1, dport: 2 });
    expect(routers.some((r) => shardOfIp(outer(r), 2) !== quoted)).toBe(true); // ...not the router's
    const path = writeCapture('icmp-attached.pcap', [[100, syn], ...errors.map((e, i) => [101 + i, e] as [number, Uint8Array]), [120, udpInShard(1 - quoted, 1)]]);
    const r = await compare(path, 2);
    expect(r.unsafe).toBeNull();
    expect(r.shardsWithFlows).toBe(2);
    expect(r.single).toContain('"icmpErrorsAttached":8');
    expect(r.merged).toBe(r.single);
  });

  it('an ICMP error about a flow that is not open', async () => {
    const syn = buildTcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80, flags: 'S', seq: 1 });
    const error = buildIcmpError({ src: '192.0.2.1', dst: '10.0.0.1', type: 3, code: 1, quote: quoteOf(syn) });
    const r = await compare(writeCapture('icmp-alone.pcap', [[100, error], [101, udpInShard(0, 1)], [102, udpInShard(1, 1)]]), 2);
    expect(r.unsafe).toBe('it has ICMP errors about flows that are not open');
  });

  it('a time stamp going back across an idle expiry', async () => {
    // P at 1050, then Q at 900 (back): one engine's UDP list is [P, Q]; at 1051 it stops at P
    // (not idle) and keeps Q, idle 151 s; a shard without P would end Q.
    const p = udpInShard(0, 1);
    const q = udpInShard(1, 1);
    const r = await compare(writeCapture('time-back.pcap', [[1050, p], [900, q], [1051, p]]), 2);
    expect(r.unsafe).toBe('a time stamp goes back, and one engine would have kept open flows that a shard ended');
    // Forward in time, the same packets split.
    const ok = await compare(writeCapture('time-forward.pcap', [[900, q], [1050, p], [1051, p]]), 2);
    expect(ok.unsafe).toBeNull();
    expect(ok.shardsWithFlows).toBe(2);
    expect(ok.merged).toBe(ok.single);
  });
});
