/**
 * `follow` on real loopback traffic: `flowdemux live -w` records an HTTP exchange between a real
 * Node server and client (port 30690, this file's), then `follow` gives back exactly the bytes
 * the client sent and the server answered, and text shows a control byte of the body escaped.
 * Waits on events only: the capture says it started, the flow's NDJSON line says it closed.
 */
import { spawn } from 'node:child_process';
import { createServer, request } from 'node:http';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/capture-builders.js';
import { skipLive } from '../helpers/live-loop.js';
import { runCli } from '../helpers/run-cli.js';

const BIN = new URL('../../bin/flowdemux.js', import.meta.url).pathname;
const PORT = 30690;
const tmp = tempDir('flowdemux-follow-live-');
afterAll(() => tmp.cleanup());

/** Resolves when `text()` includes `what` (checked on each chunk of output). */
function waitFor(stream: NodeJS.ReadableStream, text: () => string, what: string): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (text().includes(what)) {
        stream.off('data', check);
        resolve();
      }
    };
    stream.on('data', check);
    check();
  });
}

describe.skipIf(skipLive())('follow on a live loopback capture (as root)', () => {
  it('gives back the request and the answer of a real HTTP exchange, byte for byte', async () => {
    const body = Buffer.concat([Buffer.from('hello from the server\n'), Buffer.from([0x1b, 0x5b, 0x32, 0x4a]), Buffer.from('\nend\n')]);
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length, connection: 'close' });
        res.end(body);
      });
    });
    await new Promise<void>((r) => server.listen(PORT, '127.0.0.1', r));
    const file = join(tmp.dir, 'http.pcap');
    const live = spawn(process.execPath, [BIN, 'live', '-i', 'lo', '--filter', `tcp port ${PORT}`, '--format', 'ndjson', '-w', file, '--no-boost'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    live.stdout.on('data', (d) => (stdout += d));
    live.stderr.on('data', (d) => (stderr += d));
    const closed = new Promise<number | null>((r) => live.on('close', r));
    await waitFor(live.stderr, () => stderr, '; Ctrl-C stops\n');

    const sent = Buffer.from('ping from the client');
    const got = await new Promise<Buffer>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: PORT, method: 'POST', path: '/follow', agent: false, headers: { 'content-length': sent.length } }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve(Buffer.concat(parts)));
      });
      req.on('error', reject);
      req.end(sent);
    });
    expect(got.equals(body)).toBe(true);
    // The connection's NDJSON line comes once both FINs were seen: every packet is in the file.
    await waitFor(live.stdout, () => stdout, `"port":${PORT}`);
    live.kill('SIGINT');
    expect(await closed, stderr).toBe(0);
    server.close();

    const flows = await runCli(['flows', file, '--format', 'json']);
    const ids = (JSON.parse(flows.stdout) as { flows: { id: number; server: { port: number } }[] }).flows.filter((f) => f.server.port === PORT);
    expect(ids).toHaveLength(1);
    const id = String(ids[0]!.id);
    const toServer = await runCli(['follow', file, '--flow', id, '--format', 'raw', '--direction', 'to-server']);
    const toClient = await runCli(['follow', file, '--flow', id, '--format', 'raw', '--direction', 'to-client']);
    const request_ = toServer.stdoutBytes.toString('latin1');
    expect(request_.startsWith('POST /follow HTTP/1.1\r\n')).toBe(true);
    expect(request_.endsWith(`\r\n\r\n${sent.toString('latin1')}`)).toBe(true);
    const answer = toClient.stdoutBytes;
    expect(answer.subarray(0, 17).toString('latin1')).toBe('HTTP/1.1 200 OK\r\n');
    expect(answer.subarray(answer.length - body.length).equals(body)).toBe(true);
    const text = await runCli(['follow', file, '--flow', id]);
    expect(text.stdout).toContain('hello from the server\n\\x1b[2J\nend');
    expect(text.stdout).not.toContain('\x1b');
    expect(text.stderr).toBe('');
  });
});
