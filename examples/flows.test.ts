/**
 * An example: flowdemux as a library inside a vitest test. The capture is the teaching picture,
 * recorded on lo: two clients from port 9157 on two addresses talking to one server on port
 * 80 at once, three connections reusing one 4-tuple on port 8089, and two peers of one UDP
 * socket on port 5353.
 *
 *   npx vitest run examples/flows.test.ts
 */
import { describe, expect, it } from 'vitest';
import { demux, flows, type Flow } from 'flowdemux';

const CAPTURE = new URL('../fixtures/demux-lo.pcap', import.meta.url).pathname;

describe('the teaching picture, through the library', () => {
  it('two clients on port 9157 reach one server port 80: two flows, told apart only by the client address', async () => {
    const all: Flow[] = [];
    for await (const f of flows(CAPTURE)) all.push(f);
    const web = all.filter((f) => f.proto === 'tcp' && f.server.port === 80);
    expect(web.map((f) => `${f.client.ip}:${f.client.port}`).sort()).toEqual(['127.0.0.2:9157', '127.0.0.3:9157']);
    for (const f of web) expect(f.state).toBe('SF'); // both closed normally
  });

  it('one 4-tuple used three times on port 8089: three generations of one flow', async () => {
    const reused: Flow[] = [];
    for await (const f of flows(CAPTURE)) if (f.server.port === 8089) reused.push(f);
    expect(reused.map((f) => f.generation)).toEqual([1, 2, 3]);
    expect(new Set(reused.map((f) => f.communityId)).size).toBe(1); // one tuple, one Community ID
  });

  it('which key the kernel needs on each shared port', async () => {
    const doc = await demux(CAPTURE);
    const keys = Object.fromEntries(doc.groups.map((g) => [`${g.proto}/${g.port}`, g.keyNeeded]));
    expect(keys).toEqual({ 'tcp/80': '4-tuple', 'tcp/8089': '4-tuple+time', 'udp/5353': '4-tuple' });
  });
});
