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
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Writable } from 'node:stream';
import { existsSync, readFileSync } from 'node:fs';
import { run } from '../cli/main.js';
import { compareWithTshark, type Comparison, type TsharkFlows } from './tshark-compare.js';

export interface FileResult {
  file: string;
  code: number;
  stderr: string;
  ms: number;
  /** With the flows command: agreement with tshark's `FILE.flows.json`, when tshark read it cleanly. */
  comparison?: Comparison;
}

const CAPTURE_NAME = /\.(pcap|pcapng|cap|pcap\.gz|pcapng\.gz|dmp|trace)$/i;

class Sink extends Writable {
  text = '';
  constructor(private readonly limit: number) {
    super();
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    if (this.text.length < this.limit) this.text += chunk.toString();
    cb();
  }
}

/** tshark's answer beside a capture, when tshark read the whole file (exit 0). */
function tsharkAnswer(file: string): TsharkFlows | null {
  const path = `${file}.flows.json`;
  if (!existsSync(path)) return null;
  const t = JSON.parse(readFileSync(path, 'utf8')) as TsharkFlows;
  return t.tshark_rc === 0 ? t : null;
}

async function workerMain(): Promise<void> {
  parentPort!.on('message', async (msg: { file: string; command: string }) => {
    const compare = msg.command === 'flows';
    const stdout = new Sink(compare ? Infinity : 0);
    const stderr = new Sink(4096);
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
    if (compare && code !== 1 && code !== 70) {
      const tshark = tsharkAnswer(msg.file);
      if (tshark) result.comparison = compareWithTshark(JSON.parse(stdout.text).flows, tshark);
    }
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

export interface CorpusReport {
  folder: string;
  command: string;
  files: number;
  seconds: number;
  timeoutMs: number;
  crashes: FileResult[];
  hangs: string[];
  unreadable: FileResult[];
  slowest: FileResult | null;
  /** flows command: tshark's TCP/UDP conversations matched exactly / by rule / in all, and the files that differ. */
  agreement: { total: number; exact: number; byRule: number; files: number; differing: FileResult[] };
}

/** Runs `command` over every capture in `folder`, one file at a time, each within `timeoutMs`. */
export async function checkCorpus(
  folder: string,
  options: { timeoutMs?: number; command?: string; onFile?: (r: FileResult) => void } = {},
): Promise<CorpusReport> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const command = options.command ?? 'packets';
  const files = listCaptures(folder);
  const report: CorpusReport = { folder, command, files: files.length, seconds: 0, timeoutMs, crashes: [], hangs: [], unreadable: [], slowest: null,
    agreement: { total: 0, exact: 0, byRule: 0, files: 0, differing: [] } };
  const started = Date.now();
  let worker: Worker | null = null;
  const newWorker = () =>
    new Worker(new URL(import.meta.url), {
      workerData: { corpusWorker: true },
      stdout: true,
      stderr: true,
      resourceLimits: { maxOldGenerationSizeMb: 1024 },
    });
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
      if (outcome === 'hang') report.hangs.push(file);
      else report.crashes.push({ file, code: -1, stderr: `worker died: ${outcome.message}`, ms: 0 });
      continue;
    }
    options.onFile?.(outcome);
    if (!report.slowest || outcome.ms > report.slowest.ms) report.slowest = outcome;
    if (outcome.comparison) {
      const a = report.agreement;
      a.files++;
      a.total += outcome.comparison.total;
      a.exact += outcome.comparison.exact;
      a.byRule += outcome.comparison.byRule;
      if (outcome.comparison.differences.length > 0) a.differing.push(outcome);
    }
    if (outcome.code === 1) report.unreadable.push(outcome);
    else if (outcome.code !== 0 && outcome.code !== 3) report.crashes.push(outcome);
  }
  await worker?.terminate();
  report.seconds = (Date.now() - started) / 1000;
  return report;
}

export function formatReport(r: CorpusReport): string {
  const lines = [
    `corpus check: ${r.files} captures in ${r.folder}, ${r.command}, ${r.seconds.toFixed(1)} s`,
    `  crashes: ${r.crashes.length}, hangs (> ${r.timeoutMs / 1000} s): ${r.hangs.length}, unreadable (exit 1): ${r.unreadable.length}`,
  ];
  if (r.slowest) lines.push(`  slowest: ${r.slowest.ms} ms ${r.slowest.file}`);
  for (const c of r.crashes) lines.push(`  CRASH ${c.file}: exit ${c.code}: ${c.stderr.trim().split('\n').slice(0, 3).join(' | ')}`);
  for (const h of r.hangs) lines.push(`  HANG ${h}`);
  const a = r.agreement;
  if (a.files > 0) {
    const pct = (n: number) => (a.total === 0 ? '100.0' : ((100 * n) / a.total).toFixed(2));
    lines.push(`  agreement with tshark on ${a.files} captures it read cleanly: ${a.exact + a.byRule} of ${a.total} TCP/UDP conversations (${pct(a.exact + a.byRule)}%): ${a.exact} exactly, ${a.byRule} by a rule of counting (flowdemux's generations, tshark's SNMP split: same sums)`);
    for (const f of a.differing) {
      for (const d of f.comparison!.differences) lines.push(`  DIFF ${f.file}: ${d.proto} ${d.ends}: ${d.detail}`);
    }
  }
  for (const u of r.unreadable) lines.push(`  unreadable ${u.stderr.trim().split('\n').filter((l) => !l.includes('warning:')).join(' | ')}`);
  return lines.join('\n') + '\n';
}

async function cliMain(): Promise<void> {
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
  const report = await checkCorpus(folder, {
    timeoutMs,
    command,
    onFile: verbose ? (r) => process.stdout.write(`${r.code} ${r.ms}ms ${r.file}\n`) : undefined,
  });
  process.stdout.write(formatReport(report));
  process.exitCode = report.crashes.length + report.hangs.length > 0 ? 1 : 0;
}

if (!isMainThread && (workerData as { corpusWorker?: boolean } | null)?.corpusWorker) await workerMain();
else if (isMainThread && process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await cliMain();
