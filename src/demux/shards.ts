/**
 * One capture's flows over several engines (`flows --jobs N`): shard k's engine ingests the
 * packets whose address pair hashes to k and sees every other packet as a clock tick, so that
 * each flow lives in one shard, whole, and expires at the same frame as in one engine. Merged,
 * the shards give what one engine gives, byte for byte: ids renumbered in order of first packet,
 * flows handed out in one engine's order (shard-log.ts says how), counts added up.
 *
 * What one engine does across address pairs cannot be split so: a tunnel (its flow and the
 * flows inside it have different pairs), an ICMP error about a flow that is not open (it becomes
 * a flow of the router's address pair in the quoted pair's shard), and the caps one engine keeps
 * over all its flows (open flows, fragment entries, hellos being read, remembered tuples). Each
 * is checked; `mergeShards` then says why the shards cannot stand for one engine, and the caller
 * reads the capture again with one.
 */
import type { EngineCounts } from './engine.js';
import { MAX_MORE_READING, type DemuxEngine } from './engine.js';
import type { Flow, FlowRef } from '../core/flow.js';
import { newPacket, type Packet } from '../core/packet.js';
import { decodeLayer } from '../parse/decode.js';
import { KEY_SIZE, PHASE_END, PHASE_EXPIRY, type ShardLog } from './shard-log.js';

const TCP = 6;
const UDP = 17;
const ICMP = 1;
const ICMPV6 = 58;

/** What the pipeline's loop hands packets to: an engine, or one shard of one (ShardFeeder). */
export interface PacketSink {
  ingest(pkt: Packet, tsSec: number, tsNsec: number, frame?: number): FlowRef | null;
  ingestBadChecksum(pkt: Packet, tsSec: number, tsNsec: number, frame?: number): FlowRef | null;
  countBadIpChecksum(): void;
}

/** An ICMP error the engine would attach to the TCP or UDP flow it quotes. */
function quotesFlow(pkt: Packet): boolean {
  const p = pkt.protocol;
  const q = pkt.quotedProtocol;
  return (p === ICMP || p === ICMPV6) && pkt.quotedAddrLength !== 0 && (q === TCP || q === UDP);
}

function mixAddress(b: Uint8Array, at: number, len: number): number {
  let h = len;
  for (let i = 0; i < len; i += 4) {
    h = Math.imul(h ^ ((b[at + i]! << 24) | (b[at + i + 1]! << 16) | (b[at + i + 2]! << 8) | b[at + i + 3]!), 0x9e3779b1);
    h ^= h >>> 15;
  }
  return Math.imul(h, 0x85ebca6b) ^ (h >>> 13);
}

/**
 * The shard of a decoded packet: a hash of its two addresses, in either order (both directions
 * of a flow, its fragments and its ICMP errors go to one shard). An ICMP error quoting a TCP or
 * UDP packet goes with the quoted pair: that flow is where the engine notes it. Not IP: shard 0.
 */
export function shardOf(pkt: Packet, shards: number): number {
  if (pkt.ipVersion === 0 || shards <= 1) return 0;
  let a = pkt.srcAddrOffset;
  let d = pkt.dstAddrOffset;
  let len = pkt.addrLength;
  if (quotesFlow(pkt)) {
    a = pkt.quotedSrcAddrOffset;
    d = pkt.quotedDstAddrOffset;
    len = pkt.quotedAddrLength;
  }
  if (len === 0) return 0;
  const b = pkt.bytes;
  // Each address mixed on its own, then added: the same for either order, and unlike a XOR of
  // the two, pairs with equal differences (10.1.0.n and 10.2.0.n) do not all fall together.
  let h = (mixAddress(b, a, len) + mixAddress(b, d, len)) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % shards;
}

/**
 * Shard `shard` of `shards`: its packets to its engine, the others' times to its clock. Notes
 * what makes the shards unlike one engine (`unsafe`).
 */
export class ShardFeeder implements PacketSink {
  /** Why these shards cannot stand for one engine; null while they can. */
  unsafe: string | null = null;

  constructor(
    readonly engine: DemuxEngine, readonly shard: number, readonly shards: number, private readonly tunnelFlows: boolean,
  ) {}

