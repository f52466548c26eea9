/**
 * pcapng reader (draft-ietf-opsawg-pcapng): sections in either byte order, interfaces with
 * their own link type, snap length and time resolution, EPB / SPB / obsolete PB packets.
 * Everything else (NRB, ISB, DSB, custom, unknown) is skipped by its length.
 *
 * Blocks are `type u32 | total length u32 | body | total length u32`. A block's length is
 * checked (multiple of 4, at least 12, at most 256 MiB, trailing copy equal) before the block
 * is buffered or used; a bad one ends the capture with a warning and the frames before it.
 * Damage inside a well-framed block (a packet longer than its block, an unknown interface)
 * skips that block only, counted in one warning line per kind.
 *
 * Timestamps are 64-bit counts of if_tsresol units split in two 32-bit halves. They are turned
 * into whole seconds + nanoseconds with exact integer arithmetic on doubles (long division in
 * 16-bit digits keeps every intermediate below 2^53); BigInt is used only for resolutions
 * finer than 10^-9 or 2^-32, which no common writer produces. Nanoseconds are truncated
 * where the resolution does not divide a second into whole nanoseconds (e.g. 2^-10).
 */
import type { ByteMeter, CaptureInfo, Frame, FrameSource } from '../core/frame.js';
import { DamageCounter, MAX_RECORD_BYTES, Window, errorText, inputErrorText, plural, were } from './reader.js';

export const BLOCK = {
  SHB: 0x0a0d0d0a,
  IDB: 0x00000001,
  PB: 0x00000002,
  SPB: 0x00000003,
  NRB: 0x00000004,
  ISB: 0x00000005,
  EPB: 0x00000006,
  DSB: 0x0000000a,
} as const;

const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
/** Fixed part of an SHB: type, length, byte-order magic, version, section length, trailing length. */
export const SHB_MIN_LENGTH = 28;

const OPT_ENDOFOPT = 0;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;

const TWO_16 = 65536;
const TWO_32 = 4294967296;

/** What open.ts checks on the first 28 bytes, before any frame: the reason or the byte order. */
export function checkSectionHeader(bytes: Uint8Array): { littleEndian: boolean } | string {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bom = dv.getUint32(8, false);
  let littleEndian: boolean;
  if (bom === BYTE_ORDER_MAGIC) littleEndian = false;
  else if (bom === 0x4d3c2b1a) littleEndian = true;
  else return `pcapng section header has an unknown byte-order magic (${bom.toString(16).padStart(8, '0')})`;
  const length = dv.getUint32(4, littleEndian);
  if (length < SHB_MIN_LENGTH || length % 4 !== 0 || length > MAX_RECORD_BYTES) {
    return `pcapng section header has a bad block length ${length}`;
  }
  const major = dv.getUint16(12, littleEndian);
  const minor = dv.getUint16(14, littleEndian);
  if (major !== 1) return `unsupported pcapng version ${major}.${minor} (flowdemux reads 1.x)`;
  return { littleEndian };
}

/**
 * One interface of the current section. The timestamp converter is chosen once per IDB:
 *   mode 0: 10^-n, n <= 9: divisor 10^n, then * 10^(9-n) ns
 *   mode 1: 2^-n, n <= 32: shift, then the fraction scaled to ns
 *   mode 2: anything finer: BigInt
 */
interface Iface {
  linkType: number;
  snapLength: number;
  mode: 0 | 1 | 2;
  /** mode 0: 10^n; mode 1: 2^n. */
  divisor: number;
  /** mode 0: ns per unit; mode 1: 1953125 * 2^(9-n), so frac * it < 2^53 (1e9 = 2^9 * 1953125). */
  scale: number;
  /** mode 1: n. */
  shift: number;
  /** mode 2: 10^n or 2^n as BigInt. */
  bigDivisor: bigint;
  /** if_tsoffset, whole seconds added to every timestamp. */
  offsetSec: number;
  /** Index in info.linkTypes (for messages). */
  globalIndex: number;
}

function makeIface(linkType: number, snapLength: number, tsresol: number, offsetSec: number, globalIndex: number): Iface {
  const binary = (tsresol & 0x80) !== 0;
  const n = tsresol & 0x7f;
  const iface: Iface = {
    linkType, snapLength, mode: 0, divisor: 1, scale: 1, shift: 0, bigDivisor: 1n, offsetSec, globalIndex,
  };
  if (!binary && n <= 9) {
    iface.mode = 0;
    iface.divisor = 10 ** n;
    iface.scale = 10 ** (9 - n);
  } else if (binary && n <= 32) {
    iface.mode = 1;
    iface.shift = n;
    iface.divisor = 2 ** n;
    iface.scale = 1953125 * 2 ** (9 - n);
  } else {
    iface.mode = 2;
    iface.bigDivisor = binary ? 1n << BigInt(n) : 10n ** BigInt(n);
  }
  return iface;
}

