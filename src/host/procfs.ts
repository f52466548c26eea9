/**
 * The host's sockets and their owners, from Linux's /proc (what `ss -p` and `lsof -i` do):
 *
 * 1. /proc/net/{tcp,tcp6,udp,udp6} list every socket of this network namespace with its local
 *    and remote address:port, state, uid and inode number (src/host/procnet.ts reads the text);
 * 2. every /proc/PID/fd/N of a process holding a socket is a symlink to `socket:[inode]`
 *    (src/host/owners.ts finds the holders of an inode);
 * 3. /proc/PID/comm is the command name (15 bytes at most, settable by the process).
 *
 * `ProcessMap` keeps the last read of the tables and answers, for one end of a flow, who held its
 * socket, the listener it was accepted from (with SO_REUSEPORT groups) and, for UDP, which kind of
 * socket took its datagrams. It looks when asked, with no fixed rate: the CPU time spent looking
 * (reading /proc, asking the kernel) may be at most a share of the time, with a burst (one
 * budget for new connections' first looks, one for looks again), so a quiet host gets a fresh
 * look at the first packet of every new tuple while a flood of new tuples is answered by fewer,
 * coalesced rounds.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { EndpointProcess, ListenerProcess, ProcessRef, UdpSocketInfo } from '../core/flow.js';
import { kernelSocket, nativeAvailable, SynWatch, type KernelSocket } from './native.js';
import { OwnerIndex, type Holder } from './owners.js';
import {
  ANY_REMOTE, endpointText, HOST_LITTLE_ENDIAN, isWildcard, parseProcNet, socketIp, socketKey, TCP_STATES,
  type ProcNetEntry, type SocketProto,
} from './procnet.js';

export { parseProcNet, parseProcNetAddress, socketIp, TCP_STATES, HOST_LITTLE_ENDIAN } from './procnet.js';
export type { ProcNetEntry, ProcNetParse, SocketProto } from './procnet.js';

/** What the tables say of one end of a flow. */
export type Attribution =
  /**
   * The end's socket as the last scan (`at`) had it. `process`: its owner (`running`), or
   * `gone`: not in the table, or no longer held by anyone, so closed before its owner was seen.
   * `listener`: TCP, the listening socket on the end's address:port (it took the connection if
   * this end is a server). `socket`: UDP, the socket the datagrams reached. `inode`: the socket's,
   * when the table had it (0 for none).
   */
  | { kind: 'process'; process: EndpointProcess; listener?: ListenerProcess; socket?: UdpSocketInfo; inode: number; at: number }
  /**
   * The kernel holds the connection but no process does yet: a handshake in progress or a
   * connection waiting in the listener's accept queue (inode 0). `listener` as above.
   */
  | { kind: 'pending'; listener?: ListenerProcess; at: number }
  /**
   * Nothing to say: `not-local` (the address is not this host's), `not-visible` (the socket is
   * held by a process whose /proc/PID/fd this user cannot read), `no-proc` (no Linux /proc).
   */
  | { kind: 'unknown'; reason: 'not-local' | 'not-visible' | 'no-proc' };

export interface ProcessMapOptions {
  /** Where proc is mounted (default '/proc'). */
  procRoot?: string;
  /** A monotonic clock in ms (default performance.now). */
  clock?: () => number;
  /**
   * What the budget counts, in ms (default: this process's CPU time; with a `clock` given and no
   * `cost`, that clock).
   */
  cost?: () => number;
  /** The share of time that looking again may take (default 0.25). */
  share?: number;
  /** The time that may be spent looking again at once, before the share limits it (ms, default 20). */
  burstMs?: number;
  /** The same for new connections' first looks (defaults 0.5 and 50 ms). */
  firstShare?: number;
  firstBurstMs?: number;
  /** The same for full walks of every process's fds (default 4). */
  fullWalkGap?: number;
  /**
   * Whether an address is this host's (default: 127.0.0.0/8, ::1 and the addresses of
   * os.networkInterfaces(), read again at each scan). Ends elsewhere are never looked up.
   */
  isLocal?: (ip: string) => boolean;
  /** Byte order of the /proc/net text (default: this host's). */
  littleEndian?: boolean;
  /** Look sockets up through netlink when the native part is built (default: for the real /proc). */
  native?: boolean;
}

