/**
 * Writes frames as a classic pcap file (`live -w out.pcap`).
 *
 * Format choices (draft-ietf-opsawg-pcap):
 * - nanosecond timestamps, magic 0xa1b23c4d, written in little-endian order (the file starts
 *   4d 3c b2 a1). Live frames are stamped to the nanosecond and µs would throw that away;
 *   libpcap >= 1.5, tcpdump, tshark/Wireshark, scapy, gopacket and flowdemux itself all read
 *   it (a reader that knows only the µs magics, such as pcap-parser on its own, does not:
 *   `tcpdump -r in.pcap -w out.pcap` converts such a file to µs).
 * - version 2.4, thiszone 0, sigfigs 0 (what libpcap writes).
 * - snap length 262144 (libpcap's MAXIMUM_SNAPLEN): larger than anything cap captures, so no
 *   reader takes a record for damaged. A frame longer than that keeps its first 262144 bytes.
 * - link type: the one given to `open`, else that of the first frame. A classic pcap holds one
 *   link type; a frame of another type is refused with PcapWriteError('link-type').
 * - each record's original length is the frame's (for live frames cut at the snap length, the
 *   length from the IP header), so tshark shows "65549 bytes on wire (…), 65535 bytes captured".
 *
 * Writes are synchronous and buffered (1 MiB by default): a live capture writes from the same
 * loop that decodes, a full buffer costs one write(2), and the order of records is the order of
 * the calls. Every failure is a PcapWriteError with a one-line message, "cannot write out.pcap:
 * permission denied", and `open` checks that the path can be written before any capture starts.
 */
import { closeSync, existsSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Frame } from '../core/frame.js';

export const PCAP_WRITE_SNAPLEN = 262144;
/** The nanosecond magic as it is stored in a little-endian file. */
export const PCAP_NS_MAGIC = 0xa1b23c4d;
const FILE_HEADER_LENGTH = 24;
const RECORD_HEADER_LENGTH = 16;
const DEFAULT_BUFFER = 1 << 20;
const MAX_TS_SEC = 0xffffffff;

export type PcapWriteErrorKind = 'open' | 'write' | 'link-type' | 'timestamp';

/** `message` is one line: `cannot write <path>: <reason>`. */
export class PcapWriteError extends Error {
  override name = 'PcapWriteError';
  constructor(
    readonly kind: PcapWriteErrorKind,
    readonly path: string,
    readonly reason: string,
  ) {
    super(`cannot write ${path}: ${reason}`);
  }
}

export interface PcapWriterOptions {
  /** LINKTYPE of the file; when absent, taken from the first frame written (EN10MB if none). */
  linkType?: number;
  /** Size of the write buffer in bytes (default 1 MiB). */
  bufferSize?: number;
}

function reasonFor(err: unknown, path: string, opening: boolean): string {
  const e = err as NodeJS.ErrnoException | undefined;
  switch (e?.code) {
    case 'ENOENT': {
      const dir = dirname(path);
      // ENOENT for a path whose directory exists: a filesystem that refuses new files (/proc).
      return opening && existsSync(dir) ? `cannot create a file in ${dir}` : `no such directory ${dir}`;
    }
    case 'ENOTDIR':
      return `a part of the path is not a directory`;
    case 'EISDIR':
      return 'is a directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOSPC':
      return 'disk full';
    case 'EDQUOT':
      return 'disk quota exceeded';
    case 'EFBIG':
      return 'file too large';
    default: {
      const text = e instanceof Error ? e.message : String(err);
      return text.split('\n')[0] ?? text;
    }
  }
}

export class PcapWriter {
  /** Records written (buffered ones included). */
  frames = 0;
  /** Bytes handed to the file so far, header included (buffered bytes not yet counted). */
  bytesWritten = 0;

  private fd: number | null;
  private readonly buf: Buffer;
  private used = 0;
  private linkType: number | null;
  private headerDone = false;
  private failure: PcapWriteError | null = null;

  private constructor(
    readonly path: string,
    fd: number,
    opts: PcapWriterOptions,
  ) {
    this.fd = fd;
    this.buf = Buffer.allocUnsafe(Math.max(opts.bufferSize ?? DEFAULT_BUFFER, FILE_HEADER_LENGTH + RECORD_HEADER_LENGTH));
    this.linkType = opts.linkType ?? null;
  }

  /**
   * Creates (or truncates) `path` now, so that a path that cannot be written fails before
   * capture starts. With `linkType` given, the file header is written and flushed at once, so
   * a full disk shows here too. Throws PcapWriteError('open').
   */
  static open(path: string, opts: PcapWriterOptions = {}): PcapWriter {
    let fd: number;
    try {
      fd = openSync(path, 'w', 0o644);
    } catch (err) {
      throw new PcapWriteError('open', path, reasonFor(err, path, true));
    }
    const w = new PcapWriter(path, fd, opts);
    if (opts.linkType !== undefined) {
      try {
        w.writeHeader(opts.linkType);
        w.flush();
      } catch (err) {
        w.closeQuietly();
        throw err instanceof PcapWriteError ? new PcapWriteError('open', path, err.reason) : err;
      }
    }
    return w;
  }

