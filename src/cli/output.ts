/**
 * Buffered output to a stream that survives a closed pipe (`flowdemux ... | head`).
 *
 * Output is gathered as bytes into ~64 KiB pieces so that a million short lines become a few
 * hundred writes. Text is encoded into the pending bytes as it comes; the JSON reports render
 * straight into them (`reserve`, then `commit`), so a flow is never a string at all. `write`
 * and `commit` return a promise only when the stream asks us to wait (backpressure), so the
 * hot loop stays synchronous otherwise. When the reader goes away (EPIPE), everything after is
 * dropped and `closed` is set: the caller stops reading the capture and exits 0, as `head`
 * expects from a well-behaved producer.
 */
import type { Writable } from 'node:stream';

const FLUSH_AT = 64 * 1024;
/**
 * Pieces are cut from 1 MiB slabs, one after the other: a fresh buffer per piece would make a
 * thousand allocations (and page faults) for a 64 MB report. A piece handed to the stream is
 * never touched again; the next one starts after it.
 */
const SLAB = 1 << 20;
/** A new piece starts in the current slab only with at least this much room. */
const MIN_ROOM = 2 * FLUSH_AT;

export class Output {
  /**
   * The pending bytes are `buf[0, end)`. To add bytes without a copy: `reserve(n)`, write into
   * the returned buffer from `end` on, then `commit(newEnd)`.
   */
  buf: Buffer;
  end = 0;
  private slab: Buffer = Buffer.allocUnsafe(SLAB);
  /** Where `buf` starts in `slab`. */
  private slabStart = 0;
  private waiting: Promise<void> | null = null;
  closed = false;
  /** Set when the stream failed for another reason than a closed pipe. */
  error: Error | null = null;

  constructor(private readonly stream: Writable) {
    this.buf = this.slab;
    stream.on('error', (err: NodeJS.ErrnoException) => {
      this.closed = true;
      if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') this.error = err;
    });
  }

  /** Queues text (as UTF-8); returns a promise when the caller should await before writing more. */
  write(text: string): Promise<void> | undefined {
    if (this.closed) return undefined;
    // 3 bytes a UTF-16 unit at most; count exactly only when that much room is not there.
    if (this.buf.length - this.end < text.length * 3) this.reserve(Buffer.byteLength(text));
    this.end += this.buf.write(text, this.end);
    return this.end >= FLUSH_AT ? this.flushSome() : undefined;
  }

  /** Queues a copy of `bytes[start, end)`; returns a promise as `write` does. */
  writeBytes(bytes: Uint8Array, start = 0, end = bytes.length): Promise<void> | undefined {
    if (this.closed) return undefined;
    const buf = this.reserve(end - start);
    buf.set(bytes.subarray(start, end), this.end);
    return this.commit(this.end + end - start);
  }

  /**
   * Makes room for `n` more bytes after `end` and returns the buffer to write them into (valid
   * until the next call on this Output).
   */
  reserve(n: number): Buffer {
    if (this.buf.length - this.end < n) {
      const slab = Buffer.allocUnsafe(Math.max(SLAB, this.end + n));
      this.buf.copy(slab, 0, 0, this.end);
      this.slab = this.buf = slab;
      this.slabStart = 0;
    }
    return this.buf;
  }

  /** The bytes up to `end` of the reserved buffer were written; returns a promise as `write` does. */
  commit(end: number): Promise<void> | undefined {
    if (this.closed) {
      this.end = 0;
      return undefined;
    }
    this.end = end;
    return end >= FLUSH_AT ? this.flushSome() : undefined;
  }

  private flushSome(): Promise<void> | undefined {
    if (this.end === 0 || this.closed) return undefined;
    const chunk = this.buf.subarray(0, this.end);
    // The stream may hold the piece until it is written: the next bytes go after it.
    this.slabStart += this.end;
    if (this.slab.length - this.slabStart < MIN_ROOM) {
      this.slab = Buffer.allocUnsafe(SLAB);
      this.slabStart = 0;
    }
    this.buf = this.slab.subarray(this.slabStart);
    this.end = 0;
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
