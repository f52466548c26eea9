/**
 * The library API (src/api/index.ts, the package's `exports`): on every fixture its records are
 * exactly what the CLI writes (flows and packets as NDJSON lines, the flows and demux JSON
 * documents); reading is lazy, pauses while the consumer does not take, and stops when the loop
 * is left; a capture that cannot be opened is said, and fails the reading only when none can.
 * The examples in examples/ run as a user runs them.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { demux, FilterError, flows, flowsDocument, FlowdemuxError, packets, type Flow } from '../../src/api/index.js';
import { buildPcap, tempDir } from '../helpers/capture-builders.js';
import { captureFiles, FIXTURES } from '../helpers/fixture-files.js';
import { buildUdp, ethernet } from '../helpers/packet-builders.js';
import { runCli } from '../helpers/run-cli.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const files = captureFiles();
const lines = (text: string) => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));

const tmp = tempDir('flowdemux-api-');
afterAll(() => tmp.cleanup());

/** A pcap of `n` UDP datagrams, each its own flow (distinct source ports and addresses). */
function manyFlows(n: number): string {
  const records = [];
  for (let i = 0; i < n; i++) {
    const data = ethernet(buildUdp({ src: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, dst: '10.255.0.1', sport: 1024 + (i % 50000), dport: 53, payload: new Uint8Array(4) }));
    records.push({ tsSec: 1_700_000_000 + Math.floor(i / 1000), tsFrac: (i % 1000) * 1000, data });
  }
  return tmp.write(`many-${n}.pcap`, buildPcap({}, records));
}

/**
 * Every record of a reading; for a capture that cannot be opened, the CLI's stderr line for it
 * (the FlowdemuxError's message with the CLI's prefix).
 */
async function collect<T>(r: AsyncIterable<T>): Promise<T[] | string> {
  const out: T[] = [];
  try {
    for await (const x of r) out.push(x);
  } catch (err) {
    if (err instanceof FlowdemuxError) return `flowdemux: ${err.message}`;
    throw err;
  }
  return out;
}

/**
 * A hang guard, not a time limit: these run the CLI and the library over every fixture (about
 * 15 s alone), and on a loaded machine beside other test files they take several times that.
 */
const EVERY_FIXTURE_GUARD = 240_000;

describe('the library API gives what the CLI writes', () => {
  it(`flows(): the records of 'flows --format ndjson', in its order, on all ${files.length} fixtures`, async () => {
    for (const file of files) {
      const cli = await runCli(['flows', file, '--format', 'ndjson']);
      expect(await collect(flows(file)), file).toEqual(cli.code === 1 ? cli.stderr.trim() : lines(cli.stdout));
    }
  }, EVERY_FIXTURE_GUARD);

  it("packets(): the records of 'packets --format ndjson'", async () => {
    for (const file of files) {
      const cli = await runCli(['packets', file, '--format', 'ndjson']);
      expect(await collect(packets(file)), file).toEqual(cli.code === 1 ? cli.stderr.trim() : lines(cli.stdout));
    }
  }, EVERY_FIXTURE_GUARD);

  it("flowsDocument() and demux(): the documents of 'flows --format json' and 'demux --format json'", async () => {
    for (const file of files) {
      // A fixture that holds no capture at all fails here as the CLI does (exit 1, one line).
      const cliFlows = await runCli(['flows', file, '--format', 'json']);
      if (cliFlows.code === 1) {
        await expect(flowsDocument(file)).rejects.toThrow(FlowdemuxError);
        continue;
      }
      expect(await flowsDocument(file), file).toEqual(JSON.parse(cliFlows.stdout));
      const cliDemux = await runCli(['demux', file, '--format', 'json']);
      expect(await demux(file), file).toEqual(JSON.parse(cliDemux.stdout));
    }
  }, EVERY_FIXTURE_GUARD);

  it("options.analysis is the CLI's flows --analysis: the same documents, each TCP flow with its analysis", async () => {
    const file = `${FIXTURES}crafted/tcp-lossy-link-loss5-reorder10.pcap`;
    const cli = await runCli(['flows', file, '--format', 'json', '--analysis']);
    const doc = await flowsDocument(file, { analysis: true });
    expect(doc).toEqual(JSON.parse(cli.stdout));
    expect(doc.flows[0]!.analysis!.marks.fast_retransmission).toBe(8);
    expect((await flowsDocument(file)).flows[0]!.analysis).toBeUndefined();
  });

  it("options.checksums is the CLI's --checksums: the same flows, records and warnings", async () => {
    const file = `${FIXTURES}demux-lo.pcap`;
    const cli = await runCli(['flows', file, '--format', 'json', '--checksums', 'validate']);
    const doc = await flowsDocument(file, { checksums: 'validate' });
    expect(doc).toEqual(JSON.parse(cli.stdout));
    expect(doc.flows.every((f) => f.history.includes('C') || f.history.includes('c'))).toBe(true);
    const reading = flows(file, { checksums: 'validate' });
    const streamed = (await collect(reading)) as Flow[];
    expect(streamed.map((f) => f.history).sort()).toEqual(doc.flows.map((f) => f.history).sort());
    expect(reading.report.warnings.join('\n')).toContain('60 packets with a wrong TCP, UDP or ICMP checksum');
  });

  it('several captures are one timeline, as on the command line', async () => {
    const parts = ['part-1.pcap', 'part-2.pcap', 'part-3.pcap'].map((p) => `${FIXTURES}rotated/${p}`);
    const got: Flow[] = [];
    for await (const f of flows(parts)) got.push(f);
    expect(got).toEqual(lines((await runCli(['flows', ...parts, '--format', 'ndjson'])).stdout));
    expect(got.length).toBeGreaterThan(0);
  });
});

