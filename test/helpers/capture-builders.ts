/**
 * Builders that write capture bytes for tests: classic pcap (µs/ns, both byte orders, any
 * version and header field) and pcapng blocks (SHB, IDB with if_tsresol/if_tsoffset, EPB,
 * SPB, obsolete PB, any other block). Each returns plain bytes so a test can cut, patch or
 * concatenate them to make damage. Field layouts: draft-ietf-opsawg-pcap and -pcapng.
 */
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Frame, FrameSource } from '../../src/core/frame.js';

export type ByteOrder = 'LE' | 'BE';

/** Concatenates byte arrays. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Bytes from a hex string ("0a 0d 0d 0a" or "0a0d0d0a"). */
export function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** `n` bytes counting up from `seed` (mod 256): distinct, recognisable packet contents. */
export function payload(n: number, seed = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (seed + i) & 0xff;
  return out;
}

export function gzip(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(gzipSync(bytes));
}

// ---------------------------------------------------------------- classic pcap

export interface PcapFileOptions {
  byteOrder?: ByteOrder;
  precision?: 'us' | 'ns';
  /** Overrides the magic (written in the file's byte order), e.g. to test unknown magics. */
  magic?: number;
  versionMajor?: number;
  versionMinor?: number;
  snapLength?: number;
  /** The whole 32-bit field: link type in the low 16 bits, FCS information above. */
  linkType?: number;
}

export interface PcapRecordSpec {
  tsSec: number;
  /** µs or ns, as the file's precision says; may be out of range on purpose. */
  tsFrac: number;
  data: Uint8Array;
  /** Original length (default data.length). */
  origLen?: number;
  /** Captured length written in the header (default data.length); lies make damage. */
  capLen?: number;
}

export function pcapHeader(o: PcapFileOptions = {}): Uint8Array {
  const le = (o.byteOrder ?? 'LE') === 'LE';
  const b = new Uint8Array(24);
  const dv = new DataView(b.buffer);
  const magic = o.magic ?? ((o.precision ?? 'us') === 'ns' ? 0xa1b23c4d : 0xa1b2c3d4);
  dv.setUint32(0, magic, le);
  dv.setUint16(4, o.versionMajor ?? 2, le);
  dv.setUint16(6, o.versionMinor ?? 4, le);
  dv.setInt32(8, 0, le);
  dv.setUint32(12, 0, le);
  dv.setUint32(16, o.snapLength ?? 262144, le);
  dv.setUint32(20, o.linkType ?? 1, le);
  return b;
}

export function pcapRecord(r: PcapRecordSpec, byteOrder: ByteOrder = 'LE'): Uint8Array {
  const le = byteOrder === 'LE';
  const b = new Uint8Array(16 + r.data.length);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, r.tsSec, le);
  dv.setUint32(4, r.tsFrac, le);
  dv.setUint32(8, r.capLen ?? r.data.length, le);
  dv.setUint32(12, r.origLen ?? r.data.length, le);
  b.set(r.data, 16);
  return b;
}

export function buildPcap(o: PcapFileOptions, records: PcapRecordSpec[]): Uint8Array {
  const order = o.byteOrder ?? 'LE';
  return concatBytes(pcapHeader(o), ...records.map((r) => pcapRecord(r, order)));
}

// ---------------------------------------------------------------- pcapng

/** A block: type, total length, body padded to 4, total length again. */
export function ngBlock(order: ByteOrder, type: number, body: Uint8Array): Uint8Array {
  const le = order === 'LE';
  const padded = (body.length + 3) & ~3;
  const total = 12 + padded;
  const b = new Uint8Array(total);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, type, le);
  dv.setUint32(4, total, le);
  b.set(body, 8);
  dv.setUint32(total - 4, total, le);
  return b;
}

/** One option (code, length, value padded to 4). */
export function ngOption(order: ByteOrder, code: number, value: Uint8Array): Uint8Array {
  const le = order === 'LE';
  const b = new Uint8Array(4 + ((value.length + 3) & ~3));
  const dv = new DataView(b.buffer);
  dv.setUint16(0, code, le);
  dv.setUint16(2, value.length, le);
  b.set(value, 4);
  return b;
}

export function ngEndOfOptions(): Uint8Array {
  return new Uint8Array(4);
}

export function ngSHB(order: ByteOrder, o: { major?: number; minor?: number; options?: Uint8Array } = {}): Uint8Array {
  const le = order === 'LE';
  const fixed = new Uint8Array(16);
  const dv = new DataView(fixed.buffer);
  dv.setUint32(0, 0x1a2b3c4d, le);
  dv.setUint16(4, o.major ?? 1, le);
  dv.setUint16(6, o.minor ?? 0, le);
  dv.setInt32(8, -1, le); // section length unknown (-1 as 64 bits)
  dv.setInt32(12, -1, le);
  return ngBlock(order, 0x0a0d0d0a, concatBytes(fixed, o.options ?? new Uint8Array(0)));
}

