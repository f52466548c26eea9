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
import { asOneEngine, mergeShards } from '../../src/demux/shards.js';
import { readFlows } from '../../src/pipeline/flows.js';
import { readShard, type ShardDone } from '../../src/pipeline/shards.js';
import { tempDir } from '../helpers/capture-builders.js';
import { captureFiles } from '../helpers/fixture-files.js';

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
  forgotten: number;
}

async function compare(path: string, shards: number, engine: DemuxOptions = {}): Promise<Compared> {
  const single: Flow[] = [];
  const one = await readFlows([path], { progress: false, engine: { ...engine, onFlowEnd: (f) => single.push(f) } });
  const done: ShardDone[] = [];
  for (let k = 0; k < shards; k++) done.push(await readShard({ paths: [path], shard: k, shards, engine, checksums: false, progress: false }));
  const merged = mergeShards(done.map((d) => d.part), engine.maxRemembered ?? DEFAULTS.maxRemembered);
  const result = { single: JSON.stringify([single, one.engine.summary(path)]), shardsWithFlows: done.filter((d) => d.flows.length > 0).length };
  if (merged.unsafe !== null) return { ...result, unsafe: merged.unsafe, merged: '', forgotten: 0 };
  done.forEach((d, k) => asOneEngine(d.flows, merged.ids[k]!, merged.forgotten[k]!, d.part.lineages));
  const flows: Flow[] = [];
  for (let n = 0; n < merged.order.length; n += 2) flows.push(done[merged.order[n]!]!.flows[merged.order[n + 1]!]!);
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
