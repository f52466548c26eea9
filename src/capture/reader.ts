/**
 * Byte plumbing shared by the capture readers: where bytes come from (a file handle or a
 * stream) and a contiguous read window over them.
 *
 * A refill takes another buffer (a fresh one, or with `recycle` set one the reader has
 * finished with), copies the few unconsumed bytes to its front and reads after them: the
 * buffer the last batch's frames point into is never written while they may be used. Frames
 * point straight into the window (pcap and pcapng alike), with no copy per packet.
 * - pcapng (recycle off): every refill allocates, so a frame stays valid for as long as anyone
 *   holds it, more than the FrameSource contract promises.
 * - pcap (recycle on): it yields every frame of a buffer before asking for the next fill, so the
 *   buffer before the current one is handed back to the input (`ByteInput.recycle`, at most
 *   four kept) and read into again: a frame is valid until the batch after its own is asked
 *   for, exactly the FrameSource contract.
 * The unconsumed tail is at most one partial record or block, so the copy is small,
 * except for a record larger than a chunk: its buffer grows (doubling) as its bytes arrive, so
 * memory follows the bytes present, never the length a damaged header claims.
 */
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { ByteMeter } from '../core/frame.js';

/** Size of one read. Large reads keep the per-syscall and per-batch costs negligible. */
export const CHUNK_SIZE = 1 << 20;

/**
 * Size of one read from a pipe or FIFO that streams (open.ts): a pipe holds 64 KiB by default,
 * and a live writer hands over a record at a time, so every read (one packet, often) would
 * otherwise get a fresh 1 MiB buffer (pcapng does not recycle its buffers).
 */
export const STREAM_CHUNK_SIZE = 64 << 10;

/**
 * Largest record or block we agree to buffer. Anything claiming more is damage (a random
 * 32-bit length is almost always above this), refused before a byte of it is buffered.
 */
export const MAX_RECORD_BYTES = 256 << 20;

/**
 * Room before a read-ahead chunk's bytes (FileInput.takeChunk): the unconsumed tail of the
 * previous chunk is copied there, in front of the new bytes, instead of the new bytes being
 * copied behind it. The tail is one partial record or block, almost always far smaller.
 */
export const HEADROOM = 256 << 10;

/** A read-ahead chunk: its bytes are `buf[HEADROOM, HEADROOM + length)`. */
export interface Chunk {
  buf: Buffer;
  length: number;
}

/** Where bytes come from. `readInto` resolves to 0 only at the end of the input. */
export interface ByteInput {
  /** Copies up to `length` bytes into `target` at `offset`; waits for at least one byte. */
  readInto(target: Buffer, offset: number, length: number): Promise<number>;
  close(): Promise<void>;
  /**
   * Inputs that read ahead into their own buffers (FileInput) hand over the next whole chunk
   * instead of copying it: allowed when `buffered` is 0 (nothing of the current chunk is left).
   * A length of 0: the input ended.
   */
  takeChunk?(): Promise<Chunk>;
  /** Bytes left of the current chunk (0: drained). */
  readonly buffered?: number;
  /** A chunk's buffer that no frame refers to any more, to read into again. */
  recycle?(buf: Buffer): void;
}

/**
 * An input that failed (read error, corrupt gzip). The message is one line, ready for a
 * CaptureError reason or a warning: "read error: EIO: i/o error", "gzip data is corrupt: ...".
 */
export class InputError extends Error {
  override name = 'InputError';
}

/**
 * A regular file read sequentially. Fills as much as asked for (files have no short reads but at
 * EOF). Reads ahead: while the caller decodes one chunk, the next is already being read by
 * libuv's thread pool, so the disk (or page cache) and the decoding overlap instead of taking
 * turns (a sixth of the time of a 2M-packet run was spent waiting for reads; with the file not
 * in the page cache, reading without read-ahead took 2.5 s instead of 1.8 s).
 *
 * Buffers take turns: the next read goes into one while another is still being used. With a
 * single buffer the read could only start once the buffer was drained, and reads that do not
 * line up with the chunks (open.ts probes with 64 KiB first, so every later 1 MiB request
 * drained one chunk and started the next) left no read in flight while the caller decoded: 0.4 s
 * of waiting in a 2.2 s run (issue 6).
 *
 * A chunk is read at HEADROOM into its buffer. `readInto` copies from it; `takeChunk` gives the
 * buffer itself to the Window, which puts its unconsumed tail in the headroom: the 627 MB of the
 * benchmark capture are then not copied a second time (4-8% of a run, issue 6).
 */
