/**
 * The one loop from frames to flows, shared by every command (files, stdin, live) and by the
 * tests: each frame decoded into one reused Packet, handed to the demux engine, then to the
 * caller's hook; after each batch, the caller's batch hook and its stop test.
 *
 * The hot path of the whole tool: per frame a decode, an ingest and at most one hook call, no
 * allocation; without a `keep` test, one comparison more (frames whose link type has no decoder are counted in a map, once per capture and
 * link type).
 */
import type { FlowRef } from '../core/flow.js';
import type { Frame } from '../core/frame.js';
import { newPacket, type Layer, type Packet } from '../core/packet.js';
import type { DemuxEngine } from '../demux/engine.js';
import { decodeFrame } from '../parse/decode.js';
import { isSupportedLinkType } from '../parse/link.js';

export interface PumpHooks {
  /**
   * A packet filter (--filter on files): a frame it refuses is counted and dropped before the
   * engine and `each` see it, as if the capture had been taken with the filter.
   */
  keep?: (pkt: Packet) => boolean;
  /**
   * After each frame was decoded (and ingested, with an engine: `ref` is what `ingest` returned,
   * null without one). Frame and packet are valid only during the call. A promise returned
   * (output back-pressure) is awaited before the next frame.
   */
  each?: (frame: Frame, pkt: Packet, ref: FlowRef | null) => void | Promise<void>;
  /** After each batch, with the frames so far; a promise returned is awaited. */
  afterBatch?: (frames: number) => void | Promise<void>;
  /** Checked after each batch: true stops reading (a closed output, enough packets). */
  stop?: () => boolean;
}

export interface PumpResult {
  frames: number;
  /** Frames `keep` dropped (included in `frames`). */
  dropped: number;
  /** The loop was left because `stop()` said so. */
  stopped: boolean;
  /** Frames of a link type without a decoder, by `sourceIndex:linkType`. */
  unknownLinks: Map<string, number>;
  /**
   * Packets with damage (a cut or malformed header; not merely an unsupported protocol), by
   * capture (`sourceIndex`).
   */
  damaged: Map<number, DamagedPackets>;
}

/** How many packets of one capture had damage, and the first one: enough for one line on stderr. */
export interface DamagedPackets {
  count: number;
  /** The first damaged packet's number in its capture, and its first problem. */
  first: { number: number; layer: Layer; what: string };
}

export async function pump(batches: AsyncIterable<Frame[]>, engine: DemuxEngine | null, hooks: PumpHooks = {}): Promise<PumpResult> {
  const result: PumpResult = { frames: 0, dropped: 0, stopped: false, unknownLinks: new Map(), damaged: new Map() };
  const pkt = newPacket();
  const { each, afterBatch, stop, keep } = hooks;
  for await (const batch of batches) {
    for (let i = 0; i < batch.length; i++) {
      const frame = batch[i]!;
      decodeFrame(frame, pkt);
      result.frames++;
      // Only a link type without a decoder: a decodable link carrying something else (a BSD
      // loopback frame of another address family) is the packet's own business.
      if (pkt.networkOffset < 0 && !isSupportedLinkType(frame.linkType)) {
        const key = `${frame.sourceIndex}:${frame.linkType}`;
        result.unknownLinks.set(key, (result.unknownLinks.get(key) ?? 0) + 1);
      }
      if (keep !== undefined && !keep(pkt)) {
        result.dropped++;
        continue;
      }
      // Damage of the packets kept: as if the capture had been taken with the filter.
      if (pkt.problems.length !== 0) countDamage(result.damaged, frame, pkt);
      const ref = engine === null ? null : engine.ingest(pkt, frame.tsSec, frame.tsNsec);
      if (each !== undefined) {
        const wait = each(frame, pkt, ref);
        if (wait) await wait;
      }
    }
    if (afterBatch !== undefined) {
      const wait = afterBatch(result.frames);
      if (wait) await wait;
    }
    if (stop !== undefined && stop()) {
      result.stopped = true;
      break;
    }
  }
  return result;
}

/** Rare path: a packet with problems; only damage counts, an unsupported protocol is not damage. */
function countDamage(damaged: Map<number, DamagedPackets>, frame: Frame, pkt: Packet): void {
  const problem = pkt.problems.find((p) => p.kind !== 'unsupported');
  if (problem === undefined) return;
  const counted = damaged.get(frame.sourceIndex);
  if (counted !== undefined) counted.count++;
  else damaged.set(frame.sourceIndex, { count: 1, first: { number: frame.number, layer: problem.layer, what: problem.what } });
}
