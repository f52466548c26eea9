/**
 * Live process attribution on everyday servers, for real on `lo` (root, libpcap and `cap`; in
 * CI as root these must run): Python's http.server and 20 curls one after another (connections
 * of a few milliseconds), a forking server with two clients from the same port at once (the
 * teaching picture: each server end is its own child), two SO_REUSEPORT workers, and UDP sockets
 * of every kind (unconnected on the wildcard, connected, dual stack).
 *
 * Each server says which process served a connection (its pid in the reply, curl its own local
 * port), so every name flowdemux gives is checked against the truth, not against itself. Tests
 * wait for events (a line from a child, a flow seen, the looks settled), never for time.
 *
 * Ports 30610-30629 belong to this file (and 80 for the forking server, when it is free).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import type { Flow } from '../../src/core/flow.js';
import { buildDemux } from '../../src/demux/groups.js';
import { renderDemuxTable } from '../../src/report/demux.js';
import { skipLive, startLiveLoop } from '../helpers/live-loop.js';

const BIN = new URL('../../bin/flowdemux.js', import.meta.url).pathname;
const HTTP_PORT = 30610;
const FORK_FALLBACK_PORT = 30611;
const REUSE_PORT = 30612;
const UDP_WILD = 30613; // unconnected, bound to 0.0.0.0
const UDP_SHARED = 30614; // an unconnected and a connected socket on 127.0.0.1
const UDP_PEER = 30615; // the connected socket's peer port
const UDP_DUAL = 30616; // an IPv6 socket taking IPv4
const UDP_OTHER = 30617; // a peer of the unconnected socket on UDP_SHARED

const skip = skipLive();
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

/** A python3 child; resolves with it and the first line it prints (its "ready" line). */
function python(script: string): Promise<{ child: ChildProcess; line: string }> {
  // stderr is python's own log (http.server writes a line per request there): not shown.
  const child = spawn('python3', ['-u', '-c', script], { stdio: ['pipe', 'pipe', 'ignore'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ child, line: out.slice(0, nl) });
    });
    child.once('exit', (code) => reject(new Error(`python3 exited (${code}) before it was ready: ${script.slice(0, 60)}`)));
  });
}

/** Runs a command to its end; resolves with its pid and stdout. */
function run(cmd: string, args: string[]): Promise<{ pid: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve({ pid: child.pid!, out }) : reject(new Error(`${cmd} exited ${code}`))));
  });
}

/** A TCP client that connects, reads one line (the serving pid), and stays open until `close()`. */
function client(port: number, local?: { address: string; port: number }): Promise<{ servedBy: number; localPort: number; close: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ...(local ? { localAddress: local.address, localPort: local.port } : {}) });
    let got = '';
    s.on('error', reject);
    s.on('connect', () => s.write('hello\n'));
    s.on('data', (d) => {
      got += d;
      if (!got.includes('\n')) return;
      const closed = new Promise<void>((r) => s.once('close', () => r()));
      resolve({
        servedBy: Number(got.trim()), localPort: s.localPort!,
        close: async () => {
          s.end('bye\n');
          await closed;
        },
      });
    });
  });
}

const tcpFlows = (flows: Flow[], port: number) => flows.filter((f) => f.proto === 'tcp' && f.server.port === port);