/**
 * A share of the time that some work may take, with a burst: `allows` while credit is left;
 * credit grows by `share` ms per ms of clock, up to `burst`.
 */
class Budget {
  private tokens: number;
  private toppedAt = -Infinity;

  constructor(readonly share: number, readonly burst: number) {
    this.tokens = burst;
  }

  private topUp(now: number): void {
    if (this.toppedAt !== -Infinity) this.tokens = Math.min(this.burst, this.tokens + (now - this.toppedAt) * this.share);
    this.toppedAt = now;
  }

  allows(now: number): boolean {
    this.topUp(now);
    return this.tokens > 0;
  }

  spend(now: number, ms: number): void {
    this.topUp(now);
    this.tokens -= ms;
  }

  dueAt(now: number): number {
    this.topUp(now);
    return this.tokens > 0 ? now : now + -this.tokens / this.share;
  }

  refill(now: number): void {
    this.tokens = this.burst;
    this.toppedAt = now;
  }
}

/** This process's CPU time (user + system) in ms. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

const NOT_LOCAL: Attribution = { kind: 'unknown', reason: 'not-local' };
const NOT_VISIBLE: Attribution = { kind: 'unknown', reason: 'not-visible' };
const NO_PROC: Attribution = { kind: 'unknown', reason: 'no-proc' };

const BOTH: readonly SocketProto[] = ['tcp', 'udp'];
/**
 * How long a round reads new processes before looking sockets up (ms): enough for the few that
 * a round usually brings (the curl that just connected is read first); a burst of new processes
 * with many descriptors each is read only as far as a lookup needs.
 */
const WALK_AHEAD_MS = 0.5;
const TABLES: readonly [string, SocketProto][] = [['tcp', 'tcp'], ['tcp6', 'tcp'], ['udp', 'udp'], ['udp6', 'udp']];

/** An end's socket: its table entry (undefined: none) and, for UDP, its kind. */
interface Found {
  entry: ProcNetEntry | undefined;
  socket?: UdpSocketInfo;
}

function kernelEntry(k: KernelSocket): ProcNetEntry {
  return {
    localIp: k.localIp, localPort: k.localPort, remoteIp: k.remoteIp, remotePort: k.remotePort,
    state: k.state, uid: k.uid, inode: k.inode,
  };
}

/** A listening socket and who holds it (read at each scan for new listeners, checked on use). */
interface Listener {
  entry: ProcNetEntry;
  /** socketIp of its local address. */
  ip: string;
}

/** Who holds a socket, as said to a flow. */
type Owners = ProcessRef[];

export class ProcessMap {
  /** At most one line each: why some owners cannot be shown (not root; no /proc). */
  readonly warnings: string[] = [];
  readonly owners: OwnerIndex;

  private readonly root: string;
  private readonly clock: () => number;
  /** What looking costs, in ms: this process's CPU time (not wall time, which a loaded machine inflates). */
  private readonly cost: () => number;
  /** CPU time that looking may still take: new connections' first looks, and looks again. */
  private readonly firstBudget: Budget;
  private readonly againBudget: Budget;
  /** The budget the work under way is counted against. */
  private charging: Budget;
  private readonly littleEndian: boolean;
  private readonly localTest: ((ip: string) => boolean) | null;
  /** Sockets are looked up in the kernel one by one (netlink), not in the last scan of the tables. */
  readonly native: boolean;
  private localSet = new Set<string>();
  private available: boolean | null = null;
  private warnedHidden = false;

  /** The last scans: sockets by key (UDP unconnected under ANY_REMOTE), TCP listeners by port. */
  private tcpSockets = new Map<string, ProcNetEntry>();
  private udpSockets = new Map<string, ProcNetEntry>();
  private listeners = new Map<number, Listener[]>();
  private scanCount = 0;
  private lastScanAt = -Infinity;
  /** Holders whose link was read at or after this time held their socket at the last scan. */
  private seenSince = Infinity;
  private localsReadAt = -Infinity;
  private synWatch: SynWatch | null = null;

