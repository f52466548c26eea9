/**
 * `flows CAPTURE --jobs N`: one input's flows over N worker threads, one shard each
 * (demux/shards.ts: how they split and merge; pipeline/shards.ts: one shard's read). In two
 * rounds: each thread reads and decodes the whole input and runs its shard's engine, then sends
 * what the merge needs (numbers, no flows); the main thread merges, and sends each thread its
 * flows' global ids and the generations to number anew; each thread then renders its flows
 * (JSON, NDJSON, Zeek JSON or ECS: bytes, moved, not copied) or, for the other formats and for
 * --sort/--limit, sends the flows themselves. The main thread writes them in one engine's order.
 *
 * When the input has what shards cannot split (demux/shards.ts), the threads stop after the
 * first round and the command reads it again with one engine, saying why on stderr.
 */
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { DemuxSummary, Flow } from '../core/flow.js';
import { summaryOf, DEFAULTS } from '../demux/engine.js';
import { KEY_SIZE } from '../demux/shard-log.js';
import { inOneEngineOrder, mergeShards, type MergedShards, type ShardResult } from '../demux/shards.js';
import { engineSettings } from '../pipeline/flows.js';
import { Progress } from '../pipeline/progress.js';
import type { ReadResult } from '../pipeline/read.js';
import type { ShardRead, ShardTask } from '../pipeline/shards.js';
import type { FlowSelection } from '../report/select.js';
import type { Io } from './command.js';
import { UsageError, type Options } from './options.js';
import type { Output } from './output.js';

/** The formats a thread renders itself: a flow's bytes do not depend on the others. */
export type ShardFormat = 'json' | 'ndjson' | 'zeek-json' | 'ecs';

/** A thread's work: its shard, and what to send back in the second round. */
export interface ShardWork {
  task: ShardTask;
  /** Render the flows that `selection` keeps in this format; null: send the flows. */
  format: ShardFormat | null;
  selection: FlowSelection;
}

export type ToShard = { t: 'merge'; ids: Float64Array; forgotten: number[]; digits: number } | { t: 'stop' };

export type FromShard =
  | { t: 'progress'; text: string }
  | { t: 'read'; read: ShardRead; digits: number; part: ShardResult }
  | { t: 'bytes'; pages: Uint8Array[]; spans: Float64Array }
  | { t: 'flows'; flows: Flow[] }
  | { t: 'error'; message: string };

/** The flows and their summary, as one engine's (`flows()` in id order). */
export interface FlowSource {
  summary(source?: string): DemuxSummary;
  flows(): Flow[];
}

export interface ShardedFlows {
  read: ReadResult;
  digits: number;
  engine: FlowSource;
  /** Without a thread format: every flow, in one engine's order of handing them out. */
  handedOut: Flow[];
  /**
   * With a thread format: writes the rendered flows that were kept, in one engine's order
   * (line formats) or by id (JSON: each flow after `,\n`, the first after `\n`); returns
   * whether any was written.
   */
  write: ((out: Output) => Promise<boolean>) | null;
}

/** The worker module: beside this file in dist/; from src/ (vitest) the compiled one in dist/. */
function workerUrl(): URL {
  return import.meta.url.endsWith('.ts')
    ? new URL('../../dist/cli/shard-worker.js', import.meta.url)
    : new URL('./shard-worker.js', import.meta.url);
}

/** One thread and its messages, awaited one at a time (progress lines pass straight through). */
class ShardThread {
  private readonly worker: Worker;
  private readonly queue: FromShard[] = [];
  private wake: (() => void) | null = null;
  private failure: Error | null = null;

