/**
 * A capture full of distinct tuples (issue 7): a SYN flood from 1,000,000 sources, through the
 * compiled CLI as a separate process, `flows --format ndjson --max-flows 10000`. Flows stay
 * within the cap (the rest are evicted, and a warning says how many), every flow is still
 * reported (one NDJSON line each, state S0), and memory stays bounded: the process's heap is
 * capped well below what a million live flows need (~550 bytes each: over 500 MB), and its peak
 * RSS (VmHWM, read by a preloaded exit hook) stays under RSS_LIMIT. Runs in ~7 s here.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/capture-builders.js';
import { stderrProblems } from './checks.js';
import { writeSynFlood } from './flood.js';

const BIN = new URL('../../bin/flowdemux.js', import.meta.url).pathname;
const SOURCES = 1_000_000;
const MAX_FLOWS = 10_000;
/**
 * The child runs with its old-generation heap capped at HEAP_CAP_MB: what the engine and the
 * output really hold (10,000 live flows, 65,536 remembered tuples, read buffers) is ~20-50 MB,
 * so it fits, while a million held flows (> 500 MB) would end in an out-of-memory crash. Without
 * the cap V8 lets garbage pile up before collecting (peak RSS ~230 MB, flat from 500,000 sources
 * on, ~150 MB at 100,000), which is bounded but makes a plain RSS limit depend on GC heuristics.
 */
const HEAP_CAP_MB = 128;
/** Node itself is ~70 MB here; the capped heap and the 1 MiB read buffers come on top. */
const RSS_LIMIT = 250 * 1024 * 1024;

const tmp = tempDir('flowdemux-flood-');
afterAll(() => tmp.cleanup());

/** Runs the CLI; counts NDJSON lines by their endReason without keeping the output. */
function runFlood(file: string, hwmFile: string) {
  // Preloaded into the child: records its peak RSS when it exits (however it exits).
  const hook = tmp.write('hwm-hook.cjs', new TextEncoder().encode(
    `process.on('exit', () => { const s = require('fs').readFileSync('/proc/self/status', 'utf8');
     require('fs').writeFileSync(${JSON.stringify(hwmFile)}, String(Number(/VmHWM:\\s+(\\d+)/.exec(s)[1]) * 1024)); });\n`,
  ));
  const child = spawn(process.execPath, [`--max-old-space-size=${HEAP_CAP_MB}`, '--require', hook, BIN, 'flows', file, '--format', 'ndjson', '--max-flows', String(MAX_FLOWS)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const counts = { lines: 0, S0: 0, evicted: 0, captureEnd: 0, sample: [] as string[] };
  let partial = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (text: string) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      counts.lines++;
      // Cheap checks on every line; a full parse of one in 1,000.
      if (line.includes('"state":"S0"')) counts.S0++;
      if (line.includes('"endReason":"evicted"')) counts.evicted++;
      else if (line.includes('"endReason":"capture-end"')) counts.captureEnd++;
      if (counts.lines % 1000 === 1) counts.sample.push(line);
    }
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise<{ code: number | null; stderr: string; partial: string; counts: typeof counts }>((resolve) =>
    child.on('close', (code) => resolve({ code, stderr, partial, counts })),
  );
}

describe(`fuzz: SYN flood from ${SOURCES.toLocaleString('en')} sources`, () => {
  it(`flows --max-flows ${MAX_FLOWS}: every flow reported, the rest evicted with a warning, peak RSS bounded`, async () => {
    const file = tmp.path('flood.pcap');
    writeSynFlood(file, SOURCES);
    const hwmFile = tmp.path('hwm');
    writeFileSync(hwmFile, '');
    const t0 = Date.now();
    const r = await runFlood(file, hwmFile);
    const seconds = (Date.now() - t0) / 1000;

    expect(r.code, r.stderr).toBe(0);
    expect(stderrProblems(r.stderr)).toEqual([]);
    const evicted = SOURCES - MAX_FLOWS;
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^flowdemux: warning: ${evicted} flows were evicted before ending: more than --max-flows ${MAX_FLOWS} flows were open at once`)),
    ]);
    expect(r.partial).toBe('');
    expect(r.counts.lines).toBe(SOURCES);
    expect(r.counts.S0).toBe(SOURCES);
    expect(r.counts.evicted).toBe(evicted);
    expect(r.counts.captureEnd).toBe(MAX_FLOWS);
    for (const line of r.counts.sample) {
      const f = JSON.parse(line);
      expect(f).toMatchObject({ proto: 'tcp', state: 'S0', history: 'S', server: { ip: '10.0.0.1', port: 80 }, toServer: { packets: 1 }, toClient: { packets: 0 } });
    }
    // Ids are assigned in order of first packet and each source is its own flow.
    expect(JSON.parse(r.counts.sample[0]!).client.ip).toBe('172.16.0.0');

    const hwm = Number(readFileSync(hwmFile, 'utf8'));
    expect(hwm, 'peak RSS was recorded').toBeGreaterThan(0);
    expect(hwm, `peak RSS ${(hwm / 1e6).toFixed(0)} MB (${seconds.toFixed(1)} s)`).toBeLessThan(RSS_LIMIT);
  }, 600_000); // a guard against a hang only
});
