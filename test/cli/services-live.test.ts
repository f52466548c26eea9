/**
 * Services on real loopback traffic, captured with `flowdemux live` (ports 30730 and 30731, this
 * file's): a TLS handshake between OpenSSL's s_server and s_client (server name, ALPN, the version
 * chosen), and DNS from Node's resolver (c-ares) to a small DNS server of the test, first over UDP,
 * answered truncated, then over TCP as the resolver retries; `follow` gives each flow's bytes back
 * from the capture `live -w` wrote. Waits on events only: the capture
 * says it started, processes exit, the flows' NDJSON lines arrive.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/capture-builders.js';
import { skipLive } from '../helpers/live-loop.js';
import { runCli } from '../helpers/run-cli.js';

const BIN = new URL('../../bin/flowdemux.js', import.meta.url).pathname;
const TLS_PORT = 30730;
const DNS_PORT = 30731;
const tmp = tempDir('flowdemux-services-live-');
afterAll(() => tmp.cleanup());

interface LiveFlow {
  id: number;
  proto: string;
  server: { port: number };
  service?: string;
  summary?: string;
}

/** `flowdemux live` on lo with NDJSON out, writing the packets to `file`; `started` once it captures, `flows` as their lines come. */
function startLive(filter: string, file: string): { child: ChildProcess; started: Promise<void>; flows: LiveFlow[]; until: (n: number) => Promise<void>; stop: () => Promise<string> } {
  const child = spawn(process.execPath, [BIN, 'live', '-i', 'lo', '--filter', filter, '--format', 'ndjson', '-w', file, '--no-boost'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let out = '';
  const flows: LiveFlow[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdout!.on('data', (d) => {
    out += d;
    let nl: number;
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      const f = JSON.parse(line) as LiveFlow & { client?: unknown };
      if (f.client !== undefined) flows.push(f);
    }
    for (const w of waiters.splice(0)) (flows.length >= w.n ? w.resolve() : waiters.push(w));
  });
  const closed = new Promise<void>((r) => child.on('close', () => r()));
  const started = new Promise<void>((resolve) => {
    const check = () => {
      if (stderr.includes('; Ctrl-C stops\n')) {
        child.stderr!.off('data', check);
        resolve();
      }
    };
    child.stderr!.on('data', check);
  });
  return {
    child,
    started,
    flows,
    until: (n) => (flows.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    stop: async () => {
      child.kill('SIGINT');
      await closed;
      return stderr;
    },
  };
}

/** A DNS answer to `query`: its id and question, an A record 192.0.2.80, `truncated` with no record. */
function dnsAnswer(query: Buffer, truncated: boolean): Buffer {
  let p = 12;
  while (query[p] !== 0) p += 1 + query[p]!;
  const question = query.subarray(12, p + 5);
  const head = Buffer.from([query[0]!, query[1]!, truncated ? 0x87 : 0x85, 0x80, 0, 1, 0, truncated ? 0 : 1, 0, 0, 0, 0]);
  if (truncated) return Buffer.concat([head, question]);
  const record = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 80]);
  return Buffer.concat([head, question, record]);
}

const exited = (c: ChildProcess) => new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.on('close', r)));

