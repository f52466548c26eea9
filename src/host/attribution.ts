/**
 * Process attribution for live capture: puts `process` (the end's own socket's owner),
 * `listener` (TCP server ends: the listening socket the connection was accepted from) and
 * `socket` (UDP: the kind of socket that took the datagrams) on both ends of a flow, from a
 * `ProcessMap` (src/host/procfs.ts). On loopback both ends are sockets of this host, so a flow
 * A:9157 → B:80 gets the client's process on A and the server's on B.
 *
 * Two ways in:
 * - `attributeFlow(flow, map)` / `attributeFlows(flows, map)`: ask about flows as the host is
 *   now (after a capture). A connection already closed says `gone`; its listener, if still held,
 *   is named all the same.
 * - `LiveAttribution`: follows the capture. Only a flow id it has not seen before costs anything
 *   per packet (an integer compare otherwise): its two ends are looked up at the next `poll()`,
 *   which the capture loop calls after each batch, so the lookup starts at the first packet of a
 *   new tuple. One scan of the tables answers every end waiting at that moment; the scans' own
 *   cost spaces them (see ProcessMap), not a fixed rate. An end the kernel holds for no process
 *   yet (the accept queue), or a server end held by its listener's process (which may still
 *   fork a child for it), is looked at again a few times while the flow is young.
 */
import type { EndpointProcess, Flow, FlowEndpoint, FlowRef, ListenerProcess, UdpSocketInfo } from '../core/flow.js';
import { formatAddress } from '../parse/format.js';
import type { Packet } from '../core/packet.js';
import { ProcessMap, type Attribution, type SocketProto } from './procfs.js';

/**
 * Zeek states in which the server never answered the SYN (S0: no reply, REJ: refused, RSTOS0:
 * the client gave up, SH: SYN then FIN without reply): there was no server-side connection
 * socket, so no process is named for that end.
 */
const NO_SERVER_SOCKET = new Set(['S0', 'REJ', 'RSTOS0', 'SH']);

function portedProto(flow: Flow): SocketProto | null {
  return flow.proto === 'tcp' || flow.proto === 'udp' ? flow.proto : null;
}

/** What is said of one end: copies, since a flow record may be changed by its user. */
interface EndFacts {
  process?: EndpointProcess;
  listener?: ListenerProcess;
  socket?: UdpSocketInfo;
}

function factsOf(a: Attribution | undefined): EndFacts {
  if (a === undefined || a.kind === 'unknown') return {};
  const out: EndFacts = {};
  if (a.kind === 'process') {
    const p = a.process;
    out.process = p.state === 'running'
      ? { pid: p.pid, command: p.command, state: 'running', ...(p.pids ? { pids: p.pids.slice() } : {}) }
      : { ...p };
    if (a.socket !== undefined) out.socket = { ...a.socket };
  }
  if (a.listener !== undefined) {
    const l = a.listener;
    out.listener = { ...l };
    if (l.pids) out.listener.pids = l.pids.slice();
    if (l.reuseport) out.listener.reuseport = { listeners: l.reuseport.listeners, owners: l.reuseport.owners.map((o) => ({ ...o })) };
  }
  return out;
}

function setEnd(e: FlowEndpoint, facts: EndFacts, server: boolean): void {
  delete e.process;
  delete e.listener;
  delete e.socket;
  if (facts.process !== undefined) e.process = facts.process;
  if (server && facts.listener !== undefined) e.listener = facts.listener;
  if (facts.socket !== undefined) e.socket = facts.socket;
}

/**
 * Sets the host facts on both ends of `flow` from the map's last scan (none for ICMP, an end on
 * another host, an owner not visible). The server end of a connection that was never answered
 * gets none: there was no socket.
 */
export function attributeFlow(flow: Flow, map: ProcessMap): void {
  const proto = portedProto(flow);
  if (proto === null) return;
  const { client, server } = flow;
  setEnd(client, factsOf(map.resolve(proto, client.ip, client.port, server.ip, server.port)), false);
  const noSocket = proto === 'tcp' && NO_SERVER_SOCKET.has(flow.state);
  setEnd(server, noSocket ? {} : factsOf(map.resolve(proto, server.ip, server.port, client.ip, client.port)), true);
}

/** Every flow as the host is now: one fresh scan answers all of them. */
export function attributeFlows(flows: Iterable<Flow>, map: ProcessMap): void {
  map.refresh();
  for (const f of flows) attributeFlow(f, map);
}

// -------------------------------------------------------------------------------------------------
// Following a live capture

