/**
 * The key → slot map behind the demux engine, kept in typed arrays so that looking up a packet's
 * tuple allocates nothing and builds no string.
 *
 * - A *slot* holds one tuple: its canonical key (protocol, end A's address and port, end B's,
 *   with A the smaller end by raw network-order bytes, then port), its 32-bit hash, and the
 *   generation count of that tuple. The engine keeps its per-flow object in an array by slot.
 * - The index is an open-addressing table (linear probing, load ≤ 1/2) of slot numbers + 1;
 *   a hit is confirmed by comparing the stored hash, ports, protocol and address bytes.
 *   Removal shifts later entries back (no tombstones), so the table never degrades.
 * - Every occupied slot sits on one of a few doubly linked lists in order of last use (a list per
 *   timeout class), so idle expiry and eviction look only at list heads.
 */

/** Bytes reserved per slot for the two addresses (16 + 16, IPv4 uses the first 4 of each). */
const ADDR_STRIDE = 32;

/** 32-bit hash of a canonical key read straight from packet bytes (murmur3-style mixing). */
export function tupleHash(
  b: Uint8Array, aOff: number, bOff: number, len: number, aPort: number, bPort: number, proto: number,
): number {
  let h = 0x9747b28c ^ proto ^ (len << 8);
  for (let i = 0; i < len; i += 4) h = mixWord(h, (b[aOff + i]! << 24) | (b[aOff + i + 1]! << 16) | (b[aOff + i + 2]! << 8) | b[aOff + i + 3]!);
  for (let i = 0; i < len; i += 4) h = mixWord(h, (b[bOff + i]! << 24) | (b[bOff + i + 1]! << 16) | (b[bOff + i + 2]! << 8) | b[bOff + i + 3]!);
  h = mixWord(h, (aPort << 16) | bPort);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

function mixWord(h: number, w: number): number {
  w = Math.imul(w, 0xcc9e2d51);
  w = (w << 15) | (w >>> 17);
  w = Math.imul(w, 0x1b873593);
  h ^= w;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

export class FlowTable {
  capacity: number;
  /** Occupied slots. */
  size = 0;

  keyAddr: Uint8Array;
  /** (portA << 16) | portB */
  keyPorts: Int32Array;
  keyProto: Uint8Array;
  keyLen: Uint8Array;
  slotHash: Int32Array;
  /** Generations started on this tuple so far. */
  gen: Uint32Array;
  /** Engine-defined byte per slot (why the last flow of a released tuple ended; 0 while live). */
  note: Uint8Array;

  prev: Int32Array;
  next: Int32Array;
  /** List the slot is on, -1 when none. */
  listOf: Int8Array;
  readonly heads: Int32Array;
  readonly tails: Int32Array;
  readonly counts: Int32Array;

  private index: Int32Array;
  private mask: number;
  private free: Int32Array;
  private freeTop = 0;

  constructor(lists: number, initialCapacity = 1024) {
    const cap = Math.max(16, 1 << Math.ceil(Math.log2(initialCapacity)));
    this.capacity = cap;
    this.keyAddr = new Uint8Array(cap * ADDR_STRIDE);
    this.keyPorts = new Int32Array(cap);
    this.keyProto = new Uint8Array(cap);
    this.keyLen = new Uint8Array(cap);
    this.slotHash = new Int32Array(cap);
    this.gen = new Uint32Array(cap);
    this.note = new Uint8Array(cap);
    this.prev = new Int32Array(cap);
    this.next = new Int32Array(cap);
    this.listOf = new Int8Array(cap).fill(-1);
    this.heads = new Int32Array(lists).fill(-1);
    this.tails = new Int32Array(lists).fill(-1);
    this.counts = new Int32Array(lists);
    this.index = new Int32Array(cap * 2);
    this.mask = cap * 2 - 1;
    this.free = new Int32Array(cap);
    // Hand out low slot numbers first.
    for (let i = 0; i < cap; i++) this.free[i] = cap - 1 - i;
    this.freeTop = cap;
  }

  /** Offset in `keyAddr` of end A's address for `slot` (end B's is 16 further). */
  static addrOffset(slot: number): number {
    return slot * ADDR_STRIDE;
  }

  /** The slot holding this canonical key, or -1. */
  find(b: Uint8Array, aOff: number, bOff: number, len: number, aPort: number, bPort: number, proto: number, hash: number): number {
    const index = this.index;
    const mask = this.mask;
    const ports = (aPort << 16) | bPort;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const e = index[i]!;
      if (e === 0) return -1;
      const s = e - 1;
      if (this.slotHash[s] === hash && this.keyPorts[s] === ports && this.keyProto[s] === proto && this.keyLen[s] === len
        && this.sameAddr(s, b, aOff, bOff, len)) return s;
    }
  }

  private sameAddr(s: number, b: Uint8Array, aOff: number, bOff: number, len: number): boolean {
    const k = this.keyAddr;
    const base = s * ADDR_STRIDE;
    for (let i = 0; i < len; i++) if (k[base + i] !== b[aOff + i]) return false;
    const baseB = base + 16;
    for (let i = 0; i < len; i++) if (k[baseB + i] !== b[bOff + i]) return false;
    return true;
  }

  /** Store a key that `find` did not find; returns its new slot (generation 0, on no list). */
  insert(b: Uint8Array, aOff: number, bOff: number, len: number, aPort: number, bPort: number, proto: number, hash: number): number {
    if (this.freeTop === 0) this.grow();
    const s = this.free[--this.freeTop]!;
    const base = s * ADDR_STRIDE;
    const k = this.keyAddr;
    for (let i = 0; i < len; i++) k[base + i] = b[aOff + i]!;
    for (let i = 0; i < len; i++) k[base + 16 + i] = b[bOff + i]!;
    this.keyPorts[s] = (aPort << 16) | bPort;
    this.keyProto[s] = proto;
    this.keyLen[s] = len;
    this.slotHash[s] = hash;
    this.gen[s] = 0;
    this.note[s] = 0;
    this.listOf[s] = -1;
    const index = this.index;
    const mask = this.mask;
    let i = hash & mask;
    while (index[i] !== 0) i = (i + 1) & mask;
    index[i] = s + 1;
    this.size++;
    return s;
  }

  /** Forget a slot: off its list, out of the index, back to the free stack. */
  release(s: number): void {
    this.unlink(s);
    const index = this.index;
    const mask = this.mask;
    let i = this.slotHash[s]! & mask;
    while (index[i] !== s + 1) i = (i + 1) & mask;
    // Backward-shift deletion: move later entries of the probe run into the hole when their
    // home position is not between the hole and where they sit.
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const e = index[j]!;
      if (e === 0) break;
      const home = this.slotHash[e - 1]! & mask;
      const stays = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!stays) {
        index[i] = e;
        i = j;
      }
    }
    index[i] = 0;
    this.free[this.freeTop++] = s;
    this.size--;
  }

  private grow(): void {
    const old = this.capacity;
    const cap = old * 2;
    const widen = <T extends Uint8Array | Int8Array | Int32Array | Uint32Array>(a: T, make: (n: number) => T, per = 1): T => {
      const n = make(cap * per);
      n.set(a);
      return n;
    };
    this.keyAddr = widen(this.keyAddr, (n) => new Uint8Array(n), ADDR_STRIDE);
    this.keyPorts = widen(this.keyPorts, (n) => new Int32Array(n));
    this.keyProto = widen(this.keyProto, (n) => new Uint8Array(n));
    this.keyLen = widen(this.keyLen, (n) => new Uint8Array(n));
    this.slotHash = widen(this.slotHash, (n) => new Int32Array(n));
    this.gen = widen(this.gen, (n) => new Uint32Array(n));
    this.note = widen(this.note, (n) => new Uint8Array(n));
    this.prev = widen(this.prev, (n) => new Int32Array(n));
    this.next = widen(this.next, (n) => new Int32Array(n));
    const listOf = new Int8Array(cap).fill(-1);
    listOf.set(this.listOf);
    this.listOf = listOf;
    // Every old slot is in use (the free stack was empty); the new ones become free.
    this.free = new Int32Array(cap);
    for (let i = 0; i < old; i++) this.free[i] = cap - 1 - i;
    this.freeTop = old;
    this.capacity = cap;
    // Re-index at the new size: load stays ≤ 1/2.
    this.index = new Int32Array(cap * 2);
    this.mask = cap * 2 - 1;
    for (let s = 0; s < old; s++) {
      let i = this.slotHash[s]! & this.mask;
      while (this.index[i] !== 0) i = (i + 1) & this.mask;
      this.index[i] = s + 1;
    }
  }

  // ---- lists in order of last use ----

  append(s: number, list: number): void {
    const tail = this.tails[list]!;
    this.prev[s] = tail;
    this.next[s] = -1;
    if (tail >= 0) this.next[tail] = s;
    else this.heads[list] = s;
    this.tails[list] = s;
    this.listOf[s] = list;
    this.counts[list]!++;
  }

  unlink(s: number): void {
    const list = this.listOf[s]!;
    if (list < 0) return;
    const p = this.prev[s]!;
    const n = this.next[s]!;
    if (p >= 0) this.next[p] = n;
    else this.heads[list] = n;
    if (n >= 0) this.prev[n] = p;
    else this.tails[list] = p;
    this.listOf[s] = -1;
    this.counts[list]!--;
  }

  /** Move `s` to the most recently used end of `list` (from whatever list it was on). */
  touch(s: number, list: number): void {
    if (this.listOf[s] === list && this.tails[list] === s) return;
    this.unlink(s);
    this.append(s, list);
  }
}
