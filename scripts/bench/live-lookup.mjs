#!/usr/bin/env node
/**
 * `npm run bench` (its live part), or alone: `node scripts/bench/live-lookup.mjs [--procs 2000] [--fds 25]`
 *
 * 1. The cost of naming a socket's process on a busy host: makes --procs processes holding
 *    --fds descriptors each (2,000 x 25 = 50,000; one of each process's is a TCP connection to
 *    this script), then times, median of several:
 *    - the start of a capture (the socket tables and a walk of every process's descriptors);
 *    - a full walk alone (the last resort of a lookup);
 *    - one lookup of a new client process's socket (what a curl costs): new processes read,
 *      the kernel asked for the tuple (netlink), the owner found;
 *    - the same through /proc/net/tcp instead of netlink (without the native part);
 *    - one lookup of a connection accepted by a long-lived server holding 2,000 descriptors;
 *    - the SYN watcher's own look at each new client's SYN: named or not, CPU a SYN.
 * 2. The everyday case, live on lo: python3 -m http.server and 20 curls in a row, as
 *    `flowdemux live` follows them: how many server and client ends are named.
 * Needs root (every process's descriptors, and capture); prints one line per figure.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = (p) => import(pathToFileURL(join(ROOT, 'dist', p)).href);
const { ProcessMap } = await dist('host/procfs.js');
const args = process.argv.slice(2);
const opt = (name, dflt) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const PROCS = opt('--procs', 2000);
const FDS = opt('--fds', 25);
const PORT = 30690;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => `${x.toFixed(2)} ms`;
const time = (f) => {
  const t = performance.now();
  f();
  return performance.now() - t;
};

if (process.getuid?.() !== 0) {
  console.log('live lookups: skipped (needs root to read every process\'s descriptors and to capture)');
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// http.server + 20 curls, live

const HTTP = 30691;
const web = spawn('python3', ['-u', '-c', `
import http.server, functools
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory='/')
s = http.server.ThreadingHTTPServer(('127.0.0.1', ${HTTP}), h)
print('ready', flush=True)
s.serve_forever()
`], { stdio: ['ignore', 'pipe', 'ignore'] });
await new Promise((resolve) => web.stdout.on('data', (d) => String(d).includes('ready') && resolve()));
// The command as a user runs it; its first stderr line says it captures.
const cli = spawn(process.execPath, [join(ROOT, 'bin', 'flowdemux.js'), 'live', '-i', 'lo', '--filter', `tcp port ${HTTP}`, '--format', 'json'], {
  stdio: ['ignore', 'pipe', 'pipe'],
});
let cliOut = '';
let cliErr = '';
cli.stdout.on('data', (d) => (cliOut += d));
const cliDone = new Promise((r) => cli.on('close', r));
const capturing = await new Promise((resolve) => {
  cli.stderr.on('data', (d) => {
    cliErr += d;
    if (cliErr.includes('Ctrl-C stops')) resolve(true);
  });
  cli.on('close', () => resolve(false));
});
if (!capturing) {
  console.log(`live http.server + 20 curls: skipped (${cliErr.trim().split('\n').pop()})`);
} else {
  const curls = new Map();
  for (let i = 0; i < 20; i++) {
    const r = await new Promise((resolve) => {
      const c = spawn('curl', ['-s', '-o', '/dev/null', '-w', '%{local_port}', `http://127.0.0.1:${HTTP}/`], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.on('close', () => resolve({ pid: c.pid, out }));
    });
    curls.set(Number(r.out), r.pid);
  }
  cli.kill('SIGTERM');
  await cliDone;
  const flows = JSON.parse(cliOut).flows;
  const serverNamed = flows.filter((f) => f.server.process?.pid === web.pid || f.server.listener?.pid === web.pid).length;
  const ownNamed = flows.filter((f) => f.server.process?.pid === web.pid).length;
  const clientNamed = flows.filter((f) => f.client.process?.state === 'running' && f.client.process.pid === curls.get(f.client.port)).length;
  const lifetimes = flows.map((f) => f.duration * 1000);
  console.log(`live http.server + 20 curls (flowdemux live): ${serverNamed}/${flows.length} server ends name python3 `
    + `(${ownNamed} by their own socket, the rest by the listener), ${clientNamed}/${flows.length} client ends name their curl; `
    + `connections lasted ${ms(median(lifetimes))} (median)`);
}
web.kill();

// ---------------------------------------------------------------------------------------------
// The crowd (after the everyday case, which it would disturb: 2,000 processes dying take a while)

// A server holding one end of each process's connection.
const held = [];
const server = createServer((s) => held.push(s));
await new Promise((r) => server.listen(PORT, '127.0.0.1', r));

// The crowd: one python parent forks PROCS children, each opening FDS-1 files and a connection.
const crowd = spawn('python3', ['-u', '-c', `
import os, socket, signal, sys
for i in range(${PROCS}):
    if os.fork() == 0:
        fds = [os.open('/dev/null', os.O_RDONLY) for _ in range(${FDS} - 4)]
        s = socket.create_connection(('127.0.0.1', ${PORT}))
        signal.pause()
        os._exit(0)
print('ready', flush=True)
signal.pause()
`], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
// Its own process group: killed whole at the end, children included.
const killCrowd = () => {
  try {
    process.kill(-crowd.pid, 'SIGKILL');
  } catch {
    // gone already
  }
};
process.on('exit', killCrowd);
await new Promise((resolve) => crowd.stdout.on('data', (d) => String(d).includes('ready') && resolve()));
while (held.length < PROCS) await new Promise((r) => setTimeout(r, 20));
const countFds = () => {
  const r = spawnSync('sh', ['-c', 'ls /proc/[0-9]*/fd 2>/dev/null | grep -c "^[0-9]"'], { encoding: 'utf8' });
  return Number(r.stdout.trim());
};
const procs = Number(spawnSync('sh', ['-c', 'ls -d /proc/[0-9]* | wc -l'], { encoding: 'utf8' }).stdout.trim());
console.log(`live lookups on a host with ${procs.toLocaleString('en-US')} processes and ${countFds().toLocaleString('en-US')} open descriptors:`);

