/**
 * The library's live capture on lo, for real (root, libpcap and `cap`; in CI as root it must
 * run): three datagrams from this process to a socket of this process, captured with `count: 3`
 * so the capture ends by itself after exactly those. Ports 30650-30651 belong to this file.
 */
import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { live, type Flow } from '../../src/api/index.js';
import { skipLive } from '../helpers/live-loop.js';

const PORT = 30650;
const skip = skipLive();

describe.skipIf(skip)('live() from the library', () => {
  it('each flow as it ends, with the processes of both ends named', async () => {
    const server = createSocket('udp4');
    await new Promise<void>((r) => server.bind(PORT, '127.0.0.1', r));
    const client = createSocket('udp4');
    // A UDP flow has no handshake: its client is the first sender (docs/json.md).
    await new Promise<void>((r) => client.bind(PORT + 1, '127.0.0.1', r));
    const clientPort = client.address().port;
    const r = live({ device: 'lo', filter: `udp port ${PORT}`, count: 3 });
    const got: Flow[] = [];
    const loop = (async () => {
      for await (const f of r) got.push(f);
    })();
    await r.started;
    for (let i = 0; i < 3; i++) await new Promise<void>((res, rej) => client.send(`hello ${i}`, PORT, '127.0.0.1', (e) => (e ? rej(e) : res())));
    await loop; // ends by itself after the three datagrams
    client.close();
    server.close();
    expect(got).toHaveLength(1);
    const f = got[0]!;
    expect(f).toMatchObject({ proto: 'udp', client: { port: clientPort }, server: { ip: '127.0.0.1', port: PORT } });
    expect(f.toServer.packets).toBe(3);
    // Both sockets are this process's: named, with the kind of socket the datagrams reached.
    expect(f.client.process).toMatchObject({ pid: process.pid, state: 'running' });
    expect(f.server.process).toMatchObject({ pid: process.pid, state: 'running' });
    expect(f.server.socket).toEqual({ kind: 'unconnected', bound: `127.0.0.1:${PORT}` });
    expect(r.report.captures[0]!.path).toBe('live:lo');
  });
});
