/**
 * Which processes hold a socket: every /proc/PID/fd/N of a process is a symlink, `socket:[inode]`
 * for a socket, so the owner of an inode is found by reading links (what `ss -p` and `lsof` do).
 *
 * Reading every link of every process is the expensive part of naming a socket's owner: ~12 µs a
 * link here, so ~0.6 s on a host with 50,000 open descriptors. A short connection (curl against a
 * dev server lasts 3-4 ms) is long gone by then. So `find` looks where a new socket's owner most
 * likely is, and reads everything only as a last resort, within a time budget:
 *
 * 1. the holders found before, if their link still points at the inode (one readlink each);
 * 2. processes not seen before (one readdir of /proc, then their own fds): a new curl, a forking
 *    server's child; the caller reads them once per round of lookups (`walkNew`), before the
 *    socket tables, so that a socket closed a moment later was still seen held;
 * 3. the hint processes the caller names (the owners of the listener a connection came in on:
 *    a threaded server accepts in the listener's process) and the processes that recently owned
 *    sockets that were looked up (a long-lived client opening another connection);
 * 4. every process (a full walk), at most once per `fullWalkGap` of its own cost, so that a host
 *    with many processes is not read end to end for each new tuple.
 */
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, readSync } from 'node:fs';
import { nativeAddon, type HostAddon } from '../native/addon.js';

export interface Holder {
  pid: number;
  fd: string;
  /** When its link was read (clock ms). */
  seenAt: number;
}

export interface OwnerIndexOptions {
  procRoot: string;
  clock: () => number;
  /**
   * After a full walk that took d ms, the next may start `fullWalkGap * d` ms after it ended
   * (default 4: walks take at most a fifth of the time, however often they are asked for).
   */
  fullWalkGap?: number;
}

/** How many recently found owners are tried before a full walk. */
const RECENT = 16;
/** Inodes remembered between full walks; beyond this the index starts again (stale entries). */
const MAX_HOLDERS = 1 << 18;
const PID = /^[0-9]+$/;
/** How many new ids are looked at one by one before /proc is listed instead. */
const PROBE_SPAN = 64;
/** /proc is listed at least this often (ms), to forget the processes that are gone. */
const LIST_EVERY_MS = 1000;
/** Processes first seen this recently (ms) are read again with the new ones. */
const YOUNG_MS = 500;

export class OwnerIndex {
  private readonly root: string;
  private readonly clock: () => number;
  private readonly fullWalkGap: number;
  /** inode → processes holding it, as last read (checked before use). */
  private holders = new Map<number, Holder[]>();
  /** Processes whose fds were read at least once, and when they were first seen (clock ms). */
  private known = new Map<number, number>();
  /** When each process's fds were last read. */
  private walkedAt = new Map<number, number>();
  /** The last pid the kernel had given out at the last look (-1: unknown), and the last listing. */
  private lastPid = -1;
  private listedAt = -Infinity;
  private recent: number[] = [];
  private commands = new Map<number, string>();
  private nextFullWalkAt = -Infinity;
  /** /proc/loadavg, kept open: read again from its start, ~15 us instead of ~100 for readFileSync. */
  private readonly loadavg: KeptFile;
  /** The native part, for the real /proc only (a made-up tree is read by the JavaScript walk). */
  private readonly addon: HostAddon | null;
  /** Processes whose fd directory could not be read (EACCES: another user's, not root). */
  hidden = 0;
  /** Counters, for tests and the benchmark. */
  readonly counts = { fullWalks: 0, pidWalks: 0, links: 0, listings: 0 };

  constructor(opts: OwnerIndexOptions) {
    this.root = opts.procRoot;
    this.clock = opts.clock;
    this.fullWalkGap = opts.fullWalkGap ?? 4;
    this.loadavg = new KeptFile(`${this.root}/loadavg`);
    this.addon = this.root === '/proc' ? nativeAddon() : null;
  }

  /** Closes what is kept open. */
  close(): void {
    this.loadavg.close();
  }

  /** Lets the next full walk run at once (the one at the start of a capture is not held against it). */
  resetBudget(): void {
    this.nextFullWalkAt = -Infinity;
  }

