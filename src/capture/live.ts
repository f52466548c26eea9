/**
 * Live capture through the `cap` package (libpcap), used for bytes only.
 *
 * cap 0.2.1 hands each packet to a 'packet' listener as (bytes copied, did-not-fit) into one
 * Buffer that the next packet overwrites, with no timestamp and no original length
 * (peers.md §3, cap#85). So this source:
 *
 * - stamps each frame when its callback runs: wall-clock seconds + nanoseconds computed in
 *   integers from the monotonic clock (`process.hrtime`), anchored to the wall clock once per
 *   process. Timestamps never go backwards, even if the system clock is stepped while
 *   capturing; they drift from the system clock only by what NTP slews during the capture.
 *   They are when Node saw the packet, not when the kernel did: cap runs in immediate mode, so
 *   the gap is the event loop's latency (microseconds when idle).
 * - copies every packet out of cap's buffer into 1 MiB chunks that are only ever appended to,
 *   so a frame's `bytes` stay valid for as long as anyone holds them (more than the
 *   FrameSource contract asks) and there is one allocation per MiB of traffic, not per packet.
 * - takes the original length from the IP header when a frame reached the snap length: libpcap
 *   under cap always uses a snap length of 65535, and on Linux `lo` a GSO frame is 65549 bytes
 *   (14 + a 65535-byte IPv4 datagram), reported as 65535 bytes with `truncated=false`. Only
 *   such frames are asked about (`wireLength`, given by the pipeline: the decoder's answer); the
 *   frame then says 65535 captured of 65549 on the wire, as tcpdump's own capture would.
 * - batches whatever arrived within one turn of the event loop: cap delivers everything that
 *   is readable in one poll callback, and the waiting consumer is woken by setImmediate, after
 *   that callback, not once per packet.
 *
 * Known limits of cap: always promiscuous; libpcap's kernel drop counters are not exposed (they
 * are read from the packet socket itself, see packet-socket.ts, where the native part is built); for a device without an IPv4 address
 * (e.g. `nflog`), libpcap's pcap_lookupnet warning is printed by cap's C code straight to
 * stderr ("Warning: SIOCGIFADDR: ... - This may not actually work") and cannot be silenced
 * from JavaScript. It is harmless: the netmask only matters for the BPF `broadcast` primitive.
 */
import { performance } from 'node:perf_hooks';
import { loadCap, LiveCaptureError, type CapHandle, type CapModule } from './cap-loader.js';
import type { CaptureInfo, Frame, FrameSource } from '../core/frame.js';
import { LINKTYPE } from '../core/linktypes.js';
import { packetSocketFds, PacketSocketCounters } from './packet-socket.js';

export { LiveCaptureError, CAP_UNAVAILABLE_MESSAGE, type LiveErrorKind } from './cap-loader.js';

/** The device `flowdemux live` captures on without -i: loopback is what the tool is for. */
export const DEFAULT_LIVE_DEVICE = 'lo';

/** The snap length libpcap is given by cap (fixed in its binding.cc). */
export const CAP_SNAP_LENGTH = 65535;
const CHUNK_SIZE = 1 << 20;
const DEFAULT_BUFFER_SIZE = 16 << 20;
const DEFAULT_MAX_PENDING = 64 << 20;

export interface LiveOptions {
  /** Interface name as libpcap knows it: 'lo', 'eth0', 'any'. */
  device: string;
  /** BPF filter (tcpdump syntax); empty or absent captures everything. */
  filter?: string;
  /**
   * Bytes kept of each packet, 1..65535 (default 65535). cap fixes libpcap's own snap length
   * at 65535, so a larger value is lowered to it (with a warning in `info.warnings`); a smaller
   * one is applied by giving cap a smaller buffer. Frames cut by it keep their original length
   * from the IP header.
   */
  snapLength?: number;
  /** libpcap's kernel buffer in bytes (default 16 MiB: a burst of ~250 full-size `lo` frames). */
  bufferSize?: number;
  /** Stop after this many frames (the source then ends by itself, with exactly this many). */
  count?: number;
  /** Stop this many milliseconds after opening. */
  durationMs?: number;
  /**
   * Bytes of frames captured but not yet taken by the consumer beyond which new packets are
   * dropped and counted (default 64 MiB), so a slow consumer cannot exhaust memory.
   */
  maxPendingBytes?: number;
  /** `Frame.sourceIndex` of every frame (default 0). */
  sourceIndex?: number;
  /** Module to load instead of 'cap' (tests: a missing name gives the "not installed" error). */
  capModule?: string;
  /**
   * The length on the wire of a frame that may have been cut at the snap length, from its own IP
   * header, or null when it says nothing more (see the file comment). The capture layer does not
   * decode: the pipeline passes the decoder's answer (src/pipeline/live.ts). Without it, such a
   * frame's original length is its captured length.
   */
  wireLength?: (linkType: number, bytes: Uint8Array, length: number) => number | null;
}