export class FileInput implements ByteInput, ByteMeter {
  /** The chunk being copied out: cur[curStart, curEnd). */
  private cur: Buffer | null = null;
  private curStart = 0;
  private curEnd = 0;
  /** The read in flight, into `aheadBuf`. */
  private ahead: Promise<number> | null = null;
  private aheadBuf: Buffer | null = null;
  /** Buffers ready for the next read. */
  private readonly pool: Buffer[] = [];
  /** A read returned less than a chunk: the file ends, start no more reads. */
  private eof = false;

  /** Bytes read from the file so far (ByteMeter): counted per 1 MiB read, not per packet. */
  bytesRead = 0;

  /** `size`: the file's size at open (ByteMeter). */
  constructor(private readonly fh: FileHandle, readonly size = 0) {}

  private async readFull(target: Buffer, offset: number, length: number): Promise<number> {
    let got = 0;
    while (got < length) {
      const { bytesRead } = await this.fh.read(target, offset + got, length - got, null);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    this.bytesRead += got;
    return got;
  }

  private startAhead(): void {
    if (this.eof || this.ahead !== null) return;
    const buf = this.pool.pop() ?? Buffer.allocUnsafeSlow(HEADROOM + CHUNK_SIZE);
    this.aheadBuf = buf;
    // A rejection is kept in the promise and thrown by the readInto that awaits it.
    this.ahead = this.readFull(buf, HEADROOM, CHUNK_SIZE);
    this.ahead.catch(() => undefined);
  }

  async readInto(target: Buffer, offset: number, length: number): Promise<number> {
    let got = 0;
    try {
      while (got < length) {
        if (this.curStart === this.curEnd) {
          if (this.ahead === null) {
            if (this.eof) break;
            this.startAhead();
          }
          const n = await this.ahead!;
          this.ahead = null;
          if (this.cur !== null) this.pool.push(this.cur);
          this.cur = this.aheadBuf;
          this.curStart = HEADROOM;
          this.curEnd = HEADROOM + n;
          if (n < CHUNK_SIZE) this.eof = true;
          if (n === 0) break;
        }
        const n = Math.min(length - got, this.curEnd - this.curStart);
        this.cur!.copy(target, offset + got, this.curStart, this.curStart + n);
        this.curStart += n;
        got += n;
      }
    } catch (err) {
      throw new InputError(`read error: ${errorText(err)}`);
    }
    // The caller now decodes what it got: read the next chunk meanwhile, into the other buffer.
    this.startAhead();
    return got;
  }

  get buffered(): number {
    return this.curEnd - this.curStart;
  }

  async takeChunk(): Promise<Chunk> {
    if (this.buffered !== 0) throw new Error('takeChunk: the current chunk is not drained');
    if (this.ahead === null) {
      if (this.eof) return { buf: Buffer.alloc(0), length: 0 };
      this.startAhead();
    }
    let n: number;
    try {
      n = await this.ahead!;
    } catch (err) {
      this.ahead = null;
      throw new InputError(`read error: ${errorText(err)}`);
    }
    this.ahead = null;
    const buf = this.aheadBuf!;
    this.aheadBuf = null;
    if (this.cur !== null) {
      this.pool.push(this.cur);
      this.cur = null;
      this.curStart = this.curEnd = 0;
    }
    if (n < CHUNK_SIZE) this.eof = true;
    this.startAhead();
    return { buf, length: n };
  }

  recycle(buf: Buffer): void {
    if (buf.length === HEADROOM + CHUNK_SIZE && this.pool.length < 4) this.pool.push(buf);
  }

  async close(): Promise<void> {
    // Let a read in flight finish before the handle goes (closing under it is an EBADF race).
    await this.ahead?.catch(() => undefined);
    await this.fh.close().catch(() => undefined);
  }
}

/**
 * A Node readable (stdin, a gunzip stream). Copies whatever the stream has buffered, so a
 * fast producer gives large reads and a slow one (a live pipe) is not waited for.
 */
export class StreamInput implements ByteInput {
  private readonly stream: Readable;
  private pending: Buffer | null = null;
  private ended = false;
  private error: Error | null = null;
  private wake: (() => void) | null = null;
  private readonly onReadable: () => void;
  private readonly onEnd: () => void;

