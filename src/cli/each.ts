/**
 * `flowdemux flows --each CAPTURE.. --output DIR [--jobs N]`: every capture on its own (its own
 * flow table, not one timeline), one output a capture in DIR named after it, the captures
 * read `--jobs` at a time on worker threads (each-worker.ts runs `flows` for one capture, as
 * the command line would). One progress line for all; each capture's own stderr lines (its
 * warnings name it) are passed on when it is done.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CommandResult, Io } from './command.js';
import { UsageError, type Options } from './options.js';
import { safeText } from './output.js';
import { clockText } from '../pipeline/progress.js';

/** The file name ending of each format's output. */
const EXTENSIONS: Record<string, string> = {
  table: 'txt', json: 'json', ndjson: 'ndjson', csv: 'csv', zeek: 'conn.log', 'zeek-json': 'conn.json', ecs: 'ecs.ndjson', parquet: 'parquet',
};

/**
 * Where each capture's output goes: DIR/NAME.EXT, NAME the capture's file name without
 * .pcap/.pcapng/.cap (and .gz); a name already taken (the same file name in two folders) gets
 * -2, -3...
 */
export function eachTargets(captures: readonly string[], dir: string, format: string): string[] {
  const ext = EXTENSIONS[format] ?? format;
  const used = new Set<string>();
  return captures.map((c) => {
    const stem = basename(c).replace(/\.(pcapng|pcap|cap)(\.gz)?$/i, '').replace(/\.gz$/i, '') || 'capture';
    let name = `${stem}.${ext}`;
    for (let n = 2; used.has(name); n++) name = `${stem}-${n}.${ext}`;
    used.add(name);
    return join(dir, name);
  });
}

/** The worker module: beside this file in dist/; from src/ (vitest) the compiled one in dist/. */
function workerUrl(): URL {
  return import.meta.url.endsWith('.ts')
    ? new URL('../../dist/cli/each-worker.js', import.meta.url)
    : new URL('./each-worker.js', import.meta.url);
}

/** What the main thread sends a worker: one capture's run. */
export interface EachTask {
  options: Omit<Options, 'keep'>;
}

/** What a worker answers: the run's exit code and what it wrote to stderr. */
export interface EachDone {
  code: number;
  stderr: string;
}

const CLEAR = '\r\x1b[K';

/** `1.2 GB`, `340 MB`, `12 kB`. */
function sizeText(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${Math.round(bytes / 1e6)} MB`;
  return `${Math.round(bytes / 1e3)} kB`;
}

export async function runEach(options: Options, io: Io): Promise<CommandResult> {
  const dir = options.output!;
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`--each writes into a folder: '${dir}' is a file`);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new UsageError(`--output '${dir}': cannot make the folder: ${(err as Error).message.split('\n')[0]}`);
  }
  const url = workerUrl();
  if (!existsSync(fileURLToPath(url))) throw new UsageError('--each needs the compiled worker (dist/cli/each-worker.js): run npm run build');
  const targets = eachTargets(options.captures, dir, options.format);
  const sizes = options.captures.map((c) => statSync(c, { throwIfNoEntry: false })?.size ?? 0);
  const totalBytes = sizes.reduce((a, b) => a + b, 0);
  const jobs = Math.max(1, Math.min(options.jobs ?? availableParallelism(), options.captures.length));

  // One line for all, redrawn when a capture ends and twice a second for the clock.
  const showProgress = options.progress ?? Boolean(io.stderr.isTTY);
  const started = Date.now();
  let done = 0;
  let doneBytes = 0;
  let running = 0;
  let drawn = false;
  const draw = () => {
    if (!showProgress) return;
    const secs = Math.round((Date.now() - started) / 1000);
    io.stderr.write(`${CLEAR}flows --each: ${done} of ${options.captures.length} captures done (${sizeText(doneBytes)} of ${sizeText(totalBytes)}), `
      + `${running} reading, ${clockText(secs)}`);
    drawn = true;
  };
  const clear = () => {
    if (drawn) io.stderr.write(CLEAR);
    drawn = false;
  };
  const timer = showProgress ? setInterval(draw, 500) : null;
  timer?.unref();

  const codes: number[] = new Array(options.captures.length).fill(0);
  let next = 0;
  const { keep: _compiled, ...plain } = options;
  const worker = async (): Promise<void> => {
    const w = new Worker(url);
    try {
      for (let i = next++; i < options.captures.length; i = next++) {
        running++;
        draw();
        const task: EachTask = {
          options: { ...plain, captures: [options.captures[i]!], output: targets[i], each: false, jobs: undefined, progress: false, captureLabel: options.captures[i] },
        };
        const answer = await new Promise<EachDone>((resolve) => {
          const onMessage = (m: EachDone) => {
            w.off('error', onError);
            resolve(m);
          };
          const onError = (err: Error) => {
            w.off('message', onMessage);
            resolve({ code: 70, stderr: `flowdemux: ${options.captures[i]}: internal error: ${err.message}\n` });
          };
          w.once('message', onMessage);
          w.once('error', onError);
          w.postMessage(task);
        });
        running--;
        done++;
        doneBytes += sizes[i]!;
        codes[i] = answer.code;
        clear();
        if (answer.stderr !== '') io.stderr.write(answer.stderr);
        draw();
        if (answer.code === 70) break; // the worker is gone
      }
    } finally {
      await w.terminate();
    }
  };
  try {
    await Promise.all(Array.from({ length: jobs }, worker));
  } finally {
    if (timer) clearInterval(timer);
    clear();
  }

  const failed = codes.filter((c) => c !== 0 && c !== 3).length;
  const warned = codes.filter((c) => c === 3).length;
  const written = options.captures.length - failed;
  io.stderr.write(`flowdemux: ${written} of ${options.captures.length} captures written to ${safeText(dir)} (${jobs} worker thread${jobs === 1 ? '' : 's'})\n`);
  return {
    errors: failed > 0 ? [`${failed} of ${options.captures.length} captures could not be read or written (see above)`] : [],
    // Under --strict each capture's run said its warnings and exited 3: exit 3 here too.
    warnings: warned > 0 ? [`${warned} of ${options.captures.length} captures had warnings (see above)`] : [],
    exitCode: codes.includes(2) ? 2 : undefined,
  };
}
