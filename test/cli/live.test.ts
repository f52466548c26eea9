/**
 * `flowdemux live` end to end, for real on lo (CI runs as root with libpcap-dev installed):
 * the teaching picture on test-only ports — two clients from the same port on 127.0.0.2 and
 * 127.0.0.3 to one server port at the same time, plus UDP from both to one UDP socket — captured
 * by the CLI process, then the -w file read back with `flows`.
 */
import { createServer, connect, type Socket } from 'node:net';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { datagramsFromTwoPeers, startCli } from '../helpers/live-cli.js';
import { runCli } from '../helpers/run-cli.js';

const TCP_PORT = 30480;
const UDP_PORT = 30481;
// Above both server ports, so that the UDP roles (inferred: no SYN) come out as in real life.
const CLIENT_PORT = 30482;
const isRoot = process.getuid?.() === 0;
const dir = mkdtempSync(join(tmpdir(), 'flowdemux-live-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Two TCP clients from port CLIENT_PORT on .2 and .3, open at the same time; UDP from both. */
async function teachingTraffic(): Promise<void> {
  const server = createServer((s) => {
    s.on('data', (d) => s.write(`echo ${d}`));
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => server.listen(TCP_PORT, '127.0.0.1', r));
  const open = (localAddress: string) =>
    new Promise<Socket>((resolve, reject) => {
      const c = connect({ host: '127.0.0.1', port: TCP_PORT, localAddress, localPort: CLIENT_PORT }, () => resolve(c));
      c.on('error', reject);
    });
  const a = await open('127.0.0.2');
  const c = await open('127.0.0.3');
  for (const s of [a, c]) {
    s.write('hello');
    await new Promise((r) => s.once('data', r));
  }
  await Promise.all([a, c].map((s) => new Promise((r) => { s.on('close', r); s.end(); })));
  server.close();

  const udpServer = createSocket('udp4');
  udpServer.on('message', (m, rinfo) => udpServer.send(m, rinfo.port, rinfo.address));
  await new Promise<void>((r) => udpServer.bind(UDP_PORT, '127.0.0.1', r));
  await datagramsFromTwoPeers(UDP_PORT, CLIENT_PORT);
  udpServer.close();
}

describe.runIf(isRoot)('flowdemux live on lo (root)', () => {
  it('captures the teaching picture, reports its flows, and writes a pcap that reads back the same', async () => {
    const out = join(dir, 'live.pcap');
    const filter = `port ${TCP_PORT} or port ${UDP_PORT}`;
    const cli = startCli(['live', '-i', 'lo', '--filter', filter, '-w', out, '--format', 'json']);
    await cli.capturing;
    await teachingTraffic();
    // Stopped once the traffic is over; the last packets (the final ACKs) were sent before.
    cli.child.kill('SIGTERM');
    const r = await cli.done;
    expect(r.stderr.trim().split('\n')).toEqual([
      `flowdemux: capturing on lo (EN10MB) with filter '${filter}'; Ctrl-C stops`,
      expect.stringMatching(/^flowdemux: \d+ packets captured, 0 dropped by kernel \(signal\), written to /),
    ]);
    expect(r.code).toBe(0);
    const live = JSON.parse(r.stdout);
    const tcp = live.flows.filter((f: any) => f.proto === 'tcp');
    const udp = live.flows.filter((f: any) => f.proto === 'udp');
    expect(tcp.map((f: any) => `${f.client.ip}:${f.client.port}>${f.server.ip}:${f.server.port}`).sort()).toEqual([
      `127.0.0.2:${CLIENT_PORT}>127.0.0.1:${TCP_PORT}`,
      `127.0.0.3:${CLIENT_PORT}>127.0.0.1:${TCP_PORT}`,
    ]);
    for (const f of tcp) {
      expect(f.state).toBe('SF');
      expect(f.rolesInferred).toBe(false);
      expect(f.toServer.payloadBytes).toBe(5);
      expect(f.toClient.payloadBytes).toBe(10);
    }
    // Both connections were open at once: the second SYN came before the first FIN.
    const [f1, f2] = tcp.sort((x: any, y: any) => x.start.localeCompare(y.start));
    expect(f2.start < f1.end).toBe(true);
    // One UDP socket (127.0.0.1:UDP_PORT) and two peers from the same port.
    expect(udp.map((f: any) => `${f.client.ip}:${f.client.port}>${f.server.ip}:${f.server.port}`).sort()).toEqual([
      `127.0.0.2:${CLIENT_PORT}>127.0.0.1:${UDP_PORT}`,
      `127.0.0.3:${CLIENT_PORT}>127.0.0.1:${UDP_PORT}`,
    ]);
    for (const f of udp) {
      expect([f.toServer.packets, f.toClient.packets, f.state]).toEqual([1, 1, 'SF']);
    }

    // Both ends of every flow are sockets of this very process (the test is server and clients):
    // named so when seen, or said to be gone (these connections last a few milliseconds, all
    // in one old process: see the next test for ends that are still open).
    for (const f of live.flows) {
      for (const end of [f.client, f.server]) {
        expect(['running', 'gone']).toContain(end.process.state);
        if (end.process.state === 'running') expect(end.process.pid).toBe(process.pid);
      }
    }

    // The -w file: flowdemux reads it back to the same flows.
    expect(existsSync(out)).toBe(true);
    const back = await runCli(['flows', out, '--format', 'json']);
    expect(back.code).toBe(0);
    // Files carry no process information: the fields are absent, not invented.
    const ends = (f: any) => [f.client, f.server].map((e: any) => ({ ip: e.ip, port: e.port }));
    const strip = (f: any) => ({ ends: ends(f), toServer: f.toServer, toClient: f.toClient, state: f.state, start: f.start });
    const backFlows = JSON.parse(back.stdout).flows;
    expect(backFlows.map(strip)).toEqual(live.flows.map(strip));
    for (const f of backFlows) expect([f.client.process, f.server.process]).toEqual([undefined, undefined]);
  }, 20_000);

  it('names the process and the listener of every end that is open when it stops', async () => {
    const port = TCP_PORT + 20;
    const cli = startCli(['live', '-i', 'lo', '--filter', `tcp port ${port}`, '--format', 'json']);
    await cli.capturing;
    const server = createServer((s) => s.on('data', (d) => s.write(d)));
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    const clients = await Promise.all([0, 1].map(() => new Promise<Socket>((resolve, reject) => {
      const c = connect({ host: '127.0.0.1', port }, () => c.write('x'));
      c.once('data', () => resolve(c));
      c.on('error', reject);
    })));
    // Stopped while both connections are open: its last look sees every socket.
    cli.child.kill('SIGTERM');
    const r = await cli.done;
    await Promise.all(clients.map((c) => new Promise((done) => { c.on('close', done); c.end(); })));
    server.close();
    expect(r.code).toBe(0);
    const flows = JSON.parse(r.stdout).flows;
    expect(flows).toHaveLength(2);
    const me = { pid: process.pid, command: expect.any(String), state: 'running' };
    for (const f of flows) {
      expect(f.client.process).toEqual(me);
      expect(f.server.process).toEqual(me);
      expect(f.server.listener).toEqual({ socket: `127.0.0.1:${port}`, pid: process.pid, command: me.command });
    }
  }, 20_000);

  it('stops at --count and exits 0', async () => {
    const cli = startCli(['live', '-i', 'lo', '--filter', `udp port ${UDP_PORT + 10}`, '--count', '2', '--format', 'json']);
    await cli.capturing;
    const u = createSocket('udp4');
    for (let i = 0; i < 4; i++) u.send('x', UDP_PORT + 10, '127.0.0.1');
    const r = await cli.done;
    u.close();
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.flows[0].toServer.packets + doc.flows[0].toClient.packets).toBe(2);
  }, 20_000);

  it('SIGTERM stops the capture and still prints the report', async () => {
    const cli = startCli(['live', '-i', 'lo', '--filter', 'udp port 1', '--format', 'json']);
    await cli.capturing;
    cli.child.kill('SIGTERM');
    const r = await cli.done;
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).flows).toEqual([]);
  }, 20_000);
});

describe('flowdemux live: failures are one line', () => {
  it('an unknown interface lists the ones that exist (exit 2)', async () => {
    const r = await runCli(['live', '-i', 'no-such-dev0', '--count', '1']);
    if (r.stderr.includes('optional `cap` package')) return expect(r.code).toBe(1); // cap not built here
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no capture device 'no-such-dev0'; devices: .*\blo\b/);
  });

  it('a bad BPF filter shows libpcap\'s message (exit 2)', async () => {
    const r = await runCli(['live', '-i', 'lo', '--filter', 'tcp port', '--count', '1']);
    if (!isRoot) return; // opening lo needs privileges; the message is checked as root in CI
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad capture filter 'tcp port': .*syntax error/);
  });

  it('an unwritable -w path fails before capturing (exit 1)', async () => {
    const r = await runCli(['live', '-i', 'lo', '-w', '/proc/flowdemux.pcap', '--count', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^flowdemux: cannot write \/proc\/flowdemux\.pcap: /);
  });
});