  constructor(opts: ProcessMapOptions = {}) {
    this.root = opts.procRoot ?? '/proc';
    this.clock = opts.clock ?? (() => performance.now());
    this.cost = opts.cost ?? (opts.clock !== undefined ? opts.clock : cpuMs);
    this.againBudget = new Budget(opts.share ?? 0.25, opts.burstMs ?? 20);
    this.firstBudget = new Budget(opts.firstShare ?? 0.5, opts.firstBurstMs ?? 50);
    this.charging = this.againBudget;
    this.littleEndian = opts.littleEndian ?? HOST_LITTLE_ENDIAN;
    this.localTest = opts.isLocal ?? null;
    // The kernel's lookup answers for the real /proc only, not for a made-up tree.
    this.native = (opts.native ?? this.root === '/proc') && nativeAvailable();
    this.owners = new OwnerIndex({ procRoot: this.root, clock: this.clock, fullWalkGap: opts.fullWalkGap });
  }

  /** The map's clock (ms). */
  now(): number {
    return this.clock();
  }

  /** Scans of /proc/net so far. */
  get scans(): number {
    return this.scanCount;
  }

  /** When the next round of looks again may start (its budget); `now() >= scanDueAt` means now. */
  get scanDueAt(): number {
    return this.dueAt(false);
  }

  /** The same for a round with new connections' first looks (their own budget, see refreshIfDue). */
  dueAt(first: boolean): number {
    return (first ? this.firstBudget : this.againBudget).dueAt(this.clock());
  }

  /** Counts the work since c0 (a `cost()` reading) against the budget of the round under way. */
  private spend(c0: number): void {
    this.charging.spend(this.clock(), this.cost() - c0);
  }

  /** True when /proc/net can be read (a warning says why not, once). */
  isAvailable(): boolean {
    if (this.available === null) {
      try {
        readFileSync(`${this.root}/net/tcp`, 'latin1');
        this.available = true;
      } catch (err) {
        this.available = false;
        const why = err instanceof Error && 'code' in err ? String((err as NodeJS.ErrnoException).code) : 'unreadable';
        this.warnings.push(`process names are not shown: they come from Linux's /proc, and ${this.root}/net/tcp is not readable here (${why})`);
      }
    }
    return this.available;
  }

  /**
   * The start of a capture: one scan and a walk of every process, so that every listener and
   * bound UDP socket of the host is known with its owners before the first packet.
   */
  start(device?: string): void {
    if (!this.isAvailable()) return;
    // The SYN watcher names short connections' clients (real /proc and the native part only).
    if (device !== undefined && this.native && this.synWatch === null) {
      this.synWatch = new SynWatch();
      if (!this.synWatch.start(device)) {
        if (process.env.FLOWDEMUX_DEBUG === 'lookups') process.stderr.write(`flowdemux: no SYN watcher (${this.synWatch.problem})\n`);
        this.synWatch = null;
      }
    }
    this.scan();
    this.owners.fullWalk();
    this.noteHidden();
    // One lookup of each kind now, answers thrown away: the first real one, at a connection's
    // first packet, must not also pay for loading and compiling this code (a few ms, as long
    // as a curl's whole connection).
    for (const proto of BOTH) this.resolve(proto, '127.0.0.1', 9, '127.0.0.1', 9);
    // And one of a socket that is there, held by someone: the paths that find an owner.
    this.owners.walkNew(WALK_AHEAD_MS);
    let held: ProcNetEntry | undefined;
    for (const e of this.tcpSockets.values()) {
      if (e.inode !== 0 && this.isLocal(socketIp(e.localIp))) {
        held = e;
        break;
      }
    }
    if (held !== undefined) this.resolve('tcp', held.localIp, held.localPort, held.remoteIp, held.remotePort);
    for (const list of this.listeners.values()) {
      const l = list[0]!;
      if (this.isLocal(socketIp(l.entry.localIp)) || isWildcard(l.ip)) {
        this.resolve('tcp', isWildcard(l.ip) ? '127.0.0.1' : l.entry.localIp, l.entry.localPort, '127.0.0.1', 9);
        break;
      }
    }
    // The start is paid once, before capturing: the budgets start full for the first packets.
    this.owners.resetBudget();
    this.firstBudget.refill(this.clock());
    this.againBudget.refill(this.clock());
  }