const map = new ProcessMap();
console.log(`  start of a capture (tables + every process's descriptors): ${ms(time(() => map.start()))}`);
console.log(`  full walk of every process's descriptors:                  ${ms(median([0, 1, 2].map(() => time(() => map.owners.fullWalk()))))}`);

/** A new client process that connects and waits; resolves with its pid and local port. */
function newClient() {
  return new Promise((resolve) => {
    const c = spawn('python3', ['-u', '-c', `
import socket, signal
s = socket.create_connection(('127.0.0.1', ${PORT}))
print(s.getsockname()[1], flush=True)
signal.pause()
`], { stdio: ['ignore', 'pipe', 'inherit'] });
    c.stdout.once('data', (d) => resolve({ child: c, port: Number(String(d).trim()) }));
  });
}

const tables = new ProcessMap({ native: false });
tables.start();
// The SYN watcher (native/syn-watch.c) on the same host: its own look at each new client's SYN.
const { SynWatch } = await dist('host/native.js');
const watch = new SynWatch();
const watching = watch.start('lo');
let atSyn = 0;
const viaNetlink = [];
const viaTables = [];
let named = 0;
for (let i = 0; i < 9; i++) {
  const { child, port } = await newClient();
  if (watching) {
    let d;
    while ((d = watch.decision('127.0.0.1', port, '127.0.0.1', PORT)) === undefined) await new Promise((r) => setImmediate(r));
    if (d.pid === child.pid) atSyn++;
  }
  const before = { ...map.owners.counts };
  let tRefresh = 0;
  viaNetlink.push(time(() => {
    tRefresh = time(() => map.refresh(['tcp']));
    const a = map.resolve('tcp', '127.0.0.1', port, '127.0.0.1', PORT);
    if (a.kind === 'process' && a.process.state === 'running' && a.process.pid === child.pid) named++;
  }));
  if (process.env.LOOKUP_DEBUG) console.log(`    refresh ${ms(tRefresh)}`, Object.fromEntries(Object.entries(map.owners.counts).map(([k, v]) => [k, v - before[k]])));
  viaTables.push(time(() => {
    tables.refresh(['tcp']);
    tables.resolve('tcp', '127.0.0.1', port, '127.0.0.1', PORT);
  }));
  child.kill();
}
console.log(`  one lookup of a new client's socket (netlink):             ${ms(median(viaNetlink))} (named ${named} of ${viaNetlink.length}; ${map.native ? 'native part loaded' : 'NATIVE PART MISSING: tables read'})`);
console.log(`  the same through /proc/net/tcp (no native part):           ${ms(median(viaTables))}`);
if (watching) {
  const [syns, found, notFound, , , cpuNs] = watch.stats();
  console.log(`  the SYN watcher: named ${atSyn} of ${viaNetlink.length} new clients at their SYN, ${ms(cpuNs / 1e6 / Math.max(1, found + notFound))} of CPU a SYN (mean of ${syns})`);
  watch.stop();
} else console.log(`  the SYN watcher: not running (${watch.problem})`);
const serverEnd = [];
for (let i = 0; i < 5; i++) {
  const { child, port } = await newClient();
  serverEnd.push(time(() => {
    map.refresh(['tcp']);
    map.resolve('tcp', '127.0.0.1', PORT, '127.0.0.1', port);
  }));
  child.kill();
}
console.log(`  one lookup of a connection accepted by a server holding ${held.length.toLocaleString('en-US')} sockets: ${ms(median(serverEnd))}`);
console.log(`  full walks made by those ${viaNetlink.length + serverEnd.length} lookups: ${map.owners.counts.fullWalks - 4}`);
killCrowd();
for (const s of held) s.destroy();
server.close();

