/**
 * Throughput of the capture readers alone (no decoding): frames/s over a generated
 * 200,000-packet file with Ethernet-like sizes (60..1514 bytes, about 360 on average, the
 * mix of the 2M-packet / 737 MB reference capture). Skipped unless FLOWDEMUX_BENCH=1, as it
 * takes a few seconds and the machine is shared:
 *   FLOWDEMUX_BENCH=1 npx vitest run test/capture/throughput.test.ts
 */
import { describe, it, expect } from 'vitest';
import { openCapture } from '../../src/capture/open.js';
import { mergeSources } from '../../src/capture/merge.js';
import { gzipSync } from 'node:zlib';
import { tempDir } from '../helpers/capture-builders.js';

const PACKETS = 200_000;
const bench = process.env.FLOWDEMUX_BENCH === '1';

/** Deterministic sizes: mostly small, some full-size, as real traffic. */
function sizes(): Uint32Array {
  const s = new Uint32Array(PACKETS);
  let x = 12345;
  for (let i = 0; i < PACKETS; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    const r = x % 100;
    s[i] = r < 70 ? 60 + (x % 140) : r < 80 ? 576 : 1514;
  }
  return s;
}

function makePcap(sz: Uint32Array): Buffer {
  let total = 24;
  for (const n of sz) total += 16 + n;
  const b = Buffer.alloc(total);
  b.writeUInt32LE(0xa1b2c3d4, 0); b.writeUInt16LE(2, 4); b.writeUInt16LE(4, 6);
  b.writeUInt32LE(262144, 16); b.writeUInt32LE(1, 20);
  let o = 24;
  for (let i = 0; i < sz.length; i++) {
    b.writeUInt32LE(1_700_000_000 + (i >>> 10), o); b.writeUInt32LE((i * 977) % 1_000_000, o + 4);
    b.writeUInt32LE(sz[i]!, o + 8); b.writeUInt32LE(sz[i]!, o + 12);
    o += 16 + sz[i]!;
  }
  return b;
}

function makePcapng(sz: Uint32Array): Buffer {
  let total = 28 + 20;
  for (const n of sz) total += 32 + ((n + 3) & ~3);
  const b = Buffer.alloc(total);
  b.writeUInt32LE(0x0a0d0d0a, 0); b.writeUInt32LE(28, 4); b.writeUInt32LE(0x1a2b3c4d, 8);
  b.writeUInt16LE(1, 12); b.writeInt32LE(-1, 16); b.writeInt32LE(-1, 20); b.writeUInt32LE(28, 24);
  b.writeUInt32LE(1, 28); b.writeUInt32LE(20, 32); b.writeUInt16LE(1, 36); b.writeUInt32LE(262144, 40); b.writeUInt32LE(20, 44);
  let o = 48;
  for (let i = 0; i < sz.length; i++) {
    const len = 32 + ((sz[i]! + 3) & ~3);
    const ts = BigInt(1_700_000_000 + (i >>> 10)) * 1_000_000n + BigInt((i * 977) % 1_000_000);
    b.writeUInt32LE(6, o); b.writeUInt32LE(len, o + 4); b.writeUInt32LE(0, o + 8);
    b.writeUInt32LE(Number(ts >> 32n), o + 12); b.writeUInt32LE(Number(ts & 0xffffffffn), o + 16);
    b.writeUInt32LE(sz[i]!, o + 20); b.writeUInt32LE(sz[i]!, o + 24); b.writeUInt32LE(len, o + len - 4);
    o += len;
  }
  return b;
}

async function measure(path: string, label: string, copies = 1): Promise<number> {
  let best = Infinity;
  let frames = 0;
  for (let round = 0; round < 3; round++) {
    const t0 = process.hrtime.bigint();
    const sources = [];
    for (let i = 0; i < copies; i++) sources.push(await openCapture(path, i));
    frames = 0;
    let bytes = 0;
    for await (const batch of mergeSources(sources)) {
      frames += batch.length;
      for (let i = 0; i < batch.length; i++) bytes += batch[i]!.capturedLength;
    }
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (s < best) best = s;
    expect(bytes).toBeGreaterThan(0);
  }
  const rate = frames / best;
  console.log(`${label}: ${frames} frames in ${best.toFixed(3)} s = ${(rate / 1e6).toFixed(2)} M frames/s`);
  return frames;
}

describe.runIf(bench)('capture throughput', () => {
  it('pcap, pcapng and a 2-file merge', async () => {
    const t = tempDir();
    try {
      const sz = sizes();
      const pcap = t.write('bench.pcap', makePcap(sz));
      const ng = t.write('bench.pcapng', makePcapng(sz));
      expect(await measure(pcap, 'pcap (pcap-parser)')).toBe(PACKETS);
      expect(await measure(ng, 'pcapng')).toBe(PACKETS);
      expect(await measure(pcap, 'merge of 2 pcaps', 2)).toBe(2 * PACKETS);
      const gz = t.write('bench.pcap.gz', gzipSync(makePcap(sz), { level: 1 }));
      expect(await measure(gz, 'gzip pcap')).toBe(PACKETS);
    } finally {
      t.cleanup();
    }
  }, 120_000);
});