  /** Reads /proc/net/* now (both protocols' tables, or one's), whatever the budget. */
  scan(protos: readonly SocketProto[] = BOTH): void {
    const t0 = this.clock();
    const c0 = this.cost();
    this.lastScanAt = t0;
    this.seenSince = Infinity;
    this.scanCount++;
    for (const proto of protos) {
      const sockets = new Map<string, ProcNetEntry>();
      const listeners = new Map<number, Listener[]>();
      for (const [file, p] of TABLES) {
        if (p !== proto) continue;
        let text: string;
        try {
          text = readFileSync(`${this.root}/net/${file}`, 'latin1');
        } catch {
          continue; // tcp6/udp6 are missing when IPv6 is disabled
        }
        for (const e of parseProcNet(text, this.littleEndian).entries) {
          const lip = socketIp(e.localIp);
          let rip = socketIp(e.remoteIp);
          if (isWildcard(rip) && e.remotePort === 0) rip = ANY_REMOTE;
          if (proto === 'tcp' && e.state === TCP_STATES.LISTEN) {
            const l = listeners.get(e.localPort);
            if (l) l.push({ entry: e, ip: lip });
            else listeners.set(e.localPort, [{ entry: e, ip: lip }]);
            continue;
          }
          const k = socketKey(proto, lip, e.localPort, rip, e.remotePort);
          const prev = sockets.get(k);
          // A tuple listed twice (a TIME_WAIT left over while a new connection reuses it; UDP
          // SO_REUSEPORT): the one a process holds wins.
          if (prev === undefined || (prev.inode === 0 && e.inode !== 0)) sockets.set(k, e);
        }
      }
      if (proto === 'tcp') {
        this.tcpSockets = sockets;
        // A listener opened since the last scan: its owner may be a process read before it
        // opened it (a server starting up). All processes are read again, within the budget.
        let fresh = false;
        if (this.scanCount > 1) {
          const before = new Set<number>();
          for (const list of this.listeners.values()) for (const l of list) before.add(l.entry.inode);
          for (const list of listeners.values()) for (const l of list) if (l.entry.inode !== 0 && !before.has(l.entry.inode)) fresh = true;
        }
        this.listeners = listeners;
        if (fresh && this.owners.fullWalkAllowed) this.owners.fullWalk();
      } else this.udpSockets = sockets;
    }
    // The host's addresses change rarely: read again at most once a second.
    if (this.localTest === null && t0 - this.localsReadAt >= 1000) this.readLocalAddresses();
    this.spend(c0);
  }

  /** Closes the files kept open between looks (they are opened again if the map is used again). */
  close(): void {
    this.owners.close();
    this.synWatch?.stop();
    this.synWatch = null;
  }

  /** The SYN watcher's counts (see native.ts), when it runs. */
  get synWatchStats(): [number, number, number, number, number, number, number] | null {
    return this.synWatch?.stats() ?? null;
  }

  /**
   * Makes the next `resolve`s answer for now: reads the fds of processes not seen before, then
   * (without the kernel's lookup) the tables. In that order, a short-lived process's socket is
   * seen held before the table ties it to a tuple: a curl whose connection lasts 3 ms may close
   * it while the table is read.
   */
  refresh(protos: readonly SocketProto[] = BOTH): void {
    const t0 = this.clock();
    const c0 = this.cost();
    if (!this.isAvailable()) return;
    this.owners.walkNew(WALK_AHEAD_MS);
    if (this.native) this.lastScanAt = t0;
    else this.scan(protos);
    this.spend(c0);
    this.seenSince = t0;
  }

