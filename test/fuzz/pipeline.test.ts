/**
 * The whole pipeline on hostile captures (issue 7): fast-check builds valid captures (pcap µs/ns
 * in both byte orders, pcapng in both byte orders with several interfaces of different link
 * types; frames of every link type carrying IPv4 with options and fragments, IPv6 with extension
 * headers, TCP with options, UDP, ICMP echo and errors), then damages them: length fields set to
 * 0, 1, their maximum or just past the end, random bit flips, a cut at a random point, and
 * sometimes gzip around the result. Each one goes through `packets`, `flows` and `demux` (and one
 * of the other outputs), in-process, from a file or from stdin.
 *
 * Every run must: return an exit code (0, 1 or 3; `run` throwing is what the binary turns into
 * "internal error", exit 70), write only one-line `flowdemux:` messages to stderr with no stack
 * trace, write output that parses, cost less than CPU_BOUND_MS of CPU time, and leave no memory behind.
 *
 * Reproducible by default (fixed seed). For longer runs: FUZZ_SEED=123 FUZZ_RUNS=5000 npx vitest
 * run test/fuzz/pipeline.test.ts. A failure prints the seed and fast-check's replay path.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/capture-builders.js';
import { applyDamage, buildCapture, captureSpec, damage } from './captures.js';
import { collectGarbage, controlCharacters, heldBytes, stderrProblems, timedRun, type TimedRun } from './checks.js';

const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : 20261125;
/** Sized so that the fuzz folder stays well under a minute on a 2-core CI machine. */
const RUNS = process.env.FUZZ_RUNS !== undefined ? Number(process.env.FUZZ_RUNS) : 400;
/**
 * A capture here is at most a few KB: any run near this bound is a hang in the making. CPU time,
 * not wall time: two `yes` beside the suite make a run wait longer, not cost more.
 */
const CPU_BOUND_MS = 2000;
/**
 * Peak RSS, and buffers allocated, may grow this much during one run: a length field claiming
 * 4 GB (or the 256 MB the readers accept) must not become a buffer for a file of a few KB.
 */
const PEAK_GROWTH_LIMIT = 32 * 1024 * 1024;
/** Memory still held after a collection, over the level before the first run. */
const HELD_GROWTH_LIMIT = 64 * 1024 * 1024;

const tmp = tempDir('flowdemux-fuzz-');
afterAll(() => tmp.cleanup());

const OTHER_OUTPUTS: string[][] = [
  ['packets', '--format', 'table'],
  ['packets', '--format', 'ndjson', '--explain'],
  ['flows', '--format', 'table'],
  ['flows', '--format', 'csv'],
  ['flows', '--format', 'zeek'],
  ['flows', '--format', 'ndjson', '--sort', 'bytes'],
  ['demux', '--format', 'table'],
  ['demux', '--format', 'dot'],
  ['demux', '--format', 'mermaid'],
  ['ladder', '--flow', '1'],
];

const scenario = fc.record({
  spec: captureSpec,
  damage,
  viaStdin: fc.boolean(),
  /** The same capture twice on the command line: the merge of two sources. */
  twice: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  strict: fc.boolean(),
  other: fc.nat({ max: OTHER_OUTPUTS.length - 1 }),
  maxFlows: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) }),
});

/** Everything a single run must satisfy, whatever the command. */
function checkRun(what: string, r: TimedRun, okCodes: number[]): void {
  if (r.thrown) throw new Error(`${what}: run threw (the binary would exit 70): ${r.thrown.stack ?? r.thrown.message}`);
  expect(okCodes, `${what}: exit code ${r.code}; stderr: ${r.stderr}`).toContain(r.code);
  expect(stderrProblems(r.stderr), what).toEqual([]);
  expect(controlCharacters(r.stdout), `${what}: stdout`).toEqual([]);
  expect(r.stdout, `${what}: stdout`).not.toMatch(/internal decoder error/);
  expect(r.cpuMs, `${what}: cost ${r.cpuMs.toFixed(0)} ms of CPU`).toBeLessThan(CPU_BOUND_MS);
  expect(r.peakGrowth, `${what}: peak RSS grew by ${(r.peakGrowth / 1e6).toFixed(0)} MB`).toBeLessThan(PEAK_GROWTH_LIMIT);
  expect(r.bufferGrowth, `${what}: buffers grew by ${(r.bufferGrowth / 1e6).toFixed(0)} MB`).toBeLessThan(PEAK_GROWTH_LIMIT);
  if (r.code === 1) expect(r.stderr, `${what}: exit 1 without a message`).not.toBe('');
}