describe.skipIf(skipLive())('services on live loopback traffic (as root)', () => {
  it('TLS between openssl s_server and s_client: the server name, ALPN and the version chosen', async () => {
    const key = join(tmp.dir, 'key.pem');
    const cert = join(tmp.dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=live.flowdemux.test',
      '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    const file = join(tmp.dir, 'tls.pcap');
    const live = startLive(`tcp port ${TLS_PORT}`, file);
    let server: ChildProcess | undefined;
    try {
      await live.started;
      // -www: the server does not read its stdin (an empty stdin would end it before the client came).
      server = spawn('openssl', ['s_server', '-accept', `127.0.0.1:${TLS_PORT}`, '-cert', cert, '-key', key, '-alpn', 'http/1.1', '-naccept', '1', '-www'],
        { stdio: ['pipe', 'pipe', 'pipe'] });
      let serverOut = '';
      await new Promise<void>((resolve) => server!.stdout!.on('data', (d) => (serverOut += d).includes('ACCEPT') && resolve()));
      // The client ends at once: its stdin is empty. -ign_eof is not given, so it closes after the handshake.
      const client = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${TLS_PORT}`, '-servername', 'live.flowdemux.test', '-alpn', 'h2,http/1.1'],
        { stdio: ['ignore', 'pipe', 'pipe'] });
      client.stdout!.resume();
      expect(await exited(client)).toBe(0);
      await live.until(1);
    } finally {
      server?.kill();
      await live.stop();
    }
    const tls = live.flows.find((f) => f.server.port === TLS_PORT)!;
    expect(tls.service).toBe('ssl');
    expect(tls.summary).toBe('sni=live.flowdemux.test alpn=h2,http/1.1 -> tls1.3');
    // follow gives the client's bytes from the capture: a TLS handshake record holding the name.
    const sent = (await runCli(['follow', file, '--flow', String(tls.id), '--format', 'raw', '--direction', 'to-server'])).stdoutBytes;
    expect([...sent.subarray(0, 2)]).toEqual([0x16, 0x03]);
    expect(sent.includes(Buffer.from('live.flowdemux.test'))).toBe(true);
  }, 120_000);

  it('DNS from a real resolver: the question and rcode over UDP, and over TCP after a truncated answer', async () => {
    const udp = createSocket('udp4');
    udp.on('message', (msg, from) => udp.send(dnsAnswer(msg, true), from.port, from.address));
    await new Promise<void>((r) => udp.bind(DNS_PORT, '127.0.0.1', r));
    const conns = new Set<Socket>();
    const tcp = createServer((s) => {
      conns.add(s);
      let got = Buffer.alloc(0);
      s.on('data', (d) => {
        got = Buffer.concat([got, d]);
        if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
          const answer = dnsAnswer(got.subarray(2, 2 + got.readUInt16BE(0)), false);
          s.end(Buffer.concat([Buffer.from([answer.length >> 8, answer.length & 255]), answer]));
        }
      });
      s.on('close', () => conns.delete(s));
    });
    await new Promise<void>((r) => tcp.listen(DNS_PORT, '127.0.0.1', r));
    const file = join(tmp.dir, 'dns.pcap');
    const live = startLive(`port ${DNS_PORT}`, file);
    try {
      await live.started;
      const resolver = new Resolver({ timeout: 60_000, tries: 1 });
      resolver.setServers([`127.0.0.1:${DNS_PORT}`]);
      expect(await resolver.resolve4('live.flowdemux.test')).toEqual(['192.0.2.80']);
      // The TCP connection's line comes when it closes; the UDP flow's at the end of the capture.
      await live.until(1);
    } finally {
      const stopped = live.stop();
      await stopped;
      udp.close();
      for (const s of conns) s.destroy();
      await new Promise<void>((r) => tcp.close(() => r()));
    }
    const byProto = Object.fromEntries(live.flows.filter((f) => f.server.port === DNS_PORT).map((f) => [f.proto, f]));
    expect(byProto.udp?.service).toBe('dns');
    expect(byProto.udp?.summary).toBe('A live.flowdemux.test -> NOERROR');
    expect(byProto.tcp?.service).toBe('dns');
    expect(byProto.tcp?.summary).toBe('A live.flowdemux.test -> NOERROR');
    // follow: over UDP a chunk a datagram; over TCP the message with its 2-byte length.
    const qname = Buffer.from('\x04live\x09flowdemux\x04test\x00', 'latin1');
    const overUdp = (await runCli(['follow', file, '--flow', String(byProto.udp!.id), '--format', 'raw', '--direction', 'to-server'])).stdoutBytes;
    expect(overUdp.includes(qname)).toBe(true);
    const overTcp = (await runCli(['follow', file, '--flow', String(byProto.tcp!.id), '--format', 'raw', '--direction', 'to-client'])).stdoutBytes;
    expect(overTcp.readUInt16BE(0)).toBe(overTcp.length - 2);
    expect(overTcp.includes(qname)).toBe(true);
  }, 120_000);
});