  /** `refresh` when the budget allows; true when it did. */
  refreshIfDue(protos: readonly SocketProto[] = BOTH, first = false): boolean {
    // New connections' first looks have a budget of their own: it is the look that decides
    // whether a short connection is named, and looks again (a threaded server's connections
    // during the fork window) must never use it up.
    const budget = first ? this.firstBudget : this.againBudget;
    if (!budget.allows(this.clock())) return false;
    // The round's lookups (resolve) are counted against the same budget, until the next round.
    this.charging = budget;
    this.refresh(protos);
    return true;
  }

  /**
   * One end of a flow, from the last scan: its socket (`localIp:localPort` ⇄ `remoteIp:remotePort`),
   * who holds it, its listener (TCP) or its kind (UDP).
   */
  resolve(proto: SocketProto, localIp: string, localPort: number, remoteIp: string, remotePort: number): Attribution {
    const c0 = this.cost();
    try {
      return this.resolveEnd(proto, localIp, localPort, remoteIp, remotePort);
    } finally {
      this.spend(c0);
    }
  }

  private resolveEnd(proto: SocketProto, localIp: string, localPort: number, remoteIp: string, remotePort: number): Attribution {
    if (!this.isAvailable()) return NO_PROC;
    const lip = socketIp(localIp);
    const rip = socketIp(remoteIp);
    if (isWildcard(lip) || !this.isLocal(lip)) return NOT_LOCAL;
    const at = this.native ? this.clock() : this.lastScanAt;
    const found = this.native
      ? this.fromKernel(proto, localIp, localPort, remoteIp, remotePort)
      : this.fromTables(proto, lip, localPort, rip, remotePort);
    const e = found.entry;
    const socket = found.socket;
    const listenerSet = proto === 'tcp' ? this.listenerSet(lip, localPort) : null;
    // What the SYN watcher saw at this end's SYN, when this host opened the connection: the
    // socket held then (the same socket, if the kernel still has it).
    const early = proto === 'tcp' ? this.synWatch?.owner(localIp, localPort, remoteIp, remotePort) : undefined;
    const atSyn = early !== undefined && (e === undefined || e.inode === 0 || e.inode === early.inode) ? early : undefined;
    let process: EndpointProcess;
    let inode = e?.inode ?? 0;
    if (atSyn !== undefined) {
      process = { pid: atSyn.pid, command: atSyn.command, state: 'running' };
      inode = atSyn.inode;
    } else if (e !== undefined && e.inode === 0 && proto === 'tcp'
      && (e.state === TCP_STATES.SYN_RECV || e.state === TCP_STATES.ESTABLISHED)) {
      // Handshake in progress or waiting in the accept queue: the kernel has it, no process yet.
      return this.pending(at, listenerSet);
    } else if (e === undefined || e.inode === 0) {
      // Not in the table, or TIME_WAIT / orphaned: its process had closed it.
      process = { state: 'gone' };
    } else {
      const owners = this.ownersOf(e.inode, listenerSet === null ? [] : this.listenerHolderPids(listenerSet));
      if (owners === 'hidden') return NOT_VISIBLE;
      if (owners === null && !this.owners.lastFindComplete) {
        // Held, but not by a process looked at yet: every process is read again later.
        return this.pending(at, listenerSet);
      }
      process = owners === null ? { state: 'gone', uid: e.uid } : this.ownerProcess(owners);
    }
    if (process.state === 'running') this.owners.noteOwner(process.pid);
    const answer: Attribution = { kind: 'process', process, inode, at };
    if (listenerSet !== null) {
      const l = this.listenerInfo(listenerSet, process.state === 'running' ? process.pid : null);
      if (l !== undefined) answer.listener = l;
    }
    if (socket !== undefined) answer.socket = socket;
    return answer;
  }

  /** Not known yet: the kernel holds the end, no process was seen holding it; its listener if any. */
  private pending(at: number, listenerSet: Listener[] | null): Attribution {
    const a: Attribution = { kind: 'pending', at };
    const l = listenerSet === null ? undefined : this.listenerInfo(listenerSet, null);
    if (l !== undefined) a.listener = l;
    return a;
  }

