/**
 * The optional native part (native/host.c, built by `npm install` where a C compiler and Node's
 * headers are; see scripts/native/build.mjs), loaded once. Nothing here depends on the rest of
 * flowdemux: capture uses the packet socket's counters, the host view the kernel's socket lookup.
 * Without it everything still works, from /proc, only slower and without kernel drop counts.
 */
import { createRequire } from 'node:module';

export interface HostAddon {
  /**
   * The kernel's socket lookup (NETLINK_SOCK_DIAG): [inode, uid, state, family, remote address,
   * remote port, local address, local port] or null. TCP takes the local end first, UDP the
   * datagram's source (the remote) first, as the kernel's lookups do.
   */
  sockLookup(proto: number, family: number, src: Uint8Array, sport: number, dst: Uint8Array, dport: number):
    [number, number, number, number, Buffer, number, Buffer, number] | null;
  /** PACKET_STATISTICS of a packet socket of this process: [packets, drops] since the last read. */
  packetStats(fd: number): [number, number] | null;
  /**
   * The sockets the given processes hold (every process without a list): [pid, fd, inode, ...],
   * and how many processes' fd directories could not be read (permission).
   */
  socketFds(pids?: readonly number[]): { triples: Float64Array; hidden: number };
  /**
   * Starts the SYN watcher on a device ('any' or '': all): a thread that, at each SYN this host
   * sends, finds the process holding the sending socket. True, or why it could not start.
   */
  synWatchStart(device: string): true | string;
  /**
   * What the watcher decided since the last call: [family 4|6, local, lport, remote, rport, inode,
   * pid (-1: no holder found, -2: skipped for its CPU budget), command, seen (CLOCK_MONOTONIC
   * ns), ...], nine values a SYN.
   */
  synWatchDrain(): (number | Buffer | string)[];
  /** [SYNs seen, owners found, not found, skipped (its CPU budget), dropped from a full ring, CPU ns spent looking, fd directories read]. */
  synWatchStats(): [number, number, number, number, number, number, number];
  synWatchStop(): void;
}

let addon: HostAddon | null | undefined;

/** The addon, or null where it was not built (or FLOWDEMUX_NATIVE=0 turns it off). */
export function nativeAddon(): HostAddon | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.platform !== 'linux' || process.env.FLOWDEMUX_NATIVE === '0') return addon;
  try {
    // dist/native/addon.js and src/native/addon.ts are both two levels below the package root.
    addon = createRequire(import.meta.url)('../../native/build/Release/flowdemux_host.node') as HostAddon;
  } catch {
    addon = null;
  }
  return addon;
}