  /** `describe` turns a stream error into the one-line InputError message. */
  constructor(
    stream: NodeJS.ReadableStream,
    private readonly describe: (err: Error) => string = (err) => `read error: ${errorText(err)}`,
  ) {
    // Old-style streams (no read()) are wrapped so that the pull API below works on both.
    this.stream = stream instanceof Readable ? stream : new Readable().wrap(stream);
    const notify = () => {
      const w = this.wake;
      this.wake = null;
      if (w) w();
    };
    this.onReadable = notify;
    this.onEnd = () => {
      this.ended = true;
      notify();
    };
    this.stream.on('readable', this.onReadable);
    this.stream.on('end', this.onEnd);
    this.stream.on('error', (err: Error) => {
      this.error = err;
      notify();
    });
  }

  private take(): Buffer | null {
    if (this.pending) {
      const p = this.pending;
      this.pending = null;
      return p;
    }
    const c = this.stream.read() as Buffer | string | null;
    if (c === null) return null;
    return typeof c === 'string' ? Buffer.from(c, 'latin1') : c;
  }

  async readInto(target: Buffer, offset: number, length: number): Promise<number> {
    let got = 0;
    for (;;) {
      while (got < length) {
        const c = this.take();
        if (c === null) break;
        const n = Math.min(c.length, length - got);
        c.copy(target, offset + got, 0, n);
        got += n;
        if (n < c.length) this.pending = c.subarray(n);
      }
      if (got > 0 || length === 0) return got;
      // Data that arrived before an error is returned first; the error comes with the next call.
      if (this.error) throw new InputError(this.describe(this.error));
      if (this.ended) return 0;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  async close(): Promise<void> {
    // Never destroy process.stdin itself (others may use it): stop listening, pause it, and
    // unref it. Pausing alone does not stop a pipe's handle from reading (net.Socket), and a
    // reading handle keeps the process alive: `tcpdump -w - | flowdemux packets - | head`
    // would hang after head left, until tcpdump wrote again. Other streams (gunzip, a FIFO's
    // socket) are ours to end. The error listener stays, so that a late error cannot crash
    // the process.
    if (this.stream !== (process.stdin as unknown as Readable)) {
      this.stream.destroy();
    } else {
      this.stream.off('readable', this.onReadable);
      this.stream.off('end', this.onEnd);
      this.stream.pause();
      (this.stream as Readable & { unref?: () => void }).unref?.();
    }
    this.ended = true;
    const w = this.wake;
    this.wake = null;
    if (w) w();
  }
}

/**
 * A contiguous view of the input: bytes `buf[start, end)` are read but not yet consumed,
 * and `buf[0]` is at absolute offset `base` of the (decompressed) capture.
 */
export class Window {
  buf: Buffer = Buffer.alloc(0);
  start = 0;
  end = 0;
  base = 0;
  eof = false;

  /** Reuse buffers (see `fill`): set by readers that yield every frame of a buffer before refilling. */
  recycle = false;
  private spare: Buffer | null = null;

  /** `chunk`: bytes asked for by one read (`fill`), CHUNK_SIZE unless the input streams. */
  constructor(readonly input: ByteInput, private readonly chunk = CHUNK_SIZE) {}

  get available(): number {
    return this.end - this.start;
  }

  /** Absolute offset of `buf[start]`. */
  get offset(): number {
    return this.base + this.start;
  }

  /**
   * Makes at least `need` unconsumed bytes available, unless the input ends first (then
   * `eof` is set and the result is false). Reads up to `chunk` more bytes (the window's chunk,
   * 1 MiB for files so that batches stay large). A read returns what the input has, so a
   * stream's record is there as soon as its bytes are (never waiting for a chunk to fill). Read
   * errors propagate (the caller turns them into a warning).
   */
  async fill(need: number, chunk = this.chunk): Promise<boolean> {
    if (this.available >= need) return true;
    if (this.eof) return false;
    const keep = this.available;
    const input = this.input;
    if (input.takeChunk !== undefined && input.buffered === 0 && chunk === CHUNK_SIZE && keep <= HEADROOM) {
      // The next chunk as read, the tail in front of it: no copy of the new bytes.
      const { buf, length } = await input.takeChunk();
      if (length === 0) {
        this.eof = true;
        return false;
      }
      const start = HEADROOM - keep;
      this.buf.copy(buf, start, this.start, this.end);
      // Recycling as below: the buffer before the current one is free.
      if (this.spare !== null) input.recycle?.(this.spare);
      this.spare = this.recycle ? this.buf : null;
      this.base += this.start - start;
      this.buf = buf;
      this.start = start;
      this.end = HEADROOM + length;
      if (this.end - start >= need) return true;
      // A record longer than what was read: the path below grows a buffer for it.
      return this.fill(need, chunk);
    }
    // `need` comes from a length field in the capture: a damaged one can claim up to
    // MAX_RECORD_BYTES. The buffer starts at what one read needs and grows (doubling) only as
    // bytes really arrive, so a 200-byte file whose record claims 200 MB costs kilobytes.
    let capacity = keep + chunk;
    // With `recycle`, the buffer before the current one is reused: frames in it were in a batch
    // that came before the one just handed out, and a batch is valid only until the next is
    // asked for. Two buffers then serve a whole file instead of one fresh 1 MiB buffer a read.
    const spare = this.spare;
    let next = spare !== null && spare.length >= capacity ? spare : Buffer.allocUnsafeSlow(capacity);
    this.spare = this.recycle ? this.buf : null;
    this.buf.copy(next, 0, this.start, this.end);
    this.base += this.start;
    this.buf = next;
    this.start = 0;
    this.end = keep;
    while (this.end < need) {
      if (this.end === capacity) {
        // A record larger than one read, and its bytes keep coming: grow towards it.
        capacity = Math.min(need, 2 * capacity);
        const grown = Buffer.allocUnsafeSlow(capacity);
        next.copy(grown, 0, 0, this.end);
        this.buf = next = grown;
      }
      // What is left of the input's current chunk, when that is enough: the next fill then
      // starts on a whole chunk (`takeChunk` above) instead of copying.
      const left = input.buffered ?? 0;
      const ask = left > 0 && this.end + left >= need && this.end + left <= capacity ? left : capacity - this.end;
      const n = await input.readInto(next, this.end, ask);
      if (n === 0) {
        this.eof = true;
        return false;
      }
      this.end += n;
    }
    return true;
  }
}

/** Counts one kind of damage and reports it once, with the first offset and the total. */
export class DamageCounter {
  count = 0;
  firstOffset = -1;

  constructor(private readonly describe: (count: number, firstOffset: number) => string) {}

  add(offset: number): void {
    if (this.count++ === 0) this.firstOffset = offset;
  }

  /** Appends the summary line if anything was counted. */
  flush(warnings: string[]): void {
    if (this.count > 0) warnings.push(this.describe(this.count, this.firstOffset));
    this.count = 0;
  }
}

/** `n record(s)` helper for warning text. */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** `was` / `were` agreeing with n. */
export function were(n: number): string {
  return n === 1 ? 'was' : 'were';
}

/** First bytes as `3c 21 44 4f` for "not a capture file" messages. */
export function hexPrefix(bytes: Uint8Array, max = 4): string {
  const parts: string[] = [];
  for (let i = 0; i < bytes.length && i < max; i++) parts.push(bytes[i]!.toString(16).padStart(2, '0'));
  return parts.join(' ');
}

/** Text of a failed input for a warning: InputError messages as they are. */
export function inputErrorText(err: unknown): string {
  return err instanceof InputError ? err.message : `read error: ${errorText(err)}`;
}

/** One-line text of an I/O or zlib error (`EIO: i/o error`), without a stack. */
export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    const msg = err.message.split('\n')[0] ?? '';
    return code && !msg.startsWith(code) ? `${code}: ${msg}` : msg;
  }
  return String(err);
}