/** Why a live source ended. 'stop' is a plain `stop()` call or the consumer leaving its loop. */
export type StopReason = 'count' | 'duration' | 'signal' | 'stop';

export interface LiveStats {
  /** Packets cap delivered to us. */
  received: number;
  /** Frames handed to the consumer (or waiting to be). */
  accepted: number;
  /** Packets dropped because more than `maxPendingBytes` were waiting. */
  dropped: number;
  /** Frames whose original length was raised from the IP header (cut at the snap length). */
  lengthFromIp: number;
  /**
   * The kernel's count of packets it dropped (capture buffer full) and of packets that passed the
   * filter, read when the capture stops; absent where they cannot be had (no native part).
   */
  kernelDropped?: number;
  kernelReceived?: number;
}

// ---------------------------------------------------------------------------------------------
// Link types

/**
 * libpcap DLT values that differ from the LINKTYPE value written to files (libpcap's
 * dlt_to_linktype); every other DLT in cap's "Unknown linktype N" is the same number.
 */
const DLT_TO_LINKTYPE: ReadonlyMap<number, number> = new Map([
  [11, 100], // DLT_ATM_RFC1483
  [12, LINKTYPE.RAW], // DLT_RAW on most systems
  [14, LINKTYPE.RAW], // DLT_RAW on OpenBSD
  [15, 102], // DLT_SLIP_BSDOS
  [16, 103], // DLT_PPP_BSDOS
]);

/**
 * The LINKTYPE number for the link type name cap's `open` returns: 'ETHERNET' (1), 'NULL' (0),
 * 'RAW' (DLT_RAW → LINKTYPE_RAW 101: raw IPv4 or IPv6), 'LINKTYPE_LINUX_SLL' (113, `-i any`
 * on libpcap before 1.10 and by default since), 'IEEE802_11_RADIO' (127), and
 * "Unknown linktype <DLT>" for the rest, e.g. 276 for Linux cooked v2 (SLL2), 108 for
 * OpenBSD loopback, 239 for nflog. Returns null for a name it does not know.
 */
export function linkTypeFromCapName(name: string): number | null {
  switch (name) {
    case 'ETHERNET':
      return LINKTYPE.ETHERNET;
    case 'NULL':
      return LINKTYPE.NULL;
    case 'RAW':
      return LINKTYPE.RAW;
    case 'LINKTYPE_LINUX_SLL':
      return LINKTYPE.LINUX_SLL;
    case 'IEEE802_11_RADIO':
      return 127;
  }
  const m = /^Unknown linktype (\d+)$/.exec(name);
  if (m === null) return null;
  const dlt = Number(m[1]);
  return DLT_TO_LINKTYPE.get(dlt) ?? dlt;
}

// ---------------------------------------------------------------------------------------------
// Clock

/** A wall-clock time as integer seconds since the epoch and nanoseconds within the second. */
export interface WallTime {
  sec: number;
  nsec: number;
}

let anchorMonoSec = 0;
let anchorMonoNsec = 0;
let anchorWallSec = 0;
let anchorWallNsec = 0;
let anchored = false;

/**
 * Ties the monotonic clock to the wall clock, once per process. `performance.timeOrigin +
 * performance.now()` is the wall clock with sub-microsecond resolution (Date.now() has 1 ms);
 * the float is used only here, every stamp after is integer arithmetic.
 */