  constructor(work: ShardWork, progress: (text: string) => void) {
    this.worker = new Worker(workerUrl(), { workerData: work });
    this.worker.on('message', (m: FromShard) => {
      if (m.t === 'progress') progress(m.text);
      else this.push(m);
    });
    this.worker.on('error', (err: Error) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`shard thread ${work.task.shard} stopped (exit code ${code})`)));
  }

  private push(m: FromShard): void {
    this.queue.push(m);
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  async next(): Promise<FromShard> {
    for (;;) {
      const m = this.queue.shift();
      if (m !== undefined) {
        if (m.t === 'error') throw new Error(m.message);
        return m;
      }
      if (this.failure !== null) throw this.failure;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  send(m: ToShard): void {
    this.worker.postMessage(m);
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }
}

/**
 * Reads the input on `jobs` threads and merges their flows; null, said on stderr, when the
 * input has what shards cannot split (the caller reads it with one engine).
 */
export async function readShardedFlows(
  options: Options, io: Io, jobs: number, format: ShardFormat | null, selection: FlowSelection,
): Promise<ShardedFlows | null> {
  if (!existsSync(fileURLToPath(workerUrl()))) throw new UsageError('--jobs needs the compiled worker (dist/cli/shard-worker.js): run npm run build');
  // Every thread reads the whole input itself: each must be a file that can be read N times.
  for (const c of options.captures) {
    const st = statSync(c, { throwIfNoEntry: false });
    if (st !== undefined && !st.isFile()) throw new UsageError(`--jobs ${jobs} reads the capture on ${jobs} threads, each reading it whole: '${c}' is not a regular file`);
  }
  const { onFlowEnd: _none, ...engine } = engineSettings(options);
  const progress = options.progress ?? (io.stderr.isTTY ? 'auto' : false);
  const threads = Array.from({ length: jobs }, (_, shard) => new ShardThread({
    task: {
      paths: options.captures, shard, shards: jobs, engine, filter: options.filter, checksums: options.checksums === 'validate',
      progress: shard === 0 ? progress : false,
    },
    format,
    selection,
  }, (text) => io.stderr.write(text)));
  try {
    const firsts = await Promise.all(threads.map(async (t) => {
      const m = await t.next();
      if (m.t !== 'read') throw new Error(`shard thread: expected its read, got '${m.t}'`);
      return m;
    }));
    const parts = firsts.map((m) => m.part);
    const merged = mergeShards(parts, Math.max(0, engine.maxRemembered ?? DEFAULTS.maxRemembered));
    if (merged.unsafe !== null) {
      io.stderr.write(`flowdemux: --jobs ${jobs}: read again on one thread: ${merged.unsafe}\n`);
      return null;
    }
    // Every thread read the same frames: shard 0's reading stands for all.
    const read: ReadResult = { ...firsts[0]!.read, progress: new Progress({ enabled: false, stream: io.stderr }) };
    // As one thread decides them: from the captures as they opened (a pcapng's later interface
    // with nanoseconds does not change them).
    const digits = firsts[0]!.digits;
    threads.forEach((t, k) => t.send({ t: 'merge', ids: merged.ids[k]!, forgotten: merged.forgotten[k]!, digits }));
    const answers = await Promise.all(threads.map((t) => t.next()));
    const summary = (source?: string) => summaryOf(merged.counts, source);
    if (format === null) {
      const handedOut = inOneEngineOrder(merged, answers.map((a) => (a.t === 'flows' ? a.flows : [])));
      const byId = [...handedOut].sort((a, b) => a.id - b.id);
      return { read, digits, engine: { summary, flows: () => byId }, handedOut, write: null };
    }
    const rendered = answers.map((a) => (a.t === 'bytes' ? a : { pages: [], spans: new Float64Array(0) }));
    return {
      read,
      digits,
      engine: { summary, flows: () => [] },
      handedOut: [],
      write: (out) => writeRendered(out, rendered, merged, parts, format === 'json'),
    };
  } finally {
    await Promise.all(threads.map((t) => t.stop()));
  }
}

/** The threads' rendered flows, in one engine's order or (`byId`) by id, as JSON array items. */
async function writeRendered(
  out: Output, rendered: { pages: Uint8Array[]; spans: Float64Array }[], merged: MergedShards, parts: readonly ShardResult[], byId: boolean,
): Promise<boolean> {
  let order = merged.order;
  if (byId) {
    // Global id -> (shard, index): one engine's ids are 1..n, each handed out once.
    order = new Int32Array(merged.order.length);
    for (let n = 0; n < merged.order.length; n += 2) {
      const k = merged.order[n]!;
      const i = merged.order[n + 1]!;
      const id = merged.ids[k]![parts[k]!.keys[i * KEY_SIZE + 4]! - 1]!;
      order[(id - 1) * 2] = k;
      order[(id - 1) * 2 + 1] = i;
    }
  }
  let any = false;
  for (let n = 0; n < order.length && !out.closed; n += 2) {
    const { pages, spans } = rendered[order[n]!]!;
    const i = order[n + 1]! * 3;
    const start = spans[i + 1]!;
    const end = spans[i + 2]!;
    if (end === start) continue;
    if (byId) out.write(any ? ',\n' : '\n');
    any = true;
    const wait = out.writeBytes(pages[spans[i]!]!, start, end);
    if (wait) await wait;
  }
  return any;
}
