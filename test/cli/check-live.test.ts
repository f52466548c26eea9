/**
 * Issue 17's test with real clients: a Node HTTP server on lo, a keep-alive client (one
 * connection, 10 requests) and a client without keep-alive (10 connections), each captured by
 * `flowdemux live -w` (as root; CI runs as root), then `flowdemux check` on the file, end to
 * end: the keep-alive rule passes on the first and fails on the second with exit 4, and the
 * JUnit file parses as XML with one failure naming the 10 connections.
 *
 * Nothing waits on the clock: live is stopped once its NDJSON has a line for every connection
 * the client made (a connection's line comes when both ends closed it, so its packets are all
 * in the file). Ports 30700-30719 are this file's.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, createServer, get } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/capture-builders.js';
import { skipLive } from '../helpers/live-loop.js';
import { parseXml } from '../helpers/xml.js';

const BIN = new URL('../../bin/flowdemux.js', import.meta.url).pathname;
const KEEP_ALIVE_PORT = 30700;
const CLOSE_PORT = 30701;
const tmp = tempDir('flowdemux-check-live-');
afterAll(() => tmp.cleanup());

interface Run { code: number | null; stdout: string; stderr: string }

/** `flowdemux ARGS` as a child process; `output` holds what it wrote so far. */
function cli(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => (output.stdout += d));
  child.stderr.on('data', (d) => (output.stderr += d));
  const done = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, ...output })));
  return { child, output, done };
}

/** Resolves once `test()` holds, checked at each chunk `stream` brings. */
function when(stream: NodeJS.ReadableStream, test: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (!test()) return;
      stream.off('data', check);
      resolve();
    };
    stream.on('data', check);
    check();
  });
}

/** One GET, its body read to the end. */
function request(port: number, agent: Agent | false): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: '/api', agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/**
 * What `client` does to an HTTP server on `port`, captured with `flowdemux live -w`; returns
 * the file once live has reported `connections` finished TCP connections.
 */
async function capture(port: number, connections: number, client: () => Promise<void>): Promise<string> {
  const file = tmp.path(`http-${port}.pcap`);
  const server = createServer((_req, res) => res.end('ok\n'));
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const live = cli(['live', '-i', 'lo', '--filter', `tcp port ${port}`, '-w', file, '--format', 'ndjson', '--no-boost']);
  await when(live.child.stderr, () => live.output.stderr.includes('; Ctrl-C stops\n'));
  await client();
  const lines = () => live.output.stdout.split('\n').filter((l) => l.includes('"proto":"tcp"')).length;
  await when(live.child.stdout, () => lines() >= connections);
  live.child.kill('SIGINT');
  const r = await live.done;
  server.close();
  expect(r.code, r.stderr).toBe(0);
  expect(lines()).toBe(connections);
  return file;
}

const rules = (port: number) => tmp.write(`rules-${port}.yaml`, new TextEncoder().encode(`- name: one keep-alive connection to the API
  flows: tcp port ${port}
  expect: connections <= 1
- name: only the API
  expect: servers in [127.0.0.1:${port}]
- name: every handshake finished
  expect: incomplete == 0
`));

describe.skipIf(skipLive())('check on the traffic of real HTTP clients, captured live on lo', () => {
  it('a keep-alive client: one connection for 10 requests, every rule passes (exit 0)', async () => {
    const file = await capture(KEEP_ALIVE_PORT, 1, async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      for (let i = 0; i < 10; i++) expect(await request(KEEP_ALIVE_PORT, agent)).toBe('ok\n');
      agent.destroy(); // closes the one connection
    });
    const report = tmp.path('keep-alive.xml');
    const r = await cli(['check', file, '--rules', rules(KEEP_ALIVE_PORT), '--junit', report]).done;
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout.split('\n')[0]).toBe(
      `PASS  one keep-alive connection to the API: connections = 1  (expect connections <= 1, flows: tcp port ${KEEP_ALIVE_PORT}; 1 flow selected)`,
    );
    const suite = parseXml(readFileSync(report, 'utf8')).children[0]!;
    expect([suite.attrs.tests, suite.attrs.failures]).toEqual(['3', '0']);
  }, 30_000);

  it('a client without keep-alive: 10 connections, the keep-alive rule fails (exit 4) and JUnit names them', async () => {
    const file = await capture(CLOSE_PORT, 10, async () => {
      for (let i = 0; i < 10; i++) expect(await request(CLOSE_PORT, false)).toBe('ok\n');
    });
    const report = tmp.path('no-keep-alive.xml');
    const r = await cli(['check', file, '--rules', rules(CLOSE_PORT), '--junit', report]).done;
    expect(r.code, r.stderr).toBe(4);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^FAIL {2}one keep-alive connection to the API: connections = 10 /);
    expect(lines.at(-1)).toBe('3 rules: 2 passed, 1 failed');

    const root = parseXml(readFileSync(report, 'utf8'));
    expect([root.attrs.tests, root.attrs.failures]).toEqual(['3', '1']);
    const suite = root.children[0]!;
    expect(suite.attrs.name).toBe(file);
    const failed = suite.children.filter((c) => c.children.some((f) => f.name === 'failure'));
    expect(failed.map((c) => c.attrs.name)).toEqual(['one keep-alive connection to the API']);
    const failure = failed[0]!.children[0]!;
    expect(failure.attrs.message).toBe('connections = 10, expected <= 1; 10 flows broke it');
    // The 10 connections, by id and tuple: 10 client ports, one server end.
    const named = failure.text.split('\n').slice(1);
    expect(named).toHaveLength(10);
    const tuples = named.map((l) => /^(\d+) tcp 127\.0\.0\.1:(\d+) → 127\.0\.0\.1:(\d+) {2}SF /.exec(l));
    expect(tuples.every((m) => m !== null && Number(m[3]) === CLOSE_PORT)).toBe(true);
    expect(new Set(tuples.map((m) => m![2])).size).toBe(10);
    expect(tuples.map((m) => Number(m![1]))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  }, 30_000);
});
