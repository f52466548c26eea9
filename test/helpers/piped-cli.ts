/**
 * The built CLI as a process fed through a pipe, as `tcpdump -U -w - | flowdemux ...` feeds it:
 * the test writes bytes, then waits for the output lines they cause (an event, never a clock),
 * and decides when the input ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { BIN } from './hang-up.js';

export interface PipedCli {
  child: ChildProcess;
  /** The child's stdin (a pipe), unless it reads something else. */
  stdin: Writable;
  /** Resolves with the next output line not yet taken; rejects if the process ends first. */
  nextLine(): Promise<string>;
  /** Lines that arrived and were not taken yet. */
  readonly queued: number;
  /** How the process ended, with what it wrote to stderr and the lines nobody took. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; rest: string[] }>;
}

export function startPiped(args: string[], stdin: 'pipe' | 'ignore' = 'pipe'): PipedCli {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: [stdin, 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  let ended = false;
  let waiter: { resolve: (line: string) => void; reject: (err: Error) => void } | null = null;
  const serve = () => {
    if (waiter === null) return;
    const w = waiter;
    if (lines.length > 0) {
      waiter = null;
      w.resolve(lines.shift()!);
    } else if (ended) {
      waiter = null;
      w.reject(new Error(`flowdemux ended before the line came; stderr: ${stderr}`));
    }
  };
  child.stdout!.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    serve();
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; rest: string[] }>((resolve) =>
    child.on('close', (code, signal) => {
      ended = true;
      serve();
      resolve({ code, signal, stderr, rest: lines.splice(0) });
    }),
  );
  // A write to a child that already ended (EPIPE) shows in the assertions, not as a crash here.
  child.stdin?.on('error', () => undefined);
  return {
    child,
    stdin: child.stdin!,
    nextLine: () =>
      new Promise<string>((resolve, reject) => {
        waiter = { resolve, reject };
        serve();
      }),
    get queued() {
      return lines.length;
    },
    done,
  };
}

/** A little-endian classic pcap cut into its file header and its records (header + data each). */
export function pcapRecords(bytes: Uint8Array): { header: Uint8Array; records: Uint8Array[] } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== 0xa1b2c3d4) throw new Error('pcapRecords: not a little-endian µs pcap');
  const records: Uint8Array[] = [];
  for (let p = 24; p + 16 <= bytes.length;) {
    const end = p + 16 + dv.getUint32(p + 8, true);
    records.push(bytes.subarray(p, end));
    p = end;
  }
  return { header: bytes.subarray(0, 24), records };
}
