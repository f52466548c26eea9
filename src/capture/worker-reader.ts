/**
 * Capture reading on a second thread (issue 6). A worker thread opens and merges the captures
 * and streams the frames to the main thread, which only decodes and demultiplexes. What it takes
 * off the main thread depends on the format (2,000,000 packets, `flows --format json`): pcapng
 * (an object and a view per frame) and gzip (the stream machinery) ~0.2 s of main-thread time;
 * classic pcap little (~0.05 s net: its walker and read-ahead were already cheap, and unpacking a
 * batch here costs ~20 ns a frame). The worker costs ~0.3 s of CPU on the other core and ~30 MB.
 *
 * Wire format, one message per batch of about BATCH_BYTES of frame bytes:
 * - `bytes`: one ArrayBuffer with the frames' bytes. The frames of a pcap read buffer lie one
 *   after the other with a 16-byte record header between them, so a run of such frames is
 *   copied with one `set` (headers included, offsets kept) instead of one copy per frame;
 *   frames that are not contiguous (another buffer, a merged file) start a new run.
 * - `meta`: one Float64Array, FIELDS numbers a frame (every Frame field; tsSec and fileOffset
 *   can exceed 2^32, hence doubles).
 * Both are transferred, not cloned, and come back with the acknowledgement so that the worker
 * reuses them: a few buffers serve a whole file.
 *
 * Flow control: the worker may have at most AHEAD batches unacknowledged; the main thread
 * acknowledges a batch when it asks for the next one (the FrameSource validity rule). Memory is
 * thus bounded by a few batches whatever the size of the capture.
 *
 * The CaptureInfo of every capture crosses twice: once the captures are open (what the command's
 * onStart sees: format, precision) and at the end (packets, warnings, link types), copied into
 * the first objects in place so that references already handed out see the final values.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CaptureError, type CaptureInfo, type Frame, type FrameSource } from '../core/frame.js';
import { mergeSources, mergedMeter } from './merge.js';
import { openCapture } from './open.js';

/** Target size of a batch's frame bytes: large enough that per-message costs vanish. */
export const BATCH_BYTES = 1 << 20;
/** At most this many frames a batch (tiny frames would otherwise make `meta` huge). */
export const BATCH_FRAMES = 8192;
/** Batches the worker may send before the main thread acknowledges the oldest. */
export const AHEAD = 3;
/** Below this total input size the worker's start-up (~30-50 ms) costs more than it saves. */
export const MIN_THREAD_BYTES = 16 << 20;
/** Numbers per frame in `meta`. */
export const FIELDS = 10;
/**
 * Largest gap between two frames that are still copied as one run: a pcap record header (16),
 * a pcapng block trailer and the next EPB's header (32) with a few options. Bigger gaps (long
 * comments, other blocks between the packets) are cheaper to skip than to copy.
 */
const MAX_GAP = 64;

// Field positions in `meta`.
const TS_SEC = 0;
const TS_NSEC = 1;
const CAPTURED = 2;
const ORIGINAL = 3;
const OFFSET = 4;
const LINK = 5;
const IFACE = 6;
const SOURCE = 7;
const NUMBER = 8;
const FILE_OFFSET = 9;

/** Worker → main. */
export type ToMain =
  | { t: 'open'; infos: CaptureInfo[]; errors: string[]; size?: number }
  | { t: 'batch'; count: number; bytes: ArrayBuffer; meta: ArrayBuffer; read?: number }
  | { t: 'end'; infos: CaptureInfo[] };

/** Main → worker. */
export type ToWorker = { t: 'ack'; bytes: ArrayBuffer; meta: ArrayBuffer } | { t: 'stop' };

/** What both ends need of a MessagePort / Worker / parentPort. */
export interface Endpoint {
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
  // `any` as Worker and MessagePort declare it: anything narrower is not assignable from both.
  on(event: 'message', listener: (message: any) => void): unknown;
  off(event: 'message', listener: (message: any) => void): unknown;
}

