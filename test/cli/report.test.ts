/**
 * `flowdemux report`, CLI end to end through bin/flowdemux.js: the page of the teaching capture,
 * a crafted capture whose file name and HTTP payload hold markup (rendered as text, nothing
 * runs), and the one-line errors of a bad --output.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPcap } from '../helpers/capture-builders.js';
import { byName, elements, parseHtml, textOf } from '../helpers/markup.js';
import { buildTcp, ethernet } from '../helpers/packet-builders.js';
import { expectSafePolicy } from '../helpers/report-page.js';

const BIN = new URL('../../bin/flowdemux.js', import.meta.url).pathname;
const LO = new URL('../../fixtures/demux-lo.pcap', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'flowdemux-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

const EVIL = '"><img src=x onerror=alert(1)><script>alert(2)<\\script>';

/** An HTTP request whose target holds markup, and its answer: a handshake, data both ways, a close. */
function craftedCapture(): Uint8Array {
  const c = { src: '10.0.0.2', dst: '10.0.0.1', sport: 40000, dport: 80 };
  const s = { src: '10.0.0.1', dst: '10.0.0.2', sport: 80, dport: 40000 };
  // An HTTP target holds no space: the markup is written without one.
  const request = new TextEncoder().encode('GET /<script>alert(3)</script>"><img/src=x/onerror=alert(1)> HTTP/1.1\r\nHost: "><svg/onload=alert(4)>\r\n\r\n');
  const answer = new TextEncoder().encode('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  const segs = [
    buildTcp({ ...c, seq: 100, flags: 'S' }),
    buildTcp({ ...s, seq: 500, ack: 101, flags: 'SA' }),
    buildTcp({ ...c, seq: 101, ack: 501, flags: 'A' }),
    buildTcp({ ...c, seq: 101, ack: 501, flags: 'PA', payload: request }),
    buildTcp({ ...s, seq: 501, ack: 101 + request.length, flags: 'PA', payload: answer }),
    buildTcp({ ...c, seq: 101 + request.length, ack: 501 + answer.length, flags: 'FA' }),
    buildTcp({ ...s, seq: 501 + answer.length, ack: 102 + request.length, flags: 'FA' }),
    buildTcp({ ...c, seq: 102 + request.length, ack: 502 + answer.length, flags: 'A' }),
  ];
  return buildPcap({}, segs.map((d, i) => ({ tsSec: 1_764_056_602, tsFrac: i * 1000, data: ethernet(d) })));
}

