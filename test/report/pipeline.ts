/**
 * The real pipeline for report tests: capture file → openCapture → the pipeline's loop (decode,
 * DemuxEngine), calling `each` with every frame, its decoded packet and the engine's reference
 * (all three are reused: copy what you keep). Returns the finished flows.
 */
import { openCapture } from '../../src/capture/open.js';
import type { Frame } from '../../src/core/frame.js';
import { DemuxEngine } from '../../src/demux/engine.js';
import type { DemuxOptions, Flow, FlowRef } from '../../src/core/flow.js';
import type { Packet } from '../../src/core/packet.js';
import { pump } from '../../src/pipeline/pump.js';

export async function runPipeline(
  path: string,
  each?: (frame: Frame, pkt: Packet, ref: FlowRef | null) => void,
  opts: DemuxOptions = {},
  /** Given the engine before the first packet (for `each` to read its per-packet state). */
  made?: (engine: DemuxEngine) => void,
): Promise<{ flows: Flow[]; engine: DemuxEngine }> {
  const source = await openCapture(path, 0);
  const engine = new DemuxEngine(opts);
  made?.(engine);
  try {
    await pump(source.batches(), engine, { each });
  } finally {
    await source.close?.();
  }
  engine.finish();
  return { flows: engine.flows(), engine };
}
