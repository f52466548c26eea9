/**
 * Classic pcap: the file header (its four magics, version, snap length, link type) and a walker
 * over the 16-byte record headers that slices each record out of the read window (peers.md §1
 * and §3). What it does beyond a plain reader:
 *
 * - nanosecond files (magic a1b23c4d) as well as microsecond ones, in both byte orders.
 * - version: as libpcap and tshark, a major version below 2 is refused at open ("unsupported
 *   pcap version 1.0: archaic"); 2.0 to 2.4 are read; a newer version is read with the 2.4
 *   layout and a warning. Before 2.3 the record header had caplen and len the other way round,
 *   and some 2.3 writers kept the old order: as libpcap does, 2.0-2.2 records are swapped
 *   always and 2.3 records when caplen > len.
 * - link type: only the low 16 bits; the upper bits carry FCS-length information
 *   (LT_FCS_DATALINK_EXT, e.g. 0x04000001 in the corpus).
 * - damage: a record longer than `recordLimit` is refused before anything of it is buffered; a
 *   file that ends inside a record is reported with the offset and the number of missing bytes;
 *   caplen > len and caplen > snaplen are counted and reported once.
 *
 * The `pcap-parser` package (0.2.1, asked for by the user) reads the file header too, on a copy
 * of its 24 bytes, and its reading is checked against ours (a difference is a warning). It does
 * not read the records: handing each record to it cost 0.9 µs a record (three events, two
 * objects and three slices each, a `readUInt32` and an endianness string per field), 1.8 s of
 * the 2.2 s it took to read the 2,000,000-packet benchmark capture, more than the whole
 * per-packet budget of 1 µs (issue 6); the walker reads it in 0.4 s. It knows only the
 * microsecond magics and versions 2.x or x.4, so its copy of the header is given the
 * microsecond magic of the same byte order and version 2.4 where ours differ; the file's own
 * bytes are never changed.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { ByteMeter, CaptureInfo, Frame, FrameSource } from '../core/frame.js';
import { DamageCounter, MAX_RECORD_BYTES, Window, errorText, inputErrorText, plural, were } from './reader.js';

const require = createRequire(import.meta.url);

/** The part of pcap-parser's API we use (lib/pcap-parser.js; it ships no types). */
interface PcapParserGlobalHeader {
  magicNumber: number;
  majorVersion: number;
  minorVersion: number;
  snapshotLength: number;
  linkLayerType: number;
}
const pcapParser = require('pcap-parser') as { parse(input: EventEmitter): EventEmitter };

export const PCAP_HEADER_LENGTH = 24;
const RECORD_HEADER_LENGTH = 16;

/** libpcap's MAXIMUM_SNAPLEN: the largest snap length libpcap writes for most link types. */
const MAXIMUM_SNAPLEN = 262144;

/** File magics as the first four bytes read big-endian. */
export const PCAP_MAGIC = {
  US_BE: 0xa1b2c3d4,
  US_LE: 0xd4c3b2a1,
  NS_BE: 0xa1b23c4d,
  NS_LE: 0x4d3cb2a1,
  /** Kuznetzov's patched libpcap: longer record headers, not read here. */
  MODIFIED_BE: 0xa1b2cd34,
  MODIFIED_LE: 0x34cdb2a1,
} as const;

export function isPcapMagic(magicBE: number): boolean {
  return (
    magicBE === PCAP_MAGIC.US_BE || magicBE === PCAP_MAGIC.US_LE || magicBE === PCAP_MAGIC.NS_BE ||
    magicBE === PCAP_MAGIC.NS_LE || magicBE === PCAP_MAGIC.MODIFIED_BE || magicBE === PCAP_MAGIC.MODIFIED_LE
  );
}

export interface PcapHeader {
  littleEndian: boolean;
  nanoseconds: boolean;
  versionMajor: number;
  versionMinor: number;
  snapLength: number;
  /** Low 16 bits of the link type field. */
  linkType: number;
  /** The whole 32-bit field, upper bits included. */
  linkTypeField: number;
}

/**
 * Reads the 24-byte file header. Returns a reason (one line) when the header cannot be a
 * pcap we read; `bytes` must hold at least 24 bytes starting with a pcap magic.
 */
