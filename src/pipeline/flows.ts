/**
 * Captures through a demux engine: what `flows`, `demux`, `ladder` and `packets` share, and what
 * the library API's flow and packet iterators are made of.
 */
import type { DemuxOptions, FlowRef } from '../core/flow.js';
import type { Frame } from '../core/frame.js';
import type { Packet } from '../core/packet.js';
import { DemuxEngine } from '../demux/engine.js';
import { decodeLayer } from '../parse/decode.js';
import { timeDigits } from '../report/time.js';
import { readCaptures, type ReadOptions, type ReadResult } from './read.js';

export interface FlowRead {
  engine: DemuxEngine;
  read: ReadResult;
  /** Fraction digits for times (6, or 9 when a capture has nanoseconds). */
  digits: number;
}

export interface FlowReadOptions extends ReadOptions {
  engine?: DemuxOptions;
  /** With a streaming input: DemuxEngine.handOverOnClose (needs `engine.onFlowEnd`). */
  endOnClose?: boolean;
  /**
   * After each packet was ingested, as the pipeline's loop calls it (pump.ts `each`); may return
   * a promise to wait on (output back-pressure).
   */
  after?: (frame: Frame, pkt: Packet, ref: FlowRef | null, engine: DemuxEngine) => Promise<void> | undefined;
  /** Once the captures are open: the digits their times need. */
  onDigits?: (digits: number) => void;
}

/**
 * Reads the captures through a demux engine and finishes it. With a streaming input (a pipe or
 * FIFO: see FrameSource.streaming) and `endOnClose`, the engine hands over each TCP connection
 * when it is over (DemuxOptions.endOnClose); `afterBatch` then passes output on after every batch.
 */
export async function readFlows(paths: string[], options: FlowReadOptions): Promise<FlowRead> {
  const engine = new DemuxEngine(options.engine ?? {});
  const state: FlowRead = { engine, read: undefined as unknown as ReadResult, digits: 6 };
  const after = options.after;
  state.read = await readCaptures(
    paths,
    after === undefined ? undefined : (frame, pkt, ref) => after(frame, pkt, ref, engine),
    {
      ...options,
      onStart: (captures, streaming) => {
        if (streaming && options.endOnClose === true) engine.handOverOnClose();
        state.digits = timeDigits(captures);
        options.onDigits?.(state.digits);
        options.onStart?.(captures, streaming);
      },
    },
    engine,
  );
  engine.finish();
  return state;
}

/**
 * The packet as the flow `id` counted it: the packet itself when it is the flow's, or, when the
 * flow is a UDP tunnel around it (DemuxEngine.outer), the tunnel's datagram, decoded into
 * `layer`, with a reference to the tunnel's flow in `layerRef`. null when the frame is not the
 * flow's at all.
 */
export function packetOfFlow(
  engine: DemuxEngine, pkt: Packet, ref: FlowRef | null, id: number, layer: Packet, layerRef: FlowRef,
): [Packet, FlowRef] | null {
  if (ref !== null && ref.id === id) return [pkt, ref];
  const outer = engine.outer;
  for (let k = 0; k < outer.count; k++) {
    if (outer.ids[k] !== id) continue;
    decodeLayer(pkt, outer.depths[k]!, layer);
    layerRef.id = id;
    layerRef.generation = outer.generations[k]!;
    layerRef.toServer = outer.toServer[k]!;
    layerRef.via = 'ports';
    return [layer, layerRef];
  }
  return null;
}

/**
 * The settings of the engine a user gives (--idle-timeout for every protocol, --max-flows,
 * --analysis), over `extra` (which wins where both set one).
 */
export function engineSettings(
  o: { idleTimeout?: number; maxFlows?: number; tunnelFlows?: boolean; analysis?: boolean }, extra: DemuxOptions = {},
): DemuxOptions {
  const e: DemuxOptions = { ...extra };
  if (o.analysis === true && e.tcpAnalysis === undefined) e.tcpAnalysis = true;
  if (o.tunnelFlows === false) e.tunnelFlows = false;
  if (o.idleTimeout !== undefined) e.tcpIdleTimeout = e.udpIdleTimeout = e.icmpIdleTimeout = e.otherIdleTimeout = o.idleTimeout;
  if (o.maxFlows !== undefined) e.maxFlows = o.maxFlows;
  return e;
}
