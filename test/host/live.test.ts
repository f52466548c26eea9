/**
 * Process attribution for real, on this host's /proc: the teaching picture with a server and two
 * clients started by this file as separate child processes. Both clients connect from the same
 * port (30601) on 127.0.0.2 and 127.0.0.3 to one server port (30600), so that the server holds
 * two connection sockets on port 80's stand-in besides its listener; each also sends a datagram
 * from 30603 to the server's UDP socket on 30602. The capture on lo (when it can run: root,
 * libpcap and `cap`, as in CI) feeds the demux engine and LiveAttribution as `flowdemux live`
 * would; the flows must name each child's pid on the right end. Then the children exit, and a
 * fresh look says `exited`.
 *
 * Ports 30600-30609 belong to this file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attributeFlows, LiveAttribution } from '../../src/host/attribution.js';
import { LiveCaptureError, openLive, type LiveSource } from '../../src/capture/live.js';
import { ProcessMap } from '../../src/host/procfs.js';
import { DemuxEngine } from '../../src/demux/engine.js';
import { buildDemux, type ConnectionSocket, type ListenSocket, type UnconnectedSocket } from '../../src/demux/groups.js';
import type { Flow } from '../../src/core/flow.js';
import { decodeFrame } from '../../src/parse/decode.js';
import { newPacket } from '../../src/core/packet.js';
import { demuxToJson, renderDemuxDot, renderDemuxMermaid, renderDemuxTable } from '../../src/report/demux.js';
import { flowJsonText } from '../../src/report/json.js';
import { renderFlowsTable } from '../../src/report/table.js';

const SERVER_PORT = 30600;
const CLIENT_PORT = 30601; // both TCP clients
const UDP_PORT = 30602; // the server's UDP socket
const UDP_CLIENT_PORT = 30603; // both UDP clients
const NOBODY_PORT = 30604; // the unprivileged child's own connection

const root = process.getuid?.() === 0;

function captureUnavailable(): string | null {
  try {
    openLive({ device: 'lo', filter: `udp port ${30609}` }).stop();
    return null;
  } catch (err) {
    if (err instanceof LiveCaptureError) return err.message;
    throw err;
  }
}
const unavailable = captureUnavailable();
// CI runs as root with libpcap: there, no capture is a failure, not a skip.
const mustCapture = Boolean(process.env.CI) && root;
const skipCapture = unavailable !== null && !mustCapture;

// ---------------------------------------------------------------------------------------------
// The children: plain `node -e` scripts. Each says "ready" once its sockets are open, keeps
// them open, and exits when its stdin closes (so nothing outlives a failed test run).

const EXIT_ON_STDIN_END = "process.stdin.on('end', () => process.exit(0)); process.stdin.resume();";

const SERVER = `
process.title = 'fd-server';
const net = require('net'), dgram = require('dgram');
const srv = net.createServer((s) => s.on('data', (d) => s.write('echo:' + d)));
srv.listen(${SERVER_PORT}, '127.0.0.1', () => {
  const u = dgram.createSocket('udp4');
  u.on('message', (m, r) => u.send('re:' + m, r.port, r.address));
  u.bind(${UDP_PORT}, '127.0.0.1', () => process.stdout.write('ready\\n'));
});
${EXIT_ON_STDIN_END}`;

const client = (address: string, title: string) => `
process.title = '${title}';
const net = require('net'), dgram = require('dgram');
const c = net.connect({ host: '127.0.0.1', port: ${SERVER_PORT}, localAddress: '${address}', localPort: ${CLIENT_PORT} });
c.on('connect', () => c.write('hello from ${title}'));
c.once('data', () => {
  const u = dgram.createSocket('udp4');
  u.bind(${UDP_CLIENT_PORT}, '${address}', () => {
    u.once('message', () => process.stdout.write('ready\\n'));
    u.send('ping', ${UDP_PORT}, '127.0.0.1');
  });
});
${EXIT_ON_STDIN_END}`;

interface Child {
  proc: ChildProcess;
  pid: number;
  exited: Promise<void>;
}

function start(script: string): Promise<Child> {
  const proc = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return new Promise((resolvePromise, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('ready')) resolvePromise({ proc, pid: proc.pid!, exited });
    });
    proc.once('exit', (code) => reject(new Error(`child exited (${code}) before it was ready`)));
  });
}

async function stop(c: Child): Promise<void> {
  c.proc.stdin!.end();
  await c.exited;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------

let server: Child;
let clientA: Child;
let clientC: Child;
let source: LiveSource | null = null;
let consumed: Promise<void> = Promise.resolve();
const engine = new DemuxEngine();
const attribution = new LiveAttribution(new ProcessMap());
let packets = 0;

beforeAll(async () => {
  attribution.start();
  if (!skipCapture) {
    if (unavailable !== null) throw new Error(`live capture must run here (CI as root): ${unavailable}`);
    source = openLive({ device: 'lo', filter: `tcp port ${SERVER_PORT} or udp port ${UDP_PORT}` });
    const src = source;
    const pkt = newPacket();
    // What `flowdemux live` does with each batch, plus the two attribution calls.
    consumed = (async () => {
      for await (const batch of src.batches()) {
        for (const frame of batch) {
          decodeFrame(frame, pkt);
          attribution.notePacket(engine.ingest(pkt, frame.tsSec, frame.tsNsec), pkt);
          packets++;
        }
        attribution.poll();
      }
    })();
  }
  server = await start(SERVER);
  clientA = await start(client('127.0.0.2', 'fd-client-a'));
  clientC = await start(client('127.0.0.3', 'fd-client-c'));
});

afterAll(async () => {
  source?.stop();
  attribution.close();
  for (const c of [clientA, clientC, server]) if (c && c.proc.exitCode === null) await stop(c);
});

const serverProcess = () => ({ pid: server.pid, command: 'fd-server', state: 'running' as const });
const listener = () => ({ socket: `127.0.0.1:${SERVER_PORT}`, pid: server.pid, command: 'fd-server' });

describe('process attribution on this host', () => {
  it('the children are what the test thinks: their names in /proc', () => {
    expect(new Set([server.pid, clientA.pid, clientC.pid]).size).toBe(3);
    expect(readFileSync(`/proc/${server.pid}/comm`, 'utf8')).toBe('fd-server\n');
    expect(readFileSync(`/proc/${clientA.pid}/comm`, 'utf8')).toBe('fd-client-a\n');
  });

  it('ProcessMap names both ends of both connections; the two server sockets of the shared port are the server\'s', () => {
    const map = new ProcessMap();
    map.start();
    const owner = (...a: Parameters<ProcessMap['resolve']>) => {
      const r = map.resolve(...a);
      return r.kind === 'process' ? r.process : r;
    };
    for (const [ip, child, title] of [['127.0.0.2', clientA, 'fd-client-a'], ['127.0.0.3', clientC, 'fd-client-c']] as const) {
      expect(owner('tcp', ip, CLIENT_PORT, '127.0.0.1', SERVER_PORT)).toEqual({ pid: child.pid, command: title, state: 'running' });
      expect(map.resolve('tcp', '127.0.0.1', SERVER_PORT, ip, CLIENT_PORT)).toMatchObject({
        kind: 'process', process: serverProcess(), listener: listener(),
      });
      expect(map.resolve('udp', ip, UDP_CLIENT_PORT, '127.0.0.1', UDP_PORT)).toMatchObject({
        process: { pid: child.pid, command: title, state: 'running' }, socket: { kind: 'unconnected', bound: `${ip}:${UDP_CLIENT_PORT}` },
      });
      // One unconnected UDP socket on the server takes both peers' datagrams.
      expect(map.resolve('udp', '127.0.0.1', UDP_PORT, ip, UDP_CLIENT_PORT)).toMatchObject({
        process: serverProcess(), socket: { kind: 'unconnected', bound: `127.0.0.1:${UDP_PORT}` },
      });
    }
    // The walk of every process at the start answered all of them; asking again reads no more.
    expect(map.owners.counts.fullWalks).toBe(1);
    const links = map.owners.counts.links;
    for (let i = 0; i < 200; i++) map.resolve('tcp', '127.0.0.3', CLIENT_PORT, '127.0.0.1', SERVER_PORT);
    expect(map.owners.counts.fullWalks).toBe(1);
    // One readlink an answer: the holder is checked, nobody else is read.
    expect(map.owners.counts.links - links).toBeLessThanOrEqual(200);
    expect(map.warnings).toEqual([]);
  });

  it.skipIf(skipCapture)('live capture: each flow names the right pids on both ends', async () => {
    // Wait until the four flows were seen and their ends looked up (LiveAttribution's own
    // timer polls too): an event to wait for, checked every 10 ms, however long it takes.
    while (engine.summary().flows < 4 || attribution.pending > 0) await delay(10);
    source!.stop();
    await consumed;
    attribution.finish();
    engine.finish();
    const flows = engine.flows();
    for (const f of flows) attribution.attribute(f);
    expect(packets).toBeGreaterThan(10);
    // Full walks of every process: the one at the start, no more (the new flows' owners were
    // found among the new or hinted processes).
    expect(attribution.map.owners.counts.fullWalks).toBeLessThanOrEqual(1 + flows.length);

    const tcp = flows.filter((f) => f.proto === 'tcp');
    const udp = flows.filter((f) => f.proto === 'udp');
    expect(tcp.map((f) => f.client.ip).sort()).toEqual(['127.0.0.2', '127.0.0.3']);
    expect(udp.map((f) => f.client.ip).sort()).toEqual(['127.0.0.2', '127.0.0.3']);
    const byClient = (list: Flow[], ip: string) => list.find((f) => f.client.ip === ip)!;
    for (const [ip, child, title] of [['127.0.0.2', clientA, 'fd-client-a'], ['127.0.0.3', clientC, 'fd-client-c']] as const) {
      const t = byClient(tcp, ip);
      expect(t.client).toEqual({ ip, port: CLIENT_PORT, process: { pid: child.pid, command: title, state: 'running' } });
      expect(t.server).toEqual({ ip: '127.0.0.1', port: SERVER_PORT, process: serverProcess(), listener: listener() });
      const u = byClient(udp, ip);
      expect(u.client).toEqual({
        ip, port: UDP_CLIENT_PORT, process: { pid: child.pid, command: title, state: 'running' },
        socket: { kind: 'unconnected', bound: `${ip}:${UDP_CLIENT_PORT}` },
      });
      expect(u.server).toEqual({
        ip: '127.0.0.1', port: UDP_PORT, process: serverProcess(), socket: { kind: 'unconnected', bound: `127.0.0.1:${UDP_PORT}` },
      });
    }

    // The JSON shape of design.md plus client.process / server.process.
    const json = JSON.parse(flowJsonText(byClient(tcp, '127.0.0.2'))) as Record<string, unknown>;
    expect(json.client).toEqual({ ip: '127.0.0.2', port: CLIENT_PORT, process: { pid: clientA.pid, command: 'fd-client-a', state: 'running' } });
    expect(Object.keys(json.server as object)).toEqual(['ip', 'port', 'process', 'listener']);

    // The table gets the process columns.
    const table = renderFlowsTable(flows);
    expect(table).toMatch(/client process.*server process/);
    expect(table).toContain(`fd-client-a (pid ${clientA.pid})`);
    expect(table).toContain(`fd-server (pid ${server.pid})`);

    // The demux picture: P4 and P5 of the teaching figure are the server process, P3 the client.
    const report = buildDemux(flows);
    const group = report.groups.find((g) => g.proto === 'tcp' && g.port === SERVER_PORT)!;
    expect(group.keyNeeded).toBe('4-tuple');
    const listen = group.sockets.find((s): s is ListenSocket => s.kind === 'listen')!;
    expect(listen.process).toEqual(serverProcess());
    expect(listen.bound).toBe(`127.0.0.1:${SERVER_PORT}`);
    const conns = group.sockets.filter((s): s is ConnectionSocket => s.kind === 'connection');
    expect(conns).toHaveLength(2);
    for (const c of conns) expect(c.process).toMatchObject({ pid: server.pid, command: 'fd-server' });
    const udpSocket = report.groups.find((g) => g.proto === 'udp')!.sockets[0] as UnconnectedSocket;
    expect(udpSocket.process).toEqual(serverProcess());
    const doc = demuxToJson(report) as { groups: { sockets: { process?: unknown }[] }[] };
    expect(doc.groups[0]!.sockets.map((s) => s.process)).toEqual([serverProcess(), serverProcess(), serverProcess()]);
    const text = renderDemuxTable(report);
    expect(text).toContain(`held by fd-server (pid ${server.pid}), peer fd-client-a (pid ${clientA.pid})`);
    expect(text).toContain(`held by fd-server (pid ${server.pid}), peer fd-client-c (pid ${clientC.pid})`);
    for (const drawing of [renderDemuxDot(report), renderDemuxMermaid(report)]) {
      expect(drawing).toContain(`fd-server (pid ${server.pid})`);
      expect(drawing).toContain(`fd-client-a (pid ${clientA.pid})`);
      expect(drawing).toContain(`fd-client-c (pid ${clientC.pid})`);
    }
  });

  it.skipIf(!root)('without root, other users\' sockets are not visible: said once, own sockets still shown', async () => {
    const dir = transpileForChild();
    try {
      const result = await runAsNobody(dir);
      expect(result.mine).toEqual({ pid: result.pid, command: 'fd-nobody', state: 'running' });
      expect(result.rootServer).toEqual({ kind: 'unknown', reason: 'not-visible' });
      expect(result.rootClient).toEqual({ kind: 'unknown', reason: 'not-visible' });
      expect(result.scans).toBe(1);
      expect(result.warnings).toHaveLength(1);
      expect(result.warnings[0]).toMatch(/^process names: \d+ process(es)? of other users cannot be looked at without root/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('after the processes exit, a fresh look says gone', async () => {
    const flows: Flow[] = [];
    const end = (ip: string, port: number) => ({ ip, port });
    const counters = { packets: 1, wireBytes: 1, ipBytes: 1, payloadBytes: 0 };
    for (const ip of ['127.0.0.2', '127.0.0.3']) {
      for (const [proto, c, s] of [['tcp', CLIENT_PORT, SERVER_PORT], ['udp', UDP_CLIENT_PORT, UDP_PORT]] as const) {
        flows.push({
          id: flows.length + 1, proto, generation: 1, client: end(ip, c), server: end('127.0.0.1', s), rolesInferred: false,
          start: { sec: 0, nsec: 0 }, end: { sec: 0, nsec: 0 }, duration: 0, toServer: { ...counters }, toClient: { ...counters },
          state: proto === 'tcp' ? 'SF' : 'SF', history: '', communityId: '', generationReason: 'first', endReason: 'fin',
          ipVersion: 4, icmpErrors: 0, icmpError: null,
        });
      }
    }
    const map = new ProcessMap();
    map.start();
    attributeFlows(flows, map);
    for (const f of flows) {
      expect(f.client.process?.state).toBe('running');
      expect(f.server.process).toMatchObject(serverProcess());
    }
    await Promise.all([stop(clientA), stop(clientC)]);
    await stop(server);
    attributeFlows(flows, map);
    for (const f of flows) {
      expect(f.client.process?.state).toBe('gone');
      expect(f.server.process?.state).toBe('gone');
      expect(f.server.listener).toBeUndefined(); // the server process, and its listener, are gone too
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The unprivileged child: procfs.ts and what it imports, compiled to plain JS (TypeScript's
// transpiler, types erased) into a directory `nobody` can read, run as uid 65534.

function transpileForChild(): string {
  const dir = mkdtempSync(join(tmpdir(), 'flowdemux-procs-'));
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const todo = [join(repo, 'src/host/procfs.ts')];
  const done = new Set<string>();
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (done.has(file)) continue;
    done.add(file);
    const js = ts.transpileModule(readFileSync(file, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
    }).outputText;
    const out = join(dir, relative(repo, file).replace(/\.ts$/, '.js'));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, js);
    for (const m of js.matchAll(/from '(\.\.?\/[^']+)\.js'/g)) todo.push(join(dirname(file), `${m[1]}.ts`));
  }
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  writeFileSync(join(dir, 'child.js'), `
import net from 'node:net';
import { ProcessMap } from './src/host/procfs.js';
process.title = 'fd-nobody';
const own = net.createServer(() => {});
await new Promise((r) => own.listen(${NOBODY_PORT}, '127.0.0.1', r));
const c = net.connect({ host: '127.0.0.1', port: ${NOBODY_PORT} });
await new Promise((r) => c.on('connect', r));
const map = new ProcessMap();
map.start();
const mine = map.resolve('tcp', '127.0.0.1', c.localPort, '127.0.0.1', ${NOBODY_PORT}).process;
const rootServer = map.resolve('tcp', '127.0.0.1', ${SERVER_PORT}, '127.0.0.2', ${CLIENT_PORT});
const rootClient = map.resolve('tcp', '127.0.0.2', ${CLIENT_PORT}, '127.0.0.1', ${SERVER_PORT});
process.stdout.write(JSON.stringify({ pid: process.pid, mine, rootServer, rootClient, scans: map.scans, warnings: map.warnings }));
process.exit(0);
`);
  const open = (p: string) => {
    chmodSync(p, 0o755);
  };
  open(dir);
  for (const sub of ['src', 'src/host', 'src/parse']) open(join(dir, sub));
  return dir;
}

interface NobodyResult {
  pid: number;
  mine: unknown;
  rootServer: unknown;
  rootClient: unknown;
  scans: number;
  warnings: string[];
}

function runAsNobody(dir: string): Promise<NobodyResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(dir, 'child.js')], { uid: 65534, gid: 65534, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`child as nobody failed (${code}): ${err}`));
      else resolvePromise(JSON.parse(out) as NobodyResult);
    });
  });
}
