/**
 * `flowdemux live --report FILE`, for real on lo (root), then the page in chromium. A server
 * process (python3) that named itself `<img src=x>` (a process may call itself anything, and
 * the page shows process names) listens on TCP 30720 and UDP 30721; two clients of this test,
 * from 127.0.0.2:30722 and 127.0.0.3:30722, connect at once and each sends a datagram. The
 * capture is stopped (SIGTERM) while both connections are open, so that its last look finds
 * every socket's process. The page holds the demux picture with the listener and both sockets,
 * each with its process, both ladders, and shows the markup-like process name as text.
 *
 * Ports: TCP and UDP 30720-30729 belong to this file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { BROWSER_TIMEOUT, launchChromium, OUTPUT, watchPage } from '../helpers/browser.js';
import { datagramsFromTwoPeers, startCli } from '../helpers/live-cli.js';
import { skipLive } from '../helpers/live-loop.js';
import { byName, elements, parseHtml, textOf } from '../helpers/markup.js';
import { expectSafePolicy } from '../helpers/report-page.js';
import { runCli } from '../helpers/run-cli.js';

const TCP_PORT = 30720;
const UDP_PORT = 30721;
const CLIENT_PORT = 30722;
/** What the server process calls itself (/proc/PID/comm holds 15 bytes at most). */
const SERVER_NAME = '<img src=x>';

/** The server: names itself, listens, echoes, keeps every connection open; says `ready`. */
const SERVER = `
import ctypes, socket, threading, sys
ctypes.CDLL(None).prctl(15, ${JSON.stringify(SERVER_NAME)}.encode(), 0, 0, 0)
tcp = socket.socket()
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(('127.0.0.1', ${TCP_PORT}))
tcp.listen()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(('127.0.0.1', ${UDP_PORT}))
def echo_udp():
    while True:
        data, peer = udp.recvfrom(100)
        udp.sendto(data, peer)
threading.Thread(target=echo_udp, daemon=True).start()
print('ready', flush=True)
kept = []
while True:
    c, _ = tcp.accept()
    kept.append(c)
    c.sendall(b'echo ' + c.recv(100))
`;