export function parsePcapHeader(bytes: Uint8Array): PcapHeader | string {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = dv.getUint32(0, false);
  if (magic === PCAP_MAGIC.MODIFIED_BE || magic === PCAP_MAGIC.MODIFIED_LE) {
    return 'unsupported pcap variant (modified/Kuznetzov pcap, magic a1b2cd34)';
  }
  const littleEndian = magic === PCAP_MAGIC.US_LE || magic === PCAP_MAGIC.NS_LE;
  const nanoseconds = magic === PCAP_MAGIC.NS_BE || magic === PCAP_MAGIC.NS_LE;
  const versionMajor = dv.getUint16(4, littleEndian);
  const versionMinor = dv.getUint16(6, littleEndian);
  if (versionMajor < 2) {
    return `unsupported pcap version ${versionMajor}.${versionMinor} (archaic: flowdemux reads 2.0 and later)`;
  }
  const linkTypeField = dv.getUint32(20, littleEndian);
  return {
    littleEndian,
    nanoseconds,
    versionMajor,
    versionMinor,
    snapLength: dv.getUint32(16, littleEndian),
    linkType: linkTypeField & 0xffff,
    linkTypeField,
  };
}

/**
 * Largest captured length read as a record: four times max(snaplen, 262144), and never more
 * than 256 MiB. A little over the snap length happens in real files (a 65549-byte GSO frame
 * in a 65535 snaplen file) and is read with a warning; a length this far beyond it is a
 * damaged header, and buffering it would only read garbage (libpcap and tshark refuse
 * anything above max(snaplen, 262144)).
 */
export function pcapRecordLimit(snapLength: number): number {
  return Math.min(MAX_RECORD_BYTES, 4 * Math.max(snapLength, MAXIMUM_SNAPLEN));
}

/** 0: lengths in today's order; 1: always swapped (before 2.3); 2: swapped when caplen > len (2.3). */
type LengthOrder = 0 | 1 | 2;

/** The fake stream pcap-parser reads from: it only needs pause/resume and the three events. */
class FeedStream extends EventEmitter {
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }
}

export class PcapSource implements FrameSource {
  readonly info: CaptureInfo;
  private readonly header: PcapHeader;
  private readonly sourceIndex: number;
  private readonly win: Window;
  private started = false;
  private closed = false;
  /** Set by openCapture for a pipe or FIFO (FrameSource.streaming). */
  streaming = false;
  /** Set by openCapture for a regular file (FrameSource.meter). */
  meter?: ByteMeter;

  private number = 0;
  private readonly fracPerSec: number;
  private readonly nsecPerUnit: number;

  private readonly tsOverflow = new DamageCounter(
    (n, off) => `${plural(n, 'record')} had a sub-second timestamp field of a second or more, carried into the seconds (first at offset ${off})`,
  );
  private readonly capOverOrig = new DamageCounter(
    (n, off) => `${plural(n, 'record')} had a captured length greater than the original length (first at offset ${off})`,
  );
  private readonly capOverSnap: DamageCounter;
  private readonly swapped = new DamageCounter(
    (n, off) => `${plural(n, 'record')} had caplen and len in the pre-2.3 order and ${were(n)} swapped (first at offset ${off})`,
  );

  /**
   * `win` holds the file from offset 0 with at least the 24-byte header (checked by
   * `parsePcapHeader`); `compressed` only goes into `info`.
   */
  constructor(path: string, sourceIndex: number, win: Window, header: PcapHeader, compressed: boolean) {
    this.header = header;
    this.sourceIndex = sourceIndex;
    this.win = win;
    this.fracPerSec = header.nanoseconds ? 1_000_000_000 : 1_000_000;
    this.nsecPerUnit = header.nanoseconds ? 1 : 1000;
    this.info = {
      path,
      format: 'pcap',
      compressed,
      byteOrder: header.littleEndian ? 'LE' : 'BE',
      precision: header.nanoseconds ? 'ns' : 'us',
      linkTypes: [header.linkType],
      snapLength: header.snapLength,
      packets: 0,
      warnings: [],
    };
    this.capOverSnap = new DamageCounter(
      (n, off) => `${plural(n, 'record')} had a captured length greater than the snap length ${header.snapLength} (first at offset ${off})`,
    );
    if (header.versionMajor > 2 || header.versionMinor > 4) {
      this.info.warnings.push(
        `pcap version ${header.versionMajor}.${header.versionMinor} is newer than 2.4; read with the 2.4 layout, as libpcap and tshark do`,
      );
    } else if (header.versionMinor < 4) {
      this.info.warnings.push(
        `pcap version ${header.versionMajor}.${header.versionMinor} is older than 2.4; caplen/len order handled as libpcap does`,
      );
    }
  }

