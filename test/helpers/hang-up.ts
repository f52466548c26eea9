/**
 * `flowdemux ... | head -1` without a shell: starts the built binary, reads its standard output
 * until the first line, then closes the pipe, and reports how the process ended.
 */
import { spawn } from 'node:child_process';

export const BIN = new URL('../../bin/flowdemux.js', import.meta.url).pathname;

export interface HangUpResult {
  firstLine: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  ms: number;
}

/** Kills the process after `killAfterMs` (a hang shows as signal SIGKILL). */
export async function firstLineThenHangUp(args: string[], env: NodeJS.ProcessEnv = process.env, killAfterMs = 30_000): Promise<HangUpResult> {
  const t0 = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  let buf = '';
  const onData = (d: Buffer) => {
    buf += d.toString();
    if (buf.includes('\n')) {
      child.stdout.off('data', onData);
      child.stdout.destroy();
    }
  };
  child.stdout.on('data', onData);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  return { firstLine: buf.split('\n')[0]!, code, signal, stderr, ms: Date.now() - t0 };
}
