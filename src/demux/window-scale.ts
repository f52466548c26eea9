/**
 * Which factor a TCP segment's window field is multiplied by (RFC 7323 window scaling), known
 * only from the handshake. Wireshark's rule, so that flowdemux's window says what Wireshark's
 * "calculated window size" says:
 *
 * - each side's shift starts unknown (`SCALE_UNKNOWN`, tshark's "-1 (unknown)");
 * - a SYN with the option sets its sender's shift (above 14 taken as 14, RFC 7323 §2.3);
 * - a SYN without it means no scaling either way (`SCALE_NONE`, tshark's "-2 (no window
 *   scaling used)"), and a SYN-ACK with it after a SYN without it is not scaled either;
 * - a SYN's own window is never scaled.
 *
 * So a side whose SYN carried the option is scaled even when the other SYN was not captured, as
 * Wireshark does; with no SYN captured at all the factor is unknown and the raw field is shown.
 *
 * `WindowScales` keeps the two shifts of each flow for the `packets` command, which writes one
 * line a packet: a fixed, direct-mapped table by flow id (no allocation, no map lookup, bounded
 * memory on any capture). Flow ids grow by one, so a slot is only reused by a flow 65,536 ids
 * later; a flow still sending then finds its slot taken and its factor becomes unknown.
 */
import type { FlowRef } from '../core/flow.js';
import { IPPROTO, TCP_FLAG, type Packet } from '../core/packet.js';

/** The handshake was not seen: the factor is not known. */
export const SCALE_UNKNOWN = -1;
/** The handshake was seen and did not agree on scaling: the field is the window. */
export const SCALE_NONE = -2;

/**
 * A SYN seen from `side` (0 client, 1 server) of the pair of shifts at `shifts[at]`,
 * `shifts[at + 1]`; `option` is its window scale option's shift, -1 when absent.
 */
export function noteSyn(shifts: Int8Array | Float64Array, at: number, side: number, synAck: boolean, option: number): void {
  const fwd = at + side;
  const rev = at + 1 - side;
  if (option >= 0) shifts[fwd] = Math.min(option, 14);
  if (shifts[fwd] === SCALE_UNKNOWN) {
    shifts[fwd] = SCALE_NONE;
    shifts[rev] = SCALE_NONE;
  } else if (synAck && shifts[rev] === SCALE_NONE) {
    shifts[fwd] = SCALE_NONE;
  }
}

/** The multiplier for a shift: 2^shift, 1 for no scaling, -1 when unknown. */
export function factorOf(shift: number): number {
  return shift >= 0 ? 2 ** shift : shift === SCALE_NONE ? 1 : -1;
}

const SLOTS = 1 << 16;

export class WindowScales {
  private readonly ids = new Int32Array(SLOTS);
  private readonly shifts = new Int8Array(SLOTS * 2);

  /**
   * The factor of this packet's window (1 for a SYN, whose window is never scaled; -1 when
   * unknown), noting the handshake as it goes by. Call once per packet, in capture order.
   */
  factor(pkt: Packet, ref: FlowRef | null): number {
    if (ref === null || ref.via !== 'ports' || pkt.protocol !== IPPROTO.TCP) return -1;
    const slot = ref.id & (SLOTS - 1);
    const at = slot * 2;
    if (this.ids[slot] !== ref.id) {
      this.ids[slot] = ref.id;
      this.shifts[at] = SCALE_UNKNOWN;
      this.shifts[at + 1] = SCALE_UNKNOWN;
    }
    const side = ref.toServer ? 0 : 1;
    if ((pkt.tcpFlags & TCP_FLAG.SYN) === 0) return factorOf(this.shifts[at + side]!);
    noteSyn(this.shifts, at, side, (pkt.tcpFlags & TCP_FLAG.ACK) !== 0, pkt.windowScale);
    return 1;
  }
}