function startServer(): Promise<ChildProcess> {
  const child = spawn('python3', ['-c', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout!.once('data', () => resolve(child));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the python3 server ended (${code}) before it listened`)));
  });
}

let browser: Browser | undefined;
let server: ChildProcess | undefined;
const report = join(OUTPUT, 'live-lo.html');

afterAll(async () => {
  server?.kill();
  await browser?.close();
});

describe.skipIf(skipLive())('live --report on lo (root)', () => {
  it('writes the page at the end, with the processes, and it opens clean in chromium', async () => {
    mkdirSync(OUTPUT, { recursive: true });
    rmSync(report, { force: true });
    server = await startServer();
    const filter = `port ${TCP_PORT} or port ${UDP_PORT}`;
    const cli = startCli(['live', '-i', 'lo', '--filter', filter, '--report', report]);
    await cli.capturing;
    const clients = await Promise.all(['127.0.0.2', '127.0.0.3'].map((localAddress) => new Promise<Socket>((resolve, reject) => {
      const c = connect({ host: '127.0.0.1', port: TCP_PORT, localAddress, localPort: CLIENT_PORT }, () => c.write('hello'));
      c.once('data', () => resolve(c));
      c.on('error', reject);
    })));
    await datagramsFromTwoPeers(UDP_PORT, CLIENT_PORT);
    // Stopped while both connections are open: its last look finds every socket's process.
    cli.child.kill('SIGTERM');
    const r = await cli.done;
    for (const c of clients) c.destroy();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^flowdemux: \d+ packets captured/m);
    expect(existsSync(report)).toBe(true);

    const doc = parseHtml(readFileSync(report, 'utf8'));
    expectSafePolicy(doc);
    expect(byName(doc, 'img')).toEqual([]);
    expect(textOf(byName(doc, 'title')[0]!)).toBe('flowdemux report: live:lo');
    const demux = [...elements(doc)].find((e) => e.attrs.id === 'demux-svg')!;
    const sockets = byName(demux, 'g').filter((g) => g.attrs.class?.startsWith('socket ')).map((g) => byName(g, 'tspan').map(textOf).join(' '));
    const held = `${SERVER_NAME} (pid ${server.pid})`;
    const me = readFileSync(`/proc/${process.pid}/comm`, 'utf8').trim();
    expect(sockets).toEqual(expect.arrayContaining([
      `listen 127.0.0.1:${TCP_PORT} ${held}`,
      `tcp socket 127.0.0.1:${TCP_PORT} ⇄ 127.0.0.2:${CLIENT_PORT} ${held}`,
      `tcp socket 127.0.0.1:${TCP_PORT} ⇄ 127.0.0.3:${CLIENT_PORT} ${held}`,
      `udp socket 127.0.0.1:${UDP_PORT} 2 peers ${held}`,
    ]));
    // The clients' ports are named after this test's process.
    const ports = byName(demux, 'g').filter((g) => g.attrs.class === 'port client').map((g) => byName(g, 'tspan').map(textOf).join(' '));
    expect(ports.filter((p) => p.includes(`${me} (pid ${process.pid})`)).length).toBeGreaterThan(0);
    // Both connections have their ladder, each end ESTABLISHED at the end (stopped while open).
    const ladders = byName(doc, 'details').filter((d) => d.attrs.id?.startsWith('flow-'));
    expect(ladders).toHaveLength(2);
    for (const l of ladders) {
      const states = byName(l, 'g').filter((g) => g.attrs.class === 'states').map((g) => byName(g, 'text').map(textOf).join(' '));
      expect(states[0]).toBe('SYN-SENT SYN-RECEIVED');
      expect(states.at(-1)).toBe('ESTABLISHED ESTABLISHED');
    }
    // The flows table: the two connections and the two datagram flows, each end's process
    // after its address (the UDP clients had closed their sockets before the last look).
    const heads = byName(byName(doc, 'thead')[0]!, 'th').map(textOf);
    const rows = byName(byName(doc, 'tbody')[0]!, 'tr').map((r) => Object.fromEntries(r.children.map((c, i) => [heads[i]!, textOf(c)])));
    expect(rows.map((r) => [r.proto, r['server process']])).toEqual([['tcp', held], ['tcp', held], ['udp', held], ['udp', held]]);
    expect(rows.slice(0, 2).map((r) => r['client process'])).toEqual([`${me} (pid ${process.pid})`, `${me} (pid ${process.pid})`]);

    // In the browser: the process name is text, nothing runs, nothing is wrong.
    browser = await launchChromium();
    const w = await watchPage(browser);
    await w.page.goto(pathToFileURL(report).href, { waitUntil: 'load' });
    await w.page.waitForFunction(() => document.getElementById('flow-count')?.textContent === '4 of 4 rows shown');
    const seen = await w.page.$$eval('#demux-svg g.socket', (gs) => gs.map((g) => [...g.querySelectorAll('tspan')].map((t) => t.textContent).join(' ')));
    expect(seen.filter((t) => t.endsWith(held))).toHaveLength(4);
    expect(await w.page.evaluate(() => ({ images: document.images.length, scripts: document.scripts.length }))).toEqual({ images: 0, scripts: 1 });
    expect(w.trouble).toEqual({ console: [], pageErrors: [], dialogs: [], requests: [] });
    expect(await w.violations()).toEqual([]);
    await w.page.screenshot({ path: join(OUTPUT, 'live-lo.png'), fullPage: true });
    await w.context.close();
  }, BROWSER_TIMEOUT);

  it('refuses a --report path it could not write, before capturing', async () => {
    const r = await runCli(['live', '-i', 'lo', '--count', '1', '--report', '/no/such/folder/x.html']);
    expect([r.code, r.stderr.trim()]).toEqual([2, "flowdemux: --report '/no/such/folder/x.html': no folder /no/such/folder"]);
    const dash = await runCli(['live', '-i', 'lo', '--count', '1', '--report', '-']);
    expect(dash.code).toBe(2);
    expect(dash.stderr.trim().split('\n')).toHaveLength(1);
  });
});
