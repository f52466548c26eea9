/**
 * Which process owns a socket, from Linux's /proc (what `ss -p` and `lsof -i` do):
 *
 * 1. /proc/net/{tcp,tcp6,udp,udp6} list every socket of this network namespace with its local
 *    and remote address:port, state and inode number;
 * 2. every /proc/PID/fd/N of a process holding a socket is a symlink to `socket:[inode]`;
 * 3. /proc/PID/comm is the command name (15 bytes at most, settable by the process).
 *
 * The text parser is pure. `ProcessMap` reads /proc on demand and keeps it cheap: a scan happens
 * only when it is asked about a tuple it does not know (or a caller asks for something fresher
 * than its last scan), never twice within `minRescanMs`, and the fd walk (a readlink per open fd
 * of every process) is skipped when the inodes asked about are already known and still in place.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { endianness, networkInterfaces } from 'node:os';
import type { EndpointProcess, ListenerProcess } from '../demux/types.js';
import { formatAddress } from '../parse/format.js';

// -------------------------------------------------------------------------------------------------
// /proc/net text

export type SocketProto = 'tcp' | 'udp';

/** One line of /proc/net/{tcp,tcp6,udp,udp6}. */
export interface ProcNetEntry {
  /** As printed: IPv4 text, or IPv6 text (RFC 5952, an IPv4-mapped address as `::ffff:a.b.c.d`). */
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
  /**
   * The kernel's state number (include/net/tcp_states.h): TCP 1 ESTABLISHED ... 10 LISTEN (see
   * `TCP_STATES`); a UDP socket is 7 (CLOSE) unconnected, 1 once connect() gave it a peer.
   */
  state: number;
  uid: number;
  /**
   * What /proc/PID/fd links point at as `socket:[inode]`. 0 when no file refers to the socket:
   * TIME_WAIT and other orphaned sockets (their process closed them), SYN_RECV request sockets
   * and connections still waiting in a listener's accept queue.
   */
  inode: number;
}

/** TCP state numbers as the kernel prints them in the `st` column (hex). */
export const TCP_STATES = {
  ESTABLISHED: 0x01,
  SYN_SENT: 0x02,
  SYN_RECV: 0x03,
  FIN_WAIT1: 0x04,
  FIN_WAIT2: 0x05,
  TIME_WAIT: 0x06,
  CLOSE: 0x07,
  CLOSE_WAIT: 0x08,
  LAST_ACK: 0x09,
  LISTEN: 0x0a,
  CLOSING: 0x0b,
} as const;

export interface ProcNetParse {
  entries: ProcNetEntry[];
  /** Lines that were not a socket line (not counting the header): truncated or foreign text. */
  skipped: number;
}

const HEX_ADDR = /^(?:[0-9A-Fa-f]{8}|[0-9A-Fa-f]{32}):[0-9A-Fa-f]{4}$/;
const HEX = /^[0-9A-Fa-f]+$/;
const DEC = /^[0-9]+$/;

/** The host's byte order: the kernel prints each 32-bit word of an address as a host integer. */
export const HOST_LITTLE_ENDIAN = endianness() === 'LE';

/**
 * `0100007F:96CD` → {ip: '127.0.0.1', port: 38605}. The kernel prints the address as 32-bit
 * words, each with `%08X` of the word read as a *host-order* integer (so on a little-endian host
 * every word comes out byte-reversed: 127.0.0.1 is 0100007F), and the port with `%04X` after
 * ntohs (plain hex). Returns null for text that is not of that form.
 */
export function parseProcNetAddress(text: string, littleEndian = HOST_LITTLE_ENDIAN): { ip: string; port: number } | null {
  if (!HEX_ADDR.test(text)) return null;
  const colon = text.indexOf(':');
  const words = colon / 8;
  const bytes = new Uint8Array(colon / 2);
  for (let w = 0; w < words; w++) {
    const v = parseInt(text.slice(w * 8, w * 8 + 8), 16);
    for (let i = 0; i < 4; i++) {
      // Byte i of the word in memory: the low byte first on a little-endian host.
      bytes[w * 4 + i] = (littleEndian ? v >>> (8 * i) : v >>> (24 - 8 * i)) & 0xff;
    }
  }
  return { ip: formatAddress(bytes, 0, bytes.length), port: parseInt(text.slice(colon + 1), 16) };
}

/**
 * The lines of /proc/net/tcp, tcp6, udp or udp6 (the same columns up to `inode`; udp adds
 * `ref pointer drops`, tcp adds timers). The header line is skipped; any other line that does
 * not read as a socket is counted in `skipped`, not thrown.
 */
