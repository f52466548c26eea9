/**
 * flowdemux's TCP analysis (src/demux/tcp-analysis.ts) against tshark's, frame by frame: the
 * committed `NAME.analysis.tsv` goldens (scripts/fixtures/analysis-golden.mjs) list the frames
 * tshark marks and its words, and the ACKs it times (`acks_frame`, `ack_rtt`); every other frame
 * must carry no mark and time nothing. flowdemux's side is the engine's, segment by segment as
 * `packets` and `flows --analysis` get it (DemuxOptions.tcpAnalysis); the after-the-fact
 * `analyzeTcp` of each flow's list (`ladder`, `check`) must say the same. Beside bundled
 * fixtures, and in fixtures/analysis/ for captures of ../shared/corpus (read in place; those run
 * only where the corpus is).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analysisMarks, analyzeTcp } from '../../src/demux/tcp-analysis.js';
import { ladderPacket, type LadderPacket } from '../../src/report/ladder.js';
import { captureFiles, FIXTURES } from '../helpers/fixture-files.js';
import type { DemuxEngine } from '../../src/demux/engine.js';
import { runPipeline } from '../report/pipeline.js';

const CORPUS = new URL('../../../shared/corpus/', import.meta.url).pathname;

interface Analysis {
  frames: number;
  /** frame -> marks, sorted (tshark's Info order is not compared). */
  marks: Map<number, string[]>;
  /** frame -> `ACKED_FRAME RTT` (seconds, 9 digits). */
  acks: Map<number, string>;
}

function readGolden(path: string): Analysis {
  const [head, , ...rows] = readFileSync(path, 'utf8').trimEnd().split('\n');
  const marks = new Map<number, string[]>();
  const acks = new Map<number, string>();
  for (const r of rows) {
    const [frame, text, acked, rtt] = r.split('\t');
    if (text !== '') marks.set(Number(frame), text!.split(' | ').sort());
    if (rtt) acks.set(Number(frame), `${acked} ${rtt}`);
  }
  return { frames: Number(/: (\d+) frames$/.exec(head!)![1]), marks, acks };
}

/** flowdemux's marks of every TCP segment, by frame number: the engine's, and analyzeTcp's per flow. */
async function ours(capture: string): Promise<Analysis & { afterwards: Map<number, string[]> }> {
  const byFlow = new Map<number, LadderPacket[]>();
  const marks = new Map<number, string[]>();
  const acks = new Map<number, string>();
  let frames = 0;
  let engine: DemuxEngine | undefined;
  await runPipeline(capture, (frame, pkt, ref) => {
    frames++;
    if (ref === null || ref.via !== 'ports' || pkt.protocol !== 6) return;
    const a = engine!.lastAnalysis!;
    const m = analysisMarks(a);
    if (m.length > 0) marks.set(frame.number, m.sort());
    if (a.ackRtt >= 0) acks.set(frame.number, `${a.ackedFrame} ${a.ackRtt.toFixed(9)}`);
    let list = byFlow.get(ref.id);
    if (!list) byFlow.set(ref.id, (list = []));
    list.push(ladderPacket(frame, pkt, ref));
  }, { tcpAnalysis: true, onFlowEnd: () => undefined }, (e) => (engine = e));
  const afterwards = new Map<number, string[]>();
  for (const segments of byFlow.values()) {
    analyzeTcp(segments).forEach((a, i) => {
      const m = analysisMarks(a);
      if (m.length > 0) afterwards.set(segments[i]!.frame, m.sort());
    });
  }
  return { frames, marks, acks, afterwards };
}

function agreement(want: Analysis, got: Analysis, frames: number) {
  const wrong: { frame: number; tshark: string[]; flowdemux: string[] }[] = [];
  for (let f = 1; f <= frames; f++) {
    const w = [...(want.marks.get(f) ?? []), ...(want.acks.has(f) ? [`acks ${want.acks.get(f)}`] : [])];
    const g = [...(got.marks.get(f) ?? []), ...(got.acks.has(f) ? [`acks ${got.acks.get(f)}`] : [])];
    if (w.join('|') !== g.join('|')) wrong.push({ frame: f, tshark: w, flowdemux: g });
  }
  return wrong;
}

