/** demux, ladder and packets --explain through the command line, on the bundled capture. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/run-cli.js';

const SEED = new URL('../../fixtures/demux-lo.pcap', import.meta.url).pathname;
const CLOSED = new URL('../../fixtures/closed-ports.pcap', import.meta.url).pathname;
const EVENTS = new URL('../../fixtures/crafted/tcp-analysis-events.pcap', import.meta.url).pathname;
const MIDSTREAM = new URL('../../fixtures/crafted/tcp-midstream-no-syn.pcap', import.meta.url).pathname;

describe('flowdemux demux / ladder / packets --explain', () => {
  it('demux --format json: the teaching picture', async () => {
    const r = await runCli(['demux', SEED, '--format', 'json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    const byPort = Object.fromEntries(doc.groups.map((g: any) => [`${g.proto}/${g.port}`, g]));
    expect(byPort['tcp/80']).toMatchObject({ flows: [1, 2], concurrent: true, keyNeeded: '4-tuple', differBy: ['client.ip'] });
    expect(byPort['tcp/8089']).toMatchObject({ flows: [3, 4, 5], concurrent: false, keyNeeded: '4-tuple+time' });
    const udp = byPort['udp/5353'];
    expect(udp.sockets).toHaveLength(1);
    expect(udp.sockets[0]).toMatchObject({ kind: 'unconnected', local: '127.0.0.1:5353', peers: ['127.0.0.2:9157', '127.0.0.3:9157'] });
  });

  it('demux table reads like the figure, and --port narrows it', async () => {
    const r = await runCli(['demux', SEED]);
    expect(r.stdout).toMatch(/tcp port 80 on 127\.0\.0\.1: 2 connections, 2 open at once/);
    expect(r.stdout).toMatch(/key needed: 4-tuple\+time/);
    // What each port's flows speak, from their first bytes (HTTP on 80, DNS on 5353; 8089's test text is nothing known).
    expect(r.stdout).toMatch(/^tcp port 80 on 127\.0\.0\.1: 2 connections, 2 open at once, speaking http$/m);
    expect(r.stdout).toMatch(/^udp port 5353 on 127\.0\.0\.1: .*, speaking dns \(/m);
    expect(r.stdout).toMatch(/^tcp port 8089 on 127\.0\.0\.1: 3 connections, one after another$/m);
    const doc = JSON.parse((await runCli(['demux', SEED, '--format', 'json'])).stdout) as { groups: { port: number; services?: string[] }[] };
    expect(doc.groups.map((g) => [g.port, g.services])).toEqual([[80, ['http']], [8089, undefined], [5353, ['dns']]]);
    const only = await runCli(['demux', SEED, '--port', '8089']);
    expect(only.stdout).not.toMatch(/tcp port 80 on/);
    expect(only.stdout).toMatch(/tcp port 8089/);
  });

  it('ladder draws one connection, and an unknown flow id is a usage error', async () => {
    const r = await runCli(['ladder', SEED, '--flow', '4']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^flow 4: tcp 127\.0\.0\.3:5775 → 127\.0\.0\.1:8089, generation 2/);
    const arrows = r.stdout.split('\n').filter((l) => /[▶◀]/.test(l));
    expect(arrows).toHaveLength(11);
    expect(arrows[0]).toMatch(/SYN .*seq=0 /);
    const bad = await runCli(['ladder', SEED, '--flow', '99']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/no flow 99/);
  });

  it('ladder marks TCP analysis events in tshark\'s words, beside each packet', async () => {
    const r = await runCli(['ladder', EVENTS, '--flow', '1']);
    expect(r.code).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => /[▶◀]/.test(l));
    expect(rows).toHaveLength(33);
    expect(rows[8]).toMatch(/^9 .* len=0 {2}\[TCP Dup ACK 8#1\]$/);
    expect(rows[10]).toMatch(/^11 .* len=100 {2}\[TCP Fast Retransmission\]$/);
    expect(rows[12]).toMatch(/^13 .*\[TCP Spurious Retransmission\]$/);
    expect(rows[20]).toMatch(/^21 .* win=0 \(0×8\) len=0 {2}\[TCP ZeroWindowProbeAck\] \[TCP ZeroWindow\]$/);
    expect(rows[0]).toMatch(/ seq=0 win=64240 len=0$/); // no mark
  });

  it('ladder --format json: the flow, and each packet with relative numbers, the window three ways and its marks', async () => {
    const r = await runCli(['ladder', EVENTS, '--flow', '1', '--format', 'json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.flow).toMatchObject({ id: 1, proto: 'tcp', client: { port: 40300 }, server: { port: 80 } });
    expect(doc.packets).toHaveLength(33);
    expect(doc.packets[0]).toEqual({
      frame: 1, ts: '2025-11-24T16:00:00.000000Z', time: 0, direction: 'to-server', via: 'ports', proto: 'tcp', len: 0,
      flags: 'SYN', seq: 0, ack: null, window: { raw: 64240, factor: 1, scaled: 64240 },
    });
    expect(doc.packets[4]).toMatchObject({ frame: 5, direction: 'to-client', seq: 1, ack: 101, window: { raw: 2000, factor: 8, scaled: 16000 } });
    expect(doc.packets[8].analysis).toEqual(['TCP Dup ACK 8#1']);
    expect(doc.packets[20].analysis).toEqual(['TCP ZeroWindowProbeAck', 'TCP ZeroWindow']);
    expect(doc.packets.filter((p: { analysis?: string[] }) => p.analysis).length).toBe(19);
    const midstream = JSON.parse((await runCli(['ladder', MIDSTREAM, '--flow', '1', '--format', 'json'])).stdout);
    expect(midstream.packets[0].window).toEqual({ raw: 64240, factor: null, scaled: null });
  });

  it('ladder --format mermaid: a sequence diagram, one message a packet, markup escaped', async () => {
    const r = await runCli(['ladder', EVENTS, '--flow', '1', '--format', 'mermaid']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.slice(0, 6)).toEqual([
      '---', 'title: "flow 1: tcp 192.0.2.1:40300 → 198.51.100.7:80, state SF, 33 packets (18 →, 15 ←)"', '---',
      'sequenceDiagram', '  participant C as 192.0.2.1:40300', '  participant S as 198.51.100.7:80',
    ]);
    const messages = lines.slice(6);
    expect(messages).toHaveLength(33);
    for (const m of messages) expect(m).toMatch(/^ {2}(C->>S|S->>C): [^#;]*(#\d+;[^#;]*)*$/); // only entity codes
    expect(messages[0]).toBe('  C->>S: 1 (0.000000) SYN seq=0 win=64240 len=0');
    expect(messages[8]).toBe('  C->>S: 9 (0.062000) ACK seq=101 ack=101 win=4000 (1000×4) len=0  [TCP Dup ACK 8#35;1]');
    expect(messages[1]!.startsWith('  S->>C: 2 ')).toBe(true);
  });

  it('packets --explain says which socket gets each packet', async () => {
    const r = await runCli(['packets', SEED, '--explain', '--format', 'ndjson']);
    const pkts = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(pkts[0].socket).toMatch(/^listener 127\.0\.0\.1:80/);
    expect(pkts[2].socket).toMatch(/^socket 127\.0\.0\.1:80 ⇄ 127\.0\.0\.2:9157/);
    const udp = pkts.find((p) => p.dstPort === 5353);
    expect(udp.socket).toMatch(/^udp socket 127\.0\.0\.1:5353: found by address\+port/);
  });

  it('closed ports: demux counts them; packets --explain reads a file ahead, a pipe cannot be', async () => {
    const table = await runCli(['demux', CLOSED]);
    expect(table.stdout.split('\n')[0]).toBe('7 flows, 4 server ports, 3 shared by several flows, 4 to a closed port (no socket)');
    const doc = JSON.parse((await runCli(['demux', CLOSED, '--format', 'json'])).stdout);
    expect(doc.closedPortFlows).toBe(4);
    expect(doc.singles[0]).toMatchObject({ proto: 'tcp', port: 8090, closedPort: [3], sockets: [{ kind: 'closed', local: '127.0.0.1:8090' }] });

    const file = (await runCli(['packets', CLOSED, '--explain', '--format', 'ndjson'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(file[0].socket).toBe('closed port: no socket is bound to 127.0.0.1:9999, so the datagram is dropped; ICMP port unreachable followed (packet 2)');
    // From stdin the answer is not known at the datagram: the ICMP error's line says it.
    const piped = (await runCli(['packets', '-', '--explain', '--format', 'ndjson'], readFileSync(CLOSED))).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(piped).toHaveLength(file.length);
    expect(piped[0].socket).toMatch(/^udp socket 127\.0\.0\.1:9999: found by address\+port/);
    expect(piped[1].socket).toMatch(/quotes a datagram this host sent to 127\.0\.0\.1:9999, a closed port: no socket there/);
    for (let i = 0; i < file.length; i++) {
      if (!file[i].socket.startsWith('closed port') && !file[i].socket.includes('ECONNREFUSED')) expect(piped[i].socket).toBe(file[i].socket);
    }
  });
});
