/**
 * Process attribution for live capture: puts `process` on both ends of a flow, from a
 * `ProcessMap` (src/capture/procfs.ts). On loopback both ends are sockets of this host, so a
 * flow A:9157 → B:80 gets the client's process on A and the process that accepted it on B.
 *
 * The end's socket for each role: the client end's socket is the one whose local end is
 * client.ip:client.port and remote end server.ip:server.port, the server end's the reverse.
 *
 * Two ways in:
 * - `attributeFlow(flow, map)` / `attributeFlows(flows, map)`: ask about finished flows (after a
 *   capture, or for a table redraw). A connection already closed says `exited`.
 * - `LiveAttribution`: follows the capture. It sees each packet's FlowRef, and only a flow id it
 *   has not seen before (an integer compare per packet) costs anything: its two ends are noted,
 *   and looked up at the next `poll()` (after each batch, or from its own timer), so sockets are
 *   read while the connection is still open. Short connections are then caught too, and each
 *   generation of a reused 4-tuple gets the process that held it at the time.
 */
import type { EndpointProcess, Flow, FlowRef } from '../demux/types.js';
import { formatAddress } from '../parse/format.js';
import type { Packet } from '../parse/packet.js';
import { ProcessMap, type Attribution, type QueryOptions, type SocketProto } from './procfs.js';

/**
 * Zeek states in which the server never answered the SYN (S0: no reply, REJ: refused, RSTOS0:
 * the client gave up, SH: SYN then FIN without reply): there was no server-side connection
 * socket, so no process is named for that end.
 */
const NO_SERVER_SOCKET = new Set(['S0', 'REJ', 'RSTOS0', 'SH']);

function portedProto(flow: Flow): SocketProto | null {
  return flow.proto === 'tcp' || flow.proto === 'udp' ? flow.proto : null;
}

/** The process for an end from a query, with the listener only on the server end. */
function endProcess(a: Attribution | undefined, server: boolean): EndpointProcess | undefined {
  if (a === undefined || a.kind !== 'process') return undefined;
  const p = a.process;
  if (p.state === 'exited') return { state: 'exited' };
  // Copies: the map keeps its answers, a flow record may be changed by its user.
  const out: EndpointProcess = { pid: p.pid, command: p.command, state: 'running' };
  if (p.pids !== undefined) out.pids = p.pids.slice();
  if (server && a.listener !== undefined) out.listener = { ...a.listener };
  return out;
}

function setEnd(flow: Flow, end: 'client' | 'server', a: Attribution | undefined): void {
  const p = endProcess(a, end === 'server');
  if (p !== undefined) flow[end].process = p;
  else delete flow[end].process;
}

/**
 * Sets `flow.client.process` / `flow.server.process` from the map (leaves them absent when
 * there is nothing to say: ICMP, an end on another host, an owner not visible). `opts` as
 * `ProcessMap.query`: by default what the map knows already, a scan for tuples it does not.
 */
export function attributeFlow(flow: Flow, map: ProcessMap, opts?: QueryOptions): void {
  const proto = portedProto(flow);
  if (proto === null) return;
  const { client, server } = flow;
  setEnd(flow, 'client', map.query(proto, client.ip, client.port, server.ip, server.port, opts));
  const serverAnswer = proto === 'tcp' && NO_SERVER_SOCKET.has(flow.state)
    ? undefined
    : map.query(proto, server.ip, server.port, client.ip, client.port, opts);
  setEnd(flow, 'server', serverAnswer);
}

/**
 * Every flow as it is now: one fresh scan (whatever the rate limit) answers all of them; a
 * connection that is gone says `exited`.
 */
export function attributeFlows(flows: Iterable<Flow>, map: ProcessMap): void {
  const opts: QueryOptions = { notBefore: map.now(), final: true };
  for (const f of flows) attributeFlow(f, map, opts);
}

// -------------------------------------------------------------------------------------------------
// Following a live capture

interface NotedEnd {
  ip: string;
  port: number;
  /** The answer must come from a scan at or after this time (map clock). */
  notBefore: number;
  answer: Attribution | undefined;
}

interface NotedFlow {
  id: number;
  proto: SocketProto;
  notedAt: number;
  ends: [NotedEnd, NotedEnd];
}

export interface LiveAttributionOptions {
  /**
   * A socket not found within this many ms of its flow's first packet is looked for again once
   * before it is called exited (default 200): the server side of a connection exists only once
   * the server process has accepted it, a moment after the handshake.
   */
  graceMs?: number;
  /**
   * How long an end the kernel holds for no process yet (a connection waiting in an accept
   * queue nobody drains) is looked for again, in ms (default 2000); after that it is left
   * without a process rather than rescanned every `minRescanMs` for ever.
   */
  maxWaitMs?: number;
  /** Poll by itself on a timer when lookups are waiting (default true). */
  timer?: boolean;
}

const TCP = 6;
const UDP = 17;

/** Follows a live capture's flows and keeps, per flow id, what their two ends' owners were. */
export class LiveAttribution {
  readonly map: ProcessMap;
  private readonly graceMs: number;
  private readonly maxWaitMs: number;
  private readonly useTimer: boolean;
  private maxId = 0;
  private readonly flows = new Map<number, NotedFlow>();
  private waiting: NotedFlow[] = [];
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(map: ProcessMap = new ProcessMap(), opts: LiveAttributionOptions = {}) {
    this.map = map;
    this.graceMs = opts.graceMs ?? 200;
    this.maxWaitMs = opts.maxWaitMs ?? 2000;
    this.useTimer = opts.timer ?? true;
  }