export function parseProcNet(text: string, littleEndian = HOST_LITTLE_ENDIAN): ProcNetParse {
  const entries: ProcNetEntry[] = [];
  let skipped = 0;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length === 1 && f[0] === '') continue;
    if (f[0] === 'sl') continue; // the header
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
    if (f.length < 10 || !/^[0-9]+:$/.test(f[0]!)) {
      skipped++;
      continue;
    }
    const local = parseProcNetAddress(f[1]!, littleEndian);
    const remote = parseProcNetAddress(f[2]!, littleEndian);
    const st = f[3]!;
    const uid = f[7]!;
    const inode = f[9]!;
    if (local === null || remote === null || !HEX.test(st) || !DEC.test(uid) || !DEC.test(inode)
      || f[1]!.length !== f[2]!.length) {
      skipped++;
      continue;
    }
    entries.push({
      localIp: local.ip, localPort: local.port, remoteIp: remote.ip, remotePort: remote.port,
      state: parseInt(st, 16), uid: Number(uid), inode: Number(inode),
    });
  }
  return { entries, skipped };
}

// -------------------------------------------------------------------------------------------------
// Keys

/**
 * Address text as flows and sockets are matched: an IPv4-mapped IPv6 address is its IPv4 address
 * (a dual-stack `::` listener accepts IPv4 connections, and the kernel then lists them in tcp6 as
 * ::ffff:127.0.0.1, while the capture sees plain IPv4), and the unspecified addresses become
 * `*4` / `*6` (a socket bound to the wildcard).
 */
export function socketIp(ip: string): string {
  if (ip === '0.0.0.0') return '*4';
  if (ip === '::') return '*6';
  if (ip.startsWith('::ffff:') && ip.includes('.')) return ip.slice(7);
  return ip;
}

function key(proto: SocketProto, lip: string, lport: number, rip: string, rport: number): string {
  return `${proto}|${lip}|${lport}|${rip}|${rport}`;
}

/** The remote end of an unconnected socket, whatever its family. */
const ANY_REMOTE = '*';

function isWildcard(ip: string): boolean {
  return ip === '*4' || ip === '*6';
}

