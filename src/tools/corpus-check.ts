/**
 * Corpus check: runs a flowdemux command over every capture in a folder, in-process, one file
 * at a time in a worker thread with a time bound per file, and reports crashes (an internal
 * error escaped, exit 70), hangs (the bound passed: the worker is killed and the next file goes
 * on in a fresh one) and files it could not read (exit 1, with their one-line reason).
 *
 *   node dist/tools/corpus-check.js [folder] [--timeout 10] [--command packets] [--verbose]
 *
 * Exit status: 0 when there was no crash and no hang, 1 otherwise.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { Writable } from 'node:stream';
import { run } from '../cli/main.js';

interface FileResult {
  file: string;
  code: number;
  stderr: string;
  ms: number;
}

const CAPTURE_NAME = /\.(pcap|pcapng|cap|pcap\.gz|pcapng\.gz|dmp|trace)$/i;

class Sink extends Writable {
  text = '';
  constructor(private readonly keep: boolean) {
    super();
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    if (this.keep && this.text.length < 4096) this.text += chunk.toString();
    cb();
  }
}

async function workerMain(): Promise<void> {
  parentPort!.on('message', async (msg: { file: string; command: string }) => {
    const stdout = new Sink(false);
    const stderr = new Sink(true);
    const started = Date.now();
    let code: number;
    try {
      code = await run([msg.command, msg.file, '--format', msg.command === 'packets' ? 'ndjson' : 'json'], {
        stdout, stderr, stdin: process.stdin,
      });
    } catch (err) {
      code = 70;
      stderr.text += `uncaught: ${(err as Error).stack}\n`;
    }
    const result: FileResult = { file: msg.file, code, stderr: stderr.text, ms: Date.now() - started };
    parentPort!.postMessage(result);
  });
}

function listCaptures(folder: string): string[] {
  return readdirSync(folder)
    .filter((n) => CAPTURE_NAME.test(n))
    .map((n) => join(folder, n))
    .filter((p) => statSync(p).isFile())
    .sort();
}

async function mainThread(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string, dflt: string) => {
    const i = args.indexOf(name);
    if (i < 0) return dflt;
    const v = args[i + 1] ?? dflt;
    args.splice(i, 2);
    return v;
  };
  const timeoutMs = Number(opt('--timeout', '10')) * 1000;
  const command = opt('--command', 'packets');
  const verbose = args.includes('--verbose');
  const folder = args.find((a) => !a.startsWith('--')) ?? '../shared/corpus';
  const files = listCaptures(folder);
  const crashes: FileResult[] = [];
  const hangs: string[] = [];
  const unreadable: FileResult[] = [];
  let slowest: FileResult | null = null;
  const started = Date.now();

  let worker: Worker | null = null;
  const newWorker = () => new Worker(new URL(import.meta.url), { stdout: true, stderr: true, resourceLimits: { maxOldGenerationSizeMb: 1024 } });
  for (const file of files) {
    worker ??= newWorker();
    const w = worker;
    const outcome = await new Promise<FileResult | 'hang' | Error>((resolve) => {
      const timer = setTimeout(() => resolve('hang'), timeoutMs);
      const done = (v: FileResult | Error) => {
        clearTimeout(timer);
        w.off('message', onMessage);
        w.off('error', onError);
        resolve(v);
      };
      const onMessage = (r: FileResult) => done(r);
      const onError = (e: Error) => done(e);
      w.on('message', onMessage);
      w.on('error', onError);
      w.postMessage({ file, command });
    });
    if (outcome === 'hang' || outcome instanceof Error) {
      await w.terminate();
      worker = null;
      if (outcome === 'hang') hangs.push(file);
      else crashes.push({ file, code: -1, stderr: `worker died: ${outcome.message}`, ms: 0 });
      continue;
    }
    if (!slowest || outcome.ms > slowest.ms) slowest = outcome;
    if (outcome.code === 1) unreadable.push(outcome);
    else if (outcome.code !== 0 && outcome.code !== 3) crashes.push(outcome);
    if (verbose) process.stdout.write(`${outcome.code} ${outcome.ms}ms ${file}\n`);
  }
  await worker?.terminate();

  const secs = ((Date.now() - started) / 1000).toFixed(1);
  process.stdout.write(`corpus check: ${files.length} captures in ${folder}, ${command}, ${secs} s\n`);
  process.stdout.write(`  crashes: ${crashes.length}, hangs (> ${timeoutMs / 1000} s): ${hangs.length}, unreadable (exit 1): ${unreadable.length}\n`);
  if (slowest) process.stdout.write(`  slowest: ${slowest.ms} ms ${slowest.file}\n`);
  for (const c of crashes) process.stdout.write(`  CRASH ${c.file}: exit ${c.code}: ${c.stderr.trim().split('\n').slice(0, 3).join(' | ')}\n`);
  for (const h of hangs) process.stdout.write(`  HANG ${h}\n`);
  for (const u of unreadable) process.stdout.write(`  unreadable ${u.stderr.trim().split('\n').filter((l) => !l.includes('warning:')).join(' | ')}\n`);
  process.exitCode = crashes.length + hangs.length > 0 ? 1 : 0;
}

if (isMainThread) await mainThread();
else await workerMain();
