/**
 * The kernel's own counters of a live capture: libpcap's packet socket keeps how many packets
 * passed the filter and how many it dropped because its ring was full (PACKET_STATISTICS, what
 * tcpdump prints as "N packets dropped by kernel"). `cap` exposes neither the socket nor
 * pcap_stats, so the socket is found among this process's descriptors (the packet socket that
 * appeared while cap opened the device) and asked through the optional native part.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { nativeAddon } from '../native/addon.js';

/** This process's descriptors that are packet sockets (their inodes in /proc/net/packet). */
export function packetSocketFds(): number[] {
  let table: string;
  try {
    table = readFileSync('/proc/net/packet', 'latin1');
  } catch {
    return [];
  }
  // sk RefCnt Type Proto Iface R Rmem User Inode: the inode is the last column.
  const inodes = new Set<string>();
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 9) inodes.add(f[f.length - 1]!);
  }
  const out: number[] = [];
  let fds: string[];
  try {
    fds = readdirSync('/proc/self/fd');
  } catch {
    return [];
  }
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (target.startsWith('socket:[') && inodes.has(target.slice(8, -1))) out.push(Number(fd));
  }
  return out;
}

/** Counts kept across reads (the kernel resets its own on each read). */
export interface KernelCounts {
  /** Packets that passed the filter, dropped ones included. */
  packets: number;
  /** Packets the kernel dropped: the capture buffer was full. */
  drops: number;
}

/** The kernel's counters of one packet socket, summed over reads; null where they cannot be had. */
export class PacketSocketCounters {
  readonly counts: KernelCounts = { packets: 0, drops: 0 };

  private constructor(private readonly fd: number) {}

  /**
   * The packet socket among `after` that was not among `before` (the fds around cap's open), when
   * there is exactly one and the native part can read it.
   */
  static find(before: readonly number[], after: readonly number[]): PacketSocketCounters | null {
    const added = after.filter((fd) => !before.includes(fd));
    const addon = nativeAddon();
    if (added.length !== 1 || addon === null) return null;
    const c = new PacketSocketCounters(added[0]!);
    return c.read() ? c : null;
  }

  /** Adds what the kernel counted since the last read; false when it cannot be read. */
  read(): boolean {
    const r = nativeAddon()?.packetStats(this.fd) ?? null;
    if (r === null) return false;
    this.counts.packets += r[0];
    this.counts.drops += r[1];
    return true;
  }
}
