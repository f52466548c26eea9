/**
 * The library's live({ write }): the packets recorded to a pcap file while the flows are read,
 * the file complete once the reading has ended, then checked. For real on lo (root, libpcap and
 * `cap`; in CI as root it must run). Ports 30710-30711 belong to this file.
 */
import { createSocket } from 'node:dgram';
import { afterAll, describe, expect, it } from 'vitest';
import { check, live } from '../../src/api/index.js';
import { tempDir } from '../helpers/capture-builders.js';
import { skipLive } from '../helpers/live-loop.js';

const PORT = 30710;
const tmp = tempDir('flowdemux-record-');
afterAll(() => tmp.cleanup());

describe.skipIf(skipLive())('live() writing a pcap file for check()', () => {
  it('the file holds every packet the reading counted', async () => {
    const server = createSocket('udp4');
    await new Promise<void>((r) => server.bind(PORT, '127.0.0.1', r));
    const client = createSocket('udp4');
    await new Promise<void>((r) => client.bind(PORT + 1, '127.0.0.1', r));
    const file = tmp.path('udp.pcap');
    const capture = live({ device: 'lo', filter: `udp port ${PORT}`, count: 4, write: file, processes: false });
    const packets: number[] = [];
    const loop = (async () => {
      for await (const f of capture) packets.push(f.toServer.packets + f.toClient.packets);
    })();
    await capture.started;
    for (let i = 0; i < 4; i++) await new Promise<void>((res, rej) => client.send(`x${i}`, PORT, '127.0.0.1', (e) => (e ? rej(e) : res())));
    await loop; // ends by itself after the four datagrams
    client.close();
    server.close();
    expect(packets).toEqual([4]);
    const report = await check(file, [{ name: 'four datagrams, one flow', expect: 'packets == 4' }, { name: 'one server', expect: `servers in [127.0.0.1:${PORT}]` }]);
    expect(report.verdicts.map((v) => [v.pass, v.value])).toEqual([[true, 4], [true, [`127.0.0.1:${PORT}`]]]);
  });

  it('a file that cannot be written: started rejects, naming it, before anything is captured', async () => {
    const capture = live({ device: 'lo', filter: `udp port ${PORT}`, write: tmp.path('no/such/dir/x.pcap') });
    const loop = (async () => {
      for await (const _ of capture) void _;
    })();
    await expect(capture.started).rejects.toThrow(/no\/such\/dir\/x\.pcap/);
    await expect(loop).rejects.toThrow(/no\/such\/dir\/x\.pcap/);
  });
});