describe('flowdemux report', () => {
  it('writes one self-contained page for the teaching capture', () => {
    const out = join(dir, 'lo.html');
    const r = cli('report', LO, '-o', out);
    expect([r.status, r.stderr, r.stdout]).toEqual([0, '', '']);
    const doc = parseHtml(readFileSync(out, 'utf8'));
    expectSafePolicy(doc);
    const all = [...elements(doc)];
    const sockets = byName(all.find((e) => e.attrs.id === 'demux-svg')!, 'tspan').map(textOf);
    expect(sockets).toEqual(expect.arrayContaining(['127.0.0.1:80 ⇄ 127.0.0.2:9157', '127.0.0.1:80 ⇄ 127.0.0.3:9157', '127.0.0.1:80']));
    expect(byName(doc, 'details').filter((d) => d.attrs.id?.startsWith('flow-'))).toHaveLength(5);
    expect(byName(doc, 'tbody')[0]!.children).toHaveLength(7);
    // Under each ladder, the --explain line of each packet: flow 4's SYN is generation 2 of its tuple.
    const explain = (id: number) => byName(all.find((e) => e.attrs.id === `flow-${id}`)!, 'tbody')[0]!.children.map((r) => r.children.map(textOf).join(' '));
    expect(explain(1)[0]).toBe('1 listener 127.0.0.1:80: SYN matches no connection; the listener makes the socket 127.0.0.1:80 ⇄ 127.0.0.2:9157');
    expect(explain(4)[0]).toMatch(/^31 listener 127\.0\.0\.1:8089: .*so this is generation 2$/);
    expect(explain(4)).toHaveLength(11);
  });

  it('renders markup from a crafted capture and its file name as text, and runs nothing', () => {
    const capture = join(dir, `${EVIL}.pcap`);
    writeFileSync(capture, craftedCapture());
    const out = join(dir, 'crafted.html');
    const r = cli('report', capture, '-o', out);
    expect([r.status, r.stderr]).toEqual([0, '']);
    const html = readFileSync(out, 'utf8');
    const doc = parseHtml(html);
    expectSafePolicy(doc);
    expect(byName(doc, 'img')).toEqual([]);
    expect(byName(doc, 'script')).toHaveLength(1);
    expect(textOf(byName(doc, 'title')[0]!)).toBe(`flowdemux report: ${capture}`);
    expect(byName(doc, 'h1').map(textOf)).toEqual([`flowdemux report: ${capture}`]);
    expect(html).not.toMatch(/<img|<script>alert|<svg\/onload|onerror=alert\(1\)>/);
    // The HTTP request's first words reach the table as text (flowdemux keeps printable ASCII
    // without quotes): the markup in its target is shown, not parsed.
    const row = byName(doc, 'tr').find((r) => r.attrs.id === 'row-1')!;
    const cells = row.children.map(textOf);
    expect(cells).toContain('http');
    const summary = cells.find((c) => c.startsWith('GET '));
    expect(summary).toContain('<script>alert(3)</script>?><img/src=x/onerror=alert(1)>');
    expect(summary).toContain('<svg/onload=alert(4)>');
    expect(byName(doc, 'svg').every((svg) => svg.attrs.onload === undefined)).toBe(true);
    // The connection is there, with its ladder.
    expect(byName(doc, 'details').map((d) => d.attrs.id)).toContain('flow-1');
  });

  it('says on stderr when no packet was kept, and writes the page all the same', () => {
    const out = join(dir, 'none.html');
    const r = cli('report', LO, '-o', out, '--filter', 'port 1');
    expect([r.status, r.stderr]).toEqual([0, `flowdemux: none of the 60 packets in ${LO} match the filter\n`]);
    const doc = parseHtml(readFileSync(out, 'utf8'));
    expect(byName(doc, 'p').map(textOf)).toContain('No TCP connections.');
  });

  it("writes the page to standard output with '-o -'", () => {
    const r = cli('report', LO, '-o', '-', '--ladders', '1');
    expect(r.status).toBe(0);
    expect(r.stdout.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(byName(parseHtml(r.stdout), 'details').filter((d) => d.attrs.id?.startsWith('flow-')).map((d) => d.attrs.id)).toEqual(['flow-1']);
  });

  it('--help: examples, the page and its caps, captures and exit codes', () => {
    const help = cli('report', '--help').stdout.replace(/\s+/g, ' ');
    expect(help).toContain('Examples: flowdemux report fixtures/demux-lo.pcap -o');
    expect(help).toContain('The page works offline');
    expect(help).toContain('the page says what it left out');
    expect(help).toContain("'-' reads one from standard input");
    expect(help).toContain('Exit codes: 0');
    expect(cli('--help').stdout).toMatch(/^ +flowdemux report <captures\.\.> +one self-contained HTML page/m);
  });

  it('says in one line what is wrong with --output, before reading', () => {
    const missing = cli('report', LO);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^flowdemux: Missing required argument: output \(see flowdemux --help\)\n$/);
    const folder = cli('report', LO, '-o', dir);
    expect([folder.status, folder.stderr]).toEqual([2, `flowdemux: --output '${dir}' is a folder: name the HTML file to write\n`]);
    const nowhere = join(dir, 'no', 'such', 'r.html');
    const r = cli('report', LO, '-o', nowhere);
    expect([r.status, r.stderr]).toEqual([2, `flowdemux: --output '${nowhere}': no folder ${join(dir, 'no', 'such')}\n`]);
    expect(existsSync(nowhere)).toBe(false);
    const bad = cli('report', join(dir, 'absent.pcap'), '-o', join(dir, 'x.html'));
    expect(bad.status).toBe(1);
    expect(bad.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(existsSync(join(dir, 'x.html'))).toBe(false);
  });
});