describe.skipIf(skip)('live: whose sockets, on everyday servers', () => {
  it('python3 -m http.server and 20 curls in a row, under `flowdemux live`: every server end names python3, at least 18 clients name their curl', async () => {
    const { child: server } = await python(
      `import http.server, functools, sys\n`
      + `h = functools.partial(http.server.SimpleHTTPRequestHandler, directory='/')\n`
      + `s = http.server.ThreadingHTTPServer(('127.0.0.1', ${HTTP_PORT}), h)\n`
      + `print('ready', flush=True)\ns.serve_forever()\n`);
    // The command itself, as a user runs it; it says when it captures (its first stderr line).
    const cli = spawn(process.execPath, [BIN, 'live', '-i', 'lo', '--filter', `tcp port ${HTTP_PORT}`, '--format', 'json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(cli);
    let stdout = '';
    let stderr = '';
    cli.stdout!.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((r) => cli.once('close', r));
    await new Promise<void>((resolve) => cli.stderr!.on('data', (d) => {
      stderr += d;
      if (stderr.includes('Ctrl-C stops')) resolve();
    }));
    const curls = new Map<number, number>(); // local port -> curl's pid
    for (let i = 0; i < 20; i++) {
      const { pid, out } = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{local_port}', `http://127.0.0.1:${HTTP_PORT}/`]);
      curls.set(Number(out), pid);
    }
    cli.kill('SIGTERM');
    expect(await exited).toBe(0);
    server.kill();
    const flows = tcpFlows(JSON.parse(stdout).flows as Flow[], HTTP_PORT);
    expect(flows).toHaveLength(20);
    let clientsNamed = 0;
    for (const f of flows) {
      // The server end: its own socket (python3 accepts in the listener's process) or, if that
      // was gone before it was seen, the listener; never a wrong pid, never nothing.
      const own = f.server.process;
      if (own?.state === 'running') expect(own).toMatchObject({ pid: server.pid, command: 'python3' });
      expect(f.server.listener).toEqual({ socket: `127.0.0.1:${HTTP_PORT}`, pid: server.pid, command: 'python3' });
      // The client end: its curl, by the local port curl itself reported.
      const curl = curls.get(f.client.port);
      expect(curl).toBeDefined();
      const c = f.client.process;
      if (c?.state === 'running') {
        expect(c).toEqual({ pid: curl, command: 'curl', state: 'running' });
        clientsNamed++;
      } else expect(c).toMatchObject({ state: 'gone' }); // said, not guessed
    }
    // The margin, in the log: + a client named, - gone; s the server end by its own socket, . by its listener.
    console.log(`http.server + 20 curls: ${clientsNamed}/20 clients named ` + flows.map((f) => (f.client.process?.state === "running" ? "+" : "-") + (f.server.process?.state === "running" ? "s" : ".")).join(""));
    // Issue 13 asks for at least 18 of 20. Before the SYN watcher (native/syn-watch.c) this was
    // 16-20, a miss being a curl whose connection closed before the event loop got to its first
    // packet; with it, 20 of 20 in every run measured, idle or beside two `yes`.
    expect(clientsNamed).toBeGreaterThanOrEqual(18);
  });

  it('a forking server, two clients from port 9157 of two addresses at once: each server end names its own child, both the parent\'s listener', async () => {
    const { child: server, line } = await python(
      `import socketserver, os\n`
      + `class H(socketserver.StreamRequestHandler):\n`
      + `    def handle(self):\n`
      + `        self.rfile.readline()\n`
      + `        self.wfile.write(b'%d\\n' % os.getpid()); self.wfile.flush()\n`
      + `        self.rfile.readline()\n`
      + `socketserver.ForkingTCPServer.allow_reuse_address = True\n`
      + `for port in (80, ${FORK_FALLBACK_PORT}):\n`
      + `    try:\n`
      + `        s = socketserver.ForkingTCPServer(('127.0.0.1', port), H); break\n`
      + `    except OSError: pass\n`
      + `print(port, flush=True)\ns.serve_forever()\n`);
    const port = Number(line);
    const live = startLiveLoop(`tcp port ${port}`);
    const [a, c] = await Promise.all([
      client(port, { address: '127.0.0.2', port: 9157 }),
      client(port, { address: '127.0.0.3', port: 9157 }),
    ]);
    // Both connections open at once, each served by its own child.
    expect(a.servedBy).not.toBe(c.servedBy);
    expect([a.servedBy, c.servedBy]).not.toContain(server.pid);
    await live.until(() => tcpFlows(live.engine.flows(), port).length === 2 && live.attribution.pending === 0);
    const flows = tcpFlows(await live.stop(), port);
    await Promise.all([a.close(), c.close()]);
    server.kill();
    for (const [ip, served] of [['127.0.0.2', a.servedBy], ['127.0.0.3', c.servedBy]] as const) {
      const f = flows.find((x) => x.client.ip === ip)!;
      expect(f.client.port).toBe(9157);
      expect(f.server.process).toMatchObject({ pid: served, command: 'python3', state: 'running' });
      expect(f.server.listener).toMatchObject({ socket: `127.0.0.1:${port}`, pid: server.pid, command: 'python3' });
      // This test's own process is the client.
      expect(f.client.process).toMatchObject({ pid: process.pid, state: 'running' });
    }
    // The teaching picture: one port, two connection sockets, each its own process.
    const text = renderDemuxTable(buildDemux(flows));
    expect(text).toMatch(new RegExp(`takes the SYN of flows 1, 2; held by python3 \\(pid ${server.pid}[,)]`));
    // Each connection's row names its child first (the parent may still have held it too).
    expect(text).toMatch(new RegExp(`127\\.0\\.0\\.2:9157  flow \\d; held by python3 \\(pid ${a.servedBy}[,)]`));
    expect(text).toMatch(new RegExp(`127\\.0\\.0\\.3:9157  flow \\d; held by python3 \\(pid ${c.servedBy}[,)]`));
  });

  it('SO_REUSEPORT: two workers listen on one port; each of 20 connections names the worker that accepted it and the group', async () => {
    const worker = () => python(
      `import socket, os\n`
      // SO_REUSEADDR too, as servers do: a client of an earlier test may have left this port in
      // TIME_WAIT as its ephemeral port (it happened: a curl of the http.server test).
      + `s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)\n`
      + `s.bind(('127.0.0.1', ${REUSE_PORT})); s.listen(64)\n`
      + `print('ready', flush=True)\n`
      + `while True:\n`
      + `    c, _ = s.accept(); c.recv(100); c.sendall(b'%d\\n' % os.getpid()); c.recv(100); c.close()\n`);
    const [w1, w2] = await Promise.all([worker(), worker()]);
    const workers = [w1.child.pid!, w2.child.pid!].sort((x, y) => x - y);
    const live = startLiveLoop(`tcp port ${REUSE_PORT}`);
    const servedBy = new Map<number, number>(); // client port -> worker pid
    for (let i = 0; i < 20; i++) {
      const c = await client(REUSE_PORT);
      servedBy.set(c.localPort, c.servedBy);
      // Held open until its looks settled: this test is about which worker, not about speed.
      await live.until(() => live.engine.flows().some((f) => f.client.port === c.localPort) && live.attribution.pending === 0);
      await c.close();
    }
    const flows = tcpFlows(await live.stop(), REUSE_PORT);
    w1.child.kill();
    w2.child.kill();
    expect(flows).toHaveLength(20);
    const seen = new Set<number>();
    for (const f of flows) {
      const served = servedBy.get(f.client.port)!;
      expect(workers).toContain(served);
      seen.add(served);
      expect(f.server.process).toMatchObject({ pid: served, command: 'python3', state: 'running' });
      expect(f.server.listener).toMatchObject({
        socket: `127.0.0.1:${REUSE_PORT}`, pid: served,
        reuseport: { listeners: 2, owners: workers.map((pid) => ({ pid, command: 'python3' })) },
      });
    }
    // The kernel's hash spreads 20 connections over both (one worker taking all 20 has a
    // chance of 2^-19: the group is real).
    expect(seen.size).toBe(2);
    const text = renderDemuxTable(buildDemux(flows));
    expect(text).toContain('SO_REUSEPORT group of 2 listeners');
    expect(text).toContain('the kernel gives each connection to one of them by a hash of its 4-tuple');
  });

  it('UDP as the kernel has it: unconnected on the wildcard, connected preferred over unconnected, an IPv6 socket taking IPv4', async () => {
    const { child: server } = await python(
      `import socket\n`
      + `def udp(fam=socket.AF_INET):\n`
      + `    s = socket.socket(fam, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); return s\n`
      + `w = udp(); w.bind(('0.0.0.0', ${UDP_WILD}))\n`
      + `u = udp(); u.bind(('127.0.0.1', ${UDP_SHARED}))\n`
      + `c = udp(); c.bind(('127.0.0.1', ${UDP_SHARED})); c.connect(('127.0.0.5', ${UDP_PEER}))\n`
      + `d = udp(socket.AF_INET6); d.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0); d.bind(('::', ${UDP_DUAL}))\n`
      + `print('ready', flush=True)\nimport time\ntime.sleep(3600)\n`);
    const live = startLiveLoop(`udp portrange ${UDP_WILD}-${UDP_OTHER}`);
    const send = (from: [string, number], to: number) => new Promise<void>((resolve, reject) => {
      const s = createSocket({ type: 'udp4', reuseAddr: true });
      s.on('error', reject);
      s.bind(from[1], from[0], () => s.send('ping', to, '127.0.0.1', () => s.close(() => resolve())));
    });
    await send(['127.0.0.4', UDP_OTHER], UDP_WILD);
    await send(['127.0.0.5', UDP_PEER], UDP_SHARED); // the connected socket's peer
    await send(['127.0.0.6', UDP_OTHER], UDP_SHARED); // anyone else
    await send(['127.0.0.7', UDP_OTHER], UDP_DUAL);
    await live.until(() => live.engine.flows().filter((f) => f.proto === 'udp').length === 4 && live.attribution.pending === 0);
    const flows = (await live.stop()).filter((f) => f.proto === 'udp');
    server.kill();
    // Roles: no handshake, so the first sender is the client (as Zeek guesses): here the
    // clients send first in every flow.
    const to = (port: number, from: string) => flows.find((f) => f.server.port === port && f.client.ip === from)!;
    const mine = { pid: server.pid, command: 'python3', state: 'running' };
    expect(to(UDP_WILD, '127.0.0.4').server).toMatchObject({ process: mine, socket: { kind: 'unconnected', bound: `0.0.0.0:${UDP_WILD}` } });
    expect(to(UDP_SHARED, '127.0.0.5').server).toMatchObject({ process: mine, socket: { kind: 'connected', bound: `127.0.0.1:${UDP_SHARED}` } });
    expect(to(UDP_SHARED, '127.0.0.6').server).toMatchObject({ process: mine, socket: { kind: 'unconnected', bound: `127.0.0.1:${UDP_SHARED}` } });
    expect(to(UDP_DUAL, '127.0.0.7').server).toMatchObject({ process: mine, socket: { kind: 'unconnected', bound: `[::]:${UDP_DUAL}`, dualStack: true } });
    const text = renderDemuxTable(buildDemux(flows));
    expect(text).toContain('reached a connected socket instead (found by the 4-tuple, preferred by the kernel)');
    expect(text).toContain('an IPv6 socket taking IPv4 (v4-mapped)');
    expect(text).toContain(`bound to 0.0.0.0:${UDP_WILD}`);
  });
});