/** `us`, `ns`, `1e-4`, `2^-10`: the text of an if_tsresol for CaptureInfo.precision. */
function resolutionText(tsresol: number): string {
  const n = tsresol & 0x7f;
  if (tsresol & 0x80) return `2^-${n}`;
  if (n === 6) return 'us';
  if (n === 9) return 'ns';
  if (n === 3) return 'ms';
  return `1e-${n}`;
}

/** Resolution in bits (log2 of units per second), to find the finest one. */
function resolutionBits(tsresol: number): number {
  const n = tsresol & 0x7f;
  return tsresol & 0x80 ? n : n * Math.log2(10);
}

export class PcapngSource implements FrameSource {
  readonly info: CaptureInfo;
  private readonly sourceIndex: number;
  private readonly win: Window;
  private started = false;
  private closed = false;
  /** Set by openCapture for a pipe or FIFO (FrameSource.streaming). */
  streaming = false;
  /** Set by openCapture for a regular file (FrameSource.meter). */
  meter?: ByteMeter;

  private le: boolean;
  private ifaces: Iface[] = [];
  private finestBits = -1;
  private number = 0;
  private sectionCount = 0;
  /** Timestamp of the last packet, given to SPBs (they carry none). */
  private lastSec = 0;
  private lastNsec = 0;
  // Outputs of toTime(), as fields so converting allocates nothing.
  private outSec = 0;
  private outNsec = 0;

  private readonly badPacket = new DamageCounter(
    (n, off) => `${plural(n, 'packet block')} claimed more packet data than the block holds and ${were(n)} skipped (first at offset ${off})`,
  );
  private readonly unknownIface = new DamageCounter(
    (n, off) => `${plural(n, 'packet')} referred to an interface not described in the section and ${were(n)} skipped (first at offset ${off})`,
  );
  private readonly capOverOrig = new DamageCounter(
    (n, off) => `${plural(n, 'packet')} had a captured length greater than the original length (first at offset ${off})`,
  );
  private readonly capOverSnap = new DamageCounter(
    (n, off) => `${plural(n, 'packet')} had a captured length greater than the interface's snap length (first at offset ${off})`,
  );
  private readonly spbNoTime = new DamageCounter(
    (n, off) => `${plural(n, 'simple packet block')} ${n === 1 ? 'carries' : 'carry'} no timestamp and ${were(n)} given the previous packet's time (first at offset ${off})`,
  );
  private readonly shortIdb = new DamageCounter(
    (n, off) => `${plural(n, 'interface description')} ${were(n)} too short to hold a link type and got 65535 (first at offset ${off})`,
  );
  private readonly badOptions = new DamageCounter(
    (n, off) => `${plural(n, 'interface description')} had malformed options, read up to the damage (first at offset ${off})`,
  );

  /** `win` holds the capture from offset 0, starting with a section header checked by `checkSectionHeader`. */
  constructor(path: string, sourceIndex: number, win: Window, littleEndian: boolean, compressed: boolean) {
    this.sourceIndex = sourceIndex;
    this.win = win;
    this.le = littleEndian;
    this.info = {
      path,
      format: 'pcapng',
      compressed,
      byteOrder: littleEndian ? 'LE' : 'BE',
      precision: null,
      linkTypes: [],
      snapLength: null,
      packets: 0,
      warnings: [],
    };
  }

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

  private async *run(): AsyncGenerator<Frame[]> {
    const win = this.win;
    const warnings = this.info.warnings;
    try {
      for (;;) {
        const batch: Frame[] = [];
        const stop = this.parseBlocks(batch);
        if (batch.length > 0) {
          this.info.packets += batch.length;
          yield batch;
        }
        if (stop === -1) break;
        let more: boolean;
        try {
          more = await win.fill(stop);
        } catch (err) {
          warnings.push(`${inputErrorText(err)} at offset ${win.offset + win.available}; stopped reading there`);
          break;
        }
        if (!more) {
          this.reportCutOff(stop);
          break;
        }
      }
    } finally {
      this.flushCounters();
      await this.close();
    }
  }