/**
 * Whether `readCaptures` should read on the worker: only regular files (stdin and pipes are the
 * main thread's streams), together at least MIN_THREAD_BYTES, and not one uncompressed classic
 * pcap: its records cost the main thread so little to walk (~0.08 s for 2M packets) that the
 * worker won nothing measurable there while costing a core and ~10 MB; gzip (inflating),
 * pcapng (blocks) and several files (merging) gain ~0.1-0.2 s on 2M packets.
 * FLOWDEMUX_READ_THREAD=0 or 1 forces the choice (1 still reads `-` and FIFOs in-thread: stdin
 * cannot be handed to a worker, and a FIFO streams, each record as it arrives, while the worker
 * gathers frames into batches of BATCH_BYTES).
 */
export function useReadThread(paths: readonly string[], env: NodeJS.ProcessEnv = process.env): boolean {
  if (paths.length === 0 || paths.includes('-') || paths.some(isFifo)) return false;
  const forced = env.FLOWDEMUX_READ_THREAD;
  if (forced === '0') return false;
  if (forced !== '1') {
    let total = 0;
    for (const p of paths) {
      try {
        const st = statSync(p);
        if (!st.isFile()) return false;
        total += st.size;
      } catch {
        return false; // a missing file: the in-thread open reports it
      }
    }
    if (total < MIN_THREAD_BYTES) return false;
    if (paths.length === 1 && isPlainPcap(paths[0]!)) return false;
  }
  // Running from the TypeScript sources (vitest) uses the compiled worker: without it, in-thread.
  return existsSync(fileURLToPath(defaultWorkerUrl()));
}

function isFifo(path: string): boolean {
  try {
    return statSync(path).isFIFO();
  } catch {
    return false;
  }
}