  /** Releases the input without reading further (batches() does it itself when it ends). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.win.input.close();
  }

  batches(): AsyncIterable<Frame[]> {
    if (this.started) throw new Error(`${this.info.path}: batches() can be iterated only once`);
    this.started = true;
    return this.run();
  }

  /**
   * Lets pcap-parser parse a copy of the file header (magic, version, snap length, link type)
   * and checks its reading against ours. Its `globalHeader` event fires synchronously on the feed.
   */
  private parseHeaderWithPcapParser(fileHeader: Uint8Array, le: boolean): void {
    // A copy: what pcap-parser cannot take is changed in it, never in the file's bytes.
    const headerBytes = Buffer.from(fileHeader);
    const hdr = this.header;
    // It refuses the ns magics: the µs magic of the same byte order.
    if (hdr.nanoseconds) headerBytes.set(le ? [0xd4, 0xc3, 0xb2, 0xa1] : [0xa1, 0xb2, 0xc3, 0xd4], 0);
    // It refuses what is not 2.x or x.4: a newer version is read as 2.4.
    if (hdr.versionMajor > 2 || hdr.versionMinor > 4) headerBytes.set(le ? [2, 0, 4, 0] : [0, 2, 0, 4], 4);
    const feed = new FeedStream();
    const parser = pcapParser.parse(feed);
    let seen: PcapParserGlobalHeader | null = null;
    parser.on('globalHeader', (h: PcapParserGlobalHeader) => (seen = h));
    parser.on('error', (err: Error) => this.info.warnings.push(`pcap-parser: ${errorText(err)}`));
    feed.emit('data', headerBytes);
    feed.emit('end');
    const h = seen as PcapParserGlobalHeader | null;
    if (h === null) return;
    if ((h.linkLayerType & 0xffff) !== this.header.linkType || h.snapshotLength !== this.header.snapLength) {
      this.info.warnings.push(`pcap-parser read the file header differently (link type ${h.linkLayerType}, snap length ${h.snapshotLength})`);
    }
  }


