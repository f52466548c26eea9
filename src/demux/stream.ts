/**
 * One TCP connection's byte streams, in order, as the two ends' applications read them (what
 * tshark's `-z follow,tcp` shows): each direction is put back together from its segments by
 * sequence number. Retransmitted bytes are given once, a segment that arrives early waits for the
 * bytes before it, and what the capture never held (a lost segment, payload the snap length cut)
 * is a gap of known size, said where it falls.
 *
 * Out-of-order segments are copied and held until their turn; at most MAX_HELD bytes per
 * connection: past that the hole before the first held segment is declared a gap, so memory
 * stays bounded on any capture.
 */

/** What a reassembled stream hands on, in the order the bytes become readable. */
export interface StreamSink {
  /** `bytes` (a view, valid during the call) of one direction, next in that direction's stream. */
  data(toServer: boolean, bytes: Uint8Array): void;
  /** `length` bytes of one direction that the capture does not hold. */
  gap(toServer: boolean, length: number): void;
}

/** Bytes held out of order, per connection, before a hole is given up as a gap. */
export const MAX_HELD = 32 * 1024 * 1024;

interface Held {
  seq: number;
  bytes: Uint8Array;
  /** Bytes the segment had past `bytes` that the capture did not hold (snap length). */
  cut: number;
}

/** Sequence arithmetic modulo 2^32: a - b as a signed 32-bit number. */
function diff(a: number, b: number): number {
  return (a - b) | 0;
}

class Direction {
  /** The next sequence number the stream expects; null until its start is known. */
  next: number | null = null;
  /** The highest byte the peer acknowledged (its FIN excluded), as an offset past `next` is a gap at the end. */
  acked: number | null = null;
  /** The sequence number of this end's FIN, when seen: acknowledging it is no data. */
  fin: number | null = null;
  held: Held[] = [];
  heldBytes = 0;

  constructor(readonly toServer: boolean) {}
}

export class StreamReassembler {
  private readonly dirs = [new Direction(true), new Direction(false)];
  private heldTotal = 0;

  constructor(private readonly sink: StreamSink) {}

  /**
   * One TCP segment: its flags, sequence and acknowledgment numbers (unsigned 32-bit), its payload
   * as captured (`bytes`, a view: copied if it must wait) and the payload length its headers
   * give (`length` >= bytes.length: the snap length may have cut the rest).
   */
  segment(toServer: boolean, flags: { syn: boolean; fin: boolean; rst: boolean; ack: boolean }, seq: number, ackNo: number, bytes: Uint8Array, length: number): void {
    const d = this.dirs[toServer ? 0 : 1]!;
    const peer = this.dirs[toServer ? 1 : 0]!;
    if (flags.ack && !flags.rst) {
      // What this end acknowledges of the peer's stream (up to the peer's FIN, not past it).
      let a = ackNo >>> 0;
      if (peer.fin !== null && diff(a, peer.fin) > 0) a = peer.fin;
      if (peer.acked === null || diff(a, peer.acked) > 0) peer.acked = a;
    }
    if (flags.rst) return; // a RST's payload is not stream data
    let start = seq >>> 0;
    if (flags.syn) {
      start = (start + 1) >>> 0;
      if (d.next === null) d.next = start;
    }
    if (flags.fin) d.fin = (start + length) >>> 0;
    if (length === 0) return;
    if (d.next === null) d.next = start; // caught mid-stream: the stream starts at its first data
    this.take(d, { seq: start, bytes, cut: length - bytes.length }, false);
  }

  /** A UDP datagram: its payload as captured and its length. */
  datagram(toServer: boolean, bytes: Uint8Array, length: number): void {
    if (bytes.length > 0) this.sink.data(toServer, bytes);
    if (length > bytes.length) this.sink.gap(toServer, length - bytes.length);
  }

  /** End of the connection: segments still held are given with the holes before them, then what was acknowledged but never seen. */
  finish(): void {
    for (const d of this.dirs) {
      while (d.held.length > 0) this.giveUpHole(d);
      if (d.next !== null && d.acked !== null && diff(d.acked, d.next) > 0) {
        this.sink.gap(d.toServer, diff(d.acked, d.next));
        d.next = d.acked;
      }
    }
  }

  /** A segment for direction `d`: delivered when it is next, trimmed when it repeats, held when early. */
  private take(d: Direction, s: Held, copied: boolean): void {
    const next = d.next!;
    const ahead = diff(s.seq, next);
    if (ahead > 0) {
      this.hold(d, copied ? s : { seq: s.seq, bytes: s.bytes.slice(), cut: s.cut });
      return;
    }
    // Starts at or before `next`: skip what was already given.
    const total = s.bytes.length + s.cut;
    const skip = -ahead;
    if (skip >= total) return; // all of it seen before: a retransmission
    if (skip < s.bytes.length) {
      this.sink.data(d.toServer, skip === 0 ? s.bytes : s.bytes.subarray(skip));
      const missing = s.cut;
      if (missing > 0) this.sink.gap(d.toServer, missing);
    } else {
      this.sink.gap(d.toServer, total - skip);
    }
    d.next = (s.seq + total) >>> 0;
    this.drain(d);
  }

  /** Held segments that are now next (or behind) are given, in order. */
  private drain(d: Direction): void {
    while (d.held.length > 0 && diff(d.held[0]!.seq, d.next!) <= 0) {
      const s = d.held.shift()!;
      d.heldBytes -= s.bytes.length;
      this.heldTotal -= s.bytes.length;
      this.take(d, s, true);
    }
  }

  private hold(d: Direction, s: Held): void {
    // Sorted by sequence number; an exact duplicate of a held segment is dropped.
    let i = d.held.length;
    while (i > 0 && diff(d.held[i - 1]!.seq, s.seq) > 0) i--;
    if (i > 0 && d.held[i - 1]!.seq === s.seq && d.held[i - 1]!.bytes.length >= s.bytes.length) return;
    d.held.splice(i, 0, s);
    d.heldBytes += s.bytes.length;
    this.heldTotal += s.bytes.length;
    while (this.heldTotal > MAX_HELD) {
      const fullest = this.dirs[0]!.heldBytes >= this.dirs[1]!.heldBytes ? this.dirs[0]! : this.dirs[1]!;
      this.giveUpHole(fullest);
    }
  }

  /** The hole before the first held segment is a gap: say so, then give what follows it. */
  private giveUpHole(d: Direction): void {
    const first = d.held[0]!;
    const hole = diff(first.seq, d.next!);
    if (hole > 0) {
      this.sink.gap(d.toServer, hole);
      d.next = first.seq;
    }
    this.drain(d);
  }
}