  /** True when a full walk may run now (its time budget). */
  get fullWalkAllowed(): boolean {
    return this.clock() >= this.nextFullWalkAt;
  }

  /**
   * Every process holding `inode`, found in the order above; null when nobody visible holds it
   * (or a full walk was not allowed), 'hidden' when some processes could not be looked at.
   * `full`: whether a full walk may be made for it (still within the budget).
   */
  find(inode: number, hints: readonly number[] = [], full = true, seenSince = Infinity): Holder[] | 'hidden' | null {
    const ok = () => this.holdersOf(inode, seenSince);
    this.lastFindComplete = true;
    let found = ok();
    if (found !== null) return found;
    // New processes the round did not get to, and the young ones again.
    this.walkNew(Infinity, seenSince === Infinity ? this.clock() : seenSince);
    if (this.holders.has(inode) && (found = ok()) !== null) return found;
    const tried = new Set<number>();
    for (const pid of [...hints, ...this.recent]) {
      if (tried.has(pid)) continue;
      tried.add(pid);
      this.walkPid(pid);
      if (this.holders.has(inode) && (found = ok()) !== null) return found;
    }
    if (full && this.fullWalkAllowed) {
      this.fullWalk();
      if ((found = ok()) !== null) return found;
    } else this.lastFindComplete = false;
    return this.hidden > 0 ? 'hidden' : null;
  }

  /**
   * Reads the fds of the processes started since the last call (see newPids), newest first and
   * within `budgetMs`, and again those first seen in the last YOUNG_MS and not read since
   * `youngSince` (default: now). Called just before the sockets are looked up, it sees the
   * sockets of a short-lived process while they are still open: the lookup after it then ties
   * their inodes to the flow's tuple.
   */
  walkNew(budgetMs = Infinity, youngSince?: number): void {
    const t0 = this.clock();
    const fresh = this.newPids(t0);
    const addon = this.addon;
    if (addon !== null) {
      // In C, a few microseconds a process: every new one at once, then the young again. The
      // curl that just sent a SYN may close its socket a millisecond later.
      this.walkNative(addon, fresh, false);
      const again = this.youngToReadAgain(youngSince ?? t0);
      if (again.length > 0) this.walkNative(addon, again, false);
      return;
    }
    // Newest first (pids count up): the process that just connected is most likely the latest.
    // Within the budget only; the rest are read when a lookup does not find its socket.
    for (const pid of fresh) {
      if (this.clock() - t0 > budgetMs) {
        this.lastPid = -1; // not all read: list /proc next time
        break;
      }
      this.walkPid(pid);
    }
    if (this.clock() - t0 <= budgetMs) this.walkYoung(youngSince ?? t0);
  }

  /**
   * The processes started since the last call, newest first. The kernel names the last pid it
   * gave out (/proc/loadavg's last field): when it has not moved there is nothing new, and when
   * it moved by a few the ids between are looked at one by one (a thread's id is left out: its
   * Tgid is another). Listing /proc costs ~1 us a process (2 ms on a host with 2,000); this is
   * what a round usually needs instead. A listing is still made at least once a second, and it
   * is what forgets the processes that are gone.
   */
  private newPids(now: number): number[] {
    const text = this.loadavg.read();
    // No loadavg (a made-up /proc): list.
    const last = text === null ? -1 : Number(text.slice(text.lastIndexOf(' ') + 1));
    const prev = this.lastPid;
    const span = last - prev;
    if (last > 0 && prev > 0 && span >= 0 && span <= PROBE_SPAN && now - this.listedAt < LIST_EVERY_MS) {
      this.lastPid = last;
      const out: number[] = [];
      for (let id = last; id > prev; id--) if (!this.known.has(id) && this.isProcess(id)) out.push(id);
      return out;
    }
    const pids = this.pids();
    this.listedAt = now;
    this.lastPid = last;
    // Forget the processes that are gone (their pids may come back as new processes).
    if (this.known.size > pids.length) {
      const alive = new Set(pids);
      for (const pid of this.known.keys()) {
        if (!alive.has(pid)) {
          this.known.delete(pid);
          this.walkedAt.delete(pid);
        }
      }
    }
    return pids.filter((pid) => !this.known.has(pid)).sort((a, b) => b - a);
  }

