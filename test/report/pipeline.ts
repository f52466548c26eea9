/**
 * The real pipeline for report tests: capture file → openCapture → decodeFrame → DemuxEngine,
 * calling `each` with every frame, its decoded packet and the engine's reference (all three are
 * reused: copy what you keep). Returns the finished flows.
 */
import { openCapture } from '../../src/capture/open.js';
import type { Frame } from '../../src/capture/frame.js';
import { DemuxEngine } from '../../src/demux/engine.js';
import type { DemuxOptions, Flow, FlowRef } from '../../src/demux/types.js';
import { decodeFrame } from '../../src/parse/decode.js';
import { newPacket, type Packet } from '../../src/parse/packet.js';

export async function runPipeline(
  path: string,
  each?: (frame: Frame, pkt: Packet, ref: FlowRef | null) => void,
  opts: DemuxOptions = {},
): Promise<{ flows: Flow[]; engine: DemuxEngine }> {
  const source = await openCapture(path, 0);
  const engine = new DemuxEngine(opts);
  const pkt = newPacket();
  try {
    for await (const batch of source.batches()) {
      for (const frame of batch) {
        decodeFrame(frame, pkt);
        const ref = engine.ingest(pkt, frame.tsSec, frame.tsNsec);
        each?.(frame, pkt, ref);
      }
    }
  } finally {
    await source.close?.();
  }
  engine.finish();
  return { flows: engine.flows(), engine };
}