  /** The end's socket from the last scan of the tables. */
  private fromTables(proto: SocketProto, lip: string, lport: number, rip: string, rport: number): Found {
    const sockets = proto === 'tcp' ? this.tcpSockets : this.udpSockets;
    const e = sockets.get(socketKey(proto, lip, lport, rip, rport));
    if (proto === 'tcp') return { entry: e };
    if (e !== undefined) return { entry: e, socket: { kind: 'connected', bound: endpointText(e.localIp, e.localPort) } };
    // An unconnected UDP socket: bound to this address, then to the wildcard (a dual-stack
    // `::` socket takes IPv4 too). The kernel's own order for delivery.
    const v6 = lip.includes(':');
    const u = sockets.get(socketKey(proto, lip, lport, ANY_REMOTE, 0))
      ?? (v6 ? undefined : sockets.get(socketKey(proto, '*4', lport, ANY_REMOTE, 0)))
      ?? sockets.get(socketKey(proto, '*6', lport, ANY_REMOTE, 0));
    if (u === undefined) return { entry: undefined };
    const socket: UdpSocketInfo = { kind: 'unconnected', bound: endpointText(u.localIp, u.localPort) };
    if (!v6 && u.localIp.includes(':')) socket.dualStack = true;
    return { entry: u, socket };
  }

  /**
   * The end's socket as the kernel looks it up now (netlink, see native.ts). A TCP tuple with no
   * connection answers with its listener: then there is no socket for the tuple, and a listener
   * the last scan did not have makes the tables be read again (a server started after the
   * capture). A UDP tuple answers with the socket that would take its datagrams.
   */
  private fromKernel(proto: SocketProto, localIp: string, lport: number, remoteIp: string, rport: number): Found {
    const k = kernelSocket(proto, localIp, lport, remoteIp, rport);
    const v6 = localIp.includes(':');
    if (proto === 'tcp') {
      const listening = k !== null && k.state === TCP_STATES.LISTEN;
      // The listeners come from the last scan of the tables: read them again when the kernel's
      // listener for this address:port is not among them (started, or closed, since).
      const l = listening ? k : kernelSocket('tcp', localIp, lport, v6 ? '::' : '0.0.0.0', 0);
      const known = this.listenerSet(socketIp(localIp), lport);
      const kernelHas = l !== null && l.state === TCP_STATES.LISTEN;
      if (kernelHas ? known === null || !known.some((x) => x.entry.inode === l.inode) : known !== null) this.scan(['tcp']);
      if (k === null || listening) return { entry: undefined };
      return { entry: kernelEntry(k) };
    }
    if (k === null) return { entry: undefined };
    const connected = k.remotePort !== 0;
    const socket: UdpSocketInfo = { kind: connected ? 'connected' : 'unconnected', bound: endpointText(k.localIp, k.localPort) };
    if (!v6 && k.family === 6) socket.dualStack = true;
    return { entry: kernelEntry(k), socket };
  }

  /**
   * The process an end is said to belong to when several hold its socket: the youngest (a
   * forking server's child, not the parent it was forked from); `pids` lists them all.
   */
  private ownerProcess(holders: ProcessRef[]): EndpointProcess {
    let own = holders[0]!;
    if (holders.length > 1) {
      let best = -1;
      for (const h of holders) {
        const t = this.owners.startTime(h.pid);
        if (t > best) {
          best = t;
          own = h;
        }
      }
    }
    const p: EndpointProcess = { pid: own.pid, command: own.command, state: 'running' };
    if (holders.length > 1) p.pids = holders.map((h) => h.pid);
    return p;
  }

  private ownersOf(inode: number, hints: readonly number[]): Owners | 'hidden' | null {
    const found = this.owners.find(inode, hints, true, this.seenSince);
    this.noteHidden();
    if (found === 'hidden' || found === null) return found;
    const holders = this.named(found);
    return holders.length === 0 ? null : holders;
  }

  /** Holders with their command names; one that exited since the walk is left out. */
  private named(holders: readonly Holder[]): ProcessRef[] {
    const out: ProcessRef[] = [];
    for (const h of holders) {
      const command = this.owners.command(h.pid);
      if (command !== null) out.push({ pid: h.pid, command });
    }
    return out;
  }

