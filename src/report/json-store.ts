/**
 * The JSON report's flows kept as bytes until the document can be written.
 */
import type { Flow } from '../core/flow.js';
import { flowJsonBound, flowJsonText, writeFlowJson } from './json.js';

/** Size of a FlowJsonStore page: large enough that few flows are left over at a page's end. */
const STORE_PAGE = 1 << 20;

/**
 * Flows' JSON (writeFlowJson's bytes) kept by flow id until the document can be written: the
 * JSON report holds every flow until the end of the input (the document's head carries counts
 * known only then), and keeping a hundred thousand Flow records (a million small objects) cost
 * more in garbage collection than writing them. Bytes go into 1 MiB pages, appended; a flow
 * never spans two pages. Ids are expected to be the engine's 1, 2, 3... (a gap is a flow not
 * kept, e.g. filtered out), each added once.
 */
export class FlowJsonStore {
  private readonly pages: Uint8Array[] = [];
  private page = new Uint8Array(0);
  private used = 0;
  private pageOf = new Int32Array(1024);
  private startOf = new Int32Array(1024);
  /** 0: no flow with this id. */
  private lengthOf = new Int32Array(1024);
  private top = 0;

  /** `digits`: fraction digits of times, as for flowJsonText (may be set before the first add). */
  constructor(public digits = 6) {}

  /** Highest id stored (0 when none). */
  get maxId(): number {
    return this.top;
  }

  add(flow: Flow): void {
    const id = flow.id;
    if (!(id >= 1 && Math.floor(id) === id && id < 0x7fffffff)) throw new RangeError(`flow id ${id} cannot be stored`);
    if (id >= this.lengthOf.length) this.growIndex(id);
    const need = flowJsonBound(flow);
    if (this.page.length - this.used < need) {
      // Not enough left in this page: a new one (the rest of this one stays unused).
      this.page = Buffer.allocUnsafe(Math.max(STORE_PAGE, need));
      this.pages.push(this.page);
      this.used = 0;
    }
    const start = this.used;
    this.used = writeFlowJson(this.page, start, flow, this.digits);
    this.pageOf[id] = this.pages.length - 1;
    this.startOf[id] = start;
    this.lengthOf[id] = this.used - start;
    if (id > this.top) this.top = id;
  }

  /** Byte length of flow `id`'s JSON; 0 when it was not added. */
  size(id: number): number {
    return id >= 1 && id <= this.top ? this.lengthOf[id]! : 0;
  }

  /** Copies flow `id`'s JSON into `dst` at `pos` (room for `size(id)` bytes needed); returns the end. */
  copyTo(id: number, dst: Uint8Array, pos: number): number {
    const n = this.size(id);
    if (n === 0) return pos;
    const start = this.startOf[id]!;
    dst.set(this.pages[this.pageOf[id]!]!.subarray(start, start + n), pos);
    return pos + n;
  }

  private growIndex(id: number): void {
    const size = Math.max(id + 1, this.lengthOf.length * 2);
    const grow = (a: Int32Array) => {
      const b = new Int32Array(size);
      b.set(a);
      return b;
    };
    this.pageOf = grow(this.pageOf);
    this.startOf = grow(this.startOf);
    this.lengthOf = grow(this.lengthOf);
  }
}