interface NotedEnd {
  ip: string;
  port: number;
  /** The answer so far (undefined: not looked up yet). */
  answer: Attribution | undefined;
  /** True once nothing more is to be learnt. */
  done: boolean;
}

interface NotedFlow {
  id: number;
  proto: SocketProto;
  notedAt: number;
  /** The next look may be made at this time (map clock). */
  dueAt: number;
  /** Looks made so far (the backoff between them doubles). */
  looks: number;
  ends: [NotedEnd, NotedEnd];
}

export interface LiveAttributionOptions {
  /**
   * How long a young flow's ends are looked at again when they are not settled (ms, default
   * 2000): a connection waiting in an accept queue, a server end held by its listener's process.
   * After that, what is known stays (a listener, no process).
   */
  settleMs?: number;
  /** The first look again after this many ms; each next one after twice as long (default 1). */
  firstRetryMs?: number;
  /**
   * How long a server end that has no socket yet is looked at again (ms, default 50): at the
   * SYN only the listener exists; the connection's socket appears with the handshake.
   */
  graceMs?: number;
  /**
   * How long a server end held by its listener's owner is looked at again (ms, default 250): a
   * forking server's child takes the connection moments after accept() (longer on a loaded
   * machine); a threaded server keeps it.
   */
  forkWindowMs?: number;
  /** Poll by itself on a timer when looks are due (default true). */
  timer?: boolean;
  /** Flows waiting for their first look beyond which the oldest are given up (default 4096). */
  maxWaiting?: number;
  /** Flows whose answers are kept for the report (default 131072; the oldest go first). */
  maxKept?: number;
}

const TCP = 6;
const UDP = 17;
/** FLOWDEMUX_DEBUG=lookups: one stderr line per look (flow, ms since its first packet was noted, answer). */
const TRACE = process.env.FLOWDEMUX_DEBUG === 'lookups';

/** Follows a live capture's flows and keeps, per flow id, what their two ends' owners were. */
export class LiveAttribution {
  readonly map: ProcessMap;
  private readonly settleMs: number;
  private readonly firstRetryMs: number;
  private readonly forkWindowMs: number;
  private readonly graceMs: number;
  private readonly useTimer: boolean;
  private maxId = 0;
  private readonly flows = new Map<number, NotedFlow>();
  private waiting: NotedFlow[] = [];
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private closed = false;
  private started = false;
  private noted = 0;
  private givenUp = 0;
  private readonly maxWaiting: number;
  private readonly maxKept: number;

  constructor(map: ProcessMap = new ProcessMap(), opts: LiveAttributionOptions = {}) {
    this.map = map;
    this.settleMs = opts.settleMs ?? 2000;
    this.firstRetryMs = opts.firstRetryMs ?? 1;
    this.forkWindowMs = opts.forkWindowMs ?? 250;
    this.graceMs = opts.graceMs ?? 50;
    this.maxWaiting = opts.maxWaiting ?? 4096;
    this.maxKept = opts.maxKept ?? 1 << 17;
    this.useTimer = opts.timer ?? true;
  }

  /**
   * Warnings to print once at the end: not root, no /proc, and new flows that could not be looked
   * up in time (a flood of new tuples beyond what the lookups' time budget allows).
   */
  get warnings(): readonly string[] {
    if (this.givenUp === 0) return this.map.warnings;
    return [...this.map.warnings,
      `process names: ${this.givenUp} of ${this.noted} new flows were not looked up in time (more new tuples than lookups `
      + `can keep up with, up to ${this.maxWaiting} waiting at once); their ends show no process`];
  }

  /** New flows noted so far, and those given up unlooked (a flood). */
  get counts(): { noted: number; givenUp: number; kept: number } {
    return { noted: this.noted, givenUp: this.givenUp, kept: this.flows.size };
  }

  /** Flows whose ends are still to be looked up or looked at again. */
  get pending(): number {
    return this.waiting.length;
  }

  /**
   * Reads the host's sockets and every process's descriptors once, before the capture's first
   * packet, so that listeners and bound UDP sockets are known with their owners from the start.
   * With the capture's `device`, the SYN watcher names the clients of connections this host
   * opens there at their SYN (see host/native.ts).
   */
  start(device?: string): void {
    if (this.started) return;
    this.started = true;
    this.map.start(device);
  }

  /**
   * Forgets every flow noted so far and starts counting again: after a warm-up that fed made-up
   * packets through notePacket and poll (see host/warm-up.ts).
   */
  forgetAll(): void {
    this.flows.clear();
    this.waiting = [];
    this.maxId = 0;
    this.noted = 0;
    this.givenUp = 0;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }

