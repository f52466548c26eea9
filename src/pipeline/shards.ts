/**
 * One shard of one input's flows (`flows --jobs N`; demux/shards.ts says how they split and
 * merge): the whole input read and decoded, this shard's packets through its own engine, the
 * others' times as clock ticks. The command's threads (cli/shards.ts) run one each; the
 * tests and scripts/check/shards.mjs run them one after the other in one thread.
 */
import type { DemuxOptions, Flow } from '../core/flow.js';
import type { Packet } from '../core/packet.js';
import { DemuxEngine } from '../demux/engine.js';
import { ShardLog } from '../demux/shard-log.js';
import { ShardFeeder, shardResult, type ShardResult } from '../demux/shards.js';
import { compileFilter } from '../filter/match.js';
import type { ProgressStream } from './progress.js';
import { readCaptures, type ReadResult } from './read.js';
import { timeDigits } from '../report/time.js';

/** What a shard is given: plain data (its filter as text, compiled where it runs). */
export interface ShardTask {
  paths: string[];
  shard: number;
  shards: number;
  /** Without onFlowEnd: the shard keeps its flows. */
  engine: DemuxOptions;
  filter?: string;
  checksums: boolean;
  /** The progress line (shard 0's, when the command shows one). */
  progress: boolean | 'auto';
}

/** ReadResult without its progress line: what a thread sends back. */
export type ShardRead = Omit<ReadResult, 'progress'>;

export interface ShardDone {
  read: ShardRead;
  /** Fraction digits for times, as one thread decides them: from the captures as they opened. */
  digits: number;
  part: ShardResult;
  /** Handed out in this order, with the shard's own ids. */
  flows: Flow[];
}

export async function readShard(task: ShardTask, filter?: (pkt: Packet) => boolean, progressStream?: ProgressStream): Promise<ShardDone> {
  const log = new ShardLog();
  const flows: Flow[] = [];
  const { onFlowEnd: _none, ...settings } = task.engine;
  const engine = new DemuxEngine({ ...settings, onFlowEnd: (f) => flows.push(f) }, log);
  const feeder = new ShardFeeder(engine, task.shard, task.shards, task.engine.tunnelFlows ?? true);
  let digits = 6;
  const { progress: _line, ...read } = await readCaptures(task.paths, undefined, {
    progress: task.progress, progressStream, checksums: task.checksums, filter: filter ?? (task.filter === undefined ? undefined : compileFilter(task.filter)),
    onStart: (captures) => {
      digits = timeDigits(captures);
    },
  }, feeder);
  engine.finish();
  return { read, digits, part: shardResult(log, engine.counts(), feeder.unsafe), flows };
}
