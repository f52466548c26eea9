/**
 * A flood of new tuples on `lo`, for real: a raw socket sends 50,000 SYNs from distinct
 * address:port pairs to a closed port (each answered by RST) as fast as python3 can, about
 * 100,000 a second, while `flowdemux live --format ndjson` captures. What must hold is what the
 * issue asks: no crash, memory bounded, and nothing missed silently: every packet captured is in
 * a flow, a shortfall is said (kernel drops), and flows not looked up are counted and said.
 *
 * Runs with the live tests that run alone (vitest.config.ts): a flood disturbs everything else.
 * Port 30640 belongs to this file.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { skipLive } from '../helpers/live-loop.js';

const BIN = new URL('../../bin/flowdemux.js', import.meta.url).pathname;
const PORT = 30640;
const N = 50_000;
const skip = skipLive();

/** Builds N SYNs (IPv4 header included, checksums right) from 127.1.x.y:port, then sends them. */
const FLOOD = `
import socket, struct, sys
n, port = int(sys.argv[1]), int(sys.argv[2])
def csum(b):
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xffff)
    t += t >> 16
    return ~t & 0xffff
dst = socket.inet_aton('127.0.0.1')
out = []
for i in range(n):
    src = bytes([127, 1, i >> 12, 1 + (i >> 6) % 63])
    sport = 1024 + (i & 4095)
    tcp = struct.pack('!HHIIBBHHH', sport, port, i, 0, 5 << 4, 0x02, 65535, 0, 0)
    c = csum(src + dst + struct.pack('!BBH', 0, 6, 20) + tcp)
    tcp = tcp[:16] + struct.pack('!H', c) + tcp[18:]
    out.append(struct.pack('!BBHHHBBH4s4s', 0x45, 0, 40, i & 0xffff, 0, 64, 6, 0, src, dst) + tcp)
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
for p in out:
    s.sendto(p, ('127.0.0.1', 0))
print(len(out), flush=True)
`;

function peakRssKb(pid: number): number {
  const m = /VmHWM:\s*(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
  return m ? Number(m[1]) : NaN;
}

describe.skipIf(skip)('live: a flood of new tuples', () => {
  it(`${N.toLocaleString('en-US')} SYNs to a closed port at full speed: every packet kept is in a flow, the shortfall and the unlooked flows are said, memory stays bounded`, async () => {
    const cli = spawn(process.execPath, [BIN, 'live', '-i', 'lo', '--filter', `tcp port ${PORT}`, '--format', 'ndjson'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let lines = 0;
    let packets = 0;
    let rest = '';
    let refused = 0;
    cli.stdout!.on('data', (d: Buffer) => {
      const text = rest + d.toString('utf8');
      const parts = text.split('\n');
      rest = parts.pop()!;
      for (const line of parts) {
        const f = JSON.parse(line);
        lines++;
        packets += f.toServer.packets + f.toClient.packets;
        if (f.state === 'REJ') refused++;
      }
    });
    let stderr = '';
    const exited = new Promise<number | null>((r) => cli.once('close', r));
    await new Promise<void>((resolve) => cli.stderr!.on('data', (d) => {
      stderr += d;
      if (stderr.includes('Ctrl-C stops')) resolve();
    }));

    const flood = spawn('python3', ['-c', FLOOD, String(N), String(PORT)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let sent = '';
    flood.stdout!.on('data', (d) => (sent += d));
    expect(await new Promise((r) => flood.once('close', r))).toBe(0);
    expect(Number(sent.trim())).toBe(N);

    const peak = peakRssKb(cli.pid!);
    cli.kill('SIGTERM');
    expect(await exited).toBe(0);

    // The end line, always: "N packets captured, M dropped by kernel (...)".
    const m = /flowdemux: (\d+) packets captured, (\d+) dropped by kernel/.exec(stderr);
    expect(m, stderr).not.toBeNull();
    const captured = Number(m![1]);
    const kernelDropped = Number(m![2]);
    // Nothing lost between capture and output: every packet captured is counted in a flow.
    expect(packets).toBe(captured);
    // Each SYN and its RST: 2N packets on the wire. A shortfall is never silent.
    if (captured < 2 * N) {
      const fellBehind = /dropped because analysis fell behind/.test(stderr);
      expect(kernelDropped > 0 || fellBehind, stderr).toBe(true);
    } else expect(lines).toBe(N);
    expect(refused).toBeGreaterThan(0);
    // New flows that were not looked up are counted and said; none that were are left unsaid.
    const given = /process names: (\d+) of (\d+) new flows were not looked up in time/.exec(stderr);
    if (given) {
      expect(Number(given[2])).toBe(lines);
      expect(Number(given[1])).toBeLessThanOrEqual(lines);
    }
    // Streamed (ndjson) and bounded: the flows are written as they end, not kept.
    console.log(`flood: ${N} SYNs sent, ${captured} packets captured, ${kernelDropped} dropped by kernel, ${lines} flows, `
      + `${given ? given[1] : 0} not looked up; peak RSS ${Math.round(peak / 1024)} MiB`);
    expect(peak).toBeLessThan(400 * 1024);
  });
});