function anchorClock(): void {
  const wallMs = performance.timeOrigin + performance.now();
  const mono = process.hrtime();
  let sec = Math.floor(wallMs / 1000);
  let nsec = Math.round((wallMs - sec * 1000) * 1e6);
  if (nsec >= 1e9) {
    sec += 1;
    nsec -= 1e9;
  }
  anchorWallSec = sec;
  anchorWallNsec = nsec;
  anchorMonoSec = mono[0];
  anchorMonoNsec = mono[1];
  anchored = true;
}

/** Writes the current time into `out`: wall clock at the anchor + monotonic time since. */
export function wallClockNow(out: WallTime): WallTime {
  if (!anchored) anchorClock();
  const mono = process.hrtime();
  let sec = anchorWallSec + (mono[0] - anchorMonoSec);
  // anchorWallNsec in [0, 1e9) and the monotonic delta in (-1e9, 1e9): one carry at most.
  let nsec = anchorWallNsec + (mono[1] - anchorMonoNsec);
  if (nsec < 0) {
    nsec += 1e9;
    sec -= 1;
  } else if (nsec >= 1e9) {
    nsec -= 1e9;
    sec += 1;
  }
  out.sec = sec;
  out.nsec = nsec;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * Every cap object ever created, kept for the life of the process: none may be garbage
 * collected, whatever its state (never opened, open failed, open, closed). cap 0.2.1's
 * destructor is unsafe in two ways:
 * - it ends in Nan::AsyncResource's destructor, which calls node::EmitAsyncDestroy with the
 *   Environment of the isolate's *current* context. The destructor runs inside the garbage
 *   collector (a first-pass weak callback), and a collection can start while the current
 *   context is not one of Node's, e.g. while V8 builds a new context for `vm.createContext` /
 *   `vm.runInNewContext` (test runners, sandboxes): the Environment is then null and the
 *   process dies with SIGSEGV in AsyncWrap::EmitDestroy, with nothing on stderr. Closing the
 *   handle does not help: `close()` unrefs the object, which is what makes it collectable.
 * - after a failed activate or filter, libpcap's handle is left set, so the destructor (and
 *   `close()`) calls uv_poll_stop on a poll handle that was never initialised: an assertion
 *   aborts the process. Such handles must never be closed either.
 * A closed handle cannot be reused for the next capture (cap never clears its `closing`
 * flag, so a reopened handle closes itself at its first packet), hence one kept object per
 * open: a few hundred bytes, plus one libpcap handle for each failed open.
 */
const keptHandles: CapHandle[] = [];

/** A new cap object, already kept forever (see keptHandles). */
function newCapHandle(cap: CapModule): CapHandle {
  const c = new cap.Cap();
  keptHandles.push(c);
  return c;
}

export const SETCAP_HINT = 'sudo setcap cap_net_raw,cap_net_admin=eip $(readlink -f $(which node))';

function permissionError(device: string, detail: string): LiveCaptureError {
  return new LiveCaptureError(
    'permission',
    `not permitted to capture on ${device} (${detail}): run as root, or give node the capture capabilities with \`${SETCAP_HINT}\``,
    detail,
  );
}

function noDeviceError(device: string, names: string[] | null, detail: string): LiveCaptureError {
  const list = names === null ? '' : names.length > 0 ? `; devices: ${names.join(', ')}` : '; libpcap lists no devices';
  return new LiveCaptureError('no-device', `no capture device '${device}'${list}`, detail);
}

const PERMISSION_RE = /permission|not permitted|EPERM|EACCES/i;
const NO_DEVICE_RE = /no such device|doesn't exist|does not exist|no such interface/i;

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

function deviceNames(cap: CapModule): string[] | null {
  try {
    return cap.Cap.deviceList().map((d) => d.name);
  } catch {
    return null;
  }
}

/**
 * Opens a throwaway handle on `device` without a filter: tells a filter that libpcap cannot
 * compile apart from any other failure of the same `open` call (cap compiles the filter only
 * after activating the device, and libpcap's compile messages have no common prefix).
 */
