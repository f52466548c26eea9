#!/usr/bin/env node
/**
 * Deterministic generator of a large Ethernet/IPv4 classic pcap for benchmarks, streamed to
 * disk (nothing is kept in memory but the open flows).
 *
 *   node scripts/bench/generate.mjs OUT.pcap [--packets 2000000] [--flows 100000] [--open 2000] [--seed 1] [--gap 20] [--busy-server [--clients 60000]]
 *   node scripts/bench/generate.mjs - ...      (to stdout, e.g. piped into `flowdemux flows -`)
 *
 * Traffic: about `--open` flows open at once, interleaved at random; TCP flows do a handshake,
 * exchange requests and responses, and close with FINs (some with RST); UDP flows are DNS-like
 * query/response pairs. Many clients share server ports 80, 443 and 53 on a few servers, and
 * client ports repeat across client hosts, as in the teaching picture. Payload bytes are zero.
 * --gap: mean microseconds between packets (longer captures: flows end and their tuples are used
 * again). The flow count is approached by sizing flows from the packet budget: packets/flows on average.
 *
 * --busy-server: shaped like a busy server instead (issue 21): every flow 20 packets; TCP flows
 * (80%) do a handshake, six requests of 50-500 bytes each answered by 100-1,400 bytes, an ACK and
 * a FIN close, with HTTP's first words on ports 80 and 8089 and TLS records on 443; UDP flows are
 * ten DNS queries and answers on port 53; 60,000 distinct client addresses; server ports 80, 443,
 * 53 and 8089; every seventh flow from client port 9157 (`--clients`: fewer addresses, so that
 * tuples are used again). Payload beyond the first words is zero.
 */
import { openSync, writeSync, closeSync } from 'node:fs';

const args = process.argv.slice(2);
const out = args.find((a) => !a.startsWith('--'));
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
if (!out) {
  process.stderr.write('usage: generate.mjs OUT.pcap [--packets N] [--flows N] [--open N] [--seed N]\n');
  process.exit(2);
}
const BUSY = args.includes('--busy-server');
const TOTAL = opt('--packets', 2_000_000);
const FLOWS = opt('--flows', 100_000);
const OPEN = opt('--open', 2_000);
let seed = opt('--seed', 1) >>> 0;

// mulberry32: small, fast, deterministic.
function rand() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const randInt = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));

const SERVERS = Array.from({ length: 16 }, (_, i) => (192 << 24) | (0 << 16) | (2 << 8) | (i + 1));
const meanPackets = TOTAL / FLOWS;

const CLIENTS = opt('--clients', 60_000);
/** Mean microseconds between two packets. */
const GAP = opt('--gap', 20);
let flowNumber = 0;

/** A busy server's flow: 20 packets, HTTP, TLS or DNS first words (`payload` steps carry a kind). */
function busyFlow() {
  const n = flowNumber++;
  const kind = rand();
  const udp = kind < 0.2;
  const sport = udp ? 53 : kind < 0.55 ? 80 : kind < 0.85 ? 443 : 8089;
  const client = (10 << 24) | (1 << 16) | randInt(0, CLIENTS - 1);
  const server = SERVERS[randInt(0, 3)];
  const cport = n % 7 === 0 ? 9157 : randInt(1024, 65535);
  const plan = [];
  if (udp) {
    for (let i = 0; i < 10; i++) plan.push([0, 0, randInt(30, 60), 'dnsq'], [1, 0, randInt(60, 300), 'dnsr']);
  } else {
    const [req, resp] = sport === 443 ? ['tls', 'tls'] : ['httpq', 'httpr'];
    plan.push([0, 0x02, 0], [1, 0x12, 0], [0, 0x10, 0]);
    for (let i = 0; i < 6; i++) plan.push([0, 0x18, randInt(50, 500), req], [1, 0x18, randInt(100, 1400), resp]);
    plan.push([0, 0x10, 0], [0, 0x11, 0], [1, 0x10, 0], [1, 0x11, 0], [0, 0x10, 0]);
  }
  return { udp, client, server, cport, sport, plan, next: 0, seqC: randInt(0, 0x7fffffff), seqS: randInt(0, 0x7fffffff) };
}

/** The first words of a payload of `kind` at `p` (`len` bytes there; the rest stays zero). */
function firstWords(kind, p, len) {
  let words;
  if (kind === 'httpq') words = 'GET /items/4711 HTTP/1.1\r\nHost: busy.example\r\n\r\n';
  else if (kind === 'httpr') words = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';
  else if (kind === 'tls') {
    buf[p] = 0x17; buf[p + 1] = 3; buf[p + 2] = 3; buf.writeUInt16BE(len - 5, p + 3); // application data
    return;
  } else {
    // DNS: id, flags (a query, or an answer NOERROR), one question busy.example A IN.
    buf.writeUInt16BE(0x1234, p);
    buf.writeUInt16BE(kind === 'dnsq' ? 0x0100 : 0x8180, p + 2);
    buf.writeUInt16BE(1, p + 4);
    const name = [4, 98, 117, 115, 121, 7, 101, 120, 97, 109, 112, 108, 101, 0, 0, 1, 0, 1];
    for (let i = 0; i < name.length && 12 + i < len; i++) buf[p + 12 + i] = name[i];
    return;
  }
  buf.write(words.slice(0, len), p, 'latin1');
}