const bundled = captureFiles(FIXTURES).filter((c) => existsSync(`${c}.analysis.tsv`)).map((c) => ({ capture: c, golden: `${c}.analysis.tsv` }));
const corpus = readdirSync(join(FIXTURES, 'analysis')).filter((n) => n.endsWith('.analysis.tsv'))
  .map((n) => ({ capture: join(CORPUS, n.slice(0, -'.analysis.tsv'.length)), golden: join(FIXTURES, 'analysis', n) }));

/**
 * Frames of corpus captures where flowdemux's flows are not tshark's streams, so the analysis
 * differs by design, each with why. Everything else must agree.
 */
const DIFFERENCES: Record<string, { frames: number[]; why: string }> = {
  'suricata-verify__base64-decode-5885__input.pcap': {
    frames: [195, 196, 198, 203, 206, 213, 215, 219, 235, 236, 237, 271, 1139],
    why: 'a SYN repeating an old ISN on a 4-tuple: tshark keeps it in the old stream (retransmission, then the '
      + 'SYN-ACK and ACK look like a gap); flowdemux starts a new generation with it, whose handshake is clean. '
      + 'All but 236 and 237 are a client\'s third SYN, 6 s after its second: past Zeek\'s attempt timer (5 s '
      + 'without an answer ends the attempt, conn.log writes S0), so the SYN starts a new generation, as in Zeek',
  },
  'suricata-verify__bug-2512__sample_10.62.112.41_62227.pcap': {
    frames: [19],
    why: 'a second ACK going further into data never seen: tshark 4.0 says "ACKed unseen segment" once while the '
      + 'sender of that data stays silent; flowdemux says it again for the new, larger gap',
  },
};

describe('TCP analysis marks, frame by frame, as tshark gives them', () => {
  it('has goldens with every kind of mark', () => {
    const kinds = new Set(bundled.flatMap((b) => [...readGolden(b.golden).marks.values()].flat().map((m) => m.replace(/ \d+#\d+$/, ''))));
    expect([...kinds].sort()).toEqual([
      'TCP ACKed unseen segment', 'TCP Dup ACK', 'TCP Fast Retransmission', 'TCP Keep-Alive', 'TCP Keep-Alive ACK',
      'TCP Out-Of-Order', 'TCP Previous segment not captured', 'TCP Retransmission', 'TCP Spurious Retransmission',
      'TCP Window Full', 'TCP Window Update', 'TCP ZeroWindow', 'TCP ZeroWindowProbe', 'TCP ZeroWindowProbeAck',
    ]);
  });

  for (const b of bundled) {
    it(b.capture.slice(FIXTURES.length), async () => {
      const want = readGolden(b.golden);
      const got = await ours(b.capture);
      expect(got.frames).toBe(want.frames);
      expect(got.afterwards).toEqual(got.marks);
      const wrong = agreement(want, got, want.frames)
        // tshark keeps a SYN that repeats the old ISN after a RST in the old stream (a
        // retransmission there); flowdemux starts generation 2 with it (README, generations).
        .filter((w) => !(b.capture.endsWith('tcp-reuse-rst-same-isn-new-isn.pcap') && w.frame >= 7 && w.frame <= 10));
      expect(wrong).toEqual([]);
    });
  }

  for (const c of corpus) {
    const name = c.capture.slice(CORPUS.length);
    it.runIf(existsSync(c.capture))(`corpus: ${name}`, async () => {
      const want = readGolden(c.golden);
      const got = await ours(c.capture);
      expect(got.frames).toBe(want.frames);
      expect(got.afterwards).toEqual(got.marks);
      const known = DIFFERENCES[name]?.frames ?? [];
      const wrong = agreement(want, got, want.frames).filter((w) => !known.includes(w.frame));
      console.log(`${name}: tshark marks ${want.marks.size} frames and times ${want.acks.size} ACKs, flowdemux ${got.marks.size} and ${got.acks.size}; ${wrong.length} differ`);
      expect(wrong).toEqual([]);
    });
  }
});