  /**
   * Consumes the complete blocks in the window, pushing frames. Returns the number of bytes
   * needed from `win.start` to complete the next block, or -1 to stop (damage, reported).
   */
  private parseBlocks(batch: Frame[]): number {
    const win = this.win;
    const buf = win.buf;
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const end = win.end;
    let p = win.start;
    try {
      for (;;) {
        const avail = end - p;
        if (avail < 12) return 12;
        let le = this.le;
        const type = dv.getUint32(p, le);
        if (type === BLOCK.SHB) {
          // The SHB type reads the same in both orders; its byte-order magic sets the order.
          const bom = dv.getUint32(p + 8, false);
          if (bom === BYTE_ORDER_MAGIC) le = false;
          else if (bom === 0x4d3c2b1a) le = true;
          else {
            this.info.warnings.push(
              `section header at offset ${win.base + p} has an unknown byte-order magic (${bom.toString(16).padStart(8, '0')}); stopped reading there`,
            );
            return -1;
          }
        }
        const length = dv.getUint32(p + 4, le);
        const minimum = type === BLOCK.SHB ? SHB_MIN_LENGTH : 12;
        if (length % 4 !== 0 || length < minimum || length > MAX_RECORD_BYTES) {
          this.info.warnings.push(
            `block at offset ${win.base + p} (type 0x${type.toString(16)}) has a bad length ${length}; stopped reading there`,
          );
          return -1;
        }
        if (avail < length) return length;
        const trailing = dv.getUint32(p + length - 4, le);
        if (trailing !== length) {
          this.info.warnings.push(
            `block at offset ${win.base + p} (type 0x${type.toString(16)}) has a trailing length ${trailing} that differs from its length ${length}; stopped reading there`,
          );
          return -1;
        }
        switch (type) {
          case BLOCK.EPB:
            this.packetBlock(batch, buf, dv, p, length, le, false);
            break;
          case BLOCK.SPB:
            this.simplePacket(batch, buf, dv, p, length, le);
            break;
          case BLOCK.PB:
            this.packetBlock(batch, buf, dv, p, length, le, true);
            break;
          case BLOCK.IDB:
            this.interfaceBlock(dv, p, length, le);
            break;
          case BLOCK.SHB:
            if (!this.sectionHeader(dv, p, le)) return -1;
            break;
          default:
            break; // NRB, ISB, DSB, custom and unknown blocks: not needed to demultiplex
        }
        p += length;
        win.start = p;
      }
    } finally {
      win.start = p;
    }
  }

  private sectionHeader(dv: DataView, p: number, le: boolean): boolean {
    const major = dv.getUint16(p + 12, le);
    const minor = dv.getUint16(p + 14, le);
    if (major !== 1) {
      this.info.warnings.push(
        `section header at offset ${this.win.base + p} has unsupported version ${major}.${minor}; stopped reading there`,
      );
      return false;
    }
    this.le = le;
    this.ifaces = [];
    this.sectionCount++;
    return true;
  }

  private interfaceBlock(dv: DataView, p: number, length: number, le: boolean): void {
    const at = this.win.base + p;
    if (length < 20) {
      // Too short for link type and snap length. It still takes its interface number, so
      // that packets of the interfaces after it keep theirs; its link type is 65535.
      this.shortIdb.add(at);
    }
    const linkType = length >= 20 ? dv.getUint16(p + 8, le) : 0xffff;
    const snapLength = length >= 20 ? dv.getUint32(p + 12, le) : 0;
    let tsresol = 6;
    let offsetSec = 0;
    let q = p + 16;
    const optEnd = p + length - 4;
    while (q + 4 <= optEnd) {
      const code = dv.getUint16(q, le);
      const len = dv.getUint16(q + 2, le);
      if (code === OPT_ENDOFOPT) break;
      const padded = (len + 3) & ~3;
      if (q + 4 + padded > optEnd) {
        this.badOptions.add(at);
        break;
      }
      if (code === OPT_IF_TSRESOL && len === 1) {
        tsresol = dv.getUint8(q + 4);
      } else if (code === OPT_IF_TSOFFSET && len === 8) {
        // Signed 64-bit seconds, exact as long as it is below 2^53 in magnitude.
        const a = dv.getUint32(q + 4, le);
        const b = dv.getUint32(q + 8, le);
        const hi = le ? b | 0 : a | 0;
        const lo = le ? a : b;
        offsetSec = hi * TWO_32 + lo;
      }
      q += 4 + padded;
    }
    const globalIndex = this.info.linkTypes.length;
    this.ifaces.push(makeIface(linkType, snapLength, tsresol, offsetSec, globalIndex));
    this.info.linkTypes.push(linkType);
    if (this.info.snapLength === null) this.info.snapLength = snapLength;
    const bits = resolutionBits(tsresol);
    if (bits > this.finestBits) {
      this.finestBits = bits;
      this.info.precision = resolutionText(tsresol);
    }
  }