  /**
   * The listening sockets that take SYNs for lip:lport: those bound to that address, else the
   * wildcard of its family, else `::` (the kernel's preference). Several on one binding are an
   * SO_REUSEPORT group.
   */
  private listenerSet(lip: string, lport: number): Listener[] | null {
    const list = this.listeners.get(lport);
    if (list === undefined) return null;
    const order = lip.includes(':') ? [lip, '*6'] : [lip, '*4', '*6'];
    for (const want of order) {
      const set = list.filter((x) => x.ip === want);
      if (set.length > 0) return set;
    }
    return null;
  }

  private listenerHolderPids(set: readonly Listener[]): number[] {
    const pids: number[] = [];
    for (const l of set) {
      if (l.entry.inode === 0) continue;
      const o = this.owners.find(l.entry.inode, [], false);
      if (o === null || o === 'hidden') continue;
      for (const h of o) if (!pids.includes(h.pid)) pids.push(h.pid);
    }
    return pids;
  }

  /**
   * The listener an end came in on. With one listening socket: it and its owners. With an
   * SO_REUSEPORT group: the group's owners, and the listener held by `ownPid` (the process that
   * accepted the connection) when there is one.
   */
  private listenerInfo(set: readonly Listener[], ownPid: number | null): ListenerProcess | undefined {
    const first = set[0]!;
    const out: ListenerProcess = { socket: endpointText(first.entry.localIp, first.entry.localPort) };
    const holdersOf = (l: Listener): Holder[] => {
      if (l.entry.inode === 0) return [];
      const o = this.owners.find(l.entry.inode, [], true);
      return o === null || o === 'hidden' ? [] : o;
    };
    let chosen: ProcessRef[];
    if (set.length === 1) chosen = this.oldestFirst(this.named(holdersOf(first)));
    else {
      const groups = set.map((l) => this.named(holdersOf(l)));
      const owners: ProcessRef[] = [];
      for (const g of groups) for (const p of g) if (!owners.some((o) => o.pid === p.pid)) owners.push(p);
      owners.sort((a, b) => a.pid - b.pid);
      out.reuseport = { listeners: set.length, owners };
      const mine = ownPid === null ? undefined : groups.find((g) => g.some((p) => p.pid === ownPid));
      chosen = mine ?? [];
      if (mine !== undefined && mine.length > 1) chosen = mine.filter((p) => p.pid === ownPid);
    }
    if (chosen.length > 0) {
      out.pid = chosen[0]!.pid;
      out.command = chosen[0]!.command;
      if (chosen.length > 1) out.pids = chosen.map((p) => p.pid);
    }
    return out;
  }

  /** A listener's holders, the process that opened it first (a forking server's parent). */
  private oldestFirst(list: ProcessRef[]): ProcessRef[] {
    if (list.length < 2) return list;
    const t = new Map(list.map((p) => [p.pid, this.owners.startTime(p.pid)]));
    return list.slice().sort((a, b) => t.get(a.pid)! - t.get(b.pid)! || a.pid - b.pid);
  }

  private noteHidden(): void {
    const hidden = this.owners.hidden;
    if (hidden > 0 && !this.warnedHidden) {
      this.warnedHidden = true;
      this.warnings.push(`process names: ${hidden} process${hidden === 1 ? '' : 'es'} of other users cannot be looked at `
        + 'without root, so their sockets show no process (run as root to see every owner)');
    }
  }

  private isLocal(ip: string): boolean {
    if (this.localTest !== null) return this.localTest(ip);
    if (ip === '::1' || /^127\./.test(ip)) return true;
    if (this.localSet.size === 0) this.readLocalAddresses();
    return this.localSet.has(ip);
  }

  private readLocalAddresses(): void {
    this.localsReadAt = this.clock();
    const set = new Set<string>();
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) set.add(socketIp(a.address.replace(/%.*$/, '')));
    }
    this.localSet = set;
  }
}