  /** True when `id` is a process (a thread group's leader), not another thread of one. */
  private isProcess(id: number): boolean {
    // Gone already, or never was: null.
    const status = readSmall(`${this.root}/${id}/status`, 'Tgid:');
    if (status === null) return false;
    const m = /Tgid:\s*(\d+)/.exec(status);
    return m !== null && Number(m[1]) === id;
  }

  /**
   * Reads again the processes first seen in the last YOUNG_MS: one seen moments ago may have
   * opened its socket since (a curl that had only just started). Not the ones read at or after
   * `since`.
   */
  private walkYoung(since: number): void {
    for (const pid of this.youngToReadAgain(since)) this.walkPid(pid);
  }

  /** The processes first seen in the last YOUNG_MS and not read at or after `since`. */
  private youngToReadAgain(since: number): number[] {
    const young = this.clock() - YOUNG_MS;
    const out: number[] = [];
    for (const [pid, first] of this.known) if (first >= young && (this.walkedAt.get(pid) ?? -Infinity) < since) out.push(pid);
    return out;
  }

  /** Whether the last `find` looked everywhere (false: the full walk's budget stopped it). */
  lastFindComplete = true;

  /** Reads every process's fds (the index starts again). */
  fullWalk(): void {
    const t0 = this.clock();
    this.counts.fullWalks++;
    this.holders = new Map();
    this.known = new Map();
    this.walkedAt = new Map();
    this.commands = new Map();
    this.hidden = 0;
    // Processes found by a full walk are not new: only those that appear after it are young.
    this.lastPid = -1;
    const pids = this.newPids(t0); // lists /proc (nothing is known now) and notes the kernel's last pid
    const addon = this.addon;
    if (addon !== null) {
      // The same reads in C: a readlink costs the kernel ~9 us; Node adds ~3 us and a string.
      this.walkNative(addon, pids, true);
    } else {
      for (const pid of pids) {
        this.known.set(pid, -Infinity);
        this.walkPid(pid);
      }
    }
    const t1 = this.clock();
    this.nextFullWalkAt = t1 + this.fullWalkGap * (t1 - t0);
  }

