/**
 * The one loop from frames to flows, shared by every command (files, stdin, live) and by the
 * tests: each frame decoded into one reused Packet, handed to the demux engine, then to the
 * caller's hook; after each batch, the caller's batch hook and its stop test.
 *
 * The hot path of the whole tool: per frame a decode, an ingest and at most one hook call, no
 * allocation; a `keep` test and checksums cost one comparison each when absent (frames whose
 * link type has no decoder are counted in a map, once per capture and link type).
 */
import type { FlowRef } from '../core/flow.js';
import type { Frame } from '../core/frame.js';
import { newPacket, type Layer, type Packet } from '../core/packet.js';
import type { PacketSink } from '../demux/shards.js';
import { CHECKSUM, checkPacket } from '../parse/checksum.js';
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
  /**
   * `--checksums validate`: each IP packet's checksums are checked (parse/checksum.ts) as Zeek
   * checks them. A wrong IPv4 header checksum drops the packet before the engine (which counts
   * it as `bad-checksum`): `each` still sees it, with no flow (a packet list shows it, `live -w`
   * writes it); a wrong transport checksum goes to the engine's ingestBadChecksum. Off (the
   * default): not one checksum is read.
   */
  checksums?: boolean;
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
  /** With `checksums`: packets with a wrong checksum, by capture (`sourceIndex`). */
  badChecksums: Map<number, BadChecksums>;
}

/** A capture's packets with wrong checksums: how many, and the first one's number, of each kind. */
export interface BadChecksums {
  /** Dropped: a wrong IPv4 header checksum. */
  ip: { count: number; first: number };
  /** Kept with history C/c (TCP, UDP) or uncounted bytes: a wrong TCP, UDP or ICMP checksum. */
  transport: { count: number; first: number };
}

/** How many packets of one capture had damage, and the first one: enough for one line on stderr. */
export interface DamagedPackets {
  count: number;
  /** The first damaged packet's number in its capture, and its first problem. */
  first: { number: number; layer: Layer; what: string };
}

export async function pump(batches: AsyncIterable<Frame[]>, engine: PacketSink | null, hooks: PumpHooks = {}): Promise<PumpResult> {
  const result: PumpResult = { frames: 0, dropped: 0, stopped: false, unknownLinks: new Map(), damaged: new Map(), badChecksums: new Map() };
  const pkt = newPacket();
  const { each, afterBatch, stop, keep } = hooks;
  const checksums = hooks.checksums === true;
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
      let ref: FlowRef | null;
      if (checksums && pkt.ipVersion !== 0) ref = ingestChecked(engine, frame, pkt, result.badChecksums);
      else ref = engine === null ? null : engine.ingest(pkt, frame.tsSec, frame.tsNsec, frame.number);
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

/**
 * `checksums` on: the packet's checksums decide how the engine takes it. Returns what the engine
 * returned (null without one, or when the packet was dropped for a wrong IPv4 header).
 */
function ingestChecked(engine: PacketSink | null, frame: Frame, pkt: Packet, bad: Map<number, BadChecksums>): FlowRef | null {
  const verdict = checkPacket(pkt);
  if (verdict === CHECKSUM.OK) return engine === null ? null : engine.ingest(pkt, frame.tsSec, frame.tsNsec, frame.number);
  let counted = bad.get(frame.sourceIndex);
  if (counted === undefined) bad.set(frame.sourceIndex, counted = { ip: { count: 0, first: 0 }, transport: { count: 0, first: 0 } });
  const which = verdict === CHECKSUM.BAD_IP ? counted.ip : counted.transport;
  if (which.count++ === 0) which.first = frame.number;
  if (verdict === CHECKSUM.BAD_IP) {
    engine?.countBadIpChecksum();
    return null;
  }
  return engine === null ? null : engine.ingestBadChecksum(pkt, frame.tsSec, frame.tsNsec, frame.number);
}

/** Rare path: a packet with problems; only damage counts, an unsupported protocol is not damage. */
function countDamage(damaged: Map<number, DamagedPackets>, frame: Frame, pkt: Packet): void {
  const problem = pkt.problems.find((p) => p.kind !== 'unsupported');
  if (problem === undefined) return;
  const counted = damaged.get(frame.sourceIndex);
  if (counted !== undefined) counted.count++;
  else damaged.set(frame.sourceIndex, { count: 1, first: { number: frame.number, layer: problem.layer, what: problem.what } });
}