  /** Warnings to print once at the end (not root, no /proc). */
  get warnings(): readonly string[] {
    return this.map.warnings;
  }

  /** Flows whose ends are still to be looked up. */
  get pending(): number {
    return this.waiting.length;
  }

  /**
   * Call after `engine.ingest(pkt, ...)` with what it returned. Costs a compare, except on the
   * first packet of a flow, whose addresses are then turned into text (once per flow).
   */
  notePacket(ref: FlowRef | null, pkt: Packet): void {
    if (ref === null || ref.id <= this.maxId) return;
    this.maxId = ref.id;
    if (ref.via !== 'ports' || !pkt.hasPorts || (pkt.protocol !== TCP && pkt.protocol !== UDP)) return;
    this.noteFlow(ref.id, pkt.protocol === TCP ? 'tcp' : 'udp',
      formatAddress(pkt.bytes, pkt.srcAddrOffset, pkt.addrLength), pkt.srcPort,
      formatAddress(pkt.bytes, pkt.dstAddrOffset, pkt.addrLength), pkt.dstPort);
  }

  /** A new flow between a and b (either order): its ends will be looked up at the next poll. */
  noteFlow(id: number, proto: SocketProto, aIp: string, aPort: number, bIp: string, bPort: number): void {
    if (id > this.maxId) this.maxId = id;
    const notedAt = this.map.now();
    const end = (ip: string, port: number): NotedEnd => ({ ip, port, notBefore: notedAt, answer: undefined });
    const f: NotedFlow = { id, proto, notedAt, ends: [end(aIp, aPort), end(bIp, bPort)] };
    this.flows.set(id, f);
    this.waiting.push(f);
    this.arm(0);
  }

  /**
   * Looks up the waiting ends: one scan at most (the map's rate limit), none when nothing
   * waits. Cheap to call after every batch.
   */
  poll(): void {
    if (this.waiting.length === 0) return;
    const still: NotedFlow[] = [];
    for (const f of this.waiting) if (!this.resolveFlow(f, false)) still.push(f);
    this.waiting = still;
    if (still.length > 0) this.arm(this.nextDue());
  }

  /** End of capture: every waiting end is answered now (one last scan), and the timer stops. */
  finish(): void {
    // One scan for all: an end waiting out its grace takes what is there now.
    const now = this.map.now();
    for (const f of this.waiting) for (const e of f.ends) e.notBefore = Math.min(e.notBefore, now);
    for (const f of this.waiting) this.resolveFlow(f, true);
    this.waiting = [];
    this.close();
  }

  /** Stops the timer (the noted flows stay). */
  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * Sets `flow.client.process` / `flow.server.process` from what was seen while the flow was
   * live. A flow this object did not see (not noted) is asked of the map as it is now. An end
   * still waiting for its lookup is left without a process.
   */
  attribute(flow: Flow): void {
    const proto = portedProto(flow);
    if (proto === null) return;
    const f = this.flows.get(flow.id);
    if (f === undefined || f.proto !== proto) {
      attributeFlow(flow, this.map);
      return;
    }
    const find = (ip: string, port: number) => f.ends.find((e) => e.ip === ip && e.port === port)?.answer;
    setEnd(flow, 'client', find(flow.client.ip, flow.client.port));
    setEnd(flow, 'server', proto === 'tcp' && NO_SERVER_SOCKET.has(flow.state) ? undefined : find(flow.server.ip, flow.server.port));
  }

  /** Drops what is kept for a flow (streaming output: after its line was written). */
  forget(id: number): void {
    this.flows.delete(id);
  }

  /** True when both ends have their answer. */
  private resolveFlow(f: NotedFlow, final: boolean): boolean {
    let done = true;
    for (let i = 0; i < 2; i++) {
      const end = f.ends[i]!;
      if (end.answer !== undefined) continue;
      const other = f.ends[1 - i]!;
      const a = this.map.query(f.proto, end.ip, end.port, other.ip, other.port, { notBefore: end.notBefore, final });
      if (a.kind === 'pending') {
        // Rate-limited, or the connection waits to be accepted: then only a newer scan can tell.
        if (this.map.lastScan >= end.notBefore) {
          if (this.map.lastScan >= f.notedAt + this.maxWaitMs) {
            end.answer = { kind: 'unknown', reason: 'not-accepted' };
            continue;
          }
          end.notBefore = this.map.now();
        }
        done = false;
        continue;
      }
      // Not found in a scan made right after the first packet: the server may not have
      // accepted it yet (or the kernel not yet processed the SYN). Look once more after the grace.
      const graceEnd = f.notedAt + this.graceMs;
      if (!final && a.kind === 'process' && a.process.state === 'exited' && a.at < graceEnd) {
        end.notBefore = graceEnd;
        done = false;
        continue;
      }
      end.answer = a;
    }
    return done;
  }

  /** ms from now until a waiting lookup can be answered: the grace or the rate limit. */
  private nextDue(): number {
    const now = this.map.now();
    let due = Infinity;
    for (const f of this.waiting) for (const e of f.ends) if (e.answer === undefined) due = Math.min(due, e.notBefore);
    const rate = this.map.lastScan + this.map.minRescanMs;
    const wait = Math.max(due, rate) - now;
    return Number.isFinite(wait) ? Math.max(0, wait) : this.map.minRescanMs;
  }

  private arm(delayMs: number): void {
    if (!this.useTimer || this.closed || this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.poll();
    }, Math.ceil(delayMs));
    this.timer.unref();
  }
}