  /** /proc/PID/comm without its newline; null when the process is gone. */
  command(pid: number): string | null {
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

  /**
   * When the process started (clock ticks since boot, field 22 of /proc/PID/stat); 0 when it
   * cannot be read. Orders the holders of one socket: a forked child starts after its parent.
   */
  startTime(pid: number): number {
    try {
      const text = readFileSync(`${this.root}/${pid}/stat`, 'latin1');
      // The command (field 2) is in parentheses and may hold spaces or ')': fields after the last ')'.
      const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
      const v = Number(rest[19]);
      return Number.isFinite(v) ? v : 0;
    } catch {
      return 0;
    }
  }

  /** Marks a process as a likely owner of the next new sockets (it just owned one). */
  noteOwner(pid: number): void {
    const i = this.recent.indexOf(pid);
    if (i === 0) return;
    if (i > 0) this.recent.splice(i, 1);
    this.recent.unshift(pid);
    if (this.recent.length > RECENT) this.recent.length = RECENT;
  }

  /**
   * The holders of the inode, in pid order: those still holding it (one readlink each), and
   * those whose link was read at or after `seenSince` (before the table that named the inode was
   * read, so they held it then, even if it is closed now).
   */
  private holdersOf(inode: number, seenSince: number): Holder[] | null {
    const list = (this.holders.get(inode) ?? []).filter((h) => h.seenAt >= seenSince || this.stillHolds(h, inode));
    if (list.length === 0) {
      this.holders.delete(inode);
      return null;
    }
    const out: Holder[] = [];
    for (const h of list) if (!out.some((o) => o.pid === h.pid)) out.push(h);
    out.sort((a, b) => a.pid - b.pid);
    this.holders.set(inode, out);
    return out;
  }

  private pids(): number[] {
    this.counts.listings++;
    try {
      return readdirSync(this.root).filter((n) => PID.test(n)).map(Number);
    } catch {
      return [];
    }
  }

  private walkPid(pid: number): void {
    this.counts.pidWalks++;
    const now = this.clock();
    if (!this.known.has(pid)) this.known.set(pid, now);
    this.walkedAt.set(pid, now);
    const dir = `${this.root}/${pid}/fd`;
    let fds: string[];
    try {
      fds = readdirSync(dir);
    } catch (err) {
      // EACCES: another user's process, and we are not root. ENOENT: it just exited.
      if ((err as NodeJS.ErrnoException).code === 'EACCES') this.hidden++;
      else this.known.set(pid, -Infinity); // gone: never young again
      return;
    }
    // A pid read again may be a new process with that number: its name is read again too.
    this.commands.delete(pid);
    if (this.holders.size > MAX_HOLDERS) this.holders = new Map();
    for (const fd of fds) {
      let target: string;
      this.counts.links++;
      try {
        target = readlinkSync(`${dir}/${fd}`);
      } catch {
        continue; // closed meanwhile
      }
      if (!target.startsWith('socket:[')) continue;
      this.addHolder(Number(target.slice(8, -1)), { pid, fd, seenAt: now });
    }
  }

  /**
   * walkPid for many processes in one call of the native part (see native/host.c). `old`: they
   * were there before the capture (a full walk), so never young.
   */
  private walkNative(addon: HostAddon, pids: readonly number[], old: boolean): void {
    const now = this.clock();
    const { triples, hidden } = addon.socketFds(pids);
    for (const pid of pids) {
      if (old) this.known.set(pid, -Infinity);
      else if (!this.known.has(pid)) this.known.set(pid, now);
      this.walkedAt.set(pid, now);
      this.commands.delete(pid); // a pid read again may be a new process with that number
    }
    this.counts.pidWalks += pids.length;
    this.hidden += hidden;
    if (this.holders.size > MAX_HOLDERS) this.holders = new Map();
    for (let i = 0; i < triples.length; i += 3) this.addHolder(triples[i + 2]!, { pid: triples[i]!, fd: String(triples[i + 1]), seenAt: now });
  }

  private addHolder(inode: number, h: Holder): void {
    const list = this.holders.get(inode);
    if (list === undefined) this.holders.set(inode, [h]);
    else {
      const i = list.findIndex((x) => x.pid === h.pid && x.fd === h.fd);
      if (i >= 0) list[i] = h;
      else list.push(h);
    }
  }

  private stillHolds(h: Holder, inode: number): boolean {
    this.counts.links++;
    try {
      return readlinkSync(`${this.root}/${h.pid}/fd/${h.fd}`) === `socket:[${inode}]`;
    } catch {
      return false;
    }
  }
}

const SMALL = Buffer.alloc(4096);

/**
 * The start of a small /proc file up to and including the line holding `until` (null: not
 * readable): one open and a read or two into a shared buffer, where readFileSync would stat the
 * file and grow a buffer of its own (procfs files say they are empty).
 */
function readSmall(path: string, until: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    let n = 0;
    for (;;) {
      const got = readSync(fd, SMALL, n, SMALL.length - n, null);
      n += got;
      if (got === 0 || n === SMALL.length) break;
      const text = SMALL.toString('latin1', 0, n);
      const at = text.indexOf(until);
      if (at >= 0 && text.indexOf('\n', at) >= 0) return text;
    }
    return SMALL.toString('latin1', 0, n);
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** A /proc file kept open and read again from its start (seq_file files allow it). */
class KeptFile {
  private fd: number | null | undefined;
  private readonly buf = Buffer.alloc(256);

  constructor(private readonly path: string) {}

  read(): string | null {
    if (this.fd === undefined) {
      try {
        this.fd = openSync(this.path, 'r');
      } catch {
        this.fd = null;
      }
    }
    if (this.fd === null) return null;
    try {
      const n = readSync(this.fd, this.buf, 0, this.buf.length, 0);
      return this.buf.toString('latin1', 0, n).trimEnd();
    } catch {
      return null;
    }
  }

  close(): void {
    if (typeof this.fd === 'number') closeSync(this.fd);
    this.fd = undefined;
  }
}