function opensWithoutFilter(cap: CapModule, device: string): boolean {
  const probe = newCapHandle(cap);
  try {
    probe.open(device, '', 1 << 16, Buffer.allocUnsafe(64));
  } catch {
    return false; // not closed: see keptHandles
  }
  probe.close();
  return true;
}

// ---------------------------------------------------------------------------------------------
// The source

/**
 * Opens `opts.device` for capture, synchronously (libpcap's open is synchronous), and returns a
 * running source: packets are captured from now on, whether or not `batches()` is being read
 * yet. Throws LiveCaptureError with a one-line message:
 * - 'unavailable': cap missing or not loadable (how to install it; files still work),
 * - 'permission': not root and no capabilities (the setcap command),
 * - 'no-device': lists the devices libpcap knows,
 * - 'bad-filter': libpcap's compile message, e.g. "can't parse filter expression: syntax error",
 * - 'open-failed': anything else, with libpcap's message.
 * Throws RangeError for option values out of range (the CLI checks them first).
 */
export function openLive(opts: LiveOptions): LiveSource {
  const snapWanted = opts.snapLength ?? CAP_SNAP_LENGTH;
  if (!Number.isInteger(snapWanted) || snapWanted < 1) throw new RangeError(`snap length must be a positive integer, got ${snapWanted}`);
  const bufferSize = opts.bufferSize ?? DEFAULT_BUFFER_SIZE;
  if (!Number.isInteger(bufferSize) || bufferSize < 1 || bufferSize > 0x7fffffff) {
    throw new RangeError(`buffer size must be a positive integer below 2 GiB, got ${bufferSize}`);
  }
  if (opts.count !== undefined && (!Number.isInteger(opts.count) || opts.count < 1)) {
    throw new RangeError(`count must be a positive integer, got ${opts.count}`);
  }
  if (opts.durationMs !== undefined && !(opts.durationMs > 0 && Number.isFinite(opts.durationMs))) {
    throw new RangeError(`duration must be a positive number of milliseconds, got ${opts.durationMs}`);
  }

  const cap = loadCap(opts.capModule);
  const device = opts.device;
  const filter = opts.filter ?? '';
  const names = deviceNames(cap);
  // Checked before libpcap sees the name: its own answer comes after a stderr warning from
  // cap's C code and reads "No such device exists" without saying which devices do.
  if (names !== null && !names.includes(device)) throw noDeviceError(device, names, '');

  const warnings: string[] = [];
  const snapLength = Math.min(snapWanted, CAP_SNAP_LENGTH);
  if (snapWanted > CAP_SNAP_LENGTH) {
    warnings.push(`snap length ${snapWanted} lowered to ${CAP_SNAP_LENGTH}, the most the cap package captures`);
  }
  const capBuffer = Buffer.alloc(snapLength);
  const handle = newCapHandle(cap);
  let capName: string;
  const fdsBefore = packetSocketFds();
  try {
    capName = handle.open(device, filter, bufferSize, capBuffer);
  } catch (err) {
    // Not closed: see keptHandles.
    const detail = oneLine(err instanceof Error ? err.message : String(err));
    if (PERMISSION_RE.test(detail)) throw permissionError(device, detail);
    if (NO_DEVICE_RE.test(detail)) throw noDeviceError(device, deviceNames(cap), detail);
    if (filter !== '' && opensWithoutFilter(cap, device)) {
      throw new LiveCaptureError('bad-filter', `bad capture filter '${filter}': ${detail}`, detail);
    }
    throw new LiveCaptureError('open-failed', `cannot capture on ${device}: ${detail}`, detail);
  }
  const linkType = linkTypeFromCapName(capName);
  if (linkType === null) {
    handle.close();
    throw new LiveCaptureError('open-failed', `cannot capture on ${device}: libpcap reported a link type flowdemux does not know ('${capName}')`, capName);
  }
  const kernel = PacketSocketCounters.find(fdsBefore, packetSocketFds());
  return new LiveSource({ device, filter, handle, capBuffer, capName, linkType, snapLength, bufferSize, warnings, opts, kernel });
}

