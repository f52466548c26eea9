/** Runs the CLI in-process (the same `run` the binary calls) and captures its output. */
import { PassThrough, Writable } from 'node:stream';
import { run } from '../../src/cli/main.js';

class Collect extends Writable {
  text = '';
  /** The bytes as written, for output that is not text (follow --format raw). */
  readonly chunks: Buffer[] = [];
  isTTY = false;
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    this.chunks.push(Buffer.from(chunk));
    cb();
  }
}

export async function runCli(args: string[], stdin?: Uint8Array): Promise<{ code: number; stdout: string; stderr: string; stdoutBytes: Buffer }> {
  const stdout = new Collect();
  const stderr = new Collect();
  const input = new PassThrough();
  input.end(stdin ?? new Uint8Array(0));
  const code = await run(args, { stdout, stderr, stdin: input });
  return { code, stdout: stdout.text, stderr: stderr.text, stdoutBytes: Buffer.concat(stdout.chunks) };
}
