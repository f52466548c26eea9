/**
 * What a connection speaks, from the first bytes of an end (demux/services.ts), and what the
 * flows say of it: on hand-made payloads, then on the bundled capture through the CLI.
 */
import { describe, expect, it } from 'vitest';
import { DemuxEngine } from '../../src/demux/engine.js';
import { safeSummaryText, sniff } from '../../src/demux/services.js';
import { renderFlowsTable } from '../../src/report/table.js';
import { runCli } from '../helpers/run-cli.js';
import { runPipeline } from '../report/pipeline.js';
import { makePacket, type PacketSpec } from './packets.js';

const FIXTURES = new URL('../../fixtures/', import.meta.url).pathname;
const bytes = (...parts: (string | number[])[]) =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...Buffer.from(p, 'latin1')] : p)));
const u16 = (n: number) => [n >> 8, n & 255];
const u24 = (n: number) => [n >> 16, (n >> 8) & 255, n & 255];
const of = (b: Uint8Array, tcp = true) => sniff(b, 0, b.length, tcp);

/** A TLS record holding a handshake message of `type` with `body`. */
function tlsRecord(type: number, body: number[]): Uint8Array {
  return bytes([0x16, 3, 1, ...u16(body.length + 4), type, ...u24(body.length), ...body]);
}

function ext(type: number, body: number[]): number[] {
  return [...u16(type), ...u16(body.length), ...body];
}

function clientHello(sni: string, alpn: string[]): Uint8Array {
  const name = [...Buffer.from(sni)];
  const sniExt = ext(0, [...u16(name.length + 3), 0, ...u16(name.length), ...name]);
  const protos = alpn.flatMap((a) => [a.length, ...Buffer.from(a)]);
  const alpnExt = ext(16, [...u16(protos.length), ...protos]);
  const exts = [...sniExt, ...alpnExt];
  return tlsRecord(1, [3, 3, ...new Array(32).fill(7), 0, ...u16(4), 0x13, 0x01, 0x13, 0x02, 1, 0, ...u16(exts.length), ...exts]);
}

function serverHello(version: number | null): Uint8Array {
  const exts = version === null ? [] : ext(43, u16(version));
  return tlsRecord(2, [3, 3, ...new Array(32).fill(9), 0, 0x13, 0x01, 0, ...u16(exts.length), ...exts]);
}

function dnsMessage(response: boolean, name: string, qtype: number, rcode = 0): number[] {
  const labels = name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]);
  const flags = (response ? 0x8180 : 0x0100) | rcode;
  return [0x12, 0x34, ...u16(flags), 0, 1, 0, response ? 1 : 0, 0, 0, 0, 0, ...labels, 0, ...u16(qtype), 0, 1];
}

