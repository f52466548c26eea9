/**
 * `flowdemux packets` end to end: the compiled CLI (built by `npm test`'s pretest) run as a
 * process on captures written by the test, checking output, stderr lines and exit codes.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { firstLineThenHangUp } from '../helpers/hang-up.js';
import { buildPcap, tempDir } from '../helpers/capture-builders.js';
import { buildTcp, buildUdp, ethernet } from '../helpers/packet-builders.js';

const BIN = new URL('../../bin/flowdemux.js', import.meta.url).pathname;
const tmp = tempDir('flowdemux-cli-');
afterAll(() => tmp.cleanup());

function flowdemux(args: string[], input?: Uint8Array) {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const syn = ethernet(buildTcp({ src: '127.0.0.2', dst: '127.0.0.1', sport: 9157, dport: 80, flags: 'S', seq: 1000, options: [{ kind: 'mss', value: 65495 }] }));
const synAck = ethernet(buildTcp({ src: '127.0.0.1', dst: '127.0.0.2', sport: 80, dport: 9157, flags: 'SA', seq: 5000, ack: 1001 }));
const dns = ethernet(buildUdp({ src: '127.0.0.3', dst: '127.0.0.1', sport: 9157, dport: 5353, payload: new Uint8Array(12) }));
const three = buildPcap({}, [
  { tsSec: 1764056602, tsFrac: 900203, data: syn },
  { tsSec: 1764056602, tsFrac: 900250, data: synAck },
  { tsSec: 1764056603, tsFrac: 1, data: dns },
]);

describe('flowdemux packets', () => {
  it('prints one NDJSON object a packet with decoded fields', () => {
    const file = tmp.write('three.pcap', three);
    const r = flowdemux(['packets', file, '--format', 'ndjson']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({
      frame: 1, ts: '2025-11-25T07:43:22.900203Z', link: 'EN10MB', wireLength: syn.length, ipVersion: 4,
      src: '127.0.0.2', dst: '127.0.0.1', proto: 'tcp', srcPort: 9157, dstPort: 80,
      tcp: { flags: 'SYN', seq: 1000, ack: 0, mss: 65495 },
    });
    expect(lines[1].tcp.flags).toBe('SYN,ACK');
    expect(lines[2]).toMatchObject({ proto: 'udp', src: '127.0.0.3', srcPort: 9157, dstPort: 5353, payloadLength: 12 });
    expect(lines.map((l) => l.flow)).toEqual([{ id: 1, generation: 1 }, { id: 1, generation: 1 }, { id: 2, generation: 1 }]);
  });

  it('prints a table with relative times', () => {
    const r = flowdemux(['packets', tmp.write('three-t.pcap', three)]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^No\.\s+Time\s+Link\s+Source\s+Destination/);
    expect(lines[1]).toMatch(/^1\s+0\.000000 EN10MB\s+127\.0\.0\.2:9157\s+127\.0\.0\.1:80\s+tcp\s+58 1\s+\[SYN\] seq=1000/);
    // The SYN-ACK belongs to the same flow; the UDP datagram starts flow 2.
    expect(lines[2]).toMatch(/ tcp\s+54 1\s+\[SYN,ACK\]/);
    expect(lines[3]).toMatch(/^3\s+0\.099798 .* udp\s+\d+ 2\s+len=12/);
  });

  it('says which window it prints: scaled with its factor, the SYN\'s as is, or raw with the scale unknown', () => {
    const seed = new URL('../../fixtures/demux-lo.pcap', import.meta.url).pathname;
    const lines = flowdemux(['packets', seed]).stdout.split('\n');
    expect(lines[1]).toMatch(/\[SYN\] .* win=65495 len=0 /); // a SYN's window is never scaled
    expect(lines[3]).toMatch(/\[ACK\] .* win=65536 \(64×1024\) len=0/); // ws=10 both ways
    const json = flowdemux(['packets', seed, '--format', 'ndjson']).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(json[0].tcp).toMatchObject({ window: 65495, windowFactor: 1, windowScaled: 65495 });
    expect(json[2].tcp).toMatchObject({ window: 64, windowFactor: 1024, windowScaled: 65536 });
    // The ladder writes the same window the same way.
    const ladder = flowdemux(['ladder', seed, '--flow', '1']).stdout;
    expect(ladder).toMatch(/ACK ─+▶\| {2}seq=1 ack=1 win=65536 \(64×1024\) len=0\n/);
    // No handshake captured: the raw field, and the factor unknown.
    const midstream = new URL('../../fixtures/crafted/tcp-midstream-no-syn.pcap', import.meta.url).pathname;
    expect(flowdemux(['packets', midstream]).stdout.split('\n')[1]).toMatch(/ win=64240 \(scale unknown\) len=18$/);
    const m = JSON.parse(flowdemux(['packets', midstream, '--format', 'ndjson']).stdout.split('\n')[0]!);
    expect(m.tcp.window).toBe(64240);
    expect(m.tcp).not.toHaveProperty('windowFactor');
  });

  it('reads stdin given as -', () => {
    const r = flowdemux(['packets', '-', '--format', 'ndjson'], three);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(3);
  });

  it('reads several captures as one timeline', () => {
    const a = tmp.write('a.pcap', buildPcap({}, [{ tsSec: 10, tsFrac: 0, data: syn }, { tsSec: 30, tsFrac: 0, data: dns }]));
    const b = tmp.write('b.pcap', buildPcap({ precision: 'ns' }, [{ tsSec: 20, tsFrac: 5, data: synAck }]));
    const r = flowdemux(['packets', a, b, '--format', 'ndjson']);
    expect(r.code).toBe(0);
    const got = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(got.map((p) => [p.capture, p.frame])).toEqual([[0, 1], [1, 1], [0, 2]]);
    expect(got[1].ts).toBe('1970-01-01T00:00:20.000000005Z');
  });

  it('one line and exit 1 for each capture that cannot be read', () => {
    writeFileSync(tmp.path('empty.pcap'), '');
    writeFileSync(tmp.path('text.pcap'), 'hello, this is not a capture\n');
    const cases: [string, RegExp][] = [
      [tmp.path('missing.pcap'), /missing\.pcap: no such file/],
      [tmp.dir, /: is a directory/],
      [tmp.path('empty.pcap'), /empty\.pcap: empty file/],
      [tmp.path('text.pcap'), /text\.pcap: not a capture file \(starts with 68 65 6c 6c\)/],
    ];
    for (const [path, message] of cases) {
      const r = flowdemux(['packets', path]);
      expect(r.code, path).toBe(1);
      expect(r.stderr.trim().split('\n'), path).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('says "not permitted" for an unreadable file (when not root)', () => {
    const file = tmp.write('secret.pcap', three);
    chmodSync(file, 0o000);
    const r = flowdemux(['packets', file]);
    if (process.getuid?.() === 0) {
      // root reads mode-000 files; the permission path is covered by the capture tests as nobody.
      expect(r.code).toBe(0);
    } else {
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/secret\.pcap: permission denied/);
    }
  });

  it('a valid capture without packets is not an error', () => {
    const r = flowdemux(['packets', tmp.write('header-only.pcap', buildPcap({}, []))]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/no packets in .*header-only\.pcap/);
  });

  it('reports every packet before a cut-off record and warns with the offset; --strict exits 3', () => {
    const cut = three.subarray(0, three.length - 10);
    const file = tmp.write('cut.pcap', cut);
    const r = flowdemux(['packets', file, '--format', 'ndjson']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(2);
    expect(r.stderr).toMatch(/warning: .*cut\.pcap: .*offset \d+/);
    expect(flowdemux(['packets', file, '--strict']).code).toBe(3);
  });

  it('usage errors exit 2 with one line', () => {
    const r = flowdemux(['packets', 'x.pcap', '--format', 'xml']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(flowdemux(['nonsense']).code).toBe(2);
  });

  it('ends quietly when the reader of its output goes away (| head -1)', async () => {
    const records = [];
    for (let i = 0; i < 60_000; i++) records.push({ tsSec: 1000 + i, tsFrac: 0, data: i % 2 ? syn : dns });
    const file = tmp.write('many.pcap', buildPcap({}, records));
    const r = await firstLineThenHangUp(['packets', file]);
    expect(r.firstLine).toMatch(/^No\./);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
  });
});