  /**
   * Call after `engine.ingest(pkt, ...)` with what it returned. Costs a compare, except on the
   * first packet of a flow, whose addresses are then turned into text (once per flow), and on
   * the packets of flows still being looked at (a map lookup).
   */
  notePacket(ref: FlowRef | null, pkt: Packet): void {
    if (ref === null) return;
    if (ref.id <= this.maxId) {
      // A later packet of a flow with an end whose socket was not seen yet (the accept queue, a
      // handshake): that end is busy right now (a server sending its answer holds the socket it
      // accepted), so look at the next poll, whatever the backoff says. (An end seen held by its
      // listener's owner, which may still fork, is looked at again on the timer only: a
      // threaded server would otherwise cost a look a packet.) Only while some flow waits: a
      // compare otherwise.
      if (this.waiting.length > 0) {
        const f = this.flows.get(ref.id);
        if (f !== undefined && f.looks > 0 && f.ends.some((e) => !e.done && e.answer?.kind !== 'process')) f.dueAt = f.notedAt;
      }
      return;
    }
    this.maxId = ref.id;
    if (ref.via !== 'ports' || !pkt.hasPorts || (pkt.protocol !== TCP && pkt.protocol !== UDP)) return;
    this.noteFlow(ref.id, pkt.protocol === TCP ? 'tcp' : 'udp',
      formatAddress(pkt.bytes, pkt.srcAddrOffset, pkt.addrLength), pkt.srcPort,
      formatAddress(pkt.bytes, pkt.dstAddrOffset, pkt.addrLength), pkt.dstPort);
  }

  /** A new flow between a and b (either order): its ends are looked up at the next poll. */
  noteFlow(id: number, proto: SocketProto, aIp: string, aPort: number, bIp: string, bPort: number): void {
    if (id > this.maxId) this.maxId = id;
    const notedAt = this.map.now();
    const end = (ip: string, port: number): NotedEnd => ({ ip, port, answer: undefined, done: false });
    const f: NotedFlow = { id, proto, notedAt, dueAt: notedAt, looks: 0, ends: [end(aIp, aPort), end(bIp, bPort)] };
    this.noted++;
    this.flows.set(id, f);
    // Bounded: the oldest answers go first (a long capture, a flood).
    if (this.flows.size > this.maxKept) this.flows.delete(this.flows.keys().next().value!);
    this.waiting.push(f);
    if (this.waiting.length > this.maxWaiting) {
      // More new flows wait than lookups keep up with: the oldest are given up (by now they
      // are likely gone anyway), counted and said at the end.
      const drop = this.waiting.length - this.maxWaiting;
      for (let i = 0; i < drop; i++) {
        const g = this.waiting[i]!;
        if (g.looks === 0) {
          this.givenUp++;
          this.flows.delete(g.id);
        }
      }
      this.waiting = this.waiting.slice(drop);
    }
    this.arm(notedAt);
  }

  /**
   * Looks at the ends that are due: one scan of the tables for all of them (when the scans'
   * budget allows; else at the next poll or timer), none when nothing is due. Cheap to call
   * after every batch.
   */
  poll(): void {
    if (this.waiting.length === 0) return;
    const now = this.map.now();
    const due = this.waiting.filter((f) => f.dueAt <= now);
    if (due.length > 0) {
      const protos: SocketProto[] = [];
      for (const f of due) if (!protos.includes(f.proto)) protos.push(f.proto);
      const first = due.some((f) => f.looks === 0);
      if (!this.map.refreshIfDue(protos, first)) {
        this.arm(this.map.dueAt(first));
        return;
      }
      // New flows first: their ends may close within milliseconds; the others are looks again.
      for (const f of due) if (f.looks === 0) this.look(f, false);
      for (const f of due) if (f.looks > 0 && f.dueAt <= now) this.look(f, false);
      this.waiting = this.waiting.filter((f) => f.ends.some((e) => !e.done));
    }
    let next = Infinity;
    for (const f of this.waiting) next = Math.min(next, f.dueAt);
    if (next !== Infinity) this.arm(Math.max(next, this.map.scanDueAt));
  }

  /** End of capture: every end still waiting takes what one last scan shows; the timer stops. */
  finish(): void {
    const syn = TRACE ? this.map.synWatchStats : null;
    if (syn !== null) process.stderr.write(`flowdemux: SYN watcher: ${syn[0]} SYNs, ${syn[1]} owners found, ${syn[2]} not found, ${syn[3]} skipped (budget), ${syn[4]} lost (ring full)\n`);
    if (this.waiting.length > 0 && this.map.isAvailable()) {
      this.map.refresh();
      for (const f of this.waiting) this.look(f, true);
    }
    this.waiting = [];
    this.close();
  }

