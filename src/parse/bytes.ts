/**
 * Big- and little-endian reads over a Uint8Array at an offset.
 *
 * These do no bounds checking: every decoder checks once that the whole header is present and
 * then reads fixed offsets (out-of-range indexes would read `undefined`, which these turn into 0
 * rather than throwing, so a decoder bug shows up as a wrong value, never as an exception).
 * Plain byte arithmetic is used instead of a DataView so that decoding a frame does not allocate
 * a view per packet (frames are views into different buffers); V8 compiles these to a few loads.
 */

export function u8(b: Uint8Array, off: number): number {
  return b[off]! | 0;
}

export function u16be(b: Uint8Array, off: number): number {
  return ((b[off]! << 8) | b[off + 1]!) & 0xffff;
}

export function u16le(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8)) & 0xffff;
}

/** Unsigned 32-bit big-endian (sequence numbers, timestamps): `>>> 0` keeps it non-negative. */
export function u32be(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

export function u32le(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}
