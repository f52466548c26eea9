/**
 * Buffered output to a stream that survives a closed pipe (`flowdemux ... | head`).
 *
 * Text is gathered into ~64 KiB pieces so that a million short lines become a few hundred
 * writes; `write` returns a promise only when the stream asks us to wait (backpressure), so the
 * hot loop stays synchronous otherwise. When the reader goes away (EPIPE), everything after is
 * dropped and `closed` is set: the caller stops reading the capture and exits 0, as `head`
 * expects from a well-behaved producer.
 */
import type { Writable } from 'node:stream';

const FLUSH_AT = 64 * 1024;

export class Output {
  private parts: string[] = [];
  private size = 0;
  private waiting: Promise<void> | null = null;
  closed = false;
  /** Set when the stream failed for another reason than a closed pipe. */
  error: Error | null = null;

  constructor(private readonly stream: Writable) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      this.closed = true;
      if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') this.error = err;
    });
  }

  /** Queues text; returns a promise when the caller should await before writing more. */
  write(text: string): Promise<void> | undefined {
    if (this.closed) return undefined;
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= FLUSH_AT) return this.flushSome();
    return undefined;
  }

  private flushSome(): Promise<void> | undefined {
    if (this.parts.length === 0 || this.closed) return undefined;
    const chunk = this.parts.join('');
    this.parts = [];
    this.size = 0;
    const ok = this.stream.write(chunk);
    if (ok) return undefined;
    this.waiting ??= new Promise<void>((resolve) => {
      const done = () => {
        this.stream.off('drain', done);
        this.stream.off('close', done);
        this.stream.off('error', done);
        this.waiting = null;
        resolve();
      };
      this.stream.on('drain', done);
      this.stream.on('close', done);
      this.stream.on('error', done);
    });
    return this.waiting;
  }

  /** Writes what is queued and waits until the stream took it (or closed). */
  async flush(): Promise<void> {
    await this.flushSome();
    if (this.closed) return;
    // An empty write's callback runs after every earlier write was handed to the OS (or failed).
    await new Promise<void>((resolve) => this.stream.write('', () => resolve()));
  }
}

/**
 * Replaces control characters so that text from file names or packets cannot drive a terminal.
 * For every line written to stderr, and for file names in text output.
 */
export function safeText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
