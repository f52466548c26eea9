#!/usr/bin/env node
/**
 * Sharded against one engine, in one thread (no workers): for each capture, the flows of one
 * engine (in the order it hands them out) and its summary, against N shards merged
 * (pipeline/shards.ts readShard, demux/shards.ts mergeShards). Prints a line a capture that
 * differs, and the totals: the same, cannot be split (and why), different.
 *
 *   node scripts/check/shards.mjs [--shards 2] [--analysis] [--remembered N] FILE|DIR ...
 *
 * --remembered: the engines' maxRemembered (tuples remembered after their flow ended), small to
 * make one engine forget tuples that a shard still knows.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const { readFlows } = await import('../../dist/pipeline/flows.js');
const { readShard } = await import('../../dist/pipeline/shards.js');
const { mergeShards, asOneEngine, inOneEngineOrder } = await import('../../dist/demux/shards.js');
const { DEFAULTS, summaryOf } = await import('../../dist/demux/engine.js');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  args.splice(i, 2);
  return v;
};
const shards = opt('--shards', 2);
const remembered = opt('--remembered', undefined);
const analysis = args.includes('--analysis');
const engineOpts = { ...(analysis ? { tcpAnalysis: true } : {}), ...(remembered === undefined ? {} : { maxRemembered: remembered }) };
const inputs = args.filter((a) => !a.startsWith('--'));

const files = [];
const walk = (p) => {
  const st = statSync(p);
  if (st.isDirectory()) for (const e of readdirSync(p).sort()) walk(join(p, e));
  else if (/\.(pcap|pcapng|cap|gz)$/i.test(p)) files.push(p);
};
for (const i of inputs) walk(i);

const tally = { same: 0, unsafe: 0, differ: 0, failed: 0, split: 0, anew: 0 };
const why = new Map();
for (const file of files) {
  try {
    const single = [];
    const one = await readFlows([file], { progress: false, engine: { ...engineOpts, onFlowEnd: (f) => single.push(f) } });
    const done = [];
    for (let k = 0; k < shards; k++) {
      done.push(await readShard({ paths: [file], shard: k, shards, engine: engineOpts, checksums: false, progress: false }));
    }
    const merged = mergeShards(done.map((d) => d.part), remembered ?? DEFAULTS.maxRemembered);
    if (merged.unsafe !== null) {
      tally.unsafe++;
      why.set(merged.unsafe, (why.get(merged.unsafe) ?? 0) + 1);
      continue;
    }
    if (done.filter((d) => d.flows.length > 0).length > 1) tally.split++;
    tally.anew += merged.forgotten.reduce((n, f) => n + f.length, 0);
    done.forEach((d, k) => asOneEngine(d.flows, merged.ids[k], merged.forgotten[k], d.part.lineages));
    const flows = inOneEngineOrder(merged, done.map((d) => d.flows));
    const a = JSON.stringify(single) + JSON.stringify(one.engine.summary(file));
    const b = JSON.stringify(flows) + JSON.stringify(summaryOf(merged.counts, file));
    if (a === b) tally.same++;
    else {
      tally.differ++;
      console.log(`differs: ${file}`);
    }
  } catch (err) {
    tally.failed++;
    console.log(`failed: ${file}: ${err.message.split('\n')[0]}`);
  }
}
console.log(`${files.length} captures, ${shards} shards: ${tally.same} the same (${tally.split} of them split over more than one shard), `
  + `${tally.unsafe} cannot be split, ${tally.differ} differ, ${tally.failed} failed; `
  + `${tally.anew} flows started on a tuple one engine had forgotten`);
for (const [w, n] of why) console.log(`  cannot be split, ${n}: ${w}`);
