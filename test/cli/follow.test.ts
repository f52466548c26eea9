/**
 * `flowdemux follow`, end to end: each direction's bytes equal what tshark's `-z follow,PROTO,raw`
 * gives (fixtures/golden/follow.tsv, made by scripts/fixtures/follow-golden.mjs), less nothing and
 * plus nothing; gaps are marked where tshark leaves the bytes out; text never carries a raw
 * control byte; raw refuses a terminal.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPcap, tempDir } from '../helpers/capture-builders.js';
import { buildTcp, ethernet } from '../helpers/packet-builders.js';
import { runOnPty } from '../helpers/pty.js';
import { runCli } from '../helpers/run-cli.js';

const FIXTURES = new URL('../../fixtures/', import.meta.url).pathname;
const tmp = tempDir('flowdemux-follow-');
afterAll(() => tmp.cleanup());

interface Golden { capture: string; proto: string; stream: number; node0: string; node1: string; hex0: string; hex1: string }

const GOLDEN: Golden[] = readFileSync(`${FIXTURES}golden/follow.tsv`, 'utf8').trim().split('\n').slice(1).map((line) => {
  const [capture, proto, stream, node0, node1, hex0, hex1] = line.split('\t');
  return { capture: capture!, proto: proto!, stream: Number(stream), node0: node0!, node1: node1!, hex0: hex0 ?? '', hex1: hex1 ?? '' };
});

interface FlowRow { id: number; proto: string; generation: number; client: { ip: string; port: number }; server: { ip: string; port: number } }

const endText = (e: { ip: string; port: number }) => (e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`);
const sameEnds = (f: FlowRow, a: string, b: string) => {
  const [c, s] = [endText(f.client), endText(f.server)];
  return (c === a && s === b) || (c === b && s === a);
};

/** Our flow for tshark's stream: the k-th flow on the same ends, as the stream is the k-th on them. */
async function flowFor(g: Golden): Promise<FlowRow> {
  const r = await runCli(['flows', `${FIXTURES}${g.capture}`, '--format', 'json']);
  const flows = (JSON.parse(r.stdout) as { flows: FlowRow[] }).flows.filter((f) => f.proto === g.proto && sameEnds(f, g.node0, g.node1));
  const streams = GOLDEN.filter((x) => x.capture === g.capture && x.proto === g.proto && [x.node0, x.node1].sort().join() === [g.node0, g.node1].sort().join());
  const k = streams.sort((x, y) => x.stream - y.stream).indexOf(g);
  return flows[k]!;
}

async function rawHex(capture: string, flow: string, direction: string): Promise<string> {
  const r = await runCli(['follow', `${FIXTURES}${capture}`, '--flow', flow, '--format', 'raw', '--direction', direction]);
  expect(r.code).toBe(0);
  return r.stdoutBytes.toString('hex');
}

describe("follow: each end's bytes as tshark follows them", () => {
  for (const g of GOLDEN) {
    it(`${g.capture} ${g.proto} stream ${g.stream}`, async () => {
      const f = await flowFor(g);
      expect(f, 'a flow on the same ends').toBeDefined();
      const id = f.generation > 1 ? `${f.id}#${f.generation}` : String(f.id);
      const clientIsNode0 = endText(f.client) === g.node0;
      expect(await rawHex(g.capture, id, 'to-server')).toBe(clientIsNode0 ? g.hex0 : g.hex1);
      expect(await rawHex(g.capture, id, 'to-client')).toBe(clientIsNode0 ? g.hex1 : g.hex0);
    });
  }
});

describe('follow: text, hex, gaps and safety', () => {
  it('text: the HTTP request and its answer, with the ends in the title', async () => {
    const r = await runCli(['follow', `${FIXTURES}demux-lo.pcap`, '--flow', '1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe([
      "follow: flow 1, tcp 127.0.0.2:9157 ==> 127.0.0.1:80 (==> the client's bytes, <== the server's)",
      '==> 24 bytes', 'GET /from-A HTTP/1.0', '', '<== 27 bytes', 'HTTP/1.0 200 OK', '', 'hello A', '',
    ].join('\n'));
  });

  it('hex: a dump of each chunk, offsets counted along each direction', async () => {
    const r = await runCli(['follow', `${FIXTURES}demux-lo.pcap`, '--flow', '6', '--format', 'hex']);
    const heads = r.stdout.split('\n').filter((l) => /^(==>|<==)/.test(l));
    expect(heads).toEqual(['==> 25 bytes', '<== 41 bytes', '==> 25 bytes', '<== 41 bytes']);
    expect(r.stdout).toContain('00000019  00 03 00 00');
  });

  it('what the snap length cut is a marked gap, and one warning counts it', async () => {
    const r = await runCli(['follow', `${FIXTURES}demux-lo-snap80.pcap`, '--flow', '1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^==> \[10 bytes not captured\]$/m);
    expect(r.stderr).toMatch(/flow 1: \d+ bytes of the stream were not captured \(10 sent by the client, \d+ by the server\)/);
  });

  it('text carries no raw control byte: escape sequences in the payload are written as \\xNN', async () => {
    const evil = Buffer.from('\x1b]0;owned\x07\x1b[2J\x9bred\x00end\r\nnext', 'latin1');
    const seg = (t: number, flags: string, seq: number, ack: number, payload = new Uint8Array(0), back = false) => ({
      tsSec: 1_700_000_000, tsFrac: t,
      data: ethernet(buildTcp({ src: back ? '10.0.0.2' : '10.0.0.1', dst: back ? '10.0.0.1' : '10.0.0.2', sport: back ? 80 : 40000, dport: back ? 40000 : 80, flags, seq, ack, payload })),
    });
    const path = tmp.write('evil.pcap', buildPcap({}, [
      seg(0, 'S', 100, 0), seg(1, 'SA', 900, 101, undefined, true), seg(2, 'A', 101, 901), seg(3, 'PA', 101, 901, evil),
    ]));
    const r = await runCli(['follow', path, '--flow', '1']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
    expect(r.stdout).toContain('\\x1b]0;owned\\x07\\x1b[2J\\x9bred\\x00end\nnext');
  });

  it('errors: raw to a terminal, an ICMP flow, a flow that is not there, a wrong generation', async () => {
    const pty = runOnPty(['follow', `${FIXTURES}demux-lo.pcap`, '--flow', '1', '--format', 'raw'], 100);
    const { code, screen } = await pty.done;
    expect(code).toBe(2);
    expect(screen).toContain('--format raw writes the stream');
    const icmp = await runCli(['follow', `${FIXTURES}crafted/icmp-echo-and-port-unreachable.pcap`, '--flow', '1']);
    expect([icmp.code, icmp.stderr]).toEqual([2, expect.stringContaining('follow reads TCP and UDP streams: flow 1 is ICMP')]);
    const none = await runCli(['follow', `${FIXTURES}demux-lo.pcap`, '--flow', '99']);
    expect([none.code, none.stderr]).toEqual([2, expect.stringContaining('no flow 99')]);
    const gen = await runCli(['follow', `${FIXTURES}demux-lo.pcap`, '--flow', '4#3']);
    expect([gen.code, gen.stdout]).toEqual([2, '']);
  });
});