  /** EPB (type 6) or the obsolete PB (type 2, 16-bit interface id + drops count). */
  private packetBlock(
    batch: Frame[], buf: Buffer, dv: DataView, p: number, length: number, le: boolean, obsolete: boolean,
  ): void {
    const at = this.win.base + p;
    if (length < 32) {
      this.badPacket.add(at);
      return;
    }
    const ifaceId = obsolete ? dv.getUint16(p + 8, le) : dv.getUint32(p + 8, le);
    const caplen = dv.getUint32(p + 20, le);
    if (caplen > length - 32) {
      this.badPacket.add(at);
      return;
    }
    const iface = this.ifaces[ifaceId];
    if (iface === undefined) {
      this.unknownIface.add(at);
      return;
    }
    const origlen = dv.getUint32(p + 24, le);
    this.toTime(iface, dv.getUint32(p + 12, le), dv.getUint32(p + 16, le));
    if (caplen > origlen) this.capOverOrig.add(at);
    if (caplen > iface.snapLength && iface.snapLength !== 0) this.capOverSnap.add(at);
    const data = p + 28;
    batch.push({
      linkType: iface.linkType,
      tsSec: this.outSec,
      tsNsec: this.outNsec,
      capturedLength: caplen,
      originalLength: origlen,
      bytes: buf.subarray(data, data + caplen),
      offset: 0,
      interfaceId: ifaceId,
      sourceIndex: this.sourceIndex,
      number: ++this.number,
      fileOffset: at,
    });
    this.lastSec = this.outSec;
    this.lastNsec = this.outNsec;
  }

  /** SPB (type 3): interface 0, no timestamp; captured = min(original, block data, snaplen). */
  private simplePacket(batch: Frame[], buf: Buffer, dv: DataView, p: number, length: number, le: boolean): void {
    const at = this.win.base + p;
    if (length < 16) {
      this.badPacket.add(at);
      return;
    }
    const iface = this.ifaces[0];
    if (iface === undefined) {
      this.unknownIface.add(at);
      return;
    }
    const origlen = dv.getUint32(p + 8, le);
    let caplen = Math.min(origlen, length - 16);
    if (iface.snapLength !== 0 && caplen > iface.snapLength) caplen = iface.snapLength;
    this.spbNoTime.add(at);
    const data = p + 12;
    batch.push({
      linkType: iface.linkType,
      tsSec: this.lastSec,
      tsNsec: this.lastNsec,
      capturedLength: caplen,
      originalLength: origlen,
      bytes: buf.subarray(data, data + caplen),
      offset: 0,
      interfaceId: 0,
      sourceIndex: this.sourceIndex,
      number: ++this.number,
      fileOffset: at,
    });
  }

  /** Timestamp `hi * 2^32 + lo` in the interface's units -> outSec / outNsec, exactly. */
  private toTime(iface: Iface, hi: number, lo: number): void {
    let sec: number;
    let nsec: number;
    if (iface.mode === 0) {
      // Long division of the 64-bit count by D = 10^n (D < 2^30) in digits hi, lo>>>16, lo&0xffff:
      // each partial remainder r < D, so r * 2^16 + digit < 2^46 stays exact.
      const d = iface.divisor;
      const r1 = hi % d;
      const q1 = (hi - r1) / d;
      const x2 = r1 * TWO_16 + (lo >>> 16);
      const r2 = x2 % d;
      const q2 = (x2 - r2) / d;
      const x3 = r2 * TWO_16 + (lo & 0xffff);
      const r3 = x3 % d;
      const q3 = (x3 - r3) / d;
      sec = q1 * TWO_32 + q2 * TWO_16 + q3;
      nsec = r3 * iface.scale;
    } else if (iface.mode === 1) {
      const n = iface.shift;
      // 2^-n: seconds are the bits above n; the fraction has n bits. frac * 1953125 < 2^53.
      let frac: number;
      if (n === 32) {
        sec = hi;
        frac = lo;
      } else {
        sec = hi * 2 ** (32 - n) + Math.floor(lo / iface.divisor);
        frac = lo % iface.divisor;
      }
      nsec = Math.floor(frac * iface.scale);
    } else {
      const ts = (BigInt(hi) << 32n) | BigInt(lo);
      const d = iface.bigDivisor;
      sec = Number(ts / d);
      nsec = Number(((ts % d) * 1_000_000_000n) / d);
    }
    this.outSec = sec + iface.offsetSec;
    this.outNsec = nsec;
  }

  private reportCutOff(need: number): void {
    const win = this.win;
    const have = win.available;
    if (have === 0) return;
    if (have < 12) {
      this.info.warnings.push(
        `file ends inside a block header at offset ${win.offset}: ${have} of 12 bytes present, ${12 - have} missing`,
      );
    } else {
      this.info.warnings.push(
        `last block at offset ${win.offset} is cut short: block length ${need}, ${have} bytes present, ${need - have} missing`,
      );
    }
  }

  private flushCounters(): void {
    const w = this.info.warnings;
    this.badPacket.flush(w);
    this.unknownIface.flush(w);
    this.capOverOrig.flush(w);
    this.capOverSnap.flush(w);
    this.spbNoTime.flush(w);
    this.badOptions.flush(w);
    this.shortIdb.flush(w);
  }
}
