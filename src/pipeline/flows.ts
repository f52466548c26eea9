/**
 * Captures through a demux engine: what `flows`, `demux`, `ladder` and `packets` share, and what
 * the library API's flow and packet iterators are made of.
 */
import type { DemuxOptions, FlowRef } from '../core/flow.js';
import type { Frame } from '../core/frame.js';
import type { Packet } from '../core/packet.js';
import { DemuxEngine } from '../demux/engine.js';
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
  after?: (frame: Frame, pkt: Packet, ref: FlowRef | null) => Promise<void> | undefined;
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
  state.read = await readCaptures(
    paths,
    options.after,
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

/** The settings of the engine a user gives (--idle-timeout for every protocol, --max-flows), over `extra`. */
export function engineSettings(o: { idleTimeout?: number; maxFlows?: number }, extra: DemuxOptions = {}): DemuxOptions {
  const e: DemuxOptions = { ...extra };
  if (o.idleTimeout !== undefined) e.tcpIdleTimeout = e.udpIdleTimeout = e.icmpIdleTimeout = e.otherIdleTimeout = o.idleTimeout;
  if (o.maxFlows !== undefined) e.maxFlows = o.maxFlows;
  return e;
}