export interface IdbSpec {
  linkType: number;
  snapLength?: number;
  /** if_tsresol byte: 6 = µs (default when absent), 9 = ns, 0x80 | n = 2^-n. */
  tsresol?: number;
  /** if_tsoffset in seconds. */
  tsoffset?: bigint;
}

export function ngIDB(order: ByteOrder, s: IdbSpec): Uint8Array {
  const le = order === 'LE';
  const fixed = new Uint8Array(8);
  const dv = new DataView(fixed.buffer);
  dv.setUint16(0, s.linkType, le);
  dv.setUint32(4, s.snapLength ?? 0, le);
  const opts: Uint8Array[] = [];
  if (s.tsresol !== undefined) opts.push(ngOption(order, 9, Uint8Array.of(s.tsresol)));
  if (s.tsoffset !== undefined) {
    const v = new Uint8Array(8);
    new DataView(v.buffer).setBigInt64(0, s.tsoffset, le);
    opts.push(ngOption(order, 14, v));
  }
  if (opts.length > 0) opts.push(ngEndOfOptions());
  return ngBlock(order, 1, concatBytes(fixed, ...opts));
}

export interface EpbSpec {
  iface: number;
  /** Timestamp in the interface's units (64 bits). */
  ts: bigint;
  data: Uint8Array;
  origLen?: number;
  /** Captured length written (default data.length). */
  capLen?: number;
}

export function ngEPB(order: ByteOrder, s: EpbSpec): Uint8Array {
  const le = order === 'LE';
  const fixed = new Uint8Array(20);
  const dv = new DataView(fixed.buffer);
  dv.setUint32(0, s.iface, le);
  dv.setUint32(4, Number(s.ts >> 32n), le);
  dv.setUint32(8, Number(s.ts & 0xffffffffn), le);
  dv.setUint32(12, s.capLen ?? s.data.length, le);
  dv.setUint32(16, s.origLen ?? s.data.length, le);
  return ngBlock(order, 6, concatBytes(fixed, s.data));
}

/** Obsolete Packet Block (type 2): 16-bit interface id and drops count. */
export function ngPB(order: ByteOrder, s: EpbSpec): Uint8Array {
  const le = order === 'LE';
  const fixed = new Uint8Array(20);
  const dv = new DataView(fixed.buffer);
  dv.setUint16(0, s.iface, le);
  dv.setUint16(2, 0, le);
  dv.setUint32(4, Number(s.ts >> 32n), le);
  dv.setUint32(8, Number(s.ts & 0xffffffffn), le);
  dv.setUint32(12, s.capLen ?? s.data.length, le);
  dv.setUint32(16, s.origLen ?? s.data.length, le);
  return ngBlock(order, 2, concatBytes(fixed, s.data));
}

/** Simple Packet Block: original length, then the data (interface 0). */
export function ngSPB(order: ByteOrder, s: { data: Uint8Array; origLen?: number }): Uint8Array {
  const le = order === 'LE';
  const fixed = new Uint8Array(4);
  new DataView(fixed.buffer).setUint32(0, s.origLen ?? s.data.length, le);
  return ngBlock(order, 3, concatBytes(fixed, s.data));
}

// ---------------------------------------------------------------- files and reading back

/** A fresh temporary directory and a function that removes it. */
export function tempDir(prefix = 'flowdemux-'): { dir: string; path(name: string): string; write(name: string, bytes: Uint8Array): string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    path: (name) => join(dir, name),
    write(name, bytes) {
      const p = join(dir, name);
      writeFileSync(p, bytes);
      return p;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A frame with its bytes copied (safe to keep after the source moves on). */
export type KeptFrame = Omit<Frame, 'bytes'> & { bytes: Uint8Array };

export function keepFrame(f: Frame): KeptFrame {
  // Only the frame's own bytes: `bytes` may be a source's whole read buffer (frame.ts).
  return { ...f, bytes: f.offset === 0 ? Uint8Array.from(f.bytes) : f.bytes.slice(f.offset, f.offset + f.capturedLength), offset: 0 };
}

/** Reads a source to the end, copying every frame. */
export async function readAll(source: FrameSource): Promise<KeptFrame[]> {
  const out: KeptFrame[] = [];
  for await (const batch of source.batches()) for (const f of batch) out.push(keepFrame(f));
  return out;
}