describe('services from the first bytes', () => {
  it('HTTP/1.x: the method, Host and target; the answer by its status', () => {
    expect(of(bytes('GET /index.html HTTP/1.1\r\nUser-Agent: x\r\nHost: example.com\r\n\r\n'))).toEqual({ service: 'http', text: 'GET example.com/index.html' });
    expect(of(bytes('HTTP/1.1 404 Not Found\r\n\r\n'))).toEqual({ service: 'http', text: '404' });
    expect(of(bytes('CONNECT example.com:443 HTTP/1.1\r\n\r\n'))).toEqual({ service: 'http', text: 'CONNECT example.com:443' });
    expect(of(bytes('GET /x'))).toBeNull(); // no whole request line yet
    expect(of(bytes('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'))).toEqual({ service: 'http2', text: 'prior knowledge' });
  });

  it('TLS: the ClientHello names the server and the protocols; the ServerHello the version chosen', () => {
    expect(of(clientHello('example.com', ['h2', 'http/1.1']))).toEqual({ service: 'ssl', text: 'sni=example.com alpn=h2,http/1.1' });
    expect(of(serverHello(0x0304))).toEqual({ service: 'ssl', text: 'tls1.3' });
    expect(of(serverHello(null))).toEqual({ service: 'ssl', text: 'tls1.2' });
    // Cut by the snap length after the record header: still TLS, without the names.
    expect(of(clientHello('example.com', []).subarray(0, 20))).toEqual({ service: 'ssl', text: 'client hello' });
    expect(of(bytes([0x16, 3, 1, 0, 5, 9, 0, 0, 1, 0]))).toBeNull(); // not a hello
  });

  it('SSH banners; DNS over UDP and TCP; QUIC long headers', () => {
    expect(of(bytes('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n'))).toEqual({ service: 'ssh', text: 'SSH-2.0-OpenSSH_9.2p1 Debian-2' });
    expect(of(bytes(dnsMessage(false, 'example.com', 28)), false)).toEqual({ service: 'dns', text: 'AAAA example.com' });
    expect(of(bytes(dnsMessage(true, 'example.com', 1, 3)), false)).toEqual({ service: 'dns', text: 'NXDOMAIN' });
    const q = dnsMessage(false, 'example.org', 15);
    expect(of(bytes(u16(q.length), q))).toEqual({ service: 'dns', text: 'MX example.org' });
    expect(of(bytes([0xc3, 0, 0, 0, 1, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0]), false)).toEqual({ service: 'quic', text: 'quic v1' });
  });

  it('ordinary payloads are nothing: random bytes, a DNS-like header with a broken name, an unknown QUIC version', () => {
    let seed = 7;
    const random = Uint8Array.from({ length: 300 }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
    expect(of(random, false)).toBeNull();
    expect(of(random)).toBeNull();
    const broken = dnsMessage(false, 'example.com', 1);
    broken[12] = 99; // a label longer than 63
    expect(of(bytes(broken), false)).toBeNull();
    expect(of(bytes([0xc3, 0x12, 0x34, 0x56, 0x78, 8, 1, 2, 3, 4, 5, 6, 7, 8]), false)).toBeNull();
    expect(of(bytes('hello world\r\n'))).toBeNull();
  });

  it('texts from packets are safe to print and to put in JSON: printable ASCII only, no quote or backslash, bounded', () => {
    // An escape sequence, a quote and a backslash in a request target come out as '?'.
    expect(of(bytes('GET /\x1b[2J"\\<script> HTTP/1.1\r\n\r\n'))).toEqual({ service: 'http', text: 'GET /?[2J??<script>' });
    expect(safeSummaryText('a\x1b[2J"b\\c\u00e9')).toBe('a?[2J?b?c?');
    expect(safeSummaryText('x'.repeat(500))).toBe(`${'x'.repeat(120)}...`);
    const ssh = of(bytes('SSH-2.0-evil\x07"\\\r\n'));
    expect(ssh).toEqual({ service: 'ssh', text: 'SSH-2.0-evil???' });
  });

  it('texts are the words of the payload as its bytes give them: Host and its white space, ALPN lists, DNS names, the cut', () => {
    // Host's value: after `host:` (any case) and white space (tab, space, no-break space), up to the next white space.
    expect(of(bytes('GET /a HTTP/1.1\r\nhOsT:\t  example.net \r\n\r\n'))?.text).toBe('GET example.net/a');
    expect(of(bytes('GET /a HTTP/1.1\r\nHost:\xa0ex\xa0tra\r\n\r\n'))?.text).toBe('GET ex/a');
    expect(of(bytes('GET /a HTTP/1.1\r\nHost:   \r\n\r\n'))?.text).toBe('GET /a');
    // Not a path: the host is not put before it.
    expect(of(bytes('OPTIONS * HTTP/1.1\r\nHost: example.net\r\n\r\n'))?.text).toBe('OPTIONS *');
    expect(of(bytes('GET /caf\xe9 HTTP/1.0\r\nHost: \xe9t\xe9\r\n\r\n'))?.text).toBe('GET ?t?/caf?');
    expect(of(bytes('HTTP/1.0 007\r\n\r\n'))?.text).toBe('007');
    // 120 characters are kept whole; from 121, 120 and `...`.
    expect(of(bytes(`GET /${'x'.repeat(115)} HTTP/1.1\r\n\r\n`))?.text).toBe(`GET /${'x'.repeat(115)}`);
    expect(of(bytes(`GET /${'x'.repeat(116)} HTTP/1.1\r\n\r\n`))?.text).toBe(`GET /${'x'.repeat(115)}...`);
    expect(of(bytes(`GET /${'x'.repeat(600)} HTTP/1.1\r\nHost: h\r\n\r\n`))?.text).toBe(`GET h/${'x'.repeat(114)}...`);
    expect(of(clientHello('example.com', ['', 'h2']))?.text).toBe('sni=example.com alpn=,h2');
    expect(of(clientHello('', ['h2']))?.text).toBe('alpn=h2');
    expect(of(clientHello('', []))?.text).toBe('client hello');
    expect(of(clientHello(`${'n'.repeat(200)}.example`, ['h2']))?.text).toBe(`sni=${'n'.repeat(116)}...`);
    expect(of(bytes(dnsMessage(false, 'a"b.example', 1)), false)?.text).toBe('A a?b.example');
    expect(of(bytes(dnsMessage(false, 'example', 99)), false)?.text).toBe('TYPE99 example');
    const root = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, ...u16(2), 0, 1];
    expect(of(bytes(root), false)?.text).toBe('NS .');
  });

  it('what ends said stays with their flow: a record reused by the next flow starts with nothing said', () => {
    // One flow open at a time (maxFlows 1): each new tuple evicts the last flow and takes its record.
    const flows: ReturnType<DemuxEngine['flows']> = [];
    const engine = new DemuxEngine({ maxFlows: 1, onFlowEnd: (f) => flows.push(f) });
    const send = (spec: PacketSpec, payload: Uint8Array, sec: number) => {
      const pkt = makePacket({ proto: 17, ...spec, len: payload.length });
      const frame = new Uint8Array(pkt.payloadOffset + payload.length);
      frame.set(pkt.bytes);
      frame.set(payload, pkt.payloadOffset);
      pkt.bytes = frame;
      engine.ingest(pkt, sec, 0);
    };
    const query = bytes(dnsMessage(false, 'example.com', 1));
    const answer = bytes(dnsMessage(true, 'example.com', 1));
    send({ src: '10.0.0.1', dst: '10.0.0.2', sport: 1000, dport: 53 }, query, 1);
    send({ src: '10.0.0.2', dst: '10.0.0.1', sport: 53, dport: 1000 }, answer, 1);
    send({ src: '10.0.0.3', dst: '10.0.0.2', sport: 2000, dport: 9999 }, bytes('hello world\r\n'), 2);
    send({ src: '10.0.0.4', dst: '10.0.0.2', sport: 3000, dport: 53 }, bytes('not dns at all, a line'), 3);
    send({ src: '10.0.0.2', dst: '10.0.0.4', sport: 53, dport: 3000 }, answer, 3);
    engine.finish();
    expect(flows.map((f) => [f.id, f.service, f.summary, f.serviceBothWays])).toEqual([
      [1, 'dns', 'A example.com -> NOERROR', true],
      [2, undefined, undefined, undefined],
      [3, 'dns', '-> NOERROR', false],
    ]);
  });

  it('flows name the service of the bundled capture: HTTP on port 80 and DNS on 5353, with what was said', async () => {
    const r = await runCli(['flows', `${FIXTURES}demux-lo.pcap`, '--format', 'json']);
    const flows = (JSON.parse(r.stdout) as { flows: { id: number; service?: string; summary?: string }[] }).flows;
    expect(flows.map((f) => [f.id, f.service, f.summary])).toEqual([
      [1, 'http', 'GET /from-A -> 200'], [2, 'http', 'GET /from-C -> 200'],
      [3, undefined, undefined], [4, undefined, undefined], [5, undefined, undefined],
      [6, 'dns', 'A b.local -> NOERROR'], [7, 'dns', 'A b.local -> NOERROR'],
    ]);
    const zeek = await runCli(['flows', `${FIXTURES}demux-lo.pcap`, '--format', 'zeek']);
    expect(zeek.stdout.split('\n').filter((l) => !l.startsWith('#') && l !== '').map((l) => l.split('\t')[7])).toEqual(['http', 'http', '-', '-', '-', 'dns', 'dns']);
  });

  it('the flows table says it in a column; a narrow terminal drops that column before the processes and the duration', async () => {
    const r = await runCli(['flows', `${FIXTURES}demux-lo.pcap`]);
    const rows = r.stdout.split('\n').filter((l) => /^│\s+\d/.test(l)).map((l) => l.split('│').map((c) => c.trim()));
    const head = r.stdout.split('\n')[1]!.split('│').map((c) => c.trim());
    const says = head.indexOf('says');
    expect(says).toBeGreaterThan(head.indexOf('state'));
    expect(rows.map((c) => c[says])).toEqual([
      'http GET /from-A -> 200', 'http GET /from-C -> 200', '', '', '', 'dns A b.local -> NOERROR', 'dns A b.local -> NOERROR',
    ]);
    const { flows } = await runPipeline(`${FIXTURES}demux-lo.pcap`);
    const heads = (width: number) => renderFlowsTable(flows, { width }).split('\n').find((l) => l.includes('proto'))!
      .split(/│|\s{2,}/).map((c) => c.trim()).filter((c) => c !== '');
    expect(heads(400)).toContain('says');
    // Given up after the start, before the processes and the duration.
    const widths = Array.from({ length: 141 }, (_, i) => 60 + i).map(heads);
    expect(widths.some((h) => !h.includes('says') && h.includes('duration'))).toBe(true);
    expect(widths.some((h) => h.includes('says') && !h.some((c) => c.startsWith('start')))).toBe(true);
    for (const h of widths) if (!h.includes('duration')) expect(h).not.toContain('says');
  });
});
