/**
 * Nothing flowdemux prints can drive a terminal (issue 7): file names with ESC, newline, CR,
 * BEL, DEL and C1 controls (U+009B is a one-character CSI), and packets whose every byte is
 * arbitrary, through every command and output format. Checked on code points, so the tables'
 * box-drawing characters are fine; JSON must still carry the name faithfully (escaped).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { LINKTYPE } from '../../src/core/linktypes.js';
import { buildPcap, concatBytes, ngEPB, ngIDB, ngSHB, tempDir } from '../helpers/capture-builders.js';
import { buildIcmpError, buildTcp, buildUdp, ethernet, quoteOf } from '../helpers/packet-builders.js';
import { controlCharacters, stderrProblems, timedRun } from './checks.js';
import { FUZZ_LINK_TYPES } from './captures.js';

const tmp = tempDir('flowdemux-term-');
afterAll(() => tmp.cleanup());

/** Every command and output format that reads a capture. */
const OUTPUTS: string[][] = [
  ['packets'], ['packets', '--format', 'ndjson'], ['packets', '--explain'],
  ['flows', '--format', 'table'], ['flows', '--format', 'json'], ['flows', '--format', 'ndjson'],
  ['flows', '--format', 'csv'], ['flows', '--format', 'zeek'],
  ['demux'], ['demux', '--format', 'json'], ['demux', '--format', 'dot'], ['demux', '--format', 'mermaid'],
  ['ladder', '--flow', '1'],
];

/** A name with every kind of control character a terminal acts on, and a multi-byte letter. */
const EVIL = 'evil\x1b[2J\x1b]0;owned\x07\r\n\x9b31m\x7fxé';

async function runAll(paths: string[], extra: string[] = []) {
  const out: { args: string[]; code: number; stdout: string; stderr: string }[] = [];
  for (const o of OUTPUTS) {
    const args = [o[0]!, ...paths, ...o.slice(1), ...extra];
    const r = await timedRun(args);
    if (r.thrown) throw r.thrown;
    out.push({ args, code: r.code, stdout: r.stdout, stderr: r.stderr });
  }
  return out;
}

function expectSafe(runs: Awaited<ReturnType<typeof runAll>>): void {
  for (const r of runs) {
    const what = r.args.map((a) => JSON.stringify(a)).join(' ');
    expect(controlCharacters(r.stdout), `${what}: stdout`).toEqual([]);
    expect(stderrProblems(r.stderr), `${what}: stderr`).toEqual([]);
  }
}

const syn = ethernet(buildTcp({ src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 80, flags: 'S', options: [{ kind: 'mss', value: 1460 }] }));
const synAck = ethernet(buildTcp({ src: '10.0.0.2', dst: '10.0.0.1', sport: 80, dport: 40000, flags: 'SA' }));

describe('fuzz: nothing printed can drive a terminal', () => {
  it('a file name full of control characters, in every command, format and message', async () => {
    // A good capture whose last record is cut (a warning naming the file), read twice so that
    // the multi-capture paths run too.
    const good = buildPcap({}, [{ tsSec: 1, tsFrac: 0, data: syn }, { tsSec: 1, tsFrac: 5, data: synAck }, { tsSec: 2, tsFrac: 0, data: syn }]);
    const warned = tmp.write(`${EVIL}.pcap`, good.subarray(0, good.length - 3));
    const runs = await runAll([warned]);
    expectSafe(runs);
    // The name did reach the output: as escapes on stderr, faithfully inside JSON.
    const flowsJson = runs.find((r) => r.args.includes('json') && r.args[0] === 'flows')!;
    expect(JSON.parse(flowsJson.stdout).captures[0].path).toBe(warned);
    expect(runs[0]!.stderr).toMatch(/^flowdemux: warning: .*evil\\x1b\[2J\\x1b\]0;owned\\x07\\x0d\\x0a\\x9b31m\\x7fxé\.pcap: last record/);
    expectSafe(await runAll([warned, warned]));

    // Captures that cannot be read, or hold nothing, name the file in their message.
    const empty = tmp.write(`${EVIL}-empty.pcap`, new Uint8Array(0));
    const text = tmp.write(`${EVIL}-text.pcap`, new TextEncoder().encode('\x1b[31mnot a capture\n'));
    const headerOnly = tmp.write(`${EVIL}-none.pcap`, buildPcap({}, []));
    const missing = tmp.path(`${EVIL}-missing.pcap`);
    for (const p of [empty, text, missing]) {
      const r = await runAll([p]);
      expectSafe(r);
      for (const x of r) expect(x.stderr, x.args.join(' ')).toMatch(/^flowdemux: .*evil\\x1b/);
    }
    const none = await runAll([headerOnly]);
    expectSafe(none);
    expect(none[0]!.stderr).toMatch(/^flowdemux: no packets in .*evil\\x1b/);
    // A usage error that quotes its argument.
    expectSafe([{ args: ['flows', '--host'], ...(await timedRun(['flows', headerOnly, '--host', EVIL])) }]);
  });

  it('-w at a path full of control characters: the error line is escaped', async () => {
    const r = await timedRun(['live', '-i', 'lo', '-w', tmp.path(`${EVIL}/x.pcap`), '--count', '1']);
    expect(r.code).toBe(1);
    expect(stderrProblems(r.stderr)).toEqual([]);
    expect(r.stderr).toMatch(/^flowdemux: cannot write .*evil\\x1b/);
  });

  it('frames of arbitrary bytes (every link type, pcap and pcapng), in every output', async () => {
    const frame = fc.oneof(
      fc.uint8Array({ maxLength: 120 }),
      // Valid headers with control characters for payload, or quoted by an ICMP error.
      fc.uint8Array({ minLength: 1, maxLength: 60 }).map((p) => buildUdp({ src: '10.1.2.3', dst: '10.1.2.4', sport: 27, dport: 7, payload: p })),
      fc.uint8Array({ maxLength: 60 }).map((p) => buildTcp({ src: 'fd00::1b', dst: 'fd00::7', sport: 0x1b1b, dport: 0x0707, flags: 'PA', payload: p, options: [{ kind: 27, data: p.subarray(0, 6) }] })),
      fc.uint8Array({ maxLength: 40 }).map((p) => buildIcmpError({ src: '10.0.0.9', dst: '10.1.2.3', type: 3, code: 3, quote: quoteOf(buildUdp({ src: '10.1.2.3', dst: '10.0.0.27', sport: 7, dport: 27, payload: p })) })),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...FUZZ_LINK_TYPES, 147 /* a link type flowdemux does not decode */),
        fc.array(frame, { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        async (linkType, frames, ng) => {
          // Raw link types take the bytes as they are; others get them after a link header.
          const data = frames.map((f) => (linkType === LINKTYPE.ETHERNET && f.length > 0 && f[0]! >> 4 >= 4 ? ethernet(f) : f));
          const bytes = ng
            ? concatBytes(ngSHB('LE'), ngIDB('LE', { linkType }), ...data.map((d, i) => ngEPB('LE', { iface: 0, ts: BigInt(i), data: d })))
            : buildPcap({ linkType }, data.map((d, i) => ({ tsSec: 1 + i, tsFrac: 0, data: d })));
          const file = tmp.write('arbitrary.pcap', bytes);
          expectSafe(await runAll([file]));
        },
      ),
      { seed: 7, numRuns: 12 },
    );
  });
});
