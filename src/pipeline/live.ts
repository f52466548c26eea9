/**
 * Live capture as the pipeline opens it: the capture layer's source (capture/live.ts), given the
 * decoder's answer for the length on the wire of a frame cut at the snap length (a GSO frame on
 * lo), which the capture layer cannot decode itself.
 */
import { newPacket } from '../core/packet.js';
import { openLive, type LiveOptions, type LiveSource } from '../capture/live.js';
import { decodeBytes } from '../parse/decode.js';

const scratch = newPacket();

/** The frame's length on the wire from its IP header, when that says more than was captured. */
export function ipWireLength(linkType: number, bytes: Uint8Array, length: number): number | null {
  const pkt = decodeBytes(linkType, bytes, length, length, scratch);
  return pkt.ipLongerThanFrame ? pkt.networkOffset + pkt.ipLength : null;
}

export function openLiveCapture(opts: Omit<LiveOptions, 'wireLength'>): LiveSource {
  return openLive({ ...opts, wireLength: ipWireLength });
}