  /** The file's link type: given at open, or that of the first frame; null before either. */
  get fileLinkType(): number | null {
    return this.linkType;
  }

  /**
   * Appends one record. Throws PcapWriteError: 'link-type' for a frame whose link type is not
   * the file's (nothing is written), 'timestamp' for seconds beyond 2106 (classic pcap has 32
   * bits), 'write' when the file cannot be written (disk full, ...); after a 'write' error every
   * call throws it again.
   */
  write(frame: Frame): void {
    if (this.failure) throw this.failure;
    if (this.fd === null) throw new PcapWriteError('write', this.path, 'already closed');
    if (!this.headerDone) this.writeHeader(this.linkType ?? frame.linkType);
    if (frame.linkType !== this.linkType) {
      throw new PcapWriteError(
        'link-type', this.path,
        `frame ${frame.number} has link type ${frame.linkType} but the file holds link type ${this.linkType} (a classic pcap has one link type)`,
      );
    }
    if (!(frame.tsSec >= 0 && frame.tsSec <= MAX_TS_SEC)) {
      throw new PcapWriteError('timestamp', this.path, `frame ${frame.number} has a timestamp (${frame.tsSec} s) outside the 32-bit seconds of classic pcap`);
    }
    // The frame is bytes[offset, offset + capturedLength): `bytes` may be a whole read buffer.
    const bytes = frame.bytes;
    const start = frame.offset;
    const have = bytes.length > start ? bytes.length - start : 0;
    let caplen = frame.capturedLength < have ? frame.capturedLength : have;
    if (caplen > PCAP_WRITE_SNAPLEN) caplen = PCAP_WRITE_SNAPLEN;
    const origlen = frame.originalLength > caplen ? frame.originalLength : caplen;

    if (this.buf.length - this.used < RECORD_HEADER_LENGTH + caplen) this.flush();
    const b = this.buf;
    let o = this.used;
    b.writeUInt32LE(frame.tsSec, o);
    b.writeUInt32LE(frame.tsNsec, o + 4);
    b.writeUInt32LE(caplen, o + 8);
    b.writeUInt32LE(origlen >>> 0, o + 12);
    o += RECORD_HEADER_LENGTH;
    if (b.length - o >= caplen) {
      b.set(start === 0 && caplen === bytes.length ? bytes : bytes.subarray(start, start + caplen), o);
      this.used = o + caplen;
    } else {
      // A record larger than the buffer: its header from the buffer, its bytes straight from
      // the frame (no copy).
      this.used = o;
      this.flush();
      this.writeOut(bytes.subarray(start, start + caplen));
    }
    this.frames++;
  }

  /** Hands everything buffered to the file. Throws PcapWriteError('write'). */
  flush(): void {
    if (this.used === 0) return;
    const n = this.used;
    this.used = 0;
    this.writeOut(this.buf.subarray(0, n));
  }

  /**
   * Writes what is buffered (the file header too, for a file that got no frame: link type from
   * `open`, else EN10MB) and closes the file. Idempotent. Throws PcapWriteError('write') when
   * the last bytes cannot be written; the file is closed either way.
   */
  close(): void {
    if (this.fd === null) return;
    try {
      if (this.failure) throw this.failure;
      if (!this.headerDone) this.writeHeader(this.linkType ?? 1);
      this.flush();
    } finally {
      this.closeQuietly();
    }
  }

  /** Closes and deletes the file: for a command that fails after opening it (e.g. no device). */
  abort(): void {
    this.used = 0;
    this.closeQuietly();
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone, or a device such as /dev/null: nothing to remove.
    }
  }

  private writeHeader(linkType: number): void {
    this.linkType = linkType;
    const b = this.buf;
    const o = this.used;
    b.writeUInt32LE(PCAP_NS_MAGIC, o);
    b.writeUInt16LE(2, o + 4);
    b.writeUInt16LE(4, o + 6);
    b.writeInt32LE(0, o + 8); // thiszone
    b.writeUInt32LE(0, o + 12); // sigfigs
    b.writeUInt32LE(PCAP_WRITE_SNAPLEN, o + 16);
    b.writeUInt32LE(linkType >>> 0, o + 20);
    this.used = o + FILE_HEADER_LENGTH;
    this.headerDone = true;
  }

  private writeOut(data: Uint8Array): void {
    if (this.fd === null) throw new PcapWriteError('write', this.path, 'already closed');
    let off = 0;
    try {
      while (off < data.length) {
        const n = writeSync(this.fd, data, off, data.length - off);
        off += n;
      }
    } catch (err) {
      this.failure = new PcapWriteError('write', this.path, reasonFor(err, this.path, false));
      this.bytesWritten += off;
      throw this.failure;
    }
    this.bytesWritten += off;
  }

  private closeQuietly(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    try {
      closeSync(fd);
    } catch {
      // close(2) errors after a failed write add nothing to the first error.
    }
  }
}
