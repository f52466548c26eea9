/**
 * The live state of one flow while packets arrive. Counters and TCP state are kept per canonical
 * end (A = the smaller address:port, B = the other), not per role, because roles can still change
 * (a SYN captured after its SYN-ACK); they are mapped to client/server once, when the flow
 * becomes a `Flow` record.
 */
import type { GenerationReason, IcmpErrorNote } from './types.js';
import { Side } from './tcp.js';

export const ENDED_NONE = 0;
export const ENDED_FIN = 1;
export const ENDED_RST = 2;

export class FlowState {
  /** What A sent / what B sent. */
  readonly a = new Side();
  readonly b = new Side();
  /** Zeek history letters, upper case for A, lower case for B (see tcp.ts renderHistory). */
  hist = '';
  clientIsA = true;
  rolesInferred = true;
  startSec = 0;
  startNsec = 0;
  endSec = 0;
  endNsec = 0;
  /** Latest packet time as float seconds, for idle checks only (exact times are above). */
  lastT = 0;
  /** ENDED_*: the TCP connection closed (RST, or FIN both ways); it lingers for stray packets. */
  ended = ENDED_NONE;
  /** Became a Flow record; kept so that fragment entries pointing here can tell. */
  finished = false;
  icmpErrors = 0;
  icmpError: IcmpErrorNote | null = null;

  id = 0;
  generation = 0;
  reason: GenerationReason = 'first';
  slot = 0;
  proto = 0;

  /**
   * (Re)starts this object as a new flow. The engine reuses the objects of ended flows: a flow
   * lives for seconds, long enough for the garbage collector to move it to the old generation,
   * and a fresh object per flow made the heap grow with the number of flows in a capture.
   */
  init(id: number, generation: number, reason: GenerationReason, slot: number, proto: number,
    tsSec: number, tsNsec: number, t: number): this {
    this.id = id;
    this.generation = generation;
    this.reason = reason;
    this.slot = slot;
    this.proto = proto;
    this.a.reset();
    this.b.reset();
    this.hist = '';
    this.clientIsA = true;
    this.rolesInferred = true;
    this.startSec = this.endSec = tsSec;
    this.startNsec = this.endNsec = tsNsec;
    this.lastT = t;
    this.ended = ENDED_NONE;
    this.finished = false;
    this.icmpErrors = 0;
    this.icmpError = null;
    return this;
  }

  /** Widen [start, end] to include this time (captures are not always in time order). */
  stamp(tsSec: number, tsNsec: number, t: number): void {
    if (tsSec > this.endSec || (tsSec === this.endSec && tsNsec > this.endNsec)) {
      this.endSec = tsSec;
      this.endNsec = tsNsec;
    } else if (tsSec < this.startSec || (tsSec === this.startSec && tsNsec < this.startNsec)) {
      this.startSec = tsSec;
      this.startNsec = tsNsec;
    }
    if (t > this.lastT) this.lastT = t;
  }
}
