/**
 * What every run of the CLI on hostile input must satisfy, shared by the fuzz tests: stderr is
 * the project's own one-line messages, nothing on either stream can drive a terminal, and the
 * run ends in time without holding on to memory.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { runCli } from '../helpers/run-cli.js';

/**
 * Code points that a terminal may act on: C0 controls other than newline and tab (ESC starts
 * escape sequences, CR rewrites a line, BEL rings), DEL, and the C1 controls U+0080-U+009F
 * (U+009B is a one-character CSI on terminals that honour C1). Checked on decoded text, so the
 * box-drawing characters of the tables (multi-byte UTF-8) are fine.
 */
export function controlCharacters(text: string): string[] {
  const bad: string[] = [];
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if ((c < 0x20 && c !== 0x0a && c !== 0x09) || (c >= 0x7f && c <= 0x9f)) {
      bad.push(`U+${c.toString(16).padStart(4, '0')} at ${text.indexOf(ch)}`);
    }
  }
  return bad;
}

/** Problems with stderr: every line one `flowdemux: ...` message, no stack trace. */
export function stderrProblems(stderr: string): string[] {
  const problems: string[] = [];
  if (stderr !== '' && !stderr.endsWith('\n')) problems.push('stderr does not end with a newline');
  for (const line of stderr.split('\n').slice(0, -1)) {
    if (!line.startsWith('flowdemux: ')) problems.push(`stderr line not from flowdemux: ${JSON.stringify(line.slice(0, 200))}`);
    if (/^\s+at /.test(line) || /\bat .*\.(ts|js):\d+:\d+/.test(line)) problems.push(`stack trace: ${JSON.stringify(line.slice(0, 200))}`);
    if (/internal (decoder )?error/.test(line)) problems.push(`internal error: ${JSON.stringify(line.slice(0, 200))}`);
  }
  for (const c of controlCharacters(stderr)) problems.push(`control character on stderr: ${c}`);
  return problems;
}

let gcFn: (() => void) | null | undefined;

/** A full garbage collection, so that heap figures measure what is held, not what is garbage. */
export function collectGarbage(): void {
  if (gcFn === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    } catch {
      gcFn = null;
    }
  }
  gcFn?.();
}

/** Heap plus ArrayBuffer memory (capture buffers live outside the JS heap). */
export function heldBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

export interface TimedRun {
  code: number;
  stdout: string;
  stderr: string;
  /** CPU time of this process during the run (ms): not inflated by other work on the machine. */
  cpuMs: number;
  /** Growth of the process's peak RSS during the run, in bytes. */
  peakGrowth: number;
  /**
   * ArrayBuffer memory right after the run, over what it was before: buffers the run allocated
   * and no collection has freed yet. Catches a buffer sized from a damaged length field even
   * when its pages were never touched (so RSS would not show it).
   */
  bufferGrowth: number;
  /** Set when `run` threw instead of returning an exit code (main() would print "internal error", exit 70). */
  thrown: Error | null;
}

/** CPU time of this process since `from` (ms): what a run cost, whatever else the machine runs. */
function cpuMsSince(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1000;
}

/** Runs the CLI in-process, counting the CPU time it took and catching anything it throws. */
export async function timedRun(args: string[], stdin?: Uint8Array): Promise<TimedRun> {
  const rssBefore = process.resourceUsage().maxRSS;
  const buffersBefore = process.memoryUsage().arrayBuffers;
  const cpu0 = process.cpuUsage();
  let thrown: Error | null = null;
  let r = { code: 70, stdout: '', stderr: '' };
  try {
    r = await runCli(args, stdin);
  } catch (err) {
    thrown = err as Error;
  }
  return {
    ...r,
    cpuMs: cpuMsSince(cpu0),
    peakGrowth: (process.resourceUsage().maxRSS - rssBefore) * 1024,
    bufferGrowth: process.memoryUsage().arrayBuffers - buffersBefore,
    thrown,
  };
}
