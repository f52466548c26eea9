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
 * not touched again until the stream says it was written (its write callback) and only when the
 * stream writes to a file descriptor itself (process.stdout, a file): then the bytes are in the
 * kernel and a slab whose pieces were all written is reused. A stream in memory (PassThrough)
 * may hold on to the very buffer after its callback, so its slabs are never reused. Reuse spared
 * a 2M-packet JSON report 64 MB of fresh memory and ~30,000 page faults.
 */
const SLAB = 1 << 20;
/** Written slabs kept for reuse. */
const SPARE_SLABS = 4;

interface Slab {
  buf: Buffer;
  /** Pieces handed to the stream whose write callback has not run yet. */
  pending: number;
  /** No more pieces will be cut from it. */
  retired: boolean;
}
/** A new piece starts in the current slab only with at least this much room. */
const MIN_ROOM = 2 * FLUSH_AT;

export class Output {
  /**
   * The pending bytes are `buf[0, end)`. To add bytes without a copy: `reserve(n)`, write into
   * the returned buffer from `end` on, then `commit(newEnd)`.
   */
  buf: Buffer;
  end = 0;
  private slab: Slab = { buf: Buffer.allocUnsafe(SLAB), pending: 0, retired: false };
  private readonly spare: Buffer[] = [];
  /** The stream writes to a descriptor: its write callback means the piece may be overwritten. */
  private readonly reuse: boolean;
  /** Where `buf` starts in `slab`. */
  private slabStart = 0;
  private waiting: Promise<void> | null = null;
  closed = false;
  /** Set when the stream failed for another reason than a closed pipe. */
  error: Error | null = null;

  constructor(private readonly stream: Writable) {
    this.buf = this.slab.buf;
    this.reuse = typeof (stream as { fd?: unknown }).fd === 'number';
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
    return this.end >= FLUSH_AT ? this.sendQueued() : undefined;
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
      const old = this.buf;
      this.newSlab(this.end + n);
      old.copy(this.buf, 0, 0, this.end);
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
    return end >= FLUSH_AT ? this.sendQueued() : undefined;
  }

  /**
   * Hands the queued bytes to the stream now, without waiting until they are written (a line
   * that is due: streaming input). Returns a promise when the stream asks to wait (backpressure).
   */
  sendQueued(): Promise<void> | undefined {
    if (this.end === 0 || this.closed) return undefined;
    const chunk = this.buf.subarray(0, this.end);
    const slab = this.slab;
    // Counted before the slab can be retired below: a retired slab with nothing pending is
    // reused at once, and this piece is not written yet.
    slab.pending++;
    // The stream may hold the piece until it is written: the next bytes go after it.
    this.slabStart += this.end;
    this.end = 0;
    if (slab.buf.length - this.slabStart < MIN_ROOM) this.newSlab(SLAB);
    else this.buf = slab.buf.subarray(this.slabStart);
    const ok = this.stream.write(chunk, () => {
      if (--slab.pending === 0 && slab.retired) this.recycle(slab);
    });
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

  /** Starts a slab of at least `size` bytes (a written one when there is one); `buf` is all of it. */
  private newSlab(size: number): void {
    const old = this.slab;
    const spare = size <= SLAB ? this.spare.pop() : undefined;
    this.slab = { buf: spare ?? Buffer.allocUnsafe(Math.max(SLAB, size)), pending: 0, retired: false };
    // Recycled after the new slab is taken: `reserve` still copies the old one's pending bytes.
    old.retired = true;
    if (old.pending === 0) this.recycle(old);
    this.slabStart = 0;
    this.buf = this.slab.buf;
  }

  private recycle(slab: Slab): void {
    if (this.reuse && slab.buf.length === SLAB && this.spare.length < SPARE_SLABS) this.spare.push(slab.buf);
  }

  /**
   * Lets written pieces come back for reuse: a stream that writes synchronously (a file) still
   * runs its callbacks on the next tick, so a long loop without an await should call this now
   * and then.
   */
  async settle(): Promise<void> {
    if (this.reuse) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Writes what is queued and waits until the stream took it (or closed). */
  async flush(): Promise<void> {
    await this.sendQueued();
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
