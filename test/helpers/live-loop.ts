/**
 * What `flowdemux live` does with a capture, in-process for tests: frames from `lo` through the
 * decoder and the demux engine, each new flow to LiveAttribution, a poll after each batch. The
 * test drives real processes, waits for events (flows seen, looks settled), then stops.
 *
 * Live tests listen on fixed ports from 30400 to 30699: below Linux's ephemeral range (32768
 * and up), so that no client's connection (a curl of another test, in TIME_WAIT for a minute)
 * can hold a test's server port; each file names the ports it owns.
 *
 * `captureProblem()` says why live capture cannot run here (not root, no libpcap or `cap`), or
 * null; in CI as root it must run, so the tests fail instead of skipping.
 */
import { LiveCaptureError, openLive, type LiveSource } from '../../src/capture/live.js';
import { DemuxEngine } from '../../src/demux/engine.js';
import type { Flow } from '../../src/core/flow.js';
import { LiveAttribution } from '../../src/host/attribution.js';
import { boostPriority } from '../../src/host/priority.js';
import { warmUpDecodeAndEngine } from '../../src/host/warm-up.js';
import { ProcessMap } from '../../src/host/procfs.js';
import { openLiveCapture } from '../../src/pipeline/live.js';
import { pump } from '../../src/pipeline/pump.js';

export function captureProblem(probeFilter = 'udp port 30699'): string | null {
  try {
    openLive({ device: 'lo', filter: probeFilter }).stop();
    return null;
  } catch (err) {
    if (err instanceof LiveCaptureError) return err.message;
    throw err;
  }
}

/** Skip (with the reason) where capture cannot run, except in CI as root: there it must. */
export function skipLive(): boolean {
  const problem = captureProblem();
  const must = Boolean(process.env.CI) && process.getuid?.() === 0;
  if (problem !== null && must) throw new Error(`live capture must run here (CI as root): ${problem}`);
  return problem !== null;
}

export interface LiveLoop {
  engine: DemuxEngine;
  attribution: LiveAttribution;
  source: LiveSource;
  /** Resolves once `test()` holds, checked after each batch and every 5 ms (no time limit of its own). */
  until(test: () => boolean): Promise<void>;
  /** Stops the capture, settles the looks, and returns every flow with its host facts. */
  stop(): Promise<Flow[]>;
}

export function startLiveLoop(filter: string): LiveLoop {
  const attribution = new LiveAttribution(new ProcessMap());
  attribution.start('lo');
  warmUpDecodeAndEngine(attribution);
  // As `flowdemux live` does (its --boost default).
  const boost = boostPriority();
  const source = openLiveCapture({ device: 'lo', filter });
  const engine = new DemuxEngine();
  // The pipeline's own loop, with the two calls `flowdemux live` makes.
  const done = pump(source.batches(), engine, {
    each: (_frame, pkt, ref) => attribution.notePacket(ref, pkt),
    afterBatch: () => attribution.poll(),
  });
  return {
    engine,
    attribution,
    source,
    async until(test) {
      while (!test()) await new Promise((r) => setTimeout(r, 5));
    },
    async stop() {
      source.stop();
      await done;
      boost.restore();
      attribution.finish();
      engine.finish();
      const flows = engine.flows();
      for (const f of flows) attribution.attribute(f);
      return flows;
    },
  };
}