interface LiveInit {
  device: string;
  filter: string;
  handle: CapHandle;
  capBuffer: Buffer;
  capName: string;
  linkType: number;
  snapLength: number;
  bufferSize: number;
  warnings: string[];
  opts: LiveOptions;
  kernel?: PacketSocketCounters | null;
}

/**
 * A running live capture. Read it with `for await (const batch of src.batches())`; end it with
 * `stop()` (Ctrl-C, --duration, or when the consumer has seen enough): capture stops at once,
 * the frames already captured are still yielded, then the iteration ends. Leaving the loop
 * early (break) stops it too.
 */
export class LiveSource implements FrameSource {
  readonly info: CaptureInfo;
  readonly device: string;
  readonly filter: string;
  /** The LINKTYPE number of every frame. */
  readonly linkType: number;
  /** The link type name cap reported ('ETHERNET', 'LINKTYPE_LINUX_SLL', 'Unknown linktype 276'). */
  readonly capLinkType: string;
  /** Bytes kept of each packet (the effective snap length, at most 65535). */
  readonly snapLength: number;
  readonly stats: LiveStats = { received: 0, accepted: 0, dropped: 0, lengthFromIp: 0 };
  /** Set when capture stopped, with the first reason given. */
  stopReason: StopReason | null = null;

  private readonly handle: CapHandle;
  private readonly capBuffer: Buffer;
  /** The packet socket's own counters, when the native part can read them. */
  private readonly kernel: PacketSocketCounters | null;
  private readonly sourceIndex: number;
  private readonly count: number;
  private readonly maxPending: number;
  private readonly wireLength: LiveOptions['wireLength'];
  private readonly now: WallTime = { sec: 0, nsec: 0 };
  private timer: NodeJS.Timeout | null = null;

  private chunk: Buffer = Buffer.allocUnsafeSlow(CHUNK_SIZE);
  private chunkOffset = 0;
  private pending: Frame[] = [];
  private pendingBytes = 0;
  private wake: (() => void) | null = null;
  private wakeScheduled = false;
  private started = false;
  private stopped = false;

  /** @internal use openLive */
  constructor(init: LiveInit) {
    this.device = init.device;
    this.filter = init.filter;
    this.handle = init.handle;
    this.capBuffer = init.capBuffer;
    this.kernel = init.kernel ?? null;
    this.capLinkType = init.capName;
    this.linkType = init.linkType;
    this.snapLength = init.snapLength;
    this.sourceIndex = init.opts.sourceIndex ?? 0;
    this.count = init.opts.count ?? Infinity;
    this.maxPending = init.opts.maxPendingBytes ?? DEFAULT_MAX_PENDING;
    this.wireLength = init.opts.wireLength;
    this.info = {
      path: `live:${init.device}`,
      format: 'live',
      compressed: false,
      byteOrder: null,
      precision: 'ns',
      linkTypes: [init.linkType],
      snapLength: init.snapLength,
      packets: 0,
      warnings: init.warnings,
    };
    this.handle.on('packet', (nbytes, truncated) => this.onPacket(nbytes, truncated));
    if (init.opts.durationMs !== undefined) {
      this.timer = setTimeout(() => this.stop('duration'), init.opts.durationMs);
    }
  }

  /** True once capture has stopped (frames captured before may still be waiting). */
  get isStopped(): boolean {
    return this.stopped;
  }

