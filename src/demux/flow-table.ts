/**
 * The key → slot map behind the demux engine, kept in typed arrays so that looking up a packet's
 * tuple allocates nothing and builds no string.
 *
 * - A *slot* holds one tuple: its canonical key (protocol, end A's address and port, end B's,
 *   with A the smaller end by raw network-order bytes, then port), its 32-bit hash, the
 *   generation count of that tuple, its place on a list, and two words for the engine.
 * - Everything of one slot sits in one 64-byte record (one cache line): a packet's lookup
 *   touches one index cell and one record. On the 2M-packet benchmark (~100,000 tuples, the
 *   capture streaming through the cache between two packets of a flow) about half of a lookup's
 *   time is spent waiting for the index cell (perf annotate), so a key spread over eight
 *   parallel arrays, as it was, paid up to eight such waits.
 * - The index is an open-addressing table (linear probing, load ≤ 1/2) of 16-byte cells
 *   (hash, slot + 1, engine's flow + 1); a probe compares hashes in the index itself and a hit is
 *   confirmed against the record. The flow's number sits in the cell as well as in the record so
 *   that the engine's load of the flow state does not wait for the record: the two cache misses
 *   of a lookup overlap instead of following one another (`foundFlow`).
 *   Removal shifts later entries back (no tombstones), so the table never degrades.
 * - Every occupied slot sits on one of a few doubly linked lists in order of last use (a list per
 *   timeout class), so idle expiry and eviction look only at list heads.
 */

/** Int32 words per slot record: 8 words of fields, then 16 + 16 address bytes. */
const STRIDE = 16;
const W_HASH = 0;
/** (portA << 16) | portB */
const W_PORTS = 1;
/** protocol | address length << 8 */
const W_PROTO_LEN = 2;
/** Generations started on this tuple so far. */
const W_GEN = 3;
/** Engine-defined note (bits 0-7: why the last flow of a released tuple ended), and the list
 *  the slot is on + 1 (bits 8-15; 0 = none). */
const W_META = 4;
/** Engine-defined number (the live flow's record + 1; 0 when none). */
const W_FLOW = 5;
const W_PREV = 6;
const W_NEXT = 7;
/** Words of an index cell: the key's hash, slot + 1, and the slot's W_FLOW (a copy). */
const CELL = 4;
const C_SLOT = 1;
const C_FLOW = 2;
/** Byte offset of end A's address in a record (end B's is 16 further). */
const ADDR_BYTE = 32;
const RECORD_BYTES = STRIDE * 4;

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

/**
 * One tuple in canonical order (end A first), as the table looks it up: a view over a packet's
 * bytes (`bytes[aOff..]`, `bytes[bOff..]`, `len` bytes each), its ports, protocol and hash. The
 * engine keeps one and sets it in place for each packet: no allocation, and find/insert take
 * the key instead of eight positional arguments.
 */
export class TupleKey {
  bytes: Uint8Array = new Uint8Array(0);
  aOff = 0;
  bOff = 0;
  len = 0;
  aPort = 0;
  bPort = 0;
  proto = 0;
  hash = 0;

  set(b: Uint8Array, aOff: number, bOff: number, len: number, aPort: number, bPort: number, proto: number): this {
    this.bytes = b;
    this.aOff = aOff;
    this.bOff = bOff;
    this.len = len;
    this.aPort = aPort;
    this.bPort = bPort;
    this.proto = proto;
    this.hash = tupleHash(b, aOff, bOff, len, aPort, bPort, proto);
    return this;
  }
}

export class FlowTable {
  capacity: number;
  /** Occupied slots. */
  size = 0;

  /** The slot records as words... */
  private rec: Int32Array;
  /** ...and as bytes (addresses): `keyAddr[addrOffset(slot)...]`. */
  keyAddr: Uint8Array;
  readonly heads: Int32Array;
  readonly tails: Int32Array;
  readonly counts: Int32Array;

  /** Cells of CELL words: hash, slot + 1 (0 = empty cell), flow + 1 (0 = none). */
  private index: Int32Array;
  /** The engine's flow of the slot the last `find` or `insert` returned (-1 = none). */
  foundFlow = -1;
  /** Cells - 1 (a power of two minus one). */
  private mask: number;
  private free: Int32Array;
  private freeTop = 0;

