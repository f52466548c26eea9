/**
 * Issue 15: `--strict` means any damage. A packet with a cut or malformed header is counted, one
 * stderr line per capture says how many and where the first one is, in every format, and
 * `--strict` turns it into exit 3 (CI jobs rely on that code). A clean capture still exits 0.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPcap } from '../helpers/capture-builders.js';
import { runCli } from '../helpers/run-cli.js';

const IHL = 'fixtures/damaged/ipv4-ihl-3.pcap';
const OFFSET = 'fixtures/damaged/tcp-data-offset-4.pcap';
const CUT = 'fixtures/damaged/snaplen-44-cuts-tcp-header.pcap';
const CLEAN = 'fixtures/demux-lo.pcap';

const dir = mkdtempSync(join(tmpdir(), 'flowdemux-strict-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** 100 records of zero captured bytes on Ethernet: every one is a packet without a link header. */
const ZERO = join(dir, 'zero-length.pcap');
writeFileSync(ZERO, buildPcap({}, Array.from({ length: 100 }, (_, i) => ({ tsSec: 1_700_000_000 + i, tsFrac: 0, data: new Uint8Array(0) }))));

const EVERY_FORMAT: [string, string[]][] = [
  ['packets', ['table', 'ndjson']],
  ['flows', ['table', 'json', 'ndjson', 'csv', 'zeek', 'zeek-json', 'ecs', 'parquet']],
  ['demux', ['table', 'json', 'dot', 'mermaid']],
];

describe('--strict: a damaged packet is a warning, and exit 3 under --strict', () => {
  it.each(EVERY_FORMAT)('%s, every format: one line with the count, the first packet and its layer', async (command, formats) => {
    for (const format of formats) {
      const lax = await runCli([command, IHL, '--format', format]);
      expect(lax.code, `${command} --format ${format}`).toBe(0);
      expect(lax.stderr).toBe(`flowdemux: warning: ${IHL}: 1 packet was damaged (first: packet 2, ipv4: IPv4 IHL < 5); what could be read is reported\n`);
      const strict = await runCli([command, IHL, '--format', format, '--strict']);
      expect(strict.code, `${command} --format ${format} --strict`).toBe(3);
      expect(strict.stderr).toBe(lax.stderr);
      // What could be read is still reported.
      expect(strict.stdout).toBe(lax.stdout);
      expect(strict.stdout.length).toBeGreaterThan(0);
    }
  });

  it('ladder too', async () => {
    const r = await runCli(['ladder', OFFSET, '--flow', '1', '--strict']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`${OFFSET}: 1 packet was damaged (first: packet 2, tcp: TCP data offset < 5)`);
    expect(r.stdout).toContain('flow 1');
  });

  it('100 zero-length records: all counted, the first named', async () => {
    const r = await runCli(['flows', ZERO, '--strict']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`${ZERO}: 100 packets were damaged (first: packet 1, link: Ethernet header cut)`);
  });

  it('a header cut by the snapshot length is damage too (the transport header is not all there)', async () => {
    const r = await runCli(['packets', CUT, '--strict']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`${CUT}: 8 packets were damaged (first: packet 1, tcp: TCP header cut)`);
  });

  it('several captures: one line each, counted in its own capture', async () => {
    const r = await runCli(['flows', IHL, CLEAN, OFFSET, '--strict', '--format', 'ndjson']);
    expect(r.code).toBe(3);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toEqual([
      `flowdemux: warning: ${IHL}: 1 packet was damaged (first: packet 2, ipv4: IPv4 IHL < 5); what could be read is reported`,
      `flowdemux: warning: ${OFFSET}: 1 packet was damaged (first: packet 2, tcp: TCP data offset < 5); what could be read is reported`,
    ]);
  });

  it('the JSON report carries the same warning', async () => {
    const r = await runCli(['flows', IHL, '--format', 'json']);
    expect(JSON.parse(r.stdout).warnings).toContain(`${IHL}: 1 packet was damaged (first: packet 2, ipv4: IPv4 IHL < 5); what could be read is reported`);
  });

  it('a clean capture: no warning, exit 0 under --strict', async () => {
    for (const command of ['packets', 'flows', 'demux']) {
      const r = await runCli([command, CLEAN, '--strict']);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
    }
  });
});