  /**
   * Stops capturing now; idempotent (the first reason is kept). Safe to call from anywhere,
   * including a signal handler or while a batch is being processed. The iteration of
   * `batches()` ends after yielding the frames captured before the call.
   */
  stop(reason: StopReason = 'stop'): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stopReason = reason;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    // Safe inside cap's own packet callback: cap then defers pcap_close until its dispatch
    // loop returns, and that loop checks the closing flag after every packet.
    // The kernel's counters before the socket goes: what it dropped never reached cap.
    if (this.kernel !== null && this.kernel.read()) {
      this.stats.kernelDropped = this.kernel.counts.drops;
      this.stats.kernelReceived = this.kernel.counts.packets;
      const d = this.kernel.counts.drops;
      // On loopback the kernel's socket sees each packet twice (sent and received; libpcap keeps one).
      const lo = this.device === 'lo' ? '; on lo the kernel counts each packet twice, as sent and as received' : '';
      if (d > 0) this.info.warnings.push(`${d} packet${d === 1 ? '' : 's'} dropped by kernel (the capture buffer was full${lo})`);
    }
    this.handle.close();
    this.handle.removeAllListeners('packet');
    if (this.stats.dropped > 0) {
      this.info.warnings.push(
        `${this.stats.dropped} packet${this.stats.dropped === 1 ? ' was' : 's were'} dropped because analysis fell behind capture (more than ${this.maxPending} bytes waiting)`,
      );
    }
    this.signal();
  }

  /** FrameSource.close: the same as stop(). */
  async close(): Promise<void> {
    this.stop();
  }

  batches(): AsyncIterable<Frame[]> {
    if (this.started) throw new Error(`${this.info.path}: batches() can be iterated only once`);
    this.started = true;
    return this.run();
  }

  private async *run(): AsyncGenerator<Frame[]> {
    try {
      for (;;) {
        if (this.pending.length === 0) {
          if (this.stopped) return;
          await new Promise<void>((resolve) => {
            this.wake = resolve;
          });
          continue;
        }
        const batch = this.pending;
        this.pending = [];
        this.pendingBytes = 0;
        this.info.packets += batch.length;
        yield batch;
      }
    } finally {
      this.stop();
    }
  }

  private signal(): void {
    const w = this.wake;
    this.wake = null;
    if (w) w();
  }

  private onPacket(nbytes: number, truncated: boolean): void {
    if (this.stopped) return;
    const now = wallClockNow(this.now);
    this.stats.received++;
    if (this.pendingBytes + nbytes > this.maxPending) {
      this.stats.dropped++;
      return;
    }
    if (this.chunk.length - this.chunkOffset < nbytes) {
      this.chunk = Buffer.allocUnsafeSlow(Math.max(CHUNK_SIZE, nbytes));
      this.chunkOffset = 0;
    }
    const start = this.chunkOffset;
    this.capBuffer.copy(this.chunk, start, 0, nbytes);
    this.chunkOffset = start + nbytes;
    const bytes = this.chunk.subarray(start, start + nbytes);

    let originalLength = nbytes;
    if ((truncated || nbytes >= this.snapLength) && this.wireLength !== undefined) {
      // Possibly cut: the IP header knows the real size (see the file comment).
      const wire = this.wireLength(this.linkType, bytes, nbytes);
      if (wire !== null && wire > nbytes) {
        originalLength = wire;
        this.stats.lengthFromIp++;
      }
    }

    this.pending.push({
      linkType: this.linkType,
      tsSec: now.sec,
      tsNsec: now.nsec,
      capturedLength: nbytes,
      originalLength,
      bytes,
      offset: 0,
      interfaceId: 0,
      sourceIndex: this.sourceIndex,
      number: ++this.stats.accepted,
      // No file behind a live capture: there is no offset to name.
      fileOffset: 0,
    });
    this.pendingBytes += nbytes;

    if (this.stats.accepted >= this.count) {
      this.stop('count');
      return;
    }
    // Wake the consumer after cap's current poll callback has delivered everything readable.
    if (this.wake !== null && !this.wakeScheduled) {
      this.wakeScheduled = true;
      setImmediate(() => {
        this.wakeScheduled = false;
        this.signal();
      });
    }
  }
}

/**
 * Stops `source` with reason 'signal' on the first SIGINT or SIGTERM, so the command can
 * flush its -w file and print the report. The handlers are installed with `once`: a second
 * Ctrl-C finds no handler and Node's default ends the process, for a user who does not want
 * to wait. Returns a function that removes the handlers (call it when the capture is over).
 */
export function stopOnSignals(source: LiveSource, signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM']): () => void {
  const handler = (): void => {
    // The first signal removes every handler, so that a second one of any kind is not swallowed.
    for (const s of signals) process.removeListener(s, handler);
    source.stop('signal');
  };
  for (const s of signals) process.once(s, handler);
  return () => {
    for (const s of signals) process.removeListener(s, handler);
  };
}