/** A flow's plan: a list of packets [dir(0 c→s,1 s→c), flags, payload]. Built lazily. */
function newFlow() {
  if (BUSY) return busyFlow();
  const udp = rand() < 0.2;
  const client = (10 << 24) | randInt(0, 0xffffff);
  const server = SERVERS[randInt(0, SERVERS.length - 1)];
  const cport = randInt(1024, 65535);
  const sport = udp ? 53 : rand() < 0.6 ? 80 : 443;
  const plan = [];
  if (udp) {
    const pairs = Math.max(1, Math.round(meanPackets / 8));
    for (let i = 0; i < pairs; i++) {
      plan.push([0, 0, randInt(30, 60)]);
      plan.push([1, 0, randInt(60, 300)]);
    }
  } else {
    // Handshake 3 + close 4 (or 2 with RST) + data exchanges sized to keep the mean.
    const target = Math.max(9, Math.round(meanPackets * (0.5 + rand())));
    plan.push([0, 0x02, 0], [1, 0x12, 0], [0, 0x10, 0]);
    while (plan.length < target - 4) {
      plan.push([0, 0x18, randInt(50, 600)]);
      plan.push([1, 0x18, randInt(200, 1400)]);
      plan.push([0, 0x10, 0]);
    }
    if (rand() < 0.1) plan.push([0, 0x14, 0]);
    else plan.push([0, 0x11, 0], [1, 0x10, 0], [1, 0x11, 0], [0, 0x10, 0]);
  }
  return { udp, client, server, cport, sport, plan, next: 0, seqC: randInt(0, 0x7fffffff), seqS: randInt(0, 0x7fffffff) };
}

const CHUNK = 4 << 20;
const buf = Buffer.alloc(CHUNK + 2048);
let pos = 0;
const fd = out === '-' ? 1 : openSync(out, 'w');
const flush = () => {
  // writeSync on a pipe can write part of the buffer (or EAGAIN): loop until all of it is out.
  let off = 0;
  while (off < pos) {
    try {
      off += writeSync(fd, buf, off, pos - off);
    } catch (err) {
      if (err.code !== 'EAGAIN') throw err;
    }
  }
  pos = 0;
};

// Global header: LE, µs, v2.4, snaplen 262144, Ethernet.
buf.writeUInt32LE(0xa1b2c3d4, 0);
buf.writeUInt16LE(2, 4);
buf.writeUInt16LE(4, 6);
buf.writeUInt32LE(0, 8);
buf.writeUInt32LE(0, 12);
buf.writeUInt32LE(262144, 16);
buf.writeUInt32LE(1, 20);
pos = 24;

let sec = 1_764_000_000;
let usec = 0;
let ipId = 0;
const open = Array.from({ length: OPEN }, newFlow);
let flowsStarted = OPEN;

function writePacket(f, step) {
  const [dir, flags, payload, kind] = step;
  const l4 = f.udp ? 8 : 20;
  const ipLen = 20 + l4 + payload;
  const frameLen = 14 + ipLen;
  if (pos + 16 + frameLen > CHUNK) flush();
  usec += randInt(0, GAP * 2);
  if (usec >= 1_000_000) {
    sec += 1;
    usec -= 1_000_000;
  }
  buf.writeUInt32LE(sec, pos);
  buf.writeUInt32LE(usec, pos + 4);
  buf.writeUInt32LE(frameLen, pos + 8);
  buf.writeUInt32LE(frameLen, pos + 12);
  let p = pos + 16;
  buf.fill(0, p, p + frameLen);
  // Ethernet: locally administered MACs, IPv4.
  buf[p + 0] = 0x02; buf[p + 5] = dir ? 1 : 2;
  buf[p + 6] = 0x02; buf[p + 11] = dir ? 2 : 1;
  buf.writeUInt16BE(0x0800, p + 12);
  p += 14;
  const src = dir ? f.server : f.client;
  const dst = dir ? f.client : f.server;
  buf[p] = 0x45;
  buf.writeUInt16BE(ipLen, p + 2);
  buf.writeUInt16BE((ipId = (ipId + 1) & 0xffff), p + 4);
  buf[p + 6] = 0x40; // DF
  buf[p + 8] = 64;
  buf[p + 9] = f.udp ? 17 : 6;
  buf.writeUInt32BE(src >>> 0, p + 12);
  buf.writeUInt32BE(dst >>> 0, p + 16);
  p += 20;
  const sp = dir ? f.sport : f.cport;
  const dp = dir ? f.cport : f.sport;
  buf.writeUInt16BE(sp, p);
  buf.writeUInt16BE(dp, p + 2);
  if (kind !== undefined) firstWords(kind, p + l4, payload);
  if (f.udp) {
    buf.writeUInt16BE(8 + payload, p + 4);
  } else {
    const seq = dir ? f.seqS : f.seqC;
    const ack = dir ? f.seqC : f.seqS;
    buf.writeUInt32BE(seq >>> 0, p + 4);
    buf.writeUInt32BE(flags & 0x10 ? ack >>> 0 : 0, p + 8);
    buf[p + 12] = 5 << 4;
    buf[p + 13] = flags;
    buf.writeUInt16BE(65535, p + 14);
    const advance = payload + (flags & 0x03 ? 1 : 0);
    if (dir) f.seqS = (f.seqS + advance) >>> 0;
    else f.seqC = (f.seqC + advance) >>> 0;
  }
  pos += 16 + frameLen;
}

let written = 0;
while (written < TOTAL) {
  const i = randInt(0, OPEN - 1);
  const f = open[i];
  writePacket(f, f.plan[f.next++]);
  written++;
  if (f.next >= f.plan.length) {
    open[i] = newFlow();
    flowsStarted++;
  }
}
flush();
if (fd !== 1) closeSync(fd);
process.stderr.write(`wrote ${out}: ${written} packets, ${flowsStarted} flows started (${OPEN} open at once)\n`);
