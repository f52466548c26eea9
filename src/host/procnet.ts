/**
 * The kernel's socket tables as text: /proc/net/{tcp,tcp6,udp,udp6}, one line a socket with its
 * local and remote address:port, state, owner uid and inode number (what `ss` reads through
 * netlink, and `netstat` through these files). Pure functions over text; no file is read here.
 */
import { endianness } from 'node:os';
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

export function socketKey(proto: SocketProto, lip: string, lport: number, rip: string, rport: number): string {
  return `${proto}|${lip}|${lport}|${rip}|${rport}`;
}

/** The remote end of an unconnected socket, whatever its family. */
export const ANY_REMOTE = '*';

export function isWildcard(ip: string): boolean {
  return ip === '*4' || ip === '*6';
}

export function endpointText(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

