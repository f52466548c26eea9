/**
 * Loads the optional `cap` package (a libpcap binding, CommonJS with a native addon) on first
 * use, so that everything that reads capture files works on a machine where it is missing or
 * was not built: npm drops an optional dependency whose build failed (no libpcap-dev), and a
 * built addon can still fail to load when libpcap.so is gone.
 *
 * Only the part of cap's API that flowdemux uses is typed here (cap 0.2.1, lib/Cap.js and
 * src/binding.cc); its packet decoders are never used (peers.md: wrong PCP, hangs on ESP).
 */
import { createRequire } from 'node:module';

/** One address of a device, as `Cap.deviceList()` reports it (AF_INET and AF_INET6 only). */
export interface CapAddress {
  addr?: string;
  netmask?: string;
  broadaddr?: string;
  dstaddr?: string;
}

/** One entry of `Cap.deviceList()` (pcap_findalldevs). */
export interface CapDevice {
  name: string;
  description?: string;
  addresses: CapAddress[];
  /** Only ever 'PCAP_IF_LOOPBACK' (the one flag cap passes on), or absent. */
  flags?: string;
}

/**
 * A cap handle. `open` returns the link type as a name ('ETHERNET', 'NULL', 'RAW',
 * 'LINKTYPE_LINUX_SLL', 'IEEE802_11_RADIO', or "Unknown linktype <DLT>") and throws an Error
 * whose message is libpcap's (pcap_geterr / errbuf). The 'packet' listener gets the number of
 * bytes copied into the buffer given to `open` and whether the packet was longer than that
 * buffer; the buffer is overwritten by the next packet.
 */
export interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  close(): boolean;
  on(event: 'packet', listener: (nbytes: number, truncated: boolean) => void): this;
  removeAllListeners(event?: string): this;
}

export interface CapModule {
  Cap: {
    new (): CapHandle;
    deviceList(): CapDevice[];
    findDevice(ip?: string): string | undefined;
  };
}

/** What went wrong with live capture; decides the advice in the message. */
export type LiveErrorKind =
  /** `cap` is not installed, or its native module does not load (no libpcap). */
  | 'unavailable'
  /** libpcap refused: not root and no CAP_NET_RAW/CAP_NET_ADMIN. */
  | 'permission'
  /** The interface does not exist. */
  | 'no-device'
  /** libpcap could not compile the BPF filter. */
  | 'bad-filter'
  /** Anything else libpcap refused while opening (message is libpcap's). */
  | 'open-failed';

/**
 * A live capture that cannot start. `message` is one line ready for stderr (no "Error:" prefix,
 * no stack); `detail` is the raw text from Node or libpcap it was made from, for debugging.
 */
export class LiveCaptureError extends Error {
  override name = 'LiveCaptureError';
  constructor(
    readonly kind: LiveErrorKind,
    message: string,
    readonly detail: string = '',
  ) {
    super(message);
  }

  /**
   * The exit code: 2 (usage error) when the command line named something
   * that does not exist or does not parse (interface, filter), 1 when capture cannot run here.
   */
  get exitCode(): 1 | 2 {
    return this.kind === 'no-device' || this.kind === 'bad-filter' ? 2 : 1;
  }
}

export const CAP_UNAVAILABLE_MESSAGE =
  'live capture needs the optional `cap` package built against libpcap: ' +
  '`apt-get install -y libpcap-dev && npm install` (or `npm rebuild cap`); ' +
  'reading capture files works without it';

const require = createRequire(import.meta.url);
const loaded = new Map<string, CapModule>();

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? '';
}

/**
 * Returns the cap module, loading it on first call. `moduleName` is 'cap' except in tests,
 * which name a module that does not exist to see the message a user without cap gets.
 * Throws LiveCaptureError('unavailable') when it is missing or does not load; a failed load is
 * not cached, so `npm rebuild cap` in another terminal takes effect on the next call.
 */
export function loadCap(moduleName = 'cap'): CapModule {
  const have = loaded.get(moduleName);
  if (have) return have;
  let mod: unknown;
  try {
    mod = require(moduleName);
  } catch (err) {
    // MODULE_NOT_FOUND for cap itself (not installed) or for ../build/Release/cap.node (its build
    // failed), or a dlopen error such as "libpcap.so.0.8: cannot open shared object file".
    throw new LiveCaptureError('unavailable', CAP_UNAVAILABLE_MESSAGE, firstLine(err));
  }
  const m = mod as Partial<CapModule> | null;
  if (!m || typeof m.Cap !== 'function' || typeof m.Cap.deviceList !== 'function') {
    throw new LiveCaptureError('unavailable', CAP_UNAVAILABLE_MESSAGE, `${moduleName} does not export Cap.deviceList`);
  }
  loaded.set(moduleName, m as CapModule);
  return m as CapModule;
}