  constructor(lists: number, initialCapacity = 1024) {
    const cap = Math.max(16, 1 << Math.ceil(Math.log2(initialCapacity)));
    this.capacity = cap;
    this.rec = new Int32Array(cap * STRIDE);
    this.keyAddr = new Uint8Array(this.rec.buffer);
    this.heads = new Int32Array(lists).fill(-1);
    this.tails = new Int32Array(lists).fill(-1);
    this.counts = new Int32Array(lists);
    this.index = new Int32Array(cap * 2 * CELL);
    this.mask = cap * 2 - 1;
    this.free = new Int32Array(cap);
    // Hand out low slot numbers first.
    for (let i = 0; i < cap; i++) this.free[i] = cap - 1 - i;
    this.freeTop = cap;
  }

  /** Offset in `keyAddr` of end A's address for `slot` (end B's is 16 further). */
  static addrOffset(slot: number): number {
    return slot * RECORD_BYTES + ADDR_BYTE;
  }

  /** The slot holding this canonical key, or -1. */
  find(key: TupleKey): number {
    const { bytes: b, aOff, bOff, len, hash } = key;
    const index = this.index;
    const mask = this.mask;
    const ports = (key.aPort << 16) | key.bPort;
    const protoLen = key.proto | (len << 8);
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const c = i * CELL;
      const e = index[c + C_SLOT]!;
      if (e === 0) return -1;
      if (index[c] !== hash) continue;
      const s = e - 1;
      const r = s * STRIDE;
      if (this.rec[r + W_PORTS] === ports && this.rec[r + W_PROTO_LEN] === protoLen && this.sameAddr(s, b, aOff, bOff, len)) {
        this.foundFlow = index[c + C_FLOW]! - 1;
        return s;
      }
    }
  }

  private sameAddr(s: number, b: Uint8Array, aOff: number, bOff: number, len: number): boolean {
    const k = this.keyAddr;
    const base = s * RECORD_BYTES + ADDR_BYTE;
    for (let i = 0; i < len; i++) if (k[base + i] !== b[aOff + i]) return false;
    const baseB = base + 16;
    for (let i = 0; i < len; i++) if (k[baseB + i] !== b[bOff + i]) return false;
    return true;
  }

  /** Store a key that `find` did not find; returns its new slot (generation 0, on no list). */
  insert(key: TupleKey): number {
    const { bytes: b, aOff, bOff, len, aPort, bPort, proto, hash } = key;
    if (this.freeTop === 0) this.grow();
    const s = this.free[--this.freeTop]!;
    const rec = this.rec;
    const r = s * STRIDE;
    rec[r + W_GEN] = rec[r + W_META] = rec[r + W_FLOW] = rec[r + W_PREV] = rec[r + W_NEXT] = 0;
    const k = this.keyAddr;
    const base = s * RECORD_BYTES + ADDR_BYTE;
    for (let i = 0; i < len; i++) k[base + i] = b[aOff + i]!;
    for (let i = 0; i < len; i++) k[base + 16 + i] = b[bOff + i]!;
    rec[r + W_HASH] = hash;
    rec[r + W_PORTS] = (aPort << 16) | bPort;
    rec[r + W_PROTO_LEN] = proto | (len << 8);
    this.place(s, hash);
    this.size++;
    this.foundFlow = -1;
    return s;
  }

  private place(s: number, hash: number): void {
    const index = this.index;
    const mask = this.mask;
    let i = hash & mask;
    while (index[i * CELL + C_SLOT] !== 0) i = (i + 1) & mask;
    index[i * CELL] = hash;
    index[i * CELL + C_SLOT] = s + 1;
    index[i * CELL + C_FLOW] = this.rec[s * STRIDE + W_FLOW]!;
  }

  /** The index cell of slot `s`. */
  private cellOf(s: number): number {
    const index = this.index;
    const mask = this.mask;
    let i = this.rec[s * STRIDE + W_HASH]! & mask;
    while (index[i * CELL + C_SLOT] !== s + 1) i = (i + 1) & mask;
    return i;
  }

  /** Forget a slot: off its list, out of the index, back to the free stack. */
  release(s: number): void {
    this.unlink(s);
    const index = this.index;
    const mask = this.mask;
    let i = this.cellOf(s);
    // Backward-shift deletion: move later entries of the probe run into the hole when their
    // home position is not between the hole and where they sit.
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      if (index[j * CELL + C_SLOT] === 0) break;
      const home = index[j * CELL]! & mask;
      const stays = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!stays) {
        // Word by word: copyWithin and fill cost a builtin call each (~200 ns), for 4 words.
        for (let w = 0; w < CELL; w++) index[i * CELL + w] = index[j * CELL + w]!;
        i = j;
      }
    }
    for (let w = 0; w < CELL; w++) index[i * CELL + w] = 0;
    this.free[this.freeTop++] = s;
    this.size--;
  }

  private grow(): void {
    const old = this.capacity;
    const cap = old * 2;
    const rec = new Int32Array(cap * STRIDE);
    rec.set(this.rec);
    this.rec = rec;
    this.keyAddr = new Uint8Array(rec.buffer);
    // Every old slot is in use (the free stack was empty); the new ones become free.
    this.free = new Int32Array(cap);
    for (let i = 0; i < old; i++) this.free[i] = cap - 1 - i;
    this.freeTop = old;
    this.capacity = cap;
    // Re-index at the new size: load stays ≤ 1/2.
    this.index = new Int32Array(cap * 2 * CELL);
    this.mask = cap * 2 - 1;
    for (let s = 0; s < old; s++) this.place(s, rec[s * STRIDE + W_HASH]!);
  }

  // ---- per-slot fields ----

  protocol(s: number): number {
    return this.rec[s * STRIDE + W_PROTO_LEN]! & 0xff;
  }

  addrLength(s: number): number {
    return this.rec[s * STRIDE + W_PROTO_LEN]! >>> 8;
  }

  /** (portA << 16) | portB */
  ports(s: number): number {
    return this.rec[s * STRIDE + W_PORTS]!;
  }

  generations(s: number): number {
    return this.rec[s * STRIDE + W_GEN]!;
  }

  /** Counts one more generation on the tuple; returns its number (1 for the first). */
  nextGeneration(s: number): number {
    return ++this.rec[s * STRIDE + W_GEN]!;
  }

  note(s: number): number {
    return this.rec[s * STRIDE + W_META]! & 0xff;
  }

  setNote(s: number, note: number): void {
    const r = s * STRIDE + W_META;
    this.rec[r] = (this.rec[r]! & ~0xff) | note;
  }

  /** The list `s` is on, -1 when none. */
  listOf(s: number): number {
    return (this.rec[s * STRIDE + W_META]! >>> 8) - 1;
  }

  private setList(s: number, list: number): void {
    const r = s * STRIDE + W_META;
    this.rec[r] = (this.rec[r]! & 0xff) | ((list + 1) << 8);
  }

  /** The engine's flow record on this slot, -1 when none. */
  flow(s: number): number {
    return this.rec[s * STRIDE + W_FLOW]! - 1;
  }

  setFlow(s: number, flow: number): void {
    this.rec[s * STRIDE + W_FLOW] = flow + 1;
    this.index[this.cellOf(s) * CELL + C_FLOW] = flow + 1;
  }

  /** The slot after `s` on its list, -1 at the end. */
  next(s: number): number {
    return this.rec[s * STRIDE + W_NEXT]!;
  }

  // ---- lists in order of last use ----

  append(s: number, list: number): void {
    const rec = this.rec;
    const tail = this.tails[list]!;
    rec[s * STRIDE + W_PREV] = tail;
    rec[s * STRIDE + W_NEXT] = -1;
    if (tail >= 0) rec[tail * STRIDE + W_NEXT] = s;
    else this.heads[list] = s;
    this.tails[list] = s;
    this.setList(s, list);
    this.counts[list]!++;
  }

  unlink(s: number): void {
    const list = this.listOf(s);
    if (list < 0) return;
    const rec = this.rec;
    const p = rec[s * STRIDE + W_PREV]!;
    const n = rec[s * STRIDE + W_NEXT]!;
    if (p >= 0) rec[p * STRIDE + W_NEXT] = n;
    else this.heads[list] = n;
    if (n >= 0) rec[n * STRIDE + W_PREV] = p;
    else this.tails[list] = p;
    this.setList(s, -1);
    this.counts[list]!--;
  }

  /** Move `s` to the most recently used end of `list` (from whatever list it was on). */
  touch(s: number, list: number): void {
    if (this.tails[list] === s && this.listOf(s) === list) return;
    this.unlink(s);
    this.append(s, list);
  }
}
