/**
 * An example: a test records its own loopback traffic with flowdemux while a real HTTP client
 * talks to a server, then asserts on the connections with the rules of `flowdemux check`. The
 * questions are the ones a CI job asks: does the client reuse its connection (keep-alive)? did
 * any connection end in a reset, or never finish its handshake?
 *
 * Live capture needs root (or the capture capabilities), libpcap and the optional `cap` package:
 *
 *   sudo npx vitest run examples/check.test.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, createServer, get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { check, live, type Flow } from 'flowdemux';

const PORT = 30702;
const dir = mkdtempSync(join(tmpdir(), 'flowdemux-example-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One GET to the server, read to the end. */
function request(agent: Agent | false): Promise<void> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port: PORT, path: '/', agent }, (res) => res.resume().on('end', resolve)).on('error', reject);
  });
}

/**
 * Runs `client` against an HTTP server on lo while flowdemux records the port's packets into a
 * pcap file; returns the file once flowdemux has seen `connections` connections end (the
 * library hands a connection over as soon as both ends closed it: nothing waits on a clock).
 */
async function record(name: string, connections: number, client: () => Promise<void>): Promise<string> {
  const server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(PORT, '127.0.0.1', resolve));
  const file = join(dir, `${name}.pcap`);
  const capture = live({ device: 'lo', filter: `tcp port ${PORT}`, write: file, processes: false });
  let allEnded!: () => void;
  const ended = new Promise<void>((resolve) => (allEnded = resolve));
  const seen: Flow[] = [];
  const reading = (async () => {
    for await (const flow of capture) if (seen.push(flow) === connections) allEnded();
  })();
  await capture.started;
  await client();
  await ended;
  capture.stop();
  await reading; // the file is complete once the reading has ended
  server.close();
  return file;
}

describe.runIf(process.getuid?.() === 0)('assertions about a real client\'s connections', () => {
  const rules = [
    { name: 'one keep-alive connection', flows: `tcp port ${PORT}`, expect: 'connections <= 1' },
    { name: 'no resets', expect: 'resets == 0' },
    { name: 'every handshake finished', expect: 'incomplete == 0' },
  ];

  it('a client with keep-alive: 10 requests on one connection, every rule passes', async () => {
    const file = await record('keep-alive', 1, async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      for (let i = 0; i < 10; i++) await request(agent);
      agent.destroy(); // closes the connection
    });
    const report = await check(file, rules);
    // On a failure, the message lists the flows that broke each rule.
    expect(report.verdicts.filter((v) => !v.pass)).toEqual([]);
  });

  it('a client without keep-alive: a connection a request, and the keep-alive rule names them', async () => {
    const file = await record('no-keep-alive', 3, async () => {
      for (let i = 0; i < 3; i++) await request(false);
    });
    const report = await check(file, rules);
    expect(report.pass).toBe(false);
    const [keepAlive] = report.verdicts;
    expect([keepAlive!.pass, keepAlive!.value]).toEqual([false, 3]);
    expect(keepAlive!.broke.map((b) => b.server)).toEqual([`127.0.0.1:${PORT}`, `127.0.0.1:${PORT}`, `127.0.0.1:${PORT}`]);
    // The same verdicts as JUnit XML, for a CI system's test report.
    expect(report.junit).toContain('<failure message="connections = 3, expected &lt;= 1; 3 flows broke it"');
  });
});