/** A file that starts with a classic pcap magic number (any of the four variants, either byte order). */
function isPlainPcap(path: string): boolean {
  const head = Buffer.alloc(4);
  let fd = -1;
  try {
    fd = openSync(path, 'r');
    if (readSync(fd, head, 0, 4, 0) < 4) return false;
  } catch {
    return false;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  const magic = head.readUInt32BE(0);
  return magic === 0xa1b2c3d4 || magic === 0xd4c3b2a1 || magic === 0xa1b23c4d || magic === 0x4d3cb2a1;
}

/**
 * The worker module. From dist/ it sits beside this file; from src/ (vitest runs TypeScript,
 * which a worker under plain Node cannot load) it is the compiled one in dist/, built by
 * `npm test`'s pretest step.
 */
export function defaultWorkerUrl(): URL {
  return import.meta.url.endsWith('.ts')
    ? new URL('../../dist/capture/read-worker.js', import.meta.url)
    : new URL('./read-worker.js', import.meta.url);
}

/**
 * Packs frames into one batch: bytes copied in contiguous runs, metadata as doubles. A run is
 * copied when it ends (another buffer, a gap, `seal`, `take`), so frames must stay valid from
 * `add` until the next `seal`: the producer seals before asking its source for more.
 */
export class BatchPacker {
  count = 0;
  private out: Uint8Array | null = null;
  private meta: Float64Array | null = null;
  /** The open run: src[runStart, runEnd) goes to out[runOut...]. */
  private src: Uint8Array | null = null;
  private runStart = 0;
  private runEnd = 0;
  private runOut = 0;
  /** End of the copied runs in `out` (where the next run goes). */
  private pos = 0;
  private readonly freeBytes: ArrayBuffer[] = [];
  private readonly freeMeta: ArrayBuffer[] = [];

  /** Takes back the buffers of an acknowledged batch. */
  recycle(bytes: ArrayBuffer, meta: ArrayBuffer): void {
    if (bytes.byteLength === BATCH_BYTES && this.freeBytes.length < AHEAD) this.freeBytes.push(bytes);
    if (this.freeMeta.length < AHEAD) this.freeMeta.push(meta);
  }

  /** Adds a frame; false when the batch is full (take it, then add again). */
  add(f: Frame): boolean {
    if (this.count === BATCH_FRAMES) return false;
    const len = f.capturedLength;
    const at = f.bytes.byteOffset + f.offset;
    const buffer = f.bytes.buffer;
    let out = this.out;
    if (out === null) {
      out = this.out = new Uint8Array(this.freeBytes.pop() ?? new ArrayBuffer(BATCH_BYTES));
      this.meta = new Float64Array(this.freeMeta.pop() ?? new ArrayBuffer(BATCH_FRAMES * FIELDS * 8));
    }
    const src = this.src;
    let where: number;
    if (src !== null && src.buffer === buffer && at >= this.runEnd && at - this.runEnd <= MAX_GAP &&
        this.runOut + (at + len - this.runStart) <= out.length) {
      this.runEnd = at + len;
      where = this.runOut + (at - this.runStart);
    } else {
      this.closeRun();
      if (this.pos + len > out.length) {
        if (this.count > 0) return false;
        // A frame larger than a batch buffer: a buffer of its own (not kept after its batch).
        if (out.length === BATCH_BYTES) this.freeBytes.push(out.buffer as ArrayBuffer);
        out = this.out = new Uint8Array(new ArrayBuffer(len));
      }
      this.src = src !== null && src.buffer === buffer ? src : new Uint8Array(buffer);
      this.runStart = at;
      this.runEnd = at + len;
      this.runOut = where = this.pos;
    }
    const m = this.meta!;
    const k = this.count++ * FIELDS;
    m[k + TS_SEC] = f.tsSec;
    m[k + TS_NSEC] = f.tsNsec;
    m[k + CAPTURED] = len;
    m[k + ORIGINAL] = f.originalLength;
    m[k + OFFSET] = where;
    m[k + LINK] = f.linkType;
    m[k + IFACE] = f.interfaceId;
    m[k + SOURCE] = f.sourceIndex;
    m[k + NUMBER] = f.number;
    m[k + FILE_OFFSET] = f.fileOffset;
    return true;
  }

  /** Copies the open run: the frames added so far may be reused by their source after this. */
  seal(): void {
    this.closeRun();
    this.src = null;
  }

  /** The batch so far (sealed), ready to transfer; the packer starts a new one. */
  take(): { count: number; bytes: ArrayBuffer; meta: ArrayBuffer } {
    this.seal();
    const batch = { count: this.count, bytes: this.out!.buffer as ArrayBuffer, meta: this.meta!.buffer as ArrayBuffer };
    this.out = null;
    this.meta = null;
    this.count = 0;
    this.pos = 0;
    return batch;
  }

  private closeRun(): void {
    if (this.runEnd > this.runStart) {
      this.out!.set(this.src!.subarray(this.runStart, this.runEnd), this.runOut);
      this.pos = this.runOut + (this.runEnd - this.runStart);
    }
    this.runStart = this.runEnd = 0;
  }
}

/** The same one-line message `readCaptures` gives for a capture that cannot be opened. */
export function openErrorText(path: string, err: unknown): string {
  return err instanceof CaptureError ? err.message : `${path}: ${(err as Error).message}`;
}

/**
 * The worker's side: opens `paths` (source index = position), merges them and sends the frames
 * over `port` until the end or a 'stop'. Resolves once every input is closed and 'end' (with the
 * final infos) is posted. Exported so that tests can run it over a MessageChannel.
 */
export async function produceFrames(port: Endpoint, paths: readonly string[]): Promise<void> {
  const packer = new BatchPacker();
  let credits = AHEAD;
  let stopped = false;
  let wake: (() => void) | null = null;
  const onMessage = (m: ToWorker): void => {
    if (m.t === 'ack') {
      credits++;
      packer.recycle(m.bytes, m.meta);
    } else {
      stopped = true;
    }
    const w = wake;
    wake = null;
    w?.();
  };
  port.on('message', onMessage);
  try {
    const sources: FrameSource[] = [];
    const errors: string[] = [];
    for (let i = 0; i < paths.length; i++) {
      const path = paths[i]!;
      try {
        sources.push(await openCapture(path, i));
      } catch (err) {
        errors.push(openErrorText(path, err));
      }
    }
    // The files' size and, with each batch, the bytes read so far: the main thread's progress line.
    const meter = mergedMeter(sources);
    port.postMessage({ t: 'open', infos: sources.map((s) => s.info), errors, size: meter?.size } satisfies ToMain);
    if (sources.length === 0) {
      port.postMessage({ t: 'end', infos: [] } satisfies ToMain);
      return;
    }

    /** Sends the packed batch once the main thread has room for it; false when told to stop. */
    const send = async (): Promise<boolean> => {
      while (credits === 0 && !stopped) await new Promise<void>((resolve) => (wake = resolve));
      if (stopped) return false;
      credits--;
      const b = packer.take();
      port.postMessage({ t: 'batch', ...b, read: meter?.bytesRead } satisfies ToMain, [b.bytes, b.meta]);
      return true;
    };

    if (stopped) {
      await Promise.all(sources.map((s) => s.close?.()));
    } else {
      // Leaving this loop (end, break) closes every source, and their damage counters are
      // flushed into info.warnings, as in-thread.
      outer: for await (const batch of mergeSources(sources)) {
        for (let i = 0; i < batch.length; i++) {
          const f = batch[i]!;
          if (!packer.add(f)) {
            if (!(await send())) break outer;
            packer.add(f);
          }
        }
        packer.seal();
        if (stopped) break;
      }
      if (!stopped && packer.count > 0) await send();
    }
    port.postMessage({ t: 'end', infos: sources.map((s) => s.info) } satisfies ToMain);
  } finally {
    // Without a listener the port no longer keeps the worker alive: it exits by itself.
    port.off('message', onMessage);
  }
}

/**
 * Copies the final state of a capture into the object handed out at open, in place: arrays
 * (linkTypes, warnings) keep their identity too. Every field, so that fields added to
 * CaptureInfo later come through without a change here.
 */
function updateInfo(target: CaptureInfo, final: CaptureInfo): void {
  const t = target as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(final)) {
    const old = t[key];
    if (Array.isArray(old) && Array.isArray(value)) {
      old.length = 0;
      for (const v of value) old.push(v);
    } else {
      t[key] = value;
    }
  }
}