  private async *run(): AsyncGenerator<Frame[]> {
    const win = this.win;
    const hdr = this.header;
    const le = hdr.littleEndian;
    const warnings = this.info.warnings;
    const limit = pcapRecordLimit(hdr.snapLength);
    const lengthOrder: LengthOrder = hdr.versionMajor > 2 ? 0 : hdr.versionMinor < 3 ? 1 : hdr.versionMinor === 3 ? 2 : 0;

    this.parseHeaderWithPcapParser(win.buf.subarray(win.start, win.start + PCAP_HEADER_LENGTH), le);
    // Every frame of a window is yielded before the next fill: buffers can be recycled.
    win.recycle = true;
    // Frame objects, and the batch array itself, are reused from one batch to the next, as
    // batch validity allows. The batch is written in place and its length set once: emptying it
    // (`length = 0` drops an array's storage) and pushing grew it again, ~50 KB of garbage a
    // window, a third of a run's garbage (issue 6).
    const pool: Frame[] = [];
    const batch: Frame[] = [];

    let scanAt = win.start + PCAP_HEADER_LENGTH;
    const { linkType, snapLength } = hdr;
    const sourceIndex = this.sourceIndex;
    const fracPerSec = this.fracPerSec;
    const nsecPerUnit = this.nsecPerUnit;

    try {
      for (;;) {
        // Walk the complete records in the window: header checks, and the pre-2.3 swap.
        const buf = win.buf;
        const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
        // Frames point into the window's buffer with an offset: no view per frame (frame.ts).
        // One plain Uint8Array per window, so that decoders index one kind of array.
        const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
        const end = win.end;
        let p = scanAt;
        let need = 0; // bytes needed from `p` to complete the next record
        let refused = false;
        let n = 0;
        while (end - p >= RECORD_HEADER_LENGTH) {
          let caplen = dv.getUint32(p + 8, le);
          let origlen = dv.getUint32(p + 12, le);
          const swap = lengthOrder === 1 || (lengthOrder === 2 && caplen > origlen);
          if (swap) {
            const t = caplen;
            caplen = origlen;
            origlen = t;
          }
          if (caplen > limit) {
            refused = true;
            break;
          }
          if (end - p - RECORD_HEADER_LENGTH < caplen) {
            need = RECORD_HEADER_LENGTH + caplen;
            break;
          }
          const offset = win.base + p;
          if (swap) {
            // Written back only once the record is complete: the window copies unconsumed
            // bytes on refill, and a swapped header must not be swapped a second time.
            dv.setUint32(p + 8, caplen, le);
            dv.setUint32(p + 12, origlen, le);
            if (lengthOrder === 2) this.swapped.add(offset);
          }
          if (caplen > origlen) this.capOverOrig.add(offset);
          if (caplen > snapLength && snapLength !== 0) this.capOverSnap.add(offset);
          let sec = dv.getUint32(p, le);
          let frac = dv.getUint32(p + 4, le);
          if (frac >= fracPerSec) {
            // Seen in real files: carry whole seconds over, in exact integer arithmetic.
            const rem = frac % fracPerSec;
            sec += (frac - rem) / fracPerSec;
            frac = rem;
            this.tsOverflow.add(offset);
          }
          const data = p + RECORD_HEADER_LENGTH;
          let f = pool[n];
          if (f === undefined) {
            f = { linkType, tsSec: 0, tsNsec: 0, capturedLength: 0, originalLength: 0, bytes, offset: 0, interfaceId: 0, sourceIndex, number: 0, fileOffset: 0 };
            pool.push(f);
          }
          n++;
          f.tsSec = sec;
          f.tsNsec = frac * nsecPerUnit;
          f.capturedLength = caplen;
          f.originalLength = origlen;
          f.bytes = bytes;
          f.offset = data;
          f.number = ++this.number;
          f.fileOffset = offset;
          batch[n - 1] = f;
          p = data + caplen;
        }
        batch.length = n;

        if (batch.length > 0) {
          this.info.packets += batch.length;
          yield batch;
        }
        win.start = p;
        scanAt = p;

        if (refused) {
          const caplen = this.recordCaplen(dv, p, le, lengthOrder);
          warnings.push(
            `record at offset ${win.base + p} claims a captured length of ${caplen} bytes (limit ${limit}); stopped reading there`,
          );
          break;
        }

        let more: boolean;
        try {
          more = await win.fill(need > 0 ? need : RECORD_HEADER_LENGTH);
        } catch (err) {
          warnings.push(`${inputErrorText(err)} at offset ${win.offset + win.available}; stopped reading there`);
          break;
        }
        scanAt = win.start;
        if (!more) {
          this.reportCutOff(need);
          break;
        }
      }
    } finally {
      this.flushCounters();
      await this.close();
    }
  }

  private recordCaplen(dv: DataView, p: number, le: boolean, order: LengthOrder): number {
    const caplen = dv.getUint32(p + 8, le);
    const origlen = dv.getUint32(p + 12, le);
    return order === 1 || (order === 2 && caplen > origlen) ? origlen : caplen;
  }

  /** At end of input: what is left in the window is an incomplete record. */
  private reportCutOff(need: number): void {
    const win = this.win;
    const have = win.available;
    if (have === 0) return;
    const at = win.offset;
    if (have < RECORD_HEADER_LENGTH) {
      this.info.warnings.push(
        `file ends inside the record header at offset ${at}: ${have} of ${RECORD_HEADER_LENGTH} bytes present, ${RECORD_HEADER_LENGTH - have} missing`,
      );
    } else {
      const caplen = need - RECORD_HEADER_LENGTH;
      const got = have - RECORD_HEADER_LENGTH;
      this.info.warnings.push(
        `last record at offset ${at} is cut short: captured length ${caplen}, ${got} bytes present, ${caplen - got} missing`,
      );
    }
  }

  private flushCounters(): void {
    const w = this.info.warnings;
    this.tsOverflow.flush(w);
    this.capOverOrig.flush(w);
    this.capOverSnap.flush(w);
    this.swapped.flush(w);
  }
}
