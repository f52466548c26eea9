/**
 * Helpers that record damage on a packet. Only the bad path calls them, so the object literal
 * each one allocates never costs anything on a clean packet.
 *
 * Decoders pass positions in `pkt.bytes`; the recorded offset is made relative to the frame's
 * start here (`pkt.frameOffset`), once for every decoder.
 */
import type { Layer, Packet } from '../core/packet.js';

/**
 * A header needs `need` bytes at `offset` but only `have` are there. `limitedByLength` says the
 * limit was a length field of an enclosing layer (IP total / payload length) rather than the end
 * of the captured bytes.
 */
export function truncated(
  pkt: Packet, layer: Layer, offset: number, need: number, have: number, limitedByLength: boolean, what: string,
): void {
  pkt.problems.push({
    kind: 'truncated', layer, offset: offset - pkt.frameOffset, need, have: have < 0 ? 0 : have,
    cause: limitedByLength ? 'length-field' : 'capture', what,
  });
}

export function malformed(pkt: Packet, layer: Layer, offset: number, what: string): void {
  pkt.problems.push({ kind: 'malformed', layer, offset: offset - pkt.frameOffset, what });
}

export function unsupported(pkt: Packet, layer: Layer, offset: number, what: string): void {
  pkt.problems.push({ kind: 'unsupported', layer, offset: offset - pkt.frameOffset, what });
}