describe('reading: lazy, paused by the consumer, stopped by leaving the loop', () => {
  const N = 20_000;
  const big = manyFlows(N);

  it('reads nothing before the loop starts, and everything by its end', async () => {
    const r = packets(big);
    expect(r.waiting).toBe(0);
    expect(r.report.captures).toEqual([]);
    let n = 0;
    for await (const p of r) {
      expect(p.frame).toBe(++n);
    }
    expect(n).toBe(N);
    expect((await r.done).captures[0]!.packets).toBe(N);
  });

  it('a consumer that does not take: reading pauses at 256 waiting records, however many turns pass', async () => {
    const r = packets(big);
    const it = r[Symbol.asyncIterator]();
    await it.next(); // reading starts
    // Let the producer run as far as it can: until it has filled the queue (an event), then
    // a thousand more turns of the event loop in which it could run on if nothing held it.
    while (r.waiting < 255) await new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < 1000; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(r.waiting).toBeLessThanOrEqual(256);
    await it.return!();
    const report = await r.done;
    // Left early: far from all of the capture was read.
    expect(report.captures[0]!.packets).toBeLessThan(N / 2);
  });

  it('leaving the loop at the first flow stops reading', async () => {
    const r = flows(big, { maxFlows: 8 }); // evictions end flows as the capture goes
    for await (const f of r) {
      expect(f.proto).toBe('udp');
      break;
    }
    const report = await r.done;
    expect(report.captures[0]!.packets).toBeLessThan(N / 2);
  });
});

describe('captures that cannot be read', () => {
  it('none opens: iterating throws one line naming the file', async () => {
    const missing = `${tmp.dir}/no-such.pcap`;
    const r = flows(missing);
    let thrown: unknown;
    try {
      for await (const f of r) expect(f).toBeUndefined();
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(FlowdemuxError);
    expect((thrown as Error).message).toContain('no-such.pcap');
    expect((thrown as Error).message.split('\n')).toHaveLength(1);
  });

  it('one of two opens: its flows, and the other one said in report.errors', async () => {
    const missing = `${tmp.dir}/gone.pcap`;
    const good = `${FIXTURES}demux-lo.pcap`;
    const r = flows([good, missing]);
    let n = 0;
    for await (const f of r) if (f) n++;
    expect(n).toBe(7);
    expect(r.report.errors).toHaveLength(1);
    expect(r.report.errors[0]).toContain('gone.pcap');
  });
});

describe('the examples, run as a user runs them', () => {
  const node = (args: string[]) => spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });

  it('who-talks.mjs: the three connections of one 4-tuple on port 8089', () => {
    const r = node(['examples/who-talks.mjs', 'fixtures/demux-lo.pcap', '8089']);
    expect(r.status, r.stderr).toBe(0);
    const out = r.stdout.trim().split('\n');
    expect(out).toHaveLength(3);
    for (const line of out) expect(line).toMatch(/^tcp 127\.0\.0\.3:5775 -> 127\.0\.0\.1:8089 (SF|RSTO) /);
  });

  it('demux-keys.mjs: which key each shared port needs', () => {
    const r = node(['examples/demux-keys.mjs', 'fixtures/demux-lo.pcap']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('tcp port 80: 2 flows, key needed: 4-tuple (they differ by client.ip)');
    expect(r.stdout).toContain('tcp port 8089: 3 flows, key needed: 4-tuple+time');
  });

  it('a usage error says how to run it', () => {
    const r = node(['examples/who-talks.mjs']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('usage:');
  });
});

describe('the filter option: the CLI\'s --filter', () => {
  const LO = `${FIXTURES}demux-lo.pcap`;

  it('flows, packets and the documents give what the CLI gives with --filter', async () => {
    const filter = 'udp or tcp port 8089';
    const got: Flow[] = [];
    for await (const f of flows(LO, { filter })) got.push(f);
    expect(got.map((f) => f.id)).toEqual([1, 2, 3, 4, 5]);
    expect(got).toEqual(lines((await runCli(['flows', LO, '--format', 'ndjson', '--filter', filter])).stdout));
    const pk = [];
    for await (const p of packets(LO, { filter: 'udp' })) pk.push(p.frame);
    expect(pk).toEqual([53, 54, 55, 56, 57, 58, 59, 60]);
    expect((await flowsDocument(LO, { filter })).flows).toHaveLength(5);
    expect(JSON.stringify(await demux(LO, { filter: 'udp' }))).not.toContain('8089');
  });

  it('a filter it cannot evaluate throws FilterError before reading', async () => {
    expect(() => flows(LO, { filter: 'ether host 1:2:3:4:5:6' })).toThrow(FilterError);
    expect(() => packets(LO, { filter: 'port 80 and' })).toThrow(FilterError);
    await expect(flowsDocument(LO, { filter: 'len > 100' })).rejects.toBeInstanceOf(FilterError);
  });
});