function endpointText(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

// -------------------------------------------------------------------------------------------------
// The map

/** What a query found for one end of a flow. */
export type Attribution =
  /**
   * The socket's owner (`state: 'running'`), or `exited`: the scan at `at` did not find the
   * socket held by anyone. `listener`: TCP, the LISTEN socket on the local address:port
   * (exact address first, then the wildcard), which took the connection if this end is a server.
   */
  | { kind: 'process'; process: EndpointProcess; listener?: ListenerProcess; at: number }
  /**
   * Nothing to say: `not-local` (the address is not this host's), `not-visible` (the socket is
   * held by a process whose /proc/PID/fd this user cannot read), `no-proc` (no Linux /proc),
   * `not-accepted` (a TCP connection still in its handshake or in the accept queue: the kernel
   * holds it, no process yet).
   */
  | { kind: 'unknown'; reason: 'not-local' | 'not-visible' | 'no-proc' | 'not-accepted' }
  /** Not known yet: a fresher scan is needed and the last one was under `minRescanMs` ago. */
  | { kind: 'pending' };

export interface QueryOptions {
  /**
   * The answer must come from a scan that started at or after this time (the map's clock, see
   * `now()`). Default: any answer already known for the tuple; for a tuple never asked about,
   * a scan after the first time it was asked.
   */
  notBefore?: number;
  /** Answer now: scan even within `minRescanMs`, and say `not-accepted` rather than `pending`. */
  final?: boolean;
}

export interface ProcessMapOptions {
  /** Where proc is mounted (default '/proc'). */
  procRoot?: string;
  /** Least time between two scans in ms (default 200). */
  minRescanMs?: number;
  /** A monotonic clock in ms (default performance.now). */
  clock?: () => number;
  /**
   * Whether an address is this host's (default: 127.0.0.0/8, ::1 and the addresses of
   * os.networkInterfaces(), read again at each scan). Ends elsewhere are never looked up.
   */
  isLocal?: (ip: string) => boolean;
  /** Byte order of the /proc/net text (default: this host's). */
  littleEndian?: boolean;
}

interface Holder {
  pid: number;
  fd: string;
}

interface Answered {
  answer: Attribution;
  at: number;
}

const PENDING: Attribution = { kind: 'pending' };
const NOT_LOCAL: Attribution = { kind: 'unknown', reason: 'not-local' };
const NOT_VISIBLE: Attribution = { kind: 'unknown', reason: 'not-visible' };
const NO_PROC: Attribution = { kind: 'unknown', reason: 'no-proc' };
const NOT_ACCEPTED: Attribution = { kind: 'unknown', reason: 'not-accepted' };

/** Answers remembered (tuples asked about); the oldest are forgotten beyond this. */
const MAX_ANSWERS = 1 << 17;
const TABLES: readonly [string, SocketProto][] = [['tcp', 'tcp'], ['tcp6', 'tcp'], ['udp', 'udp'], ['udp6', 'udp']];

/**
 * Socket → process, from /proc, refreshed on demand. Addresses are the flows' text (IPv4 dotted,
 * IPv6 RFC 5952). `lookup` is the plain API; `query` says why there is no answer.
 */
export class ProcessMap {
  /** At most one line each: why some owners cannot be shown (not root; no /proc). */
  readonly warnings: string[] = [];

  private readonly root: string;
  /** Least time between two scans (ms). */
  readonly minRescanMs: number;
  private readonly clock: () => number;
  private readonly littleEndian: boolean;
  private readonly localTest: ((ip: string) => boolean) | null;
  private localSet = new Set<string>();
  private available: boolean | null = null;

  /** The last scan: sockets by key, TCP listeners by port. */
  private sockets = new Map<string, ProcNetEntry>();
  private listeners = new Map<number, ProcNetEntry[]>();
  private scanCount = 0;
  private lastScanAt = -Infinity;

  /** inode → processes holding it, from the last fd walk (checked again before reuse). */
  private holders = new Map<number, Holder[]>();
  private walkCount = 0;
  private walkedInScan = -1;
  /** Processes whose fd directory could not be read in the last walk (EACCES: not root). */
  private hiddenInWalk = 0;
  private commands = new Map<number, string>();
  private warnedHidden = false;

  private readonly answers = new Map<string, Answered>();
  /** Tuples asked about and not answered yet: the scan count their answer must come after. */
  private readonly asked = new Map<string, number>();

  constructor(opts: ProcessMapOptions = {}) {
    this.root = opts.procRoot ?? '/proc';
    this.minRescanMs = opts.minRescanMs ?? 200;
    this.clock = opts.clock ?? (() => performance.now());
    this.littleEndian = opts.littleEndian ?? HOST_LITTLE_ENDIAN;
    this.localTest = opts.isLocal ?? null;
  }

  /** The map's clock (ms), for `notBefore`. */
  now(): number {
    return this.clock();
  }

  /** Scans of /proc/net so far. */
  get scans(): number {
    return this.scanCount;
  }

  /** Walks of /proc/PID/fd so far (at most one a scan). */
  get walks(): number {
    return this.walkCount;
  }

  /** When the last scan started (map clock), -Infinity before the first. */
  get lastScan(): number {
    return this.lastScanAt;
  }

  /**
   * The owner of the socket whose local end is `localIp:localPort` and remote end
   * `remoteIp:remotePort`: `{pid, command, state: 'running'}`, `{state: 'exited'}` when a scan
   * made after the tuple was first asked about (or after `notBefore`) did not find it, or null:
   * not this host's address, not visible, not known yet.
   */
  lookup(proto: SocketProto, localIp: string, localPort: number, remoteIp: string, remotePort: number, opts?: QueryOptions): EndpointProcess | null {
    const a = this.query(proto, localIp, localPort, remoteIp, remotePort, opts);
    return a.kind === 'process' ? a.process : null;
  }

  /** `lookup` with the listener and the reason when there is no answer. */
  query(proto: SocketProto, localIp: string, localPort: number, remoteIp: string, remotePort: number, opts: QueryOptions = {}): Attribution {
    if (!this.isAvailable()) return NO_PROC;
    const lip = socketIp(localIp);
    const rip = socketIp(remoteIp);
    if (isWildcard(lip) || !this.isLocal(lip)) return NOT_LOCAL;
    const k = key(proto, lip, localPort, rip, remotePort);
    const known = this.answers.get(k);
    let fresh: () => boolean;
    const notBefore = opts.notBefore;
    if (notBefore !== undefined) {
      if (known !== undefined && known.at >= notBefore) return known.answer;
      fresh = () => this.lastScanAt >= notBefore;
    } else {
      if (known !== undefined) return known.answer;
      // Open in the last scan, held by a process (visible or not): known, no rescan for it.
      if (this.scanCount > 0) {
        const fromLast = this.resolve(proto, lip, localPort, rip, remotePort);
        if ((fromLast.kind === 'process' && fromLast.process.state === 'running') || fromLast === NOT_VISIBLE) {
          return this.remember(k, fromLast);
        }
      }
      // A tuple it does not know: the answer must come from a scan made after it was first asked.
      let after = this.asked.get(k);
      if (after === undefined) {
        after = this.scanCount;
        this.asked.set(k, after);
      }
      const scansBefore = after;
      fresh = () => this.scanCount > scansBefore;
    }
    if (!fresh()) {
      if (!opts.final && this.clock() - this.lastScanAt < this.minRescanMs) return PENDING;
      this.scan();
    }
    let answer = this.resolve(proto, lip, localPort, rip, remotePort);
    if (answer.kind === 'pending') {
      if (!opts.final) {
        // Asked again later, it needs a scan newer than this one.
        if (notBefore === undefined) this.asked.set(k, this.scanCount);
        return answer;
      }
      answer = NOT_ACCEPTED;
    }
    return this.remember(k, answer);
  }

  /** Reads /proc/net/* now (the fd walk follows when an owner is needed). */
  scan(): void {
    this.lastScanAt = this.clock();
    this.scanCount++;
    const sockets = new Map<string, ProcNetEntry>();
    const listeners = new Map<number, ProcNetEntry[]>();
    for (const [file, proto] of TABLES) {
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
          if (l) l.push(e);
          else listeners.set(e.localPort, [e]);
          continue;
        }
        const k = key(proto, lip, e.localPort, rip, e.remotePort);
        const prev = sockets.get(k);
        // A tuple listed twice (a TIME_WAIT left over while a new connection reuses it; UDP
        // SO_REUSEPORT): the one a process holds wins.
        if (prev === undefined || (prev.inode === 0 && e.inode !== 0)) sockets.set(k, e);
      }
    }
    this.sockets = sockets;
    this.listeners = listeners;
    if (this.localTest === null) this.readLocalAddresses();
  }

  private remember(k: string, answer: Attribution): Attribution {
    const at = answer.kind === 'process' ? answer.at : this.lastScanAt;
    this.answers.delete(k);
    this.answers.set(k, { answer, at });
    this.asked.delete(k);
    if (this.answers.size > MAX_ANSWERS) this.answers.delete(this.answers.keys().next().value!);
    if (this.asked.size > MAX_ANSWERS) this.asked.delete(this.asked.keys().next().value!);
    return answer;
  }

  private isAvailable(): boolean {
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

  private isLocal(ip: string): boolean {
    if (this.localTest !== null) return this.localTest(ip);
    if (ip === '::1' || /^127\./.test(ip)) return true;
    if (this.localSet.size === 0) this.readLocalAddresses();
    return this.localSet.has(ip);
  }

  private readLocalAddresses(): void {
    const set = new Set<string>();
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) set.add(socketIp(a.address.replace(/%.*$/, '')));
    }
    this.localSet = set;
  }

  /** The socket for this tuple in the last scan, and who holds it. */
  private resolve(proto: SocketProto, lip: string, lport: number, rip: string, rport: number): Attribution {
    let e = this.sockets.get(key(proto, lip, lport, rip, rport));
    if (e === undefined && proto === 'udp') {
      // An unconnected UDP socket: bound to this address, then to the wildcard (a dual-stack
      // `::` socket takes IPv4 too). The kernel's own order for delivery.
      const v6 = lip.includes(':');
      e = this.sockets.get(key(proto, lip, lport, ANY_REMOTE, 0))
        ?? (v6 ? undefined : this.sockets.get(key(proto, '*4', lport, ANY_REMOTE, 0)))
        ?? this.sockets.get(key(proto, '*6', lport, ANY_REMOTE, 0));
    }
    const at = this.lastScanAt;
    if (e === undefined) return { kind: 'process', process: { state: 'exited' }, at };
    if (e.inode === 0) {
      // Handshake in progress or waiting in the accept queue: the kernel has it, no process yet.
      if (proto === 'tcp' && (e.state === TCP_STATES.SYN_RECV || e.state === TCP_STATES.ESTABLISHED)) return PENDING;
      return { kind: 'process', process: { state: 'exited' }, at }; // TIME_WAIT, orphaned: closed by its process
    }
    const owner = this.owner(e.inode);
    if (owner === 'hidden') return NOT_VISIBLE;
    if (owner === null) return { kind: 'process', process: { state: 'exited' }, at };
    const answer: Attribution = { kind: 'process', process: owner, at };
    if (proto === 'tcp') {
      const listener = this.listener(lip, lport);
      if (listener !== null) answer.listener = listener;
    }
    return answer;
  }

  /** The LISTEN socket on lip:lport: bound to that address, else the wildcard of its family, else `::`. */
  private listener(lip: string, lport: number): ListenerProcess | null {
    const list = this.listeners.get(lport);
    if (list === undefined) return null;
    const v6 = lip.includes(':');
    const order = v6 ? [lip, '*6'] : [lip, '*4', '*6'];
    for (const want of order) {
      const e = list.find((x) => socketIp(x.localIp) === want);
      if (e === undefined) continue;
      const out: ListenerProcess = { socket: endpointText(e.localIp, e.localPort) };
      const owner = e.inode === 0 ? null : this.owner(e.inode);
      if (owner !== null && owner !== 'hidden' && owner.state === 'running') {
        out.pid = owner.pid;
        out.command = owner.command;
      }
      return out;
    }
    return null;
  }

  /**
   * Who holds this inode: the processes found in the last walk if they still hold it (one
   * readlink each), else a new walk, at most one per scan. 'hidden' when nobody visible holds it
   * and some processes could not be looked at.
   */
  private owner(inode: number): EndpointProcess | 'hidden' | null {
    let list = this.holders.get(inode);
    if (list !== undefined && !list.every((h) => this.stillHolds(h, inode))) list = undefined;
    if (list === undefined && this.walkedInScan !== this.scanCount) {
      this.walk();
      list = this.holders.get(inode);
    }
    if (list === undefined) return this.hiddenInWalk > 0 ? 'hidden' : null;
    const pids: number[] = [];
    for (const h of list) if (!pids.includes(h.pid)) pids.push(h.pid);
    pids.sort((a, b) => a - b);
    for (const pid of pids) {
      const command = this.command(pid);
      if (command === null) continue; // exited since the walk
      const p: EndpointProcess = { pid, command, state: 'running' };
      if (pids.length > 1) p.pids = pids;
      return p;
    }
    return null;
  }

  private stillHolds(h: Holder, inode: number): boolean {
    try {
      return readlinkSync(`${this.root}/${h.pid}/fd/${h.fd}`) === `socket:[${inode}]`;
    } catch {
      return false;
    }
  }

  private command(pid: number): string | null {
    const cached = this.commands.get(pid);
    if (cached !== undefined) return cached;
    try {
      const text = readFileSync(`${this.root}/${pid}/comm`, 'utf8');
      const command = text.endsWith('\n') ? text.slice(0, -1) : text;
      this.commands.set(pid, command);
      return command;
    } catch {
      return null;
    }
  }

  /** readlink of every fd of every process: inode → holders (sockets only). */
  private walk(): void {
    this.walkCount++;
    this.walkedInScan = this.scanCount;
    const holders = new Map<number, Holder[]>();
    let hidden = 0;
    let pids: string[];
    try {
      pids = readdirSync(this.root).filter((n) => /^[0-9]+$/.test(n));
    } catch {
      pids = [];
    }
    for (const name of pids) {
      const dir = `${this.root}/${name}/fd`;
      let fds: string[];
      try {
        fds = readdirSync(dir);
      } catch (err) {
        // EACCES: another user's process, and we are not root. ENOENT: it just exited.
        if ((err as NodeJS.ErrnoException).code === 'EACCES') hidden++;
        continue;
      }
      const pid = Number(name);
      for (const fd of fds) {
        let target: string;
        try {
          target = readlinkSync(`${dir}/${fd}`);
        } catch {
          continue; // closed meanwhile
        }
        if (!target.startsWith('socket:[')) continue;
        const inode = Number(target.slice(8, -1));
        const list = holders.get(inode);
        if (list) list.push({ pid, fd });
        else holders.set(inode, [{ pid, fd }]);
      }
    }
    this.holders = holders;
    // Names are read again for the processes of this walk (a pid may have been reused).
    this.commands = new Map();
    this.hiddenInWalk = hidden;
    if (hidden > 0 && !this.warnedHidden) {
      this.warnedHidden = true;
      this.warnings.push(`process names: ${hidden} process${hidden === 1 ? '' : 'es'} of other users cannot be looked at `
        + 'without root, so their sockets show no process (run as root to see every owner)');
    }
  }
}