  /** Stops the timer (the noted flows stay). */
  close(): void {
    this.closed = true;
    this.map.close();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }

  /**
   * Sets the host facts of both ends from what was seen while the flow was live. A flow this
   * object did not note is asked of the map as it is now. An end still unsettled (its flow ended
   * before it was looked at again) takes what is known.
   */
  attribute(flow: Flow): void {
    const proto = portedProto(flow);
    if (proto === null) return;
    const f = this.flows.get(flow.id);
    if (f === undefined || f.proto !== proto) {
      if (!this.map.isAvailable()) return;
      if (this.map.scans === 0) this.map.refresh();
      attributeFlow(flow, this.map);
      return;
    }
    if (f.looks === 0 && this.map.isAvailable()) {
      // Never looked at (the flow ended within its first batch): look now.
      this.map.refresh([f.proto]);
      this.look(f, true);
    }
    const find = (e: FlowEndpoint) => f.ends.find((x) => x.ip === e.ip && x.port === e.port)?.answer;
    setEnd(flow.client, factsOf(find(flow.client)), false);
    const noSocket = proto === 'tcp' && NO_SERVER_SOCKET.has(flow.state);
    setEnd(flow.server, noSocket ? {} : factsOf(find(flow.server)), true);
  }

  /** Drops what is kept for a flow (streaming output: after its line was written). */
  forget(id: number): void {
    this.flows.delete(id);
  }

  /** One look at a flow's unsettled ends, from the last scan. */
  private look(f: NotedFlow, final: boolean): void {
    f.looks++;
    const now = this.map.now();
    const young = !final && now - f.notedAt < this.settleMs;
    // The end that sent the flow's first packet first: for TCP the client (the SYN's source),
    // whose socket a short-lived program (curl) may close within milliseconds; at the SYN the
    // server end has no socket of its own yet anyway.
    for (let i = 0; i < 2; i++) {
      const end = f.ends[i]!;
      if (end.done) continue;
      const other = f.ends[1 - i]!;
      const prev = end.answer;
      const a = this.map.resolve(f.proto, end.ip, end.port, other.ip, other.port);
      if (TRACE) {
        const p = a.kind === 'process' ? `${a.process.state}${a.process.state === 'running' ? ` ${a.process.command} ${a.process.pid}` : ''}` : a.kind;
        process.stderr.write(`flowdemux: look flow ${f.id} +${(now - f.notedAt).toFixed(2)} ms ${end.ip}:${end.port}: ${p}\n`);
      }
      end.answer = this.better(prev, a);
      end.done = !young || this.settled(end.answer, f.proto, now - f.notedAt);
    }
    // Look again after 1, 2, 4, ... ms (from the first packet), while the flow is young.
    f.dueAt = f.notedAt + this.firstRetryMs * 2 ** (f.looks - 1);
  }

  /**
   * What to keep of two answers for one end: a process seen running is never replaced by a later
   * `gone` (the connection closed since), nor a listener by nothing.
   */
  private better(prev: Attribution | undefined, next: Attribution): Attribution {
    if (prev === undefined || prev.kind === 'unknown') return next;
    if (next.kind === 'unknown') return prev;
    const prevRunning = prev.kind === 'process' && prev.process.state === 'running';
    const nextRunning = next.kind === 'process' && next.process.state === 'running';
    if (prevRunning && !nextRunning) return prev;
    if (next.listener === undefined && prev.listener !== undefined) return { ...next, listener: prev.listener };
    return next;
  }

  /**
   * Nothing more to learn: an owner seen (unless it is the listener's owner and the flow is
   * younger than the fork window), a closed socket, or an end that is not this host's.
   */
  private settled(a: Attribution, proto: SocketProto, age: number): boolean {
    if (a.kind === 'unknown') return true;
    if (a.kind === 'pending') return false;
    // Not there: closed before it was seen, or (a server end, at the SYN) not made yet: the
    // listener answers until the handshake has made the connection's socket. Looked at again
    // for a moment.
    if (a.process.state !== 'running') return a.listener === undefined || age >= this.graceMs;
    if (proto !== 'tcp' || a.listener === undefined) return true;
    // Held by the listener's (first) owner: a forking server may still hand it to a child.
    return a.process.pid !== a.listener.pid || age >= this.forkWindowMs;
  }

  private arm(at: number): void {
    if (!this.useTimer || this.closed) return;
    if (this.timer !== null) {
      if (this.timerAt <= at) return;
      clearTimeout(this.timer);
    }
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.poll();
    }, Math.max(0, Math.ceil(at - this.map.now())));
    this.timer.unref();
  }
}
