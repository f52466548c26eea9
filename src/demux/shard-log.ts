/**
 * What one shard's engine notes so that the flows of several shards can be put back into the
 * very order, numbering and state one engine over the whole capture would give (shards.ts).
 * Frames are counted by the engine (every frame it was shown, ingested or ticked), the same in
 * every shard, because every shard sees every frame.
 *
 * - `starts` and `lineages`, by local id: the frame that started each flow (the global ids are
 *   the merge of all shards' starts) and its tuple's lineage (the flows of one tuple from the
 *   time it was last new to the table).
 * - `keys`, five numbers for each flow handed out, in order: the frame, the phase (0: idle
 *   expiry at that frame, before its packet; 1: by that frame's packet; 2: at the end), the
 *   list expiry took it from and its tuple's last use (expiry walks each list in order of last
 *   use), and its local id: one engine hands flows out in (frame, phase, list, last use) order.
 * - `entered` and `reuses`: the flows handed out whose tuple then became remembered, and the
 *   flows started on a remembered tuple (the handed-out flow that put it there, the frame, the
 *   new flow's local id). One engine remembers the latest `maxRemembered` tuples of all shards
 *   together, so it may have forgotten one a shard still knew: shards.ts replays one engine's
 *   remembered list to find them, and numbers their generations as one engine did.
 * - `expiries`: at each idle expiry, for each list, the last use of the last flow it took and of
 *   the flow it stopped at (a list is in order of last use, not always of time: a time stamp
 *   going back, a bad checksum that moves no clock): one engine stops at the first of all the
 *   shards' stops, so no shard may have taken a flow used after another shard's stop.
 * - peaks of what is capped over the whole engine (open flows, fragment entries, hellos being
 *   read): if their sum stays under the cap, one engine never reached it either.
 */

/** A growable list of numbers in a Float64Array (structured-clone friendly, no boxing). */
export class NumberList {
  data = new Float64Array(1024);
  length = 0;

  push(v: number): void {
    if (this.length === this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = v;
  }

  /** The numbers, trimmed (a copy). */
  values(): Float64Array {
    return this.data.slice(0, this.length);
  }
}

/** A number for each tuple slot of the flow table, grown as slots are. */
class SlotNumbers {
  private data = new Float64Array(1024);

  set(slot: number, v: number): void {
    if (slot >= this.data.length) {
      const grown = new Float64Array(Math.max(slot + 1, this.data.length * 2));
      grown.set(this.data);
      this.data = grown;
    }
    this.data[slot] = v;
  }

  get(slot: number): number {
    return slot < this.data.length ? this.data[slot]! : 0;
  }
}

export const PHASE_EXPIRY = 0;
export const PHASE_PACKET = 1;
export const PHASE_END = 2;
/** Numbers a handed-out flow has in `keys`. */
export const KEY_SIZE = 5;

export class ShardLog {
  readonly starts = new NumberList();
  readonly lineages = new NumberList();
  readonly keys = new NumberList();
  readonly entered = new NumberList();
  readonly reuses = new NumberList();
  readonly expiries = new NumberList();
  peakOpen = 0;
  peakFragments = 0;
  peakReading = 0;
  /** Flows handed out so far. */
  handed = 0;
  private lineageCount = 0;
  /** By slot: the frame it was last used in; its lineage; the flow whose end made it remembered. */
  private readonly lastUse = new SlotNumbers();
  private readonly lineage = new SlotNumbers();
  private readonly entry = new SlotNumbers();

  touched(slot: number, frame: number): void {
    this.lastUse.set(slot, frame);
  }

  lastUseOf(slot: number): number {
    return this.lastUse.get(slot);
  }

  /** A flow starts on `slot` at `frame`: `fresh` when the tuple is new to the table, `remembered` when it was remembered. */
  started(slot: number, frame: number, id: number, fresh: boolean, remembered: boolean): void {
    this.starts.push(frame);
    if (fresh) this.lineage.set(slot, ++this.lineageCount);
    this.lineages.push(this.lineage.get(slot));
    if (remembered) {
      this.reuses.push(this.entry.get(slot));
      this.reuses.push(frame);
      this.reuses.push(id);
    }
  }

  /** The flow handed out last ended its tuple's live flow: the tuple is remembered now. */
  remember(slot: number): void {
    const index = this.handed - 1;
    this.entered.push(index);
    this.entry.set(slot, index);
  }

  fragments(waiting: number): void {
    if (waiting > this.peakFragments) this.peakFragments = waiting;
  }

  expired(frame: number, list: number, lastTaken: number, stop: number): void {
    const e = this.expiries;
    e.push(frame);
    e.push(list);
    e.push(lastTaken);
    e.push(stop);
  }

  handedOut(frame: number, phase: number, list: number, lastUse: number, id: number): void {
    const k = this.keys;
    k.push(frame);
    k.push(phase);
    k.push(list);
    k.push(lastUse);
    k.push(id);
    this.handed++;
  }
}