function ndjson(what: string, text: string): Record<string, unknown>[] {
  if (text === '') return [];
  expect(text.endsWith('\n'), `${what}: NDJSON ends with a newline`).toBe(true);
  return text.slice(0, -1).split('\n').map((line, i) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`${what}: line ${i + 1} is not JSON: ${line.slice(0, 200)}`);
    }
  });
}

function json(what: string, text: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`${what}: output is not JSON: ${text.slice(0, 300)}`);
  }
}

describe(`fuzz: damaged captures through packets, flows and demux (seed ${SEED}, ${RUNS} runs)`, () => {
  let baseline = 0;
  beforeAll(() => {
    collectGarbage();
    baseline = heldBytes();
  });

  it('only flowdemux\'s own messages, parseable output, bounded time and memory', async () => {
    let iteration = 0;
    const property = fc.asyncProperty(scenario, async (s) => {
      const log: string[] = [];
      const bytes = applyDamage(buildCapture(s.spec), s.damage, log);
      const what = (cmd: string) => `${cmd} on ${s.spec.format} ${s.spec.order} [${log.join(', ')}]${s.viaStdin ? ' via stdin' : ''}`;
      const target = s.viaStdin ? '-' : tmp.write('fuzz.cap', bytes);
      const inputs = s.twice && !s.viaStdin ? [target, target] : [target];
      const stdin = s.viaStdin ? bytes : undefined;
      const common = [...(s.strict ? ['--strict'] : [])];
      const flowOpts = s.maxFlows !== undefined ? ['--max-flows', String(s.maxFlows)] : [];
      const codes = [0, 1, 3];

      const packets = await timedRun(['packets', ...inputs, '--format', 'ndjson', ...common], stdin);
      checkRun(what('packets ndjson'), packets, codes);
      const lines = ndjson(what('packets ndjson'), packets.stdout);
      for (const l of lines) expect(typeof l.frame, what('packets ndjson')).toBe('number');

      const flows = await timedRun(['flows', ...inputs, '--format', 'json', ...flowOpts, ...common], stdin);
      checkRun(what('flows json'), flows, codes);
      const streamed = await timedRun(['flows', ...inputs, '--format', 'ndjson', ...flowOpts, ...common], stdin);
      checkRun(what('flows ndjson'), streamed, codes);
      const flowLines = ndjson(what('flows ndjson'), streamed.stdout);
      if (flows.code !== 1 || flows.stdout !== '') {
        // The capture opened: the report is there, and agrees with the packets command.
        const doc = json(what('flows json'), flows.stdout);
        const captures = doc.captures as { packets: number }[];
        const list = doc.flows as { toServer: { packets: number }; toClient: { packets: number } }[];
        expect(Array.isArray(list), what('flows json')).toBe(true);
        expect(captures.reduce((n, c) => n + c.packets, 0), what('flows json: packets read')).toBe(lines.length);
        const inFlows = list.reduce((n, f) => n + f.toServer.packets + f.toClient.packets, 0);
        expect(inFlows, what('flows json: packets in flows')).toBeLessThanOrEqual(lines.length);
        expect(flowLines.length, what('flows ndjson: same flows as json')).toBe(list.length);
      }

      const demux = await timedRun(['demux', ...inputs, '--format', 'json', ...flowOpts, ...common], stdin);
      checkRun(what('demux json'), demux, codes);
      if (demux.stdout !== '') expect(Array.isArray(json(what('demux json'), demux.stdout).groups), what('demux json')).toBe(true);

      const other = OTHER_OUTPUTS[s.other]!;
      const r = await timedRun([other[0]!, ...inputs, ...other.slice(1), ...common], stdin);
      // ladder --flow 1 on a capture without flow 1 is a usage error (2), by design.
      checkRun(what(other.join(' ')), r, other[0] === 'ladder' ? [0, 1, 2, 3] : codes);
      if (other.includes('ndjson')) ndjson(what(other.join(' ')), r.stdout);

      if (++iteration % 50 === 0) {
        collectGarbage();
        const held = heldBytes() - baseline;
        expect(held, `memory held after ${iteration} captures: ${(held / 1e6).toFixed(1)} MB`).toBeLessThan(HELD_GROWTH_LIMIT);
      }
    });
    try {
      await fc.assert(property, { seed: SEED, numRuns: RUNS, endOnFailure: false });
    } catch (err) {
      console.error(`fuzz failed with FUZZ_SEED=${SEED} (FUZZ_RUNS=${RUNS})`);
      throw err;
    }
    collectGarbage();
    expect(heldBytes() - baseline).toBeLessThan(HELD_GROWTH_LIMIT);
  // Only a guard against a hang: what passes is decided by the checks above, never by the time taken.
  }, Math.max(600_000, RUNS * 1000));
});
