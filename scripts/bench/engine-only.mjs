#!/usr/bin/env node
/**
 * The demux engine alone, without reading, decoding or output: the packets of a capture are
 * decoded once into arrays (IPv4 TCP/UDP only), then replayed into a fresh DemuxEngine a few
 * times, and the time per packet is printed. For engine work (issue 6): `npm run bench` times
 * the whole command, this isolates the part that is neither I/O nor formatting.
 *
 *   node scripts/bench/engine-only.mjs [capture] [--runs 3]
 *
 * Default capture: the benchmark's cached one (bench/.cache/bench-2000000.pcap; `npm run bench`
 * makes it). Needs the build (dist/). Ended flows are made into Flow records (toFlow) as in the
 * streaming commands, then dropped.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const RUNS = runsAt >= 0 ? Number(args[runsAt + 1]) : 3;
const file = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--runs') ?? join(ROOT, 'bench', '.cache', 'bench-2000000.pcap');
if (!existsSync(join(ROOT, 'dist', 'demux', 'engine.js'))) {
  console.error('engine-only: build first (npm install runs the build)');
  process.exit(2);
}
if (!existsSync(file)) {
  console.error(`engine-only: no capture ${file} (npm run bench generates the default one)`);
  process.exit(2);
}
const { readCaptures } = await import(join(ROOT, 'dist', 'pipeline', 'read.js'));
const { DemuxEngine } = await import(join(ROOT, 'dist', 'demux', 'engine.js'));
const { newPacket } = await import(join(ROOT, 'dist', 'core', 'packet.js'));

// 1. Decode once: addresses (8 bytes) and 12 numbers a packet.
const NUM = 12;
let cap = 1 << 20;
let addr = new Uint8Array(cap * 8);
let num = new Float64Array(cap * NUM);
let n = 0;
let skipped = 0;
let template = null;
await readCaptures([file], (frame, pkt) => {
  if (pkt.ipVersion !== 4 || !pkt.hasPorts || pkt.isFragment || (pkt.protocol !== 6 && pkt.protocol !== 17)) {
    skipped++;
    return;
  }
  if (n === cap) {
    cap *= 2;
    const a = new Uint8Array(cap * 8);
    a.set(addr);
    addr = a;
    const b = new Float64Array(cap * NUM);
    b.set(num);
    num = b;
  }
  template ??= { ...pkt, problems: [] };
  addr.set(pkt.bytes.subarray(pkt.srcAddrOffset, pkt.srcAddrOffset + 4), n * 8);
  addr.set(pkt.bytes.subarray(pkt.dstAddrOffset, pkt.dstAddrOffset + 4), n * 8 + 4);
  const o = n * NUM;
  num[o] = frame.tsSec;
  num[o + 1] = frame.tsNsec;
  num[o + 2] = pkt.protocol;
  num[o + 3] = pkt.srcPort;
  num[o + 4] = pkt.dstPort;
  num[o + 5] = pkt.tcpFlags;
  num[o + 6] = pkt.tcpSeq;
  num[o + 7] = pkt.tcpAck;
  num[o + 8] = pkt.tcpWindow;
  num[o + 9] = pkt.originalLength;
  num[o + 10] = pkt.ipLength;
  num[o + 11] = pkt.payloadLength;
  n++;
}, { progress: false });
if (n === 0) {
  console.error(`engine-only: no IPv4 TCP/UDP packets in ${file}`);
  process.exit(1);
}

// 2. Replay.
console.log(`${file}: ${n.toLocaleString('en')} IPv4 TCP/UDP packets replayed${skipped ? ` (${skipped} others left out)` : ''}`);
for (let run = 0; run < RUNS; run++) {
  const pkt = Object.assign(newPacket(), template, { bytes: addr, addrLength: 4, problems: [] });
  let flows = 0;
  const engine = new DemuxEngine({ onFlowEnd: () => { flows++; } });
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const o = i * NUM;
    pkt.srcAddrOffset = i * 8;
    pkt.dstAddrOffset = i * 8 + 4;
    pkt.protocol = num[o + 2];
    pkt.srcPort = num[o + 3];
    pkt.dstPort = num[o + 4];
    pkt.tcpFlags = num[o + 5];
    pkt.tcpSeq = num[o + 6];
    pkt.tcpAck = num[o + 7];
    pkt.tcpWindow = num[o + 8];
    pkt.originalLength = num[o + 9];
    pkt.ipLength = num[o + 10];
    pkt.payloadLength = num[o + 11];
    engine.ingest(pkt, num[o], num[o + 1]);
  }
  engine.finish();
  const ms = performance.now() - t0;
  console.log(`run ${run + 1}: ${ms.toFixed(0)} ms, ${((ms * 1e6) / n).toFixed(0)} ns/packet, ${flows.toLocaleString('en')} flows`);
}