  ingest(pkt: Packet, tsSec: number, tsNsec: number, frame?: number): FlowRef | null {
    if (!this.owns(pkt)) {
      this.engine.tick(tsSec, tsNsec);
      return null;
    }
    return this.checked(pkt, this.engine.ingest(pkt, tsSec, tsNsec, frame));
  }

  ingestBadChecksum(pkt: Packet, tsSec: number, tsNsec: number, frame?: number): FlowRef | null {
    if (!this.owns(pkt)) {
      this.engine.tick(tsSec, tsNsec);
      return null;
    }
    return this.checked(pkt, this.engine.ingestBadChecksum(pkt, tsSec, tsNsec, frame));
  }

  /** Counted once, by shard 0; a frame for the others' counters all the same. */
  countBadIpChecksum(): void {
    if (this.shard === 0) this.engine.countBadIpChecksum();
    else this.engine.skip();
  }

  private owns(pkt: Packet): boolean {
    if (this.unsafe === null) {
      if (this.tunnelFlows && pkt.tunnelDepth !== 0 && this.udpTunnel(pkt)) this.unsafe = 'it has UDP tunnels, whose flows and the flows inside them have different address pairs';
      else if (pkt.isFragment && quotesFlow(pkt)) this.unsafe = 'it has a fragmented ICMP error';
    }
    return shardOf(pkt, this.shards) === this.shard;
  }

  private readonly layer = newPacket();

  /**
   * A layer of the frame is a UDP datagram (VXLAN, Geneve, GTP-U...): the engine makes it a flow
   * of its own, of another address pair than the packet inside (a GRE or IP-in-IP tunnel is no
   * flow, and a datagram that carries a tunnel but nothing decoded inside is its own flow only).
   */
  private udpTunnel(pkt: Packet): boolean {
    for (let d = 0; d < pkt.tunnelDepth; d++) {
      const o = decodeLayer(pkt, d, this.layer);
      if (o.protocol === UDP && o.hasPorts) return true;
    }
    return false;
  }

  private checked(pkt: Packet, ref: FlowRef | null): FlowRef | null {
    // Not attached: it made (or joined) an ICMP flow of the router's pair, in the quoted pair's shard.
    if (ref !== null && ref.via !== 'icmp-error' && this.unsafe === null && quotesFlow(pkt)) {
      this.unsafe = 'it has ICMP errors about flows that are not open';
    }
    return ref;
  }
}

/** One shard's part, as a worker sends it (typed arrays: cloned or moved cheaply). Its flows stay with it. */
export interface ShardResult {
  /** Flows handed out. */
  handed: number;
  keys: Float64Array;
  starts: Float64Array;
  lineages: Float64Array;
  entered: Float64Array;
  reuses: Float64Array;
  expiries: Float64Array;
  peakOpen: number;
  peakFragments: number;
  peakReading: number;
  counts: EngineCounts;
  unsafe: string | null;
}

/** A shard's part, from its engine (finished) and log. */
export function shardResult(log: ShardLog, counts: EngineCounts, unsafe: string | null): ShardResult {
  return {
    handed: log.handed,
    keys: log.keys.values(),
    starts: log.starts.values(),
    lineages: log.lineages.values(),
    entered: log.entered.values(),
    reuses: log.reuses.values(),
    expiries: log.expiries.values(),
    peakOpen: log.peakOpen,
    peakFragments: log.peakFragments,
    peakReading: log.peakReading,
    counts,
    unsafe,
  };
}

export interface MergedShards {
  unsafe: null;
  /** One engine's order of handing flows out: (shard, index in that shard's flows) pairs. */
  order: Int32Array;
  /** By shard: each local id's global id (at local id - 1). */
  ids: Float64Array[];
  /** By shard: local ids of flows started on a tuple one engine had forgotten (ShardLog). */
  forgotten: number[][];
  counts: EngineCounts;
}

export type Merged = MergedShards | { unsafe: string };

