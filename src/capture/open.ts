/**
 * Opens a capture by its content, not its name: gzip (1f 8b, decompressed as a stream), then
 * classic pcap (four magics) or pcapng (section header 0a0d0d0a).
 *
 * Everything that makes a capture unreadable as a whole is found here, before any frame, and
 * thrown as a CaptureError with a one-line reason. Damage further on is never thrown: the
 * readers turn it into `info.warnings` and end after the frames they could read.
 */
import { fstatSync, open as openFd } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { CaptureError, type ByteMeter, type FrameSource } from '../core/frame.js';
import { PCAP_HEADER_LENGTH, PcapSource, isPcapMagic, parsePcapHeader } from './pcap.js';
import { BLOCK, PcapngSource, SHB_MIN_LENGTH, checkSectionHeader } from './pcapng.js';
import {
  CHUNK_SIZE, FileInput, STREAM_CHUNK_SIZE, StreamInput, Window, errorText, hexPrefix, inputErrorText, type ByteInput,
} from './reader.js';

export interface OpenOptions {
  /** Stream read for the path `-` (default: process.stdin). */
  stdin?: NodeJS.ReadableStream;
}

/** Bytes that decide the format: enough for a pcap header and the fixed part of an SHB. */
const PROBE = Math.max(PCAP_HEADER_LENGTH, SHB_MIN_LENGTH);

/**
 * What is read at open. Small on purpose: every capture on the command line is opened
 * before the first frame is read, and a set of rotated files should not each hold a full
 * read buffer until their turn comes.
 */
const PROBE_READ = 64 * 1024;

function reasonForOpenError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR': // a component of the path is a file
      return 'no such file';
    case 'EISDIR':
      return 'is a directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    default:
      return `cannot open: ${errorText(err)}`;
  }
}

async function openFile(path: string): Promise<FileInput> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw new CaptureError(path, reasonForOpenError(err));
  }
  let size: number;
  try {
    // open(2) succeeds on a directory for reading; only the read would fail (EISDIR).
    const st = await fh.stat();
    if (st.isDirectory()) throw new CaptureError(path, 'is a directory');
    size = st.isFile() ? st.size : 0;
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err instanceof CaptureError ? err : new CaptureError(path, reasonForOpenError(err));
  }
  return new FileInput(fh, size);
}

/** The input of a path, and whether it streams (FrameSource.streaming). */
interface Opened {
  input: ByteInput;
  streaming: boolean;
}

/**
 * A named FIFO (`mkfifo`, or `<(tcpdump -U -w -)`, whose /dev/fd path is a pipe) is read as a
 * stream: a file handle would wait for a whole 1 MiB chunk (FileInput reads until a chunk is
 * full) and hold a thread-pool thread in read(2) while the writer is quiet. A socket on the
 * descriptor is read through the event loop (epoll) like stdin, returns what has arrived, and
 * closes at once when the reader stops early. Everything else (regular files above all) is
 * opened exactly as before.
 */
async function openPath(path: string): Promise<Opened> {
  const isFifo = await stat(path).then((st) => st.isFIFO(), () => false);
  if (!isFifo) return { input: await openFile(path), streaming: false };
  // open(2) of a FIFO waits for a writer: on the thread pool, never blocking the event loop.
  const fd = await new Promise<number>((resolve, reject) => openFd(path, 'r', (err, fd) => (err ? reject(err) : resolve(fd))))
    .catch((err: unknown) => {
      throw new CaptureError(path, reasonForOpenError(err));
    });
  // Loaded here: reading files never needs node:net.
  const { Socket } = await import('node:net');
  return { input: new StreamInput(new Socket({ fd, readable: true, writable: false })), streaming: true };
}

/** stdin streams unless it was redirected from a regular file (`flowdemux flows - < x.pcap`). */
function openStdin(stdin: NodeJS.ReadableStream | undefined): Opened {
  const stream = stdin ?? process.stdin;
  let streaming = true;
  if (stream === process.stdin) {
    try {
      streaming = !fstatSync(0).isFile();
    } catch {
      // fd 0 closed: read as a stream, which ends at once
    }
  }
  return { input: new StreamInput(stream), streaming };
}

/**
 * The raw input replayed as a stream for zlib: first the bytes already read while sniffing,
 * then the rest of the input in chunks.
 */
function replay(win: Window, chunkSize: number): Readable {
  const head = win.buf.subarray(win.start, win.end);
  const input = win.input;
  let sentHead = false;
  return new Readable({
    highWaterMark: chunkSize,
    read() {
      if (!sentHead) {
        sentHead = true;
        if (head.length > 0) {
          this.push(head);
          return;
        }
      }
      const chunk = Buffer.allocUnsafeSlow(chunkSize);
      input.readInto(chunk, 0, chunkSize).then(
        (n) => this.push(n === 0 ? null : chunk.subarray(0, n)),
        (err: Error) => this.destroy(err),
      );
    },
    destroy(err, cb) {
      input.close().then(() => cb(err), () => cb(err));
    },
  });
}

/** Fills the window's first bytes; a failure here means the capture cannot be read at all. */
async function probe(path: string, win: Window): Promise<void> {
  try {
    await win.fill(PROBE, PROBE_READ);
  } catch (err) {
    await win.input.close();
    throw new CaptureError(path, inputErrorText(err));
  }
}

