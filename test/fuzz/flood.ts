/** A SYN flood written as a classic pcap, for the flood and output-fault tests. */
import { closeSync, openSync, writeSync } from 'node:fs';
import { buildTcp, ethernet } from '../helpers/packet-builders.js';

/**
 * Writes a classic pcap (Ethernet, µs) of `count` SYNs to 10.0.0.1:80, each from its own
 * source address (172.16.0.0/12 upwards, numbered) and port, one microsecond apart, in 4 MiB
 * pieces: the file is ~70 MB and never held in memory whole.
 */
export function writeSynFlood(path: string, count: number): void {
  const frame = ethernet(buildTcp({ src: '172.16.0.0', dst: '10.0.0.1', sport: 1024, dport: 80, flags: 'S', seq: 1 }));
  const record = 16 + frame.length;
  const perChunk = Math.floor((4 << 20) / record);
  const chunk = Buffer.alloc(perChunk * record);
  for (let i = 0; i < perChunk; i++) {
    chunk.writeUInt32LE(frame.length, i * record + 8);
    chunk.writeUInt32LE(frame.length, i * record + 12);
    chunk.set(frame, i * record + 16);
  }
  const fd = openSync(path, 'w');
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(1, 20);
  writeSync(fd, header);
  const ip = 14; // IPv4 header offset in the frame
  for (let done = 0; done < count;) {
    const n = Math.min(perChunk, count - done);
    for (let i = 0; i < n; i++) {
      const k = done + i;
      const r = i * record;
      const usec = k % 1_000_000;
      chunk.writeUInt32LE(1_700_000_000 + Math.floor(k / 1_000_000), r);
      chunk.writeUInt32LE(usec, r + 4);
      const f = r + 16;
      // Source 172.16.0.0 + k: distinct for every k below 2^20.
      chunk.writeUInt32BE((0xac100000 + k) >>> 0, f + ip + 12);
      chunk.writeUInt16BE(1024 + (k % 60000), f + ip + 20);
      // Checksums are left as built: flowdemux does not verify them, and tools that do only warn.
    }
    writeSync(fd, chunk, 0, n * record);
    done += n;
  }
  closeSync(fd);
}