/** Why these shards' results cannot stand for one engine's, or null. */
function unsafeReason(parts: readonly ShardResult[]): string | null {
  for (const p of parts) if (p.unsafe !== null) return p.unsafe;
  const sum = (f: (p: ShardResult) => number) => parts.reduce((n, p) => n + f(p), 0);
  const c = parts[0]!.counts;
  if (sum((p) => p.counts.evicted) > 0 || sum((p) => p.peakOpen) > c.maxFlows) return `more than --max-flows ${c.maxFlows} flows may have been open at once`;
  if (sum((p) => p.counts.fragmentOverflow) > 0 || sum((p) => p.peakFragments) > c.maxFragments) return 'its fragment table may have filled';
  if (sum((p) => p.peakReading) > MAX_MORE_READING) return 'too many hellos were read over several segments at once';
  // Idle expiry: one engine stops at the first stop of all shards (by last use).
  const events = new Map<number, [number, number]>();
  for (const p of parts) {
    const e = p.expiries;
    for (let i = 0; i < e.length; i += 4) {
      const key = e[i]! * 8 + e[i + 1]!;
      const seen = events.get(key);
      if (seen === undefined) events.set(key, [e[i + 2]!, e[i + 3]!]);
      else {
        if (e[i + 2]! > seen[0]) seen[0] = e[i + 2]!;
        if (e[i + 3]! < seen[1]) seen[1] = e[i + 3]!;
      }
    }
  }
  for (const [taken, stop] of events.values()) {
    if (taken > stop) return 'a time stamp goes back, and one engine would have kept open flows that a shard ended';
  }
  return null;
}

/** Adds up the shards' counts (the caps are the same in each). */
function addCounts(parts: readonly ShardResult[]): EngineCounts {
  const total: EngineCounts = { ...parts[0]!.counts, byKind: { ...parts[0]!.counts.byKind } };
  for (const p of parts.slice(1)) {
    const c = p.counts;
    total.packets += c.packets;
    total.inFlows += c.inFlows;
    total.icmpErrorsAttached += c.icmpErrorsAttached;
    total.flows += c.flows;
    total.openFlows += c.openFlows;
    total.evicted += c.evicted;
    total.fragmentOverflow += c.fragmentOverflow;
    total.gapFlows += c.gapFlows;
    total.gapBytes += c.gapBytes;
    total.snapCutSegments += c.snapCutSegments;
    for (const k of Object.keys(total.byKind) as (keyof EngineCounts['byKind'])[]) total.byKind[k] += c.byKind[k];
  }
  return total;
}

/** Global ids: the shards' first frames merged (each shard's ascending; no two shards start a flow at one frame). */
function globalIds(parts: readonly ShardResult[]): Float64Array[] {
  const ids = parts.map((p) => new Float64Array(p.starts.length));
  const at = parts.map(() => 0);
  for (let id = 1; ; id++) {
    let best = -1;
    for (let k = 0; k < parts.length; k++) {
      if (at[k]! < parts[k]!.starts.length && (best < 0 || parts[k]!.starts[at[k]!]! < parts[best]!.starts[at[best]!]!)) best = k;
    }
    if (best < 0) return ids;
    ids[best]![at[best]!++] = id;
  }
}

/** One engine's order of handing flows out: by frame, phase, list and last use; at the end, by id. */
function handOutOrder(parts: readonly ShardResult[], ids: readonly Float64Array[]): Int32Array {
  const pairs: [number, number][] = [];
  for (let k = 0; k < parts.length; k++) for (let i = 0; i < parts[k]!.handed; i++) pairs.push([k, i]);
  const key = (k: number, i: number, j: number) => parts[k]!.keys[i * KEY_SIZE + j]!;
  const id = (k: number, i: number) => ids[k]![key(k, i, 4) - 1]!;
  pairs.sort(([ka, ia], [kb, ib]) => {
    for (let j = 0; j < 4; j++) {
      const d = key(ka, ia, j) - key(kb, ib, j);
      if (d !== 0) return d;
      if (j === 1 && key(ka, ia, 1) === PHASE_END) return id(ka, ia) - id(kb, ib);
    }
    return ka - kb || ia - ib;
  });
  const order = new Int32Array(pairs.length * 2);
  pairs.forEach(([k, i], n) => {
    order[n * 2] = k;
    order[n * 2 + 1] = i;
  });
  return order;
}

/**
 * One engine's list of remembered tuples, replayed in its order (tuples enter as their flows
 * are handed out, leave when used again, the oldest forgotten beyond `maxRemembered`): the
 * reuses of each shard whose tuple one engine had forgotten by then, as local ids by shard.
 */