/** zlib's own words ("incorrect header check", "unexpected end of file"), without its code. */
function gzipErrorText(err: Error): string {
  return `gzip data is corrupt: ${err.message.split('\n')[0] ?? ''}`;
}

const GZIP_1 = 0x1f;
const GZIP_2 = 0x8b;

/**
 * Opens `path` (`-` is stdin) and checks its header. `sourceIndex` is stamped on every frame.
 * Throws CaptureError (one-line reason) when the capture cannot be read at all.
 */
export async function openCapture(path: string, sourceIndex: number, opts: OpenOptions = {}): Promise<FrameSource> {
  const { input: raw, streaming } = path === '-' ? openStdin(opts.stdin) : await openPath(path);
  const source = await openInput(path, sourceIndex, raw, streaming ? STREAM_CHUNK_SIZE : CHUNK_SIZE);
  source.streaming = streaming;
  return source;
}

function metered<S extends PcapSource | PcapngSource>(source: S, meter: ByteMeter | undefined): S {
  source.meter = meter;
  return source;
}

/**
 * Sniffs and opens the capture on `raw`. `chunkSize` is what one read asks for: CHUNK_SIZE for
 * files, less for a stream, whose reads return what has arrived (often a single record).
 */
async function openInput(path: string, sourceIndex: number, raw: ByteInput, chunkSize: number): Promise<PcapSource | PcapngSource> {
  let win = new Window(raw, chunkSize);
  await probe(path, win);
  // A regular file's bytes read tell the progress line how far it is.
  let meter: ByteMeter | undefined = raw instanceof FileInput && raw.size > 0 ? raw : undefined;

  let compressed = false;
  const b0 = win.buf;
  if (win.available === 0) {
    await win.input.close();
    throw new CaptureError(path, 'empty file');
  }
  if (win.available >= 2 && b0[win.start] === GZIP_1 && b0[win.start + 1] === GZIP_2) {
    compressed = true;
    // zlib hands on what it could inflate from each piece of input: a stream whose writer
    // flushes its deflate output (Z_SYNC_FLUSH) after every record streams through here too.
    const gunzip = createGunzip({ chunkSize: CHUNK_SIZE });
    // gzip: the compressed bytes zlib has taken in, not those read ahead of it from the file.
    if (meter !== undefined) meter = { size: meter.size, get bytesRead() { return gunzip.bytesWritten; } };
    const compressedBytes = replay(win, chunkSize);
    // pipe() does not forward errors: a read error of the raw input must end the gunzip
    // stream too, with its own message (not "gzip data is corrupt").
    let rawError: Error | null = null;
    compressedBytes.on('error', (err: Error) => {
      rawError = err;
      gunzip.destroy(err);
    });
    const inner = new StreamInput(compressedBytes.pipe(gunzip), (err) =>
      err === rawError ? inputErrorText(err) : gzipErrorText(err),
    );
    win = new Window({
      readInto: (t, o, l) => inner.readInto(t, o, l),
      close: async () => {
        await inner.close();
        await raw.close();
      },
    }, chunkSize);
    await probe(path, win);
    if (win.available === 0) {
      await win.input.close();
      throw new CaptureError(path, 'empty file (the gzip stream holds no data)');
    }
  }

  const b = win.buf;
  const s = win.start;
  const have = win.available;
  const inGzip = compressed ? ' inside gzip' : '';
  const magic = have >= 4 ? ((b[s]! << 24) | (b[s + 1]! << 16) | (b[s + 2]! << 8) | b[s + 3]!) >>> 0 : -1;

  if (magic !== -1 && isPcapMagic(magic)) {
    if (have < PCAP_HEADER_LENGTH) {
      await win.input.close();
      throw new CaptureError(path, `too short for a pcap header (${have} of ${PCAP_HEADER_LENGTH} bytes${inGzip})`);
    }
    const header = parsePcapHeader(b.subarray(s, s + PCAP_HEADER_LENGTH));
    if (typeof header === 'string') {
      await win.input.close();
      throw new CaptureError(path, header);
    }
    return metered(new PcapSource(path, sourceIndex, win, header, compressed), meter);
  }

  if (magic === BLOCK.SHB) {
    if (have < SHB_MIN_LENGTH) {
      await win.input.close();
      throw new CaptureError(path, `too short for a pcapng section header (${have} of ${SHB_MIN_LENGTH} bytes${inGzip})`);
    }
    const shb = checkSectionHeader(b.subarray(s, s + SHB_MIN_LENGTH));
    if (typeof shb === 'string') {
      await win.input.close();
      throw new CaptureError(path, shb);
    }
    return metered(new PcapngSource(path, sourceIndex, win, shb.littleEndian, compressed), meter);
  }

  await win.input.close();
  if (have < 4 && startsLikeCapture(b.subarray(s, s + have))) {
    throw new CaptureError(path, `too short for a capture header (${have} bytes${inGzip})`);
  }
  throw new CaptureError(path, `not a capture file${inGzip} (starts with ${hexPrefix(b.subarray(s, s + have))})`);
}

/** True when `bytes` (fewer than 4) could be the start of a pcap or pcapng magic. */
function startsLikeCapture(bytes: Uint8Array): boolean {
  const magics = [0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, BLOCK.SHB];
  return magics.some((m) => {
    for (let i = 0; i < bytes.length; i++) {
      if (bytes[i] !== ((m >>> (24 - 8 * i)) & 0xff)) return false;
    }
    return true;
  });
}