/** How long a stopped worker gets to close its inputs and report before it is terminated. */
const STOP_GRACE_MS = 2000;

/**
 * The main thread's side: the merged frames of the captures the worker opened, as Frame batches
 * under the FrameSource rule (a batch is valid until the next is asked for).
 */
export class ThreadedCaptures {
  /** One per capture that could be opened, in command-line order (updated in place at the end). */
  captures: CaptureInfo[] = [];
  /** One line each: captures that could not be opened. */
  errors: string[] = [];
  /** The files' size and the bytes the worker has read, as of the last batch received. */
  meter: { size: number; bytesRead: number } | undefined;

  private readonly queue: ToMain[] = [];
  private wake: (() => void) | null = null;
  private failure: Error | null = null;
  /** The final infos were applied (or the read was given up): nothing more to wait for. */
  private ended = false;
  /** The worker posted 'end': it has closed its inputs and exits by itself. */
  private sawEnd = false;
  private started = false;

  private constructor(
    private readonly port: Endpoint,
    private readonly worker: Worker | null,
  ) {
    port.on('message', (m: ToMain) => {
      if (m.t === 'end') this.sawEnd = true;
      this.queue.push(m);
      this.notify();
    });
    if (worker !== null) {
      // An exception in the worker (a bug) ends the read with that error, as it would in-thread.
      worker.on('error', (err: Error) => this.fail(err));
      worker.on('exit', (code: number) => {
        if (!this.sawEnd) this.fail(new Error(`capture reader thread stopped unexpectedly (exit code ${code})`));
      });
    }
  }

  /** Starts the worker on `paths` and waits until the captures are open. */
  static async start(paths: readonly string[], workerUrl: URL = defaultWorkerUrl()): Promise<ThreadedCaptures> {
    const worker = new Worker(workerUrl, { workerData: { paths: [...paths] } });
    const t = new ThreadedCaptures(worker, worker);
    try {
      await t.opened();
    } catch (err) {
      await t.close();
      throw err;
    }
    return t;
  }

  /** Over a port whose other end runs `produceFrames` (tests; no thread of its own). */
  static async over(port: Endpoint): Promise<ThreadedCaptures> {
    const t = new ThreadedCaptures(port, null);
    await t.opened();
    return t;
  }