function forgottenReuses(parts: readonly ShardResult[], order: Int32Array, maxRemembered: number): number[][] {
  const forgotten: number[][] = parts.map(() => []);
  const entered = parts.map((p) => {
    const marks = new Uint8Array(p.handed);
    for (const i of p.entered) marks[i] = 1;
    return marks;
  });
  const posOf = parts.map((p) => new Float64Array(p.handed).fill(-1));
  const reuses: [number, number, number, number][] = []; // frame, shard, entry, local id
  parts.forEach((p, k) => {
    for (let i = 0; i < p.reuses.length; i += 3) reuses.push([p.reuses[i + 1]!, k, p.reuses[i]!, p.reuses[i + 2]!]);
  });
  reuses.sort((a, b) => a[0] - b[0]);
  const alive = new Uint8Array(order.length / 2 + 1);
  let head = 0;
  let count = 0;
  let next = 0;
  let r = 0;
  const reuse = ([, k, entry, localId]: [number, number, number, number]) => {
    const pos = posOf[k]![entry]!;
    if (pos >= 0 && alive[pos] === 1) {
      alive[pos] = 0;
      count--;
    } else forgotten[k]!.push(localId);
  };
  for (let n = 0; n < order.length; n += 2) {
    const k = order[n]!;
    const i = order[n + 1]!;
    const frame = parts[k]!.keys[i * KEY_SIZE]!;
    const phase = parts[k]!.keys[i * KEY_SIZE + 1]!;
    // A reuse comes after the expiry at its own frame, before anything later.
    while (r < reuses.length && (reuses[r]![0] < frame || (reuses[r]![0] === frame && phase !== PHASE_EXPIRY))) reuse(reuses[r++]!);
    if (entered[k]![i] !== 1) continue;
    posOf[k]![i] = next;
    alive[next++] = 1;
    if (++count > maxRemembered) {
      while (alive[head] !== 1) head++;
      alive[head] = 0;
      count--;
    }
  }
  while (r < reuses.length) reuse(reuses[r++]!);
  return forgotten;
}

/**
 * How the shards' flows make one engine's: global ids (in order of first packet over all
 * shards), one engine's order of handing them out, the generations one engine numbered anew,
 * and the counts added up. Or why they cannot.
 */
export function mergeShards(parts: readonly ShardResult[], maxRemembered: number): Merged {
  const unsafe = unsafeReason(parts);
  if (unsafe !== null) return { unsafe };
  const ids = globalIds(parts);
  const order = handOutOrder(parts, ids);
  return { unsafe: null, order, ids, forgotten: forgottenReuses(parts, order, maxRemembered), counts: addCounts(parts) };
}

/**
 * A shard's flows (handed out, with local ids) as one engine made them: global ids, and the
 * generations of a tuple that one engine had forgotten numbered from 1 again (`first`), as
 * every later one of its lineage.
 */
export function asOneEngine(flows: readonly Flow[], ids: Float64Array, forgotten: readonly number[], lineages: Float64Array): void {
  if (forgotten.length > 0) {
    const byId = new Map(flows.map((f) => [f.id, f]));
    const bases = new Map<number, [number, number][]>(); // lineage: [local id, generations before] ascending
    for (const id of [...forgotten].sort((a, b) => a - b)) {
      const lineage = lineages[id - 1]!;
      const list = bases.get(lineage) ?? [];
      list.push([id, byId.get(id)!.generation - 1]);
      bases.set(lineage, list);
    }
    for (const f of flows) {
      const list = bases.get(lineages[f.id - 1]!);
      if (list === undefined) continue;
      let base = 0;
      for (const [from, before] of list) if (from <= f.id) base = before;
      f.generation -= base;
      if (list.some(([from]) => from === f.id)) f.generationReason = 'first';
    }
  }
  for (const f of flows) f.id = ids[f.id - 1]!;
}

/** The shards' flows (each shard's in its order of handing out) in one engine's order. */
export function inOneEngineOrder<T>(merged: MergedShards, byShard: readonly (readonly T[])[]): T[] {
  const out: T[] = [];
  for (let n = 0; n < merged.order.length; n += 2) out.push(byShard[merged.order[n]!]![merged.order[n + 1]!]!);
  return out;
}
