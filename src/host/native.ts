/**
 * The kernel's socket lookup by tuple, through the optional native part (src/native/addon.ts):
 * NETLINK_SOCK_DIAG, what `ss` uses. Without it the host view reads the whole /proc/net/tcp
 * for a lookup (about 1 ms here, more on a loaded host) instead of asking the kernel for one
 * socket (about 15 µs).
 */
import { nativeAddon, type HostAddon } from '../native/addon.js';
import { formatAddress, tryParseAddress } from '../parse/format.js';

const load = nativeAddon;

/** True when the native part is built and loaded. */
export function nativeAvailable(): boolean {
  return load() !== null;
}

/** One socket as the kernel's lookup returns it. */
export interface KernelSocket {
  inode: number;
  uid: number;
  /** The kernel's state number (TCP: 1 ESTABLISHED ... 10 LISTEN; UDP: 7 unconnected, 1 connected). */
  state: number;
  /** The socket's own family: an IPv6 socket may take IPv4 (v4-mapped). */
  family: 4 | 6;
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
}

/**
 * The socket the kernel would hand a segment from remote to local to: by the full tuple, else
 * (TCP) the listener or (UDP) the unconnected socket on the local address:port. Null when there
 * is none, when the native part is missing, or when the addresses are not text of one family.
 * The kernel searches its tables for the given family only: an IPv4 tuple held by a dual-stack
 * IPv6 socket is looked for again as v4-mapped IPv6.
 */
export function kernelSocket(proto: 'tcp' | 'udp', localIp: string, localPort: number, remoteIp: string, remotePort: number): KernelSocket | null {
  const a = load();
  if (a === null) return null;
  const local = tryParseAddress(localIp);
  const remote = tryParseAddress(remoteIp);
  if (local === null || remote === null || local.length !== remote.length) return null;
  const p = proto === 'tcp' ? 6 : 17;
  // TCP's lookup takes the socket's local end first, UDP's the datagram's source (the remote).
  const ask = (family: number, l: Uint8Array, r: Uint8Array) => (proto === 'tcp'
    ? a.sockLookup(p, family, l, localPort, r, remotePort)
    : a.sockLookup(p, family, r, remotePort, l, localPort));
  let r = ask(local.length === 4 ? 4 : 6, local, remote);
  if (local.length === 4 && (r === null || (r[2] === 10 && proto === 'tcp') || (proto === 'udp' && r[5] === 0))) {
    // Not found as IPv4 (or only a listener / an unconnected socket): a v6 socket may hold it as ::ffff:a.b.c.d.
    const mapped = (b: Uint8Array) => Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...b);
    let r6: ReturnType<HostAddon['sockLookup']> = null;
    try {
      r6 = ask(6, mapped(local), mapped(remote));
    } catch {
      r6 = null; // no IPv6 in this kernel
    }
    if (r6 !== null && (r === null || (proto === 'tcp' ? r6[2] !== 10 : r6[5] !== 0))) r = r6;
  }
  if (r === null) return null;
  const [inode, uid, state, family, dst, dport, src, sport] = r;
  return {
    inode, uid, state, family: family === 4 ? 4 : 6,
    localIp: formatAddress(src, 0, src.length), localPort: sport,
    remoteIp: formatAddress(dst, 0, dst.length), remotePort: dport,
  };
}

/**
 * What the SYN watcher saw of one connection this host opened: who held its socket at the SYN
 * (`pid` -1: nobody it looked at, -2: not looked at, for its CPU budget).
 */
export interface SynOwner {
  inode: number;
  pid: number;
  command: string;
  /** When it was seen, on `performance.now()`'s clock (ms). */
  seenAt: number;
}

/** How long an answer of the watcher is kept for lookups (ms). */
const SYN_KEEP_MS = 10_000;
const SYN_MAX = 8192;

/**
 * The thread is one per process (the native part's state): its users are counted and its
 * answers shared, so two maps in one process (tests) neither stop it for each other nor take
 * each other's answers.
 */
const shared = { users: 0, device: '', byTuple: new Map<string, SynOwner>() };

/**
 * The SYN watcher of the native part (native/syn-watch.c): a thread that, at each SYN this host
 * sends on the device, finds the process holding the sending socket, within microseconds of the
 * SYN instead of the event loop's milliseconds. A curl's connection may be closed before the
 * capture loop gets to its first packet; this answer was read while the socket was held.
 * Answers are kept by tuple (client address:port, server address:port) for SYN_KEEP_MS.
 */
export class SynWatch {
  /** Why it is not running (null while it runs). */
  problem: string | null = 'not started';

  start(device: string): boolean {
    if (this.problem === null) return true;
    const a = load();
    if (a === null) {
      this.problem = 'the native part is not built';
      return false;
    }
    if (shared.users > 0 && shared.device !== device) {
      this.problem = `it already watches ${shared.device} in this process`;
      return false;
    }
    const r = a.synWatchStart(device);
    this.problem = r === true ? null : r;
    if (r !== true) return false;
    shared.users++;
    shared.device = device;
    return true;
  }

  /** Who held the socket local ⇄ remote at its SYN, if the watcher saw it held. */
  owner(localIp: string, localPort: number, remoteIp: string, remotePort: number): SynOwner | undefined {
    const d = this.decision(localIp, localPort, remoteIp, remotePort);
    return d !== undefined && d.pid > 0 ? d : undefined;
  }

  /** What the watcher decided at the SYN of local ⇄ remote, found or not (undefined: not yet). */
  decision(localIp: string, localPort: number, remoteIp: string, remotePort: number): SynOwner | undefined {
    if (this.problem !== null) return undefined;
    drain();
    return shared.byTuple.get(`${localIp} ${localPort} ${remoteIp} ${remotePort}`);
  }

  /** [SYNs seen, owners found, not found, skipped for its CPU budget, lost from a full ring, CPU ns spent looking, fd directories read]. */
  stats(): [number, number, number, number, number, number, number] | null {
    const a = load();
    return a === null || this.problem !== null ? null : a.synWatchStats();
  }

  stop(): void {
    if (this.problem !== null) return;
    this.problem = 'stopped';
    if (--shared.users > 0) return;
    load()?.synWatchStop();
    shared.byTuple.clear();
  }
}

function drain(): void {
  const d = load()!.synWatchDrain();
  if (d.length === 0) return;
  const nowNs = process.hrtime.bigint();
  const now = performance.now();
  const byTuple = shared.byTuple;
  for (let i = 0; i < d.length; i += 9) {
    const local = d[i + 1] as Buffer;
    const remote = d[i + 3] as Buffer;
    const key = `${formatAddress(local, 0, local.length)} ${d[i + 2]} ${formatAddress(remote, 0, remote.length)} ${d[i + 4]}`;
    const ageMs = Number(nowNs - BigInt(d[i + 8] as number)) / 1e6;
    byTuple.delete(key); // the newest last, so the oldest go first
    byTuple.set(key, { inode: d[i + 5] as number, pid: d[i + 6] as number, command: d[i + 7] as string, seenAt: now - ageMs });
  }
  for (const [k, v] of byTuple) {
    if (byTuple.size <= SYN_MAX && now - v.seenAt < SYN_KEEP_MS) break;
    byTuple.delete(k);
  }
}
