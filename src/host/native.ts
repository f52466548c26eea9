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
