/**
 * The capture devices for `flowdemux interfaces`: libpcap's list through cap when it is
 * available (the names `live -i` accepts, including pseudo-devices such as `any` and
 * `nflog`), else the operating system's interfaces that have addresses, so the command still
 * says something useful on a machine without libpcap, and says which list it shows.
 */
import { networkInterfaces } from 'node:os';
import { loadCap, LiveCaptureError } from './cap-loader.js';

export interface CaptureInterface {
  name: string;
  /** libpcap's description, for pseudo-devices ("Pseudo-device that captures on all interfaces"). */
  description?: string;
  /**
   * IPv4 and IPv6 addresses as `address/prefix` ("127.0.0.1/8", "::1/128"); a bare address
   * when the netmask is unknown or not contiguous.
   */
  addresses: string[];
  /** libpcap's PCAP_IF_LOOPBACK flag (from the OS list: the interface is `internal`). */
  loopback: boolean;
}

export interface InterfaceList {
  /** 'libpcap': the devices live capture can open. 'os': Node's list, cap not available. */
  source: 'libpcap' | 'os';
  interfaces: CaptureInterface[];
  /** Why libpcap's list is not shown (one line), when source is 'os'. */
  reason?: string;
}

/** Prefix length of a netmask ("255.0.0.0" → 8, "ffff:ffff::" → 32); null if not contiguous. */
export function prefixLength(netmask: string): number | null {
  const bits: number[] = [];
  if (netmask.includes(':')) {
    const [head = '', tail = ''] = netmask.split('::');
    const h = head === '' ? [] : head.split(':');
    const t = tail === '' ? [] : tail.split(':');
    const groups = netmask.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
    if (groups.length !== 8) return null;
    for (const g of groups) {
      const v = parseInt(g, 16);
      if (!(v >= 0 && v <= 0xffff)) return null;
      for (let i = 15; i >= 0; i--) bits.push((v >> i) & 1);
    }
  } else {
    const parts = netmask.split('.');
    if (parts.length !== 4) return null;
    for (const p of parts) {
      const v = Number(p);
      if (!(Number.isInteger(v) && v >= 0 && v <= 255)) return null;
      for (let i = 7; i >= 0; i--) bits.push((v >> i) & 1);
    }
  }
  const ones = bits.indexOf(0) === -1 ? bits.length : bits.indexOf(0);
  return bits.slice(ones).includes(1) ? null : ones;
}

function withPrefix(addr: string, netmask: string | undefined): string {
  if (netmask === undefined) return addr;
  const len = prefixLength(netmask);
  return len === null ? addr : `${addr}/${len}`;
}

/**
 * Lists capture devices. Never throws: without cap (or when libpcap's device scan fails) it
 * falls back to `os.networkInterfaces()` and sets `source: 'os'` with the reason.
 * `capModule` is for tests (a missing module name shows the fallback).
 */
export function listInterfaces(opts: { capModule?: string } = {}): InterfaceList {
  let reason: string;
  try {
    const cap = loadCap(opts.capModule);
    const devices = cap.Cap.deviceList();
    return {
      source: 'libpcap',
      interfaces: devices.map((d) => {
        const entry: CaptureInterface = {
          name: d.name,
          addresses: d.addresses.flatMap((a) => (a.addr === undefined ? [] : [withPrefix(a.addr, a.netmask)])),
          loopback: d.flags === 'PCAP_IF_LOOPBACK',
        };
        if (d.description !== undefined) entry.description = d.description;
        return entry;
      }),
    };
  } catch (err) {
    reason =
      err instanceof LiveCaptureError
        ? err.message
        : `libpcap could not list devices: ${err instanceof Error ? err.message : String(err)}`;
  }
  const interfaces: CaptureInterface[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    const list = addrs ?? [];
    interfaces.push({
      name,
      addresses: list.map((a) => a.cidr ?? a.address),
      loopback: list.some((a) => a.internal),
    });
  }
  return { source: 'os', interfaces, reason };
}
