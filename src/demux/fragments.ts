/**
 * IP fragments without reassembly: only the first fragment carries the ports, so later fragments
 * (same source, destination, protocol and IP id, RFC 791 / RFC 8200) are tied to the flow the
 * first one went to. When later fragments arrive first they wait here, counted, until the first
 * fragment names their flow, or until they time out and are reported as unmatched.
 *
 * Fragments are rare next to whole packets, so an entry is an object with its own copy of the
 * two addresses (one small allocation per fragmented datagram, none per fragment).
 */
export class FragmentEntry {
  /** Source then destination address (2 × 4 or 2 × 16 bytes). */
  readonly addrs: Uint8Array;
  /** Chain of entries sharing a hash bucket. */
  next: FragmentEntry | null = null;
  /** The flow record of the first fragment, once seen (-1 before), and its id: records are
   *  reused for later flows once theirs ended, so the id tells whether `flow` is still that flow. */
  flow = -1;
  flowId = 0;
  /** The datagram went from the flow's end A to end B. */
  fromA = false;
  /** Later fragments seen before the first one. */
  pendingPackets = 0;
  pendingWire = 0;
  pendingIp = 0;
  pendingPayload = 0;
  firstSec = 0;
  firstNsec = 0;
  lastSec = 0;
  lastNsec = 0;
  lastT = 0;
  removed = false;

  constructor(
    readonly hash: number,
    b: Uint8Array, srcOff: number, dstOff: number,
    readonly len: number,
    readonly proto: number,
    readonly ipId: number,
    readonly createdT: number,
  ) {
    this.addrs = new Uint8Array(len * 2);
    this.addrs.set(b.subarray(srcOff, srcOff + len), 0);
    this.addrs.set(b.subarray(dstOff, dstOff + len), len);
  }

  matches(b: Uint8Array, srcOff: number, dstOff: number, len: number, proto: number, ipId: number): boolean {
    if (this.len !== len || this.proto !== proto || this.ipId !== ipId || this.removed) return false;
    const a = this.addrs;
    for (let i = 0; i < len; i++) if (a[i] !== b[srcOff + i] || a[len + i] !== b[dstOff + i]) return false;
    return true;
  }
}

function fragmentHash(b: Uint8Array, srcOff: number, dstOff: number, len: number, proto: number, ipId: number): number {
  let h = Math.imul(ipId ^ (proto << 24), 0x9e3779b1);
  for (let i = 0; i < len; i++) h = Math.imul(h ^ b[srcOff + i]!, 0x01000193);
  for (let i = 0; i < len; i++) h = Math.imul(h ^ b[dstOff + i]!, 0x01000193);
  return (h ^ (h >>> 15)) | 0;
}

export class FragmentTable {
  private readonly buckets = new Map<number, FragmentEntry>();
  /** Entries in order of creation, for expiry and for the size cap. */
  private queue: FragmentEntry[] = [];
  private queueHead = 0;
  size = 0;

  constructor(
    readonly timeout: number,
    readonly maxEntries: number,
  ) {}

  find(b: Uint8Array, srcOff: number, dstOff: number, len: number, proto: number, ipId: number): FragmentEntry | null {
    const hash = fragmentHash(b, srcOff, dstOff, len, proto, ipId);
    for (let e = this.buckets.get(hash) ?? null; e !== null; e = e.next) {
      if (e.matches(b, srcOff, dstOff, len, proto, ipId)) return e;
    }
    return null;
  }

  /** A new entry (the caller checked `find` first). May drop the oldest entry to stay under the cap. */
  add(b: Uint8Array, srcOff: number, dstOff: number, len: number, proto: number, ipId: number, t: number): FragmentEntry {
    const hash = fragmentHash(b, srcOff, dstOff, len, proto, ipId);
    const e = new FragmentEntry(hash, b, srcOff, dstOff, len, proto, ipId, t);
    e.next = this.buckets.get(hash) ?? null;
    this.buckets.set(hash, e);
    this.queue.push(e);
    this.size++;
    return e;
  }

  /**
   * Entries to drop: older than the timeout at time `t`, or beyond the cap (oldest first).
   * Calls `drop` for each before removing it.
   */
  expire(t: number, drop: (e: FragmentEntry, overflow: boolean) => void): void {
    while (this.queueHead < this.queue.length) {
      const e = this.queue[this.queueHead]!;
      const overflow = this.size > this.maxEntries;
      if (!e.removed && !overflow && t - e.createdT <= this.timeout) break;
      this.queueHead++;
      if (!e.removed) {
        drop(e, overflow);
        this.remove(e);
      }
    }
    // Compact the queue now and then so it does not grow without bound.
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  /** Every entry still held (for the end of the input). */
  drain(drop: (e: FragmentEntry) => void): void {
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const e = this.queue[i]!;
      if (!e.removed) {
        drop(e);
        this.remove(e);
      }
    }
    this.queue = [];
    this.queueHead = 0;
  }

  private remove(e: FragmentEntry): void {
    e.removed = true;
    this.size--;
    const head = this.buckets.get(e.hash);
    if (head === e) {
      if (e.next === null) this.buckets.delete(e.hash);
      else this.buckets.set(e.hash, e.next);
      return;
    }
    for (let p = head ?? null; p !== null; p = p.next) {
      if (p.next === e) {
        p.next = e.next;
        return;
      }
    }
  }
}
