/**
 * Issue 15: every option in `--help` does what it says. The options are read from each
 * command's own `--help` text, so an option added without a case here fails the first test;
 * each case runs the CLI end to end on a real capture (or live on lo, as root) and checks the
 * option's effect against what the command does without it.
 */
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { createConnection, createServer } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { skipLive } from '../helpers/live-loop.js';
import { buildUdp, concat, ethernet, fromHex } from '../helpers/packet-builders.js';
import { runCli } from '../helpers/run-cli.js';
import { byName, parseHtml, textOf } from '../helpers/markup.js';
import { parseXml } from '../helpers/xml.js';

const BIN = new URL('../../bin/flowdemux.js', import.meta.url).pathname;
const LO = 'fixtures/demux-lo.pcap';
const GAPS = 'fixtures/crafted/idle-gaps-udp-70s-tcp-400s.pcap';
const DAMAGED = 'fixtures/damaged/ipv4-ihl-3.pcap';
/** VXLAN datagrams both ways, carrying a TCP connection and ARP. */
const VXLAN = 'fixtures/crafted/vxlan-eth-tcp-and-arp.pcap';
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const dir = mkdtempSync(join(tmpdir(), 'flowdemux-options-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The long option names a command's --help lists. */
async function helpOptions(command: string): Promise<string[]> {
  const r = await runCli([command, '--help']);
  expect(r.code).toBe(0);
  return [...new Set([...r.stdout.matchAll(/^ +(?:-\w, )?--([\w-]+)/gm)].map((m) => m[1]!))].sort();
}

interface FlowRow { id: number; proto: string; generation: number; client: { ip: string; port: number }; server: { ip: string; port: number }; toServer: { packets: number; wireBytes: number }; toClient: { packets: number; wireBytes: number } }

/** `flows --format ndjson` with extra options: the flows as objects. */
async function flows(capture: string, ...args: string[]): Promise<FlowRow[]> {
  const r = await runCli(['flows', capture, '--format', 'ndjson', ...args]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim() === '' ? [] : r.stdout.trim().split('\n').map((l) => JSON.parse(l) as FlowRow);
}

interface PacketRow { frame: number; proto?: string; src?: string; dst?: string; srcPort?: number; dstPort?: number; flow?: { id: number; generation: number } }

/** `packets --format ndjson` with extra options: the packets as objects. */
async function packets(capture: string, ...args: string[]): Promise<{ rows: PacketRow[]; stderr: string }> {
  const r = await runCli(['packets', capture, '--format', 'ndjson', ...args]);
  expect(r.code, r.stderr).toBe(0);
  return { rows: r.stdout.trim() === '' ? [] : r.stdout.trim().split('\n').map((l) => JSON.parse(l) as PacketRow), stderr: r.stderr };
}

const ends = (f: FlowRow) => [f.client.ip, f.server.ip];
const ports = (f: FlowRow) => [f.client.port, f.server.port];
const packetsOf = (f: FlowRow) => f.toServer.packets + f.toClient.packets;
const bytesOf = (f: FlowRow) => f.toServer.wireBytes + f.toClient.wireBytes;

type Case = () => Promise<void>;

/** What every command has: --help shows the command's usage, --version the package's. */
function common(command: string): Record<string, Case> {
  return {
    help: async () => {
      const r = await runCli([command, '--help']);
      expect(r.stdout).toContain(`flowdemux ${command}`);
    },
    version: async () => {
      const r = await runCli([command, '--version']);
      expect([r.code, r.stdout.trim()]).toEqual([0, VERSION]);
    },
  };
}

/** --strict: the damaged fixture exits 0 with a warning, 3 under --strict. */
function strictCase(command: string, ...extra: string[]): Case {
  return async () => {
    expect((await runCli([command, DAMAGED, ...extra])).code).toBe(0);
    const r = await runCli([command, DAMAGED, ...extra, '--strict']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('damaged');
  };
}

/** --progress forces the line on (stderr here is no terminal), --no-progress keeps it off. */
function progressCase(command: string, ...extra: string[]): Case {
  return async () => {
    const quiet = await runCli([command, LO, ...extra, '--no-progress']);
    expect(quiet.stderr).toBe('');
    const forced = await runCli([command, LO, ...extra, '--progress']);
    expect(forced.stdout).toBe(quiet.stdout);
    expect(forced.stderr).toContain('reading: 100% 60 packets');
    // Cleared at the end: the line never mixes with the report.
    expect(forced.stderr.endsWith('\r\x1b[K')).toBe(true);
  };
}

/**
 * --checksums: ignore is the default (same output, nothing said); validate on the loopback
 * fixture, whose checksums were left to offload (every one wrong), says so in one line. What it
 * does to the flows is checked on `flows` (flowsCases) and in test/report/zeek-rules.test.ts.
 */
function checksumsCase(command: string, ...extra: string[]): Case {
  return async () => {
    const plain = await runCli([command, LO, ...extra]);
    const ignore = await runCli([command, LO, ...extra, '--checksums', 'ignore']);
    expect([ignore.code, ignore.stdout, ignore.stderr]).toEqual([0, plain.stdout, '']);
    const validate = await runCli([command, LO, ...extra, '--checksums', 'validate']);
    expect(validate.code).toBe(0);
    expect(validate.stderr).toContain(`${LO}: 60 packets with a wrong TCP, UDP or ICMP checksum (first: packet 1)`);
    const bad = await runCli([command, LO, ...extra, '--checksums', 'maybe']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('checksums');
  };
}

/** What every command reading captures has: --help, --version, --strict, --progress, --checksums. */
function captureCommon(command: string, ...extra: string[]): Record<string, Case> {
  return {
    ...common(command), strict: strictCase(command, ...extra), progress: progressCase(command, ...extra),
    checksums: checksumsCase(command, ...extra),
  };
}

/** The flow options of `flows`, checked on its NDJSON. */
const flowsCases: Record<string, Case> = {
  ...captureCommon('flows'),
  checksums: async () => {
    await checksumsCase('flows')();
    // Every TCP segment of the loopback capture is bad: its connections keep no packet and show
    // C/c; the UDP ones are counted, with C/c and no D/d.
    const all = await flows(LO);
    const checked = (await flows(LO, '--checksums', 'validate')) as (FlowRow & { history: string })[];
    expect(checked.map((f) => f.id)).toEqual(all.map((f) => f.id));
    for (const f of checked) {
      expect(f.history).toMatch(/^\^?C?c?$|^\^?cC$/);
      expect(packetsOf(f)).toBe(f.proto === 'tcp' ? 0 : packetsOf(all.find((g) => g.id === f.id)!));
    }
    // The table's last line: the 52 TCP segments left out of their flows' counts.
    const table = await runCli(['flows', LO, '--checksums', 'validate']);
    expect(table.stdout.trimEnd().split('\n').at(-1)).toBe('7 flows shown; 60 packets read; 52 not counted for a wrong checksum');
  },
  filter: async () => {
    const some = await flows(LO, '--filter', 'udp and src host 127.0.0.2');
    // As if captured with the filter: only the datagrams from .2, none of the replies.
    expect(some.map((f) => [f.proto, f.client.ip, f.toClient.packets])).toEqual([['udp', '127.0.0.2', 0]]);
    expect(some[0]!.toServer.packets).toBeGreaterThan(0);
    const bad = await runCli(['flows', LO, '--filter', 'ether host 1:2:3:4:5:6']);
    expect(bad.code).toBe(2);
  },
  proto: async () => {
    const all = await flows(LO);
    const udp = await flows(LO, '--proto', 'udp');
    expect(udp.length).toBeGreaterThan(0);
    expect(udp.length).toBeLessThan(all.length);
    expect(udp.every((f) => f.proto === 'udp')).toBe(true);
  },
  port: async () => {
    const some = await flows(LO, '--port', '8089');
    expect(some.map((f) => f.id)).toEqual([3, 4, 5]);
    expect(some.every((f) => ports(f).includes(8089))).toBe(true);
  },
  host: async () => {
    const some = await flows(LO, '--host', '127.0.0.2');
    expect(some.length).toBeGreaterThan(0);
    expect(some.every((f) => ends(f).includes('127.0.0.2'))).toBe(true);
    expect((await flows(LO)).filter((f) => ends(f).includes('127.0.0.2')).length).toBe(some.length);
  },
  'idle-timeout': async () => {
    // The fixture's gaps are 70 s (udp) and 400 s (tcp): the defaults (60, 300) split both.
    expect((await flows(GAPS)).length).toBe(4);
    expect((await flows(GAPS, '--idle-timeout', '500')).length).toBe(2);
    expect((await flows(GAPS, '--idle-timeout', '100')).length).toBe(3);
  },
  analysis: async () => {
    // Each TCP flow gets its analysis (the UDP ones none); without the option no flow has one.
    const plain = (await flows(LO)) as (FlowRow & { analysis?: unknown })[];
    const analysed = (await flows(LO, '--analysis')) as (FlowRow & { analysis?: { handshake: { total: number } | null } })[];
    expect(plain.some((f) => f.analysis !== undefined)).toBe(false);
    expect(analysed.filter((f) => f.analysis !== undefined).map((f) => f.id)).toEqual(analysed.filter((f) => f.proto === 'tcp').map((f) => f.id));
    expect(analysed.filter((f) => f.proto === 'tcp').every((f) => f.analysis!.handshake!.total > 0)).toBe(true);
  },
  'max-flows': async () => {
    const r = await runCli(['flows', LO, '--max-flows', '1', '--format', 'ndjson']);
    expect(r.stderr).toContain('evicted before ending: more than --max-flows 1');
    expect(r.stdout.trim().split('\n').length).toBeGreaterThan((await flows(LO)).length);
  },
  'tunnel-flows': async () => {
    // The VXLAN datagrams are flows of their own beside the TCP inside, unless --no-tunnel-flows.
    const all = await flows(VXLAN);
    expect(all.map((f) => f.proto)).toEqual(['udp', 'udp', 'udp', 'tcp']);
    expect(await flows(VXLAN, '--tunnel-flows')).toEqual(all);
    const inner = await flows(VXLAN, '--no-tunnel-flows');
    expect(inner.map((f) => f.proto)).toEqual(['udp', 'udp', 'tcp']); // ARP stays in its datagrams' flows
    expect(inner.reduce((n, f) => n + packetsOf(f), 0)).toBe(10);
    expect(all.reduce((n, f) => n + packetsOf(f), 0)).toBe(18);
  },
  sort: async () => {
    for (const [key, value] of [['bytes', bytesOf], ['packets', packetsOf]] as const) {
      const sorted = (await flows(LO, '--sort', key)).map(value);
      expect(sorted).toEqual([...sorted].sort((a, b) => b - a));
    }
    const byStart = (await flows(GAPS, '--sort', 'start')).map((f) => f.id);
    expect(byStart).toEqual([1, 2, 3, 4]);
  },
  limit: async () => {
    expect((await flows(LO, '--limit', '2')).map((f) => f.id)).toEqual([1, 2]);
    const r = await runCli(['flows', LO, '--limit', '2']);
    expect(r.stdout).toMatch(/^2 flows shown/m);
  },
  format: async () => {
    const table = await runCli(['flows', LO, '--format', 'table']);
    expect(table.stdout).toContain('│ 127.0.0.2:9157');
    expect(JSON.parse((await runCli(['flows', LO, '--format', 'json'])).stdout).flows).toHaveLength(7);
    expect(await flows(LO)).toHaveLength(7);
    const csv = (await runCli(['flows', LO, '--format', 'csv'])).stdout.trim().split('\n');
    expect(csv[0]!.startsWith('id,proto,')).toBe(true);
    expect(csv).toHaveLength(8);
    const zeek = (await runCli(['flows', LO, '--format', 'zeek'])).stdout;
    expect(zeek).toMatch(/^#fields\tts\tuid\tid\.orig_h/m);
    const zeekJson = (await runCli(['flows', LO, '--format', 'zeek-json'])).stdout.trim().split('\n');
    expect(zeekJson).toHaveLength(7);
    expect(Object.keys(JSON.parse(zeekJson[0]!)).slice(0, 3)).toEqual(['ts', 'uid', 'id.orig_h']);
    const ecs = (await runCli(['flows', LO, '--format', 'ecs'])).stdout.trim().split('\n');
    expect(ecs).toHaveLength(7);
    expect(JSON.parse(ecs[0]!).network.community_id).toMatch(/^1:/);
    const parquet = await runCli(['flows', LO, '--format', 'parquet']);
    expect(parquet.stdoutBytes.subarray(0, 4).toString()).toBe('PAR1');
    expect(parquet.stdoutBytes.subarray(-4).toString()).toBe('PAR1');
  },
  output: async () => {
    const path = join(dir, 'flows.ndjson');
    const r = await runCli(['flows', LO, '--format', 'ndjson', '--output', path]);
    expect(r.stdout).toBe('');
    expect(readFileSync(path, 'utf8')).toBe((await runCli(['flows', LO, '--format', 'ndjson'])).stdout);
  },
  each: async () => {
    const out = join(dir, 'each');
    const r = await runCli(['flows', '--each', LO, GAPS, '--format', 'csv', '--output', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, 'demux-lo.csv'), 'utf8')).toBe((await runCli(['flows', LO, '--format', 'csv'])).stdout);
    expect(readFileSync(join(out, 'idle-gaps-udp-70s-tcp-400s.csv'), 'utf8')).toBe((await runCli(['flows', GAPS, '--format', 'csv'])).stdout);
  },
  jobs: async () => {
    const r = await runCli(['flows', '--each', LO, GAPS, '--format', 'csv', '--output', join(dir, 'jobs'), '--jobs', '2']);
    expect(r.stderr).toContain('(2 worker threads)');
    const one = await runCli(['flows', '--each', LO, GAPS, '--format', 'csv', '--output', join(dir, 'jobs1'), '--jobs', '1']);
    expect(one.stderr).toContain('(1 worker thread)');
    // One timeline over two threads (shards): what one thread writes.
    const sharded = await runCli(['flows', LO, GAPS, '--format', 'ndjson', '--jobs', '2']);
    expect(sharded.code, sharded.stderr).toBe(0);
    expect(sharded.stdout).toBe((await runCli(['flows', LO, GAPS, '--format', 'ndjson'])).stdout);
  },
};

/** demux: the groups of shared ports, narrowed by the flow options. */
async function demuxJson(capture: string, ...args: string[]): Promise<{ ports: { port: number; proto: string; flows: unknown[] }[] } & Record<string, unknown>> {
  const r = await runCli(['demux', capture, '--format', 'json', ...args]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

const demuxCases: Record<string, Case> = {
  ...captureCommon('demux'),
  filter: async () => {
    const r = await runCli(['demux', LO, '--filter', 'tcp port 8089']);
    expect(r.stdout).toMatch(/^tcp port 8089 on 127\.0\.0\.1:/m);
    expect(r.stdout).not.toMatch(/port 80 |5353/);
  },
  proto: async () => {
    const all = await runCli(['demux', LO]);
    const udp = await runCli(['demux', LO, '--proto', 'udp']);
    expect(all.stdout).toMatch(/^tcp port 80 on 127\.0\.0\.1:/m);
    expect(udp.stdout).not.toMatch(/^tcp /m);
    expect(udp.stdout).toMatch(/^udp port 5353 on 127\.0\.0\.1:/m);
  },
  port: async () => {
    const r = await runCli(['demux', LO, '--port', '8089']);
    expect(r.stdout).toMatch(/^tcp port 8089 on 127\.0\.0\.1:/m);
    expect(r.stdout).not.toMatch(/port 80 |5353/);
  },
  host: async () => {
    const r = await runCli(['demux', LO, '--host', '127.0.0.2']);
    expect(r.stdout).toContain('127.0.0.2:9157');
    expect(r.stdout).not.toContain('127.0.0.3');
  },
  'idle-timeout': async () => {
    const split = await runCli(['demux', GAPS]);
    const whole = await runCli(['demux', GAPS, '--idle-timeout', '500']);
    expect(split.stdout).not.toBe(whole.stdout);
    expect(whole.stdout).toMatch(/^\s+udp 198\.51\.100\.7:123\s+flow 1 from/m);
  },
  'max-flows': async () => {
    const r = await runCli(['demux', LO, '--max-flows', '1']);
    expect(r.stderr).toContain('evicted before ending');
  },
  'tunnel-flows': async () => {
    // The tunnel's server port 4789 is a shared port of the picture only with tunnel flows.
    const all = await runCli(['demux', VXLAN, '--format', 'json']);
    const inner = await runCli(['demux', VXLAN, '--format', 'json', '--no-tunnel-flows']);
    type Group = { port: number; flows: unknown[] };
    const flowsOn4789 = (text: string) => {
      const doc = JSON.parse(text) as { groups: Group[]; singles: Group[] };
      return [...doc.groups, ...doc.singles].filter((g) => g.port === 4789).reduce((n, g) => n + g.flows.length, 0);
    };
    expect(flowsOn4789(all.stdout)).toBe(3);
    expect(flowsOn4789(inner.stdout)).toBe(2);
  },
  format: async () => {
    expect((await runCli(['demux', LO, '--format', 'table'])).stdout).toContain('key needed');
    expect(Object.keys(await demuxJson(LO)).length).toBeGreaterThan(0);
    expect((await runCli(['demux', LO, '--format', 'dot'])).stdout).toMatch(/^digraph flowdemux \{/);
    expect((await runCli(['demux', LO, '--format', 'mermaid'])).stdout).toMatch(/^flowchart LR$/m);
    expect((await runCli(['demux', LO, '--format', 'svg'])).stdout).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"[^]*<\/svg>\n$/);
  },
};

const packetsCases: Record<string, Case> = {
  ...captureCommon('packets'),
  filter: async () => {
    const { rows } = await packets(LO, '--filter', 'udp');
    expect(rows.map((p) => p.frame)).toEqual([53, 54, 55, 56, 57, 58, 59, 60]);
  },
  proto: async () => {
    const { rows } = await packets(LO, '--proto', 'udp');
    expect(rows.length).toBe(8);
    expect(rows.every((p) => p.proto === 'udp')).toBe(true);
  },
  port: async () => {
    const { rows } = await packets(LO, '--port', '8089');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((p) => p.srcPort === 8089 || p.dstPort === 8089)).toBe(true);
    expect(new Set(rows.map((p) => p.flow?.id))).toEqual(new Set([3, 4, 5]));
  },
  host: async () => {
    const { rows } = await packets(LO, '--host', '127.0.0.2');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((p) => p.src === '127.0.0.2' || p.dst === '127.0.0.2')).toBe(true);
  },
  'idle-timeout': async () => {
    const ids = async (...args: string[]) => Math.max(...(await packets(GAPS, ...args)).rows.map((p) => p.flow?.id ?? 0));
    expect(await ids()).toBe(4);
    expect(await ids('--idle-timeout', '500')).toBe(2);
  },
  'max-flows': async () => {
    const { stderr, rows } = await packets(LO, '--max-flows', '1');
    expect(stderr).toContain('evicted before ending');
    expect(Math.max(...rows.map((p) => p.flow?.id ?? 0))).toBeGreaterThan(7);
  },
  'tunnel-flows': async () => {
    // Flow 3 is the VXLAN tunnel carrying flow 4 (TCP): each TCP packet names it, and --flow 3
    // shows the tunnel's own datagrams, the same frames.
    type Tunnelled = PacketRow & { tunnelFlows?: number[] };
    const tcp = (await packets(VXLAN, '--flow', '4')).rows as Tunnelled[];
    expect(tcp.length).toBe(8);
    expect(tcp.every((p) => p.proto === 'tcp' && p.tunnelFlows?.join() === '3')).toBe(true);
    const tunnel = (await packets(VXLAN, '--flow', '3')).rows as Tunnelled[];
    expect(tunnel.map((p) => p.frame)).toEqual(tcp.map((p) => p.frame));
    expect(tunnel.every((p) => p.proto === 'udp' && [p.srcPort, p.dstPort].includes(4789) && p.flow?.id === 3 && p.tunnelFlows === undefined)).toBe(true);
    // Without tunnel flows the TCP connection is flow 3 and names no tunnel flow.
    const off = (await packets(VXLAN, '--no-tunnel-flows', '--flow', '3')).rows as Tunnelled[];
    expect(off.map((p) => [p.frame, p.proto, p.tunnelFlows])).toEqual(tcp.map((p) => [p.frame, 'tcp', undefined]));
  },
  flow: async () => {
    const { rows } = await packets(LO, '--flow', '4#2');
    expect(rows.length).toBe(11);
    expect(rows.every((p) => p.flow?.id === 4 && p.flow.generation === 2)).toBe(true);
    expect((await runCli(['packets', LO, '--flow', '4#3'])).code).toBe(2);
  },
  explain: async () => {
    const plain = await runCli(['packets', LO]);
    const explained = await runCli(['packets', LO, '--explain']);
    expect(plain.stdout).not.toContain('↳');
    expect(explained.stdout).toContain('↳ listener 127.0.0.1:80: SYN matches no connection');
  },
  format: async () => {
    const table = (await runCli(['packets', LO, '--format', 'table'])).stdout.trim().split('\n');
    expect(table[0]).toMatch(/^No\.\s+Time/);
    const lines = (await runCli(['packets', LO, '--format', 'ndjson'])).stdout.trim().split('\n');
    expect(lines).toHaveLength(table.length - 1);
    expect(lines.map((l) => (JSON.parse(l) as { frame: number }).frame)).toEqual(lines.map((_, i) => i + 1));
  },
};

const ladderCases: Record<string, Case> = {
  ...captureCommon('ladder', '--flow', '1'),
  filter: async () => {
    // Flows are numbered among the packets kept: flow 1 of port 8089's packets.
    const r = await runCli(['ladder', LO, '--filter', 'port 8089', '--flow', '1']);
    expect(r.stdout).toMatch(/^flow 1: tcp 127\.0\.0\.3:5775 → 127\.0\.0\.1:8089/);
  },
  flow: async () => {
    const one = await runCli(['ladder', LO, '--flow', '1']);
    const two = await runCli(['ladder', LO, '--flow', '2']);
    expect(one.stdout).toMatch(/^flow 1: tcp 127\.0\.0\.2:9157 → 127\.0\.0\.1:80/);
    expect(two.stdout).toMatch(/^flow 2: tcp 127\.0\.0\.3:9157 → 127\.0\.0\.1:80/);
    const missing = await runCli(['ladder', LO, '--flow', '99']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no flow 99');
  },
  format: async () => {
    const table = (await runCli(['ladder', LO, '--flow', '1', '--format', 'table'])).stdout;
    const arrows = table.split('\n').filter((l) => /[▶◀]/.test(l)).length;
    const json = JSON.parse((await runCli(['ladder', LO, '--flow', '1', '--format', 'json'])).stdout) as { packets: unknown[] };
    expect(json.packets).toHaveLength(arrows);
    const mermaid = (await runCli(['ladder', LO, '--flow', '1', '--format', 'mermaid'])).stdout;
    expect(mermaid).toMatch(/^sequenceDiagram$/m);
    expect(mermaid.split('\n').filter((l) => /^ {2}[CS]->>[CS]: /.test(l))).toHaveLength(arrows);
  },
};

const followCases: Record<string, Case> = {
  ...captureCommon('follow', '--flow', '1'),
  filter: async () => {
    // Flows are numbered among the packets kept: flow 1 of port 8089's packets is its first connection.
    const r = await runCli(['follow', LO, '--filter', 'port 8089', '--flow', '1']);
    expect(r.stdout).toMatch(/^follow: flow 1, tcp 127\.0\.0\.3:5775 ==> 127\.0\.0\.1:8089/);
  },
  flow: async () => {
    expect((await runCli(['follow', LO, '--flow', '2'])).stdout).toContain('GET /from-C HTTP/1.0');
    expect((await runCli(['follow', LO, '--flow', '4#2'])).stdout).toMatch(/^follow: flow 4#2, /);
    expect((await runCli(['follow', LO, '--flow', '99'])).code).toBe(2);
  },
  format: async () => {
    const text = (await runCli(['follow', LO, '--flow', '1', '--format', 'text'])).stdout;
    expect(text).toContain('GET /from-A HTTP/1.0');
    const hex = (await runCli(['follow', LO, '--flow', '1', '--format', 'hex'])).stdout;
    expect(hex).toMatch(/^00000000 {2}47 45 54 20/m); // GET
    const raw = await runCli(['follow', LO, '--flow', '1', '--format', 'raw']);
    expect(raw.stdoutBytes.toString('latin1')).toBe('GET /from-A HTTP/1.0\r\n\r\nHTTP/1.0 200 OK\r\n\r\nhello A\n');
  },
  direction: async () => {
    const text = (dir: string) => runCli(['follow', LO, '--flow', '1', '--direction', dir]).then((r) => r.stdout);
    expect(await text('to-server')).not.toMatch(/^<==/m);
    expect(await text('to-server')).toContain('GET /from-A');
    expect(await text('to-client')).not.toContain('GET /from-A');
    expect(await text('to-client')).toContain('hello A');
    expect(await text('both')).toContain('hello A');
  },
};

const interfacesCases: Record<string, Case> = {
  ...common('interfaces'),
  format: async () => {
    const table = await runCli(['interfaces', '--format', 'table']);
    const json = await runCli(['interfaces', '--format', 'json']);
    const names = (JSON.parse(json.stdout) as { interfaces: { name: string }[] }).interfaces.map((i) => i.name);
    expect(names).toContain('lo');
    for (const name of names) expect(table.stdout).toContain(name);
  },
};

/** check: rules files, one passing on every capture here, one that fails on the loopback fixture. */
const ANY_FLOWS = join(dir, 'any.yaml');
writeFileSync(ANY_FLOWS, '- name: any flows\n  expect: flows >= 0\n');
const NO_CONNECTIONS = join(dir, 'no-connections.yaml');
writeFileSync(NO_CONNECTIONS, '- name: no connections\n  expect: connections == 0\n- name: any flows\n  expect: flows >= 0\n');

const checkCases: Record<string, Case> = {
  ...captureCommon('check', '--rules', ANY_FLOWS),
  rules: async () => {
    expect((await runCli(['check', LO, '--rules', ANY_FLOWS])).code).toBe(0);
    const failed = await runCli(['check', LO, '--rules', NO_CONNECTIONS]);
    expect(failed.code).toBe(4);
    expect(failed.stdout).toMatch(/^FAIL {2}no connections: connections = 5/m);
    expect((await runCli(['check', LO, '--rules', join(dir, 'absent.yaml')])).code).toBe(2);
  },
  junit: async () => {
    const file = join(dir, 'check.xml');
    await runCli(['check', LO, '--rules', NO_CONNECTIONS, '--junit', file]);
    const suite = parseXml(readFileSync(file, 'utf8')).children[0]!;
    expect([suite.attrs.tests, suite.attrs.failures]).toEqual(['2', '1']);
    expect(suite.children.map((c) => [c.attrs.name, c.children.length])).toEqual([['no connections', 1], ['any flows', 0]]);
  },
  format: async () => {
    const table = await runCli(['check', LO, '--rules', NO_CONNECTIONS, '--format', 'table']);
    expect(table.stdout.trimEnd().split('\n').at(-1)).toBe('2 rules: 1 passed, 1 failed');
    const json = JSON.parse((await runCli(['check', LO, '--rules', NO_CONNECTIONS, '--format', 'json'])).stdout) as { verdicts: { pass: boolean }[] };
    expect(json.verdicts.map((v) => v.pass)).toEqual([false, true]);
  },
  filter: async () => {
    // Only the UDP packets: no connection is made of them.
    expect((await runCli(['check', LO, '--rules', NO_CONNECTIONS, '--filter', 'udp'])).code).toBe(0);
    expect((await runCli(['check', LO, '--rules', NO_CONNECTIONS, '--filter', 'tcp[13] != 0'])).code).toBe(2);
  },
  'idle-timeout': async () => {
    const two = join(dir, 'two-flows.yaml');
    writeFileSync(two, '- name: two flows\n  expect: flows == 2\n');
    expect((await runCli(['check', GAPS, '--rules', two])).code).toBe(4);
    expect((await runCli(['check', GAPS, '--rules', two, '--idle-timeout', '500'])).code).toBe(0);
  },
};

// ---------------------------------------------------------------- live, for real on lo

const RECV_A = 30560;
const RECV_B = 30561;
/** Only this test's datagrams: live tests of other files may run beside it. */
const OURS = `udp and portrange ${RECV_A}-${RECV_B}`;

interface LiveRun { code: number | null; stdout: string; stderr: string; nice: number | null }

/**
 * Runs `flowdemux live ARGS` as a child. Once it says it captures, datagrams flow until it
 * ends: every 5 ms, two from 127.0.0.2:30562 to :RECV_A and one from 127.0.0.3:30563 to :RECV_B
 * (both bound, so no ICMP error). Ends by itself (--count or --duration) or by SIGINT after
 * `interruptAfter` datagrams were sent. Its nice value is read while it captures. `round`, when
 * given, sends each round's datagrams instead (from 127.0.0.2:30562) and returns how many.
 */
async function live(args: string[], interruptAfter?: number, round?: (from: Socket) => number): Promise<LiveRun> {
  const sockets: Socket[] = [];
  const bound = async (port: number, address: string) => {
    const s = createSocket('udp4');
    sockets.push(s);
    await new Promise<void>((r) => s.bind(port, address, r));
    return s;
  };
  await bound(RECV_A, '127.0.0.1');
  await bound(RECV_B, '127.0.0.1');
  const a = await bound(30562, '127.0.0.2');
  const b = await bound(30563, '127.0.0.3');
  const child = spawn(process.execPath, [BIN, 'live', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let timer: NodeJS.Timeout | undefined;
  let nice: number | null = null;
  let sent = 0;
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => {
    stderr += d;
    if (timer === undefined && stderr.includes('; Ctrl-C stops\n')) {
      nice = niceOf(child.pid!);
      timer = setInterval(() => {
        if (round !== undefined) {
          sent += round(a);
          return;
        }
        a.send('x', RECV_A, '127.0.0.1');
        a.send('y', RECV_A, '127.0.0.1');
        b.send('z', RECV_B, '127.0.0.1');
        sent += 3;
        if (interruptAfter !== undefined && sent >= interruptAfter) child.kill('SIGINT');
      }, 5);
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearInterval(timer);
  for (const s of sockets) s.close();
  return { code, stdout, stderr, nice };
}

/** A process's nice value, from /proc (field 19 of stat), or null when it is gone. */
function niceOf(pid: number): number | null {
  try {
    return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
  } catch {
    return null;
  }
}

async function liveFlows(...args: string[]): Promise<FlowRow[]> {
  const r = await live(['--filter', OURS, '-c', '30', '--format', 'json', ...args]);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { flows: FlowRow[] }).flows;
}

/**
 * `flowdemux live ARGS --filter 'tcp port 30747'` while one TCP connection on lo (127.0.0.1:30747,
 * made once it captures) sends 5 bytes and both ends close; ends by --count.
 */
async function liveTcp(args: string[]): Promise<LiveRun> {
  const server = createServer((c) => c.on('data', () => c.end()).on('error', () => undefined));
  await new Promise<void>((r) => server.listen(30747, '127.0.0.1', r));
  const child = spawn(process.execPath, [BIN, 'live', '--filter', 'tcp port 30747', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let connected = false;
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => {
    stderr += d;
    if (!connected && stderr.includes('; Ctrl-C stops\n')) {
      connected = true;
      const c = createConnection({ port: 30747, host: '127.0.0.1', localAddress: '127.0.0.1' }, () => c.end('hello'));
      c.on('data', () => undefined).on('error', () => undefined);
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  await new Promise<void>((r) => server.close(() => r()));
  return { code, stdout, stderr, nice: null };
}

const liveCases: Record<string, Case> = {
  ...common('live'),
  analysis: async () => {
    // Handshake, the 5 bytes and their ACK: the connection's analysis, with its handshake timed.
    const r = await liveTcp(['-c', '5', '--format', 'json', '--analysis']);
    expect(r.code, r.stderr).toBe(0);
    const [flow] = (JSON.parse(r.stdout) as { flows: (FlowRow & { analysis?: { handshake: { total: number } | null } })[] }).flows;
    expect(flow!.proto).toBe('tcp');
    expect(flow!.analysis!.handshake!.total).toBeGreaterThan(0);
  },
  interface: async () => {
    const bad = await runCli(['live', '-i', 'nosuchdev0', '--count', '1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('nosuchdev0');
    const r = await live(['-i', 'lo', '--filter', OURS, '-c', '3']);
    expect(r.stderr).toContain('capturing on lo (EN10MB)');
  },
  filter: async () => {
    const only = await liveFlows('--filter', `${OURS} and src host 127.0.0.2`);
    expect(only.length).toBeGreaterThan(0);
    expect(only.every((f) => f.client.ip === '127.0.0.2' || f.server.ip === '127.0.0.2')).toBe(true);
  },
  count: async () => {
    const r = await live(['--filter', OURS, '--count', '7', '--format', 'json']);
    expect(JSON.parse(r.stdout).summary.packets).toBe(7);
    expect(r.stderr).toContain('7 packets captured');
  },
  duration: async () => {
    // No packet needed: it ends by itself, with its report.
    const r = await live(['--filter', 'udp port 30569', '--duration', '0.2', '--format', 'json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('(duration)');
    expect(JSON.parse(r.stdout).summary.packets).toBe(0);
  },
  write: async () => {
    const file = join(dir, 'live.pcap');
    await live(['--filter', OURS, '-c', '9', '-w', file, '--format', 'json']);
    const back = await runCli(['packets', file, '--format', 'ndjson']);
    expect(back.stdout.trim().split('\n')).toHaveLength(9);
  },
  report: async () => {
    // The HTML page of `report`, written at the end, of the flows the JSON output shows.
    const file = join(dir, 'live.html');
    const r = await live(['--filter', OURS, '-c', '9', '--format', 'json', '--report', file]);
    expect(r.code, r.stderr).toBe(0);
    const doc = parseHtml(readFileSync(file, 'utf8'));
    expect(textOf(byName(doc, 'title')[0]!)).toBe('flowdemux report: live:lo');
    const rows = byName(byName(doc, 'tbody')[0]!, 'tr');
    expect(rows.map((row) => textOf(row.children[2]!))).toEqual((JSON.parse(r.stdout) as { flows: FlowRow[] }).flows.map((f) => `${f.client.ip}:${f.client.port}`));
    // Streamed (ndjson), the engine lets go of each flow as it ends: the page still has them,
    // with the processes their lines name.
    const nd = await live(['--filter', OURS, '-c', '9', '--format', 'ndjson', '--report', file]);
    expect(nd.code, nd.stderr).toBe(0);
    const lines = nd.stdout.trim().split('\n').map((l) => JSON.parse(l) as FlowRow & { client: { process?: { pid: number; command: string } } });
    const page = parseHtml(readFileSync(file, 'utf8'));
    const heads = byName(byName(page, 'thead')[0]!, 'th').map(textOf);
    const cells = byName(byName(page, 'tbody')[0]!, 'tr').map((row) => Object.fromEntries(row.children.map((c, i) => [heads[i]!, textOf(c)])));
    expect(cells.map((c) => c.client)).toEqual(lines.map((f) => `${f.client.ip}:${f.client.port}`));
    expect(cells.map((c) => c['client process'])).toEqual(lines.map((f) => (f.client.process?.pid ? `${f.client.process.command} (pid ${f.client.process.pid})` : 'gone before lookup')));
    expect((await runCli(['live', '--report', join(dir, 'no-such-folder', 'x.html'), '-c', '1'])).code).toBe(2);
  },
  format: async () => {
    const table = await live(['--filter', OURS, '-c', '6', '--format', 'table']);
    expect(table.stdout).toContain('│ 127.0.0.2:30562');
    expect((await liveFlows('--format', 'json')).length).toBeGreaterThan(0);
    const nd = await live(['--filter', OURS, '-c', '6', '--format', 'ndjson']);
    expect(nd.stdout.trim().split('\n').map((l) => (JSON.parse(l) as FlowRow).proto)).toContain('udp');
    expect((await live(['--filter', OURS, '-c', '6', '--format', 'dot'])).stdout).toMatch(/^digraph flowdemux \{/);
    expect((await live(['--filter', OURS, '-c', '6', '--format', 'mermaid'])).stdout).toMatch(/^flowchart LR$/m);
  },
  boost: async () => {
    // As root, capturing runs at nice -10 (or keeps a higher priority it has) unless --no-boost.
    const own = niceOf(process.pid)!;
    const boosted = await live(['--filter', OURS, '-c', '3']);
    const plain = await live(['--filter', OURS, '-c', '3', '--no-boost']);
    expect(plain.nice).toBe(own);
    expect(boosted.nice).toBe(Math.min(own, -10));
  },
  proto: async () => {
    expect(await liveFlows('--proto', 'tcp')).toEqual([]);
    expect((await liveFlows('--proto', 'udp')).length).toBe(2);
  },
  port: async () => {
    const only = await liveFlows('--port', String(RECV_B));
    expect(only.map((f) => f.client.ip)).toEqual(['127.0.0.3']);
  },
  host: async () => {
    const only = await liveFlows('--host', '127.0.0.2');
    expect(only.map((f) => f.server.port)).toEqual([RECV_A]);
  },
  sort: async () => {
    // Two datagrams from .2 for each from .3: the .2 flow has more packets.
    const sorted = await liveFlows('--sort', 'packets');
    expect(sorted.map((f) => f.client.ip)).toEqual(['127.0.0.2', '127.0.0.3']);
  },
  limit: async () => {
    expect(await liveFlows('--limit', '1')).toHaveLength(1);
  },
  'idle-timeout': async () => {
    // 5 ms between rounds, 1 ms idle: the datagrams of later rounds start new generations.
    const split = await liveFlows('--idle-timeout', '0.001');
    expect(Math.max(...split.map((f) => f.generation))).toBeGreaterThan(1);
    const whole = await liveFlows();
    expect(whole.map((f) => f.generation)).toEqual([1, 1]);
  },
  checksums: async () => {
    // Live and a file of the same packets (-w) judge the same packets bad: loopback datagrams
    // carry the checksum the stack left to offload, or a right one, the same in both.
    const file = join(dir, 'live-checksums.pcap');
    const r = await live(['--filter', OURS, '-c', '30', '--format', 'json', '-w', file, '--checksums', 'validate']);
    expect(r.code, r.stderr).toBe(0);
    const fromFile = await runCli(['flows', file, '--format', 'json', '--checksums', 'validate']);
    const histories = (text: string) => (JSON.parse(text) as { flows: { history: string }[] }).flows.map((f) => f.history);
    expect(histories(r.stdout)).toEqual(histories(fromFile.stdout));
    const said = (text: string) => text.split('\n').filter((l) => l.includes('with a wrong')).map((l) => l.replace(/^.*?: (\d+ packets?)/, '$1'));
    expect(said(r.stderr)).toEqual(said(fromFile.stderr));
    expect((await live(['--filter', OURS, '-c', '3', '--checksums', 'nope'])).code).toBe(2);
  },
  'max-flows': async () => {
    const r = await live(['--filter', OURS, '-c', '30', '--format', 'json', '--max-flows', '1']);
    expect(r.stderr).toContain('evicted before ending: more than --max-flows 1');
  },
  rules: async () => {
    // The datagrams make two UDP flows and no connection.
    const pass = await live(['--filter', OURS, '-c', '6', '--rules', NO_CONNECTIONS]);
    expect([pass.code, pass.stdout.trimEnd().split('\n').at(-1)]).toEqual([0, '2 rules: 2 passed, 0 failed']);
    const noFlows = join(dir, 'no-flows.yaml');
    writeFileSync(noFlows, '- name: no flows\n  expect: flows == 0\n');
    const fail = await live(['--filter', OURS, '-c', '6', '--rules', noFlows, '--format', 'json']);
    expect(fail.code).toBe(4);
    expect((JSON.parse(fail.stdout) as { verdicts: { value: number }[] }).verdicts[0]!.value).toBe(2);
    // A bad rules file is refused before anything is captured.
    const bad = await runCli(['live', '--rules', join(dir, 'absent.yaml'), '-c', '1']);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/^flowdemux: --rules .*absent\.yaml: cannot read it/)]);
  },
  junit: async () => {
    const file = join(dir, 'live.xml');
    const r = await live(['--filter', OURS, '-c', '6', '--rules', NO_CONNECTIONS, '--junit', file]);
    expect(r.code).toBe(0);
    const suite = parseXml(readFileSync(file, 'utf8')).children[0]!;
    expect([suite.attrs.name, suite.attrs.tests, suite.attrs.failures]).toEqual(['live:lo', '2', '0']);
    expect((await runCli(['live', '--junit', file, '-c', '1'])).code).toBe(2); // --junit needs --rules
  },
  'tunnel-flows': async () => {
    // VXLAN datagrams on lo (to 4789, from 127.0.0.2:30562) carrying UDP between two inner hosts.
    const inner = buildUdp({ src: '10.20.0.1', dst: '10.20.0.2', sport: 30564, dport: 30565, payload: new Uint8Array(20) });
    const datagram = concat(fromHex('08000000 00007b00'), ethernet(inner));
    const round = (from: Socket) => {
      from.send(datagram, 4789, '127.0.0.1');
      return 1;
    };
    const run = async (...args: string[]) => {
      const r = await live(['--filter', 'udp and src port 30562', '-c', '6', '--format', 'json', ...args], undefined, round);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { flows: (FlowRow & { carries?: string; tunnelParents?: number[] })[] }).flows;
    };
    const both = await run();
    expect(both.map((f) => [f.proto, f.server.port, packetsOf(f), f.carries])).toEqual([['udp', 4789, 6, 'vxlan'], ['udp', 30565, 6, undefined]]);
    expect(both[1]!.tunnelParents).toEqual([both[0]!.id]);
    const off = await run('--no-tunnel-flows');
    expect(off.map((f) => [f.proto, f.server.port, packetsOf(f)])).toEqual([['udp', 30565, 6]]);
  },
};

/** report: the page as text (`-o -`), and what its parts hold. */
async function reportPage(...args: string[]): Promise<string> {
  const r = await runCli(['report', LO, '-o', '-', ...args]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

const tableRows = (html: string) => [...html.matchAll(/<tr id="row-(\d+)">/g)].map((m) => Number(m[1]));
const ladderIds = (html: string) => [...html.matchAll(/<details id="flow-(\d+)">/g)].map((m) => Number(m[1]));

const reportCases: Record<string, Case> = {
  ...captureCommon('report', '-o', '-'),
  output: async () => {
    const file = join(dir, 'report.html');
    const r = await runCli(['report', LO, '--output', file]);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, '', '']);
    expect(readFileSync(file, 'utf8')).toBe(await reportPage());
  },
  filter: async () => {
    expect(tableRows(await reportPage())).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(tableRows(await reportPage('--filter', 'tcp port 8089'))).toEqual([1, 2, 3]);
  },
  ladders: async () => {
    expect(ladderIds(await reportPage())).toEqual([1, 2, 3, 4, 5]);
    const two = await reportPage('--ladders', '2');
    expect(ladderIds(two)).toEqual([1, 2]);
    expect(two).toContain('Ladders are drawn for the first 2 TCP connections (flows 1 to 2) of 5 (--ladders 2).');
    expect(ladderIds(await reportPage('--ladders', '0'))).toEqual([]);
    expect((await runCli(['report', LO, '-o', '-', '--ladders', '-1'])).code).toBe(2);
  },
  rows: async () => {
    const two = await reportPage('--rows', '2');
    expect(tableRows(two)).toEqual([1, 2]);
    expect(two).toContain('The table lists the first 2 of 7 flows.');
    expect((await runCli(['report', LO, '-o', '-', '--rows', '1.5'])).code).toBe(2);
  },
};

const FILE_COMMANDS: [string, Record<string, Case>][] = [
  ['packets', packetsCases],
  ['flows', flowsCases],
  ['demux', demuxCases],
  ['ladder', ladderCases],
  ['follow', followCases],
  ['interfaces', interfacesCases],
  ['check', checkCases],
  ['report', reportCases],
];

describe('every option of every command does what --help says', () => {
  it.each([...FILE_COMMANDS, ['live', liveCases] as [string, Record<string, Case>]])(
    '%s: each option in --help has a case here (a new option needs one)',
    async (command, cases) => {
      expect(await helpOptions(command)).toEqual(Object.keys(cases).sort());
    },
  );

  for (const [command, cases] of FILE_COMMANDS) {
    describe(command, () => {
      for (const [option, check] of Object.entries(cases)) it(`--${option}`, check);
    });
  }

  describe.skipIf(skipLive())('live (on lo, as root)', () => {
    for (const [option, check] of Object.entries(liveCases)) it(`--${option}`, check);
  });
});