  private async opened(): Promise<void> {
    const m = await this.next();
    if (m.t !== 'open') throw new Error(`capture reader thread: expected 'open', got '${m.t}'`);
    this.captures = m.infos;
    this.errors = m.errors;
    if (m.size !== undefined) this.meter = { size: m.size, bytesRead: 0 };
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private fail(err: Error): void {
    if (this.failure === null) this.failure = err;
    this.notify();
  }

  private async next(): Promise<ToMain> {
    for (;;) {
      const m = this.queue.shift();
      if (m !== undefined) return m;
      if (this.failure !== null) throw this.failure;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private finish(m: Extract<ToMain, { t: 'end' }>): void {
    this.ended = true;
    // Its inputs are closed and it exits by itself: never let it hold the process open.
    this.worker?.unref();
    for (let i = 0; i < this.captures.length; i++) {
      const final = m.infos[i];
      if (final !== undefined) updateInfo(this.captures[i]!, final);
    }
  }

  /** The merged frames; iterate once. Leaving the loop early stops the worker. */
  async *batches(): AsyncGenerator<Frame[]> {
    if (this.started) throw new Error('ThreadedCaptures.batches() can be iterated only once');
    this.started = true;
    // Frame objects and the batch array are reused from one batch to the next, as pcap.ts does.
    const pool: Frame[] = [];
    const batch: Frame[] = [];
    try {
      for (;;) {
        const m = await this.next();
        if (m.t === 'end') {
          this.finish(m);
          return;
        }
        if (m.t !== 'batch') throw new Error(`capture reader thread: unexpected '${m.t}'`);
        const bytes = new Uint8Array(m.bytes);
        const meta = new Float64Array(m.meta);
        const n = m.count;
        if (this.meter !== undefined && m.read !== undefined) this.meter.bytesRead = m.read;
        for (let i = 0, k = 0; i < n; i++, k += FIELDS) {
          let f = pool[i];
          if (f === undefined) {
            f = { linkType: 0, tsSec: 0, tsNsec: 0, capturedLength: 0, originalLength: 0, bytes, offset: 0, interfaceId: 0, sourceIndex: 0, number: 0, fileOffset: 0 };
            pool.push(f);
          }
          // Small integers back to int32 (`| 0`): a double loaded from the Float64Array would make
          // these fields doubles, and every index computed from them in the decoders slower.
          // The 32-bit fields of the file (original length) stay unsigned (`>>> 0`).
          const sec = meta[k + TS_SEC]!;
          const fileOffset = meta[k + FILE_OFFSET]!;
          f.linkType = meta[k + LINK]! | 0;
          f.tsSec = sec <= 0x7fffffff ? sec | 0 : sec;
          f.tsNsec = meta[k + TS_NSEC]! | 0;
          f.capturedLength = meta[k + CAPTURED]! | 0;
          f.originalLength = meta[k + ORIGINAL]! >>> 0;
          f.bytes = bytes;
          f.offset = meta[k + OFFSET]! | 0;
          f.interfaceId = meta[k + IFACE]! | 0;
          f.sourceIndex = meta[k + SOURCE]! | 0;
          f.number = meta[k + NUMBER]! >>> 0;
          f.fileOffset = fileOffset <= 0x7fffffff ? fileOffset | 0 : fileOffset;
          batch[i] = f;
        }
        batch.length = n;
        yield batch;
        // The consumer asked for the next batch: this one's buffers go back to the worker.
        this.port.postMessage({ t: 'ack', bytes: m.bytes, meta: m.meta } satisfies ToWorker, [m.bytes, m.meta]);
      }
    } finally {
      if (!this.ended) await this.close();
    }
  }

  /**
   * Stops the worker (if still reading) and waits, briefly, for its final infos: the inputs are
   * closed and damage counted so far is in the warnings, as when an in-thread read stops early.
   */
  async close(): Promise<void> {
    if (this.ended) return;
    if (!this.sawEnd && this.failure === null) this.port.postMessage({ t: 'stop' } satisfies ToWorker);
    const timer = setTimeout(() => this.fail(new Error('capture reader thread did not stop')), STOP_GRACE_MS);
    try {
      for (;;) {
        const m = await this.next();
        if (m.t === 'end') {
          this.finish(m);
          break;
        }
      }
    } catch {
      // Stopped without its final word (it failed, or took too long): terminated below.
    } finally {
      clearTimeout(timer);
    }
    this.ended = true;
    if (this.worker !== null && !this.sawEnd) await this.worker.terminate();
  }
}
