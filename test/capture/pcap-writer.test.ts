import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { LINKTYPE } from '../../src/core/linktypes.js';
import { openCapture } from '../../src/capture/open.js';
import { PcapWriteError, PcapWriter, PCAP_WRITE_SNAPLEN } from '../../src/capture/pcap-writer.js';
import type { Frame } from '../../src/core/frame.js';
import { readAll, tempDir } from '../helpers/capture-builders.js';
import { buildTcp, buildUdp, ethernet, sll2, toFrame } from '../helpers/packet-builders.js';

const tmp = tempDir('flowdemux-pcapw-');
afterAll(() => tmp.cleanup());

function hasTool(name: string): boolean {
  try {
    execFileSync(name, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Ethernet frames with distinct contents and nanosecond timestamps, one cut by a snap length. */
function sampleFrames(): Frame[] {
  const syn = ethernet(buildTcp({ src: '127.0.0.2', dst: '127.0.0.1', sport: 9157, dport: 80, flags: 'S', seq: 1 }));
  const data = ethernet(buildTcp({ src: '127.0.0.1', dst: '127.0.0.2', sport: 80, dport: 9157, flags: 'PA', seq: 7, payload: 'x'.repeat(3000) }));
  const udp = ethernet(buildUdp({ src: '::1', dst: '::1', sport: 5353, dport: 5353, payload: 'hello' }));
  return [
    toFrame(LINKTYPE.ETHERNET, syn, { tsSec: 1_700_000_000, tsNsec: 0, number: 1 }),
    toFrame(LINKTYPE.ETHERNET, data, { tsSec: 1_700_000_000, tsNsec: 123_456_789, number: 2 }),
    // Cut at 100 bytes of 3054: the record keeps the original length.
    toFrame(LINKTYPE.ETHERNET, data, { tsSec: 1_700_000_001, tsNsec: 999_999_999, capturedLength: 100, number: 3 }),
    toFrame(LINKTYPE.ETHERNET, udp, { tsSec: 4_294_967_295, tsNsec: 1, number: 4 }),
  ];
}

async function readBack(path: string) {
  const src = await openCapture(path, 0);
  const frames = await readAll(src);
  return { info: src.info, frames };
}

describe('PcapWriter: classic pcap, nanosecond, little-endian', () => {
  it('round trip: same bytes, lengths and exact nanosecond timestamps', async () => {
    const path = tmp.path('round.pcap');
    const input = sampleFrames();
    const w = PcapWriter.open(path);
    for (const f of input) w.write(f);
    w.close();
    expect(w.frames).toBe(4);
    expect(w.bytesWritten).toBe(statSync(path).size);

    const { info, frames } = await readBack(path);
    expect(info).toMatchObject({ format: 'pcap', byteOrder: 'LE', precision: 'ns', linkTypes: [1], snapLength: PCAP_WRITE_SNAPLEN, warnings: [] });
    expect(frames).toHaveLength(input.length);
    frames.forEach((f, i) => {
      const want = input[i]!;
      expect(f.tsSec).toBe(want.tsSec);
      expect(f.tsNsec).toBe(want.tsNsec);
      expect(f.capturedLength).toBe(want.capturedLength);
      expect(f.originalLength).toBe(want.originalLength);
      expect(Buffer.from(f.bytes).equals(Buffer.from(want.bytes.subarray(0, want.capturedLength)))).toBe(true);
    });
    expect(frames[2]!.originalLength).toBe(14 + 20 + 20 + 3000);
    expect(frames[2]!.capturedLength).toBe(100);
  });

  it('file header: magic 4d3cb2a1, version 2.4, snaplen 262144, link type of the first frame', () => {
    const path = tmp.path('header.pcap');
    const f = toFrame(LINKTYPE.LINUX_SLL2, sll2(buildUdp({ src: '127.0.0.1', dst: '127.0.0.1', sport: 1, dport: 2 })));
    const w = PcapWriter.open(path);
    expect(w.fileLinkType).toBeNull();
    w.write(f);
    expect(w.fileLinkType).toBe(276);
    w.close();
    const b = readFileSync(path);
    expect(b.subarray(0, 4).toString('hex')).toBe('4d3cb2a1');
    expect(b.readUInt16LE(4)).toBe(2);
    expect(b.readUInt16LE(6)).toBe(4);
    expect(b.readInt32LE(8)).toBe(0);
    expect(b.readUInt32LE(12)).toBe(0);
    expect(b.readUInt32LE(16)).toBe(262144);
    expect(b.readUInt32LE(20)).toBe(276);
    // One record: ts, caplen = len = frame length.
    expect(b.readUInt32LE(24)).toBe(f.tsSec);
    expect(b.readUInt32LE(32)).toBe(f.bytes.length);
    expect(b.readUInt32LE(36)).toBe(f.bytes.length);
    expect(b.length).toBe(24 + 16 + f.bytes.length);
  });

  it('records larger than the write buffer, and many records across flushes', async () => {
    const path = tmp.path('small-buffer.pcap');
    const input = sampleFrames();
    const w = PcapWriter.open(path, { bufferSize: 256 });
    for (let i = 0; i < 50; i++) {
      for (const f of input) w.write({ ...f, tsSec: f.tsSec === 4_294_967_295 ? f.tsSec : f.tsSec + i });
    }
    w.close();
    const { frames } = await readBack(path);
    expect(frames).toHaveLength(200);
    frames.forEach((f, i) => {
      const want = input[i % 4]!;
      expect(Buffer.from(f.bytes).equals(Buffer.from(want.bytes.subarray(0, want.capturedLength)))).toBe(true);
      expect(f.tsNsec).toBe(want.tsNsec);
    });
  });

  it('frames as the pcap reader yields them (at an offset in its read buffer) are written byte for byte', async () => {
    const original = tmp.path('original.pcap');
    const w0 = PcapWriter.open(original);
    for (const f of sampleFrames()) w0.write(f);
    w0.close();
    // Default buffer, and one so small that the 3054-byte record goes straight from the frame.
    for (const bufferSize of [1 << 20, 256]) {
      const copy = tmp.path(`copy-${bufferSize}.pcap`);
      const src = await openCapture(original, 0);
      const w = PcapWriter.open(copy, { bufferSize });
      let atOffset = 0;
      for await (const batch of src.batches()) {
        for (const f of batch) {
          if (f.offset > 0) atOffset++;
          w.write(f);
        }
      }
      w.close();
      expect(atOffset).toBe(4);
      expect(readFileSync(copy).equals(readFileSync(original))).toBe(true);
    }
  });

  it('a capture with no frames is a valid empty pcap with the link type given at open', async () => {
    const path = tmp.path('empty.pcap');
    const w = PcapWriter.open(path, { linkType: LINKTYPE.LINUX_SLL });
    // Written at open already, so that a full disk shows before capture.
    expect(statSync(path).size).toBe(24);
    w.close();
    w.close(); // idempotent
    const { info, frames } = await readBack(path);
    expect(frames).toHaveLength(0);
    expect(info.linkTypes).toEqual([113]);
  });

  it('without a link type and without frames the header says EN10MB', () => {
    const path = tmp.path('empty-default.pcap');
    PcapWriter.open(path).close();
    const b = readFileSync(path);
    expect(b.length).toBe(24);
    expect(b.readUInt32LE(20)).toBe(1);
  });

  it('refuses a frame of another link type and keeps the file valid', async () => {
    const path = tmp.path('mixed.pcap');
    const [first] = sampleFrames();
    const w = PcapWriter.open(path);
    w.write(first!);
    const other = toFrame(LINKTYPE.LINUX_SLL2, sll2(buildUdp({ src: '127.0.0.1', dst: '127.0.0.1', sport: 1, dport: 2 })), { number: 9 });
    let err: unknown;
    try {
      w.write(other);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PcapWriteError);
    expect((err as PcapWriteError).kind).toBe('link-type');
    expect((err as PcapWriteError).message).toBe(
      `cannot write ${path}: frame 9 has link type 276 but the file holds link type 1 (a classic pcap has one link type)`,
    );
    w.close();
    expect((await readBack(path)).frames).toHaveLength(1);
  });

  it('a frame longer than 262144 bytes keeps its first 262144 and its original length', async () => {
    const path = tmp.path('huge.pcap');
    const bytes = new Uint8Array(300_000).map((_, i) => i & 0xff);
    const w = PcapWriter.open(path);
    w.write(toFrame(LINKTYPE.ETHERNET, bytes));
    w.close();
    const { frames, info } = await readBack(path);
    expect(info.warnings).toEqual([]);
    expect(frames[0]!.capturedLength).toBe(262144);
    expect(frames[0]!.originalLength).toBe(300_000);
    expect(Buffer.from(frames[0]!.bytes).equals(Buffer.from(bytes.subarray(0, 262144)))).toBe(true);
  });
});

describe('PcapWriter: errors are one line, and open fails before any capture', () => {
  function openError(path: string, linkType?: number): PcapWriteError {
    let err: unknown;
    try {
      PcapWriter.open(path, linkType === undefined ? {} : { linkType });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PcapWriteError);
    const pe = err as PcapWriteError;
    expect(pe.kind).toBe('open');
    expect(pe.message).not.toContain('\n');
    return pe;
  }

  it('missing directory', () => {
    const dir = tmp.path('no/such');
    expect(openError(`${dir}/out.pcap`).message).toBe(`cannot write ${dir}/out.pcap: no such directory ${dir}`);
  });

  it('a filesystem that refuses new files (/proc)', () => {
    expect(openError('/proc/x.pcap').message).toBe('cannot write /proc/x.pcap: cannot create a file in /proc');
  });

  it('a directory', () => {
    const dir = tmp.path('adir');
    mkdirSync(dir);
    expect(openError(dir).message).toBe(`cannot write ${dir}: is a directory`);
  });

  it('a path through a file', () => {
    const file = tmp.write('plain', new Uint8Array(1));
    expect(openError(`${file}/x.pcap`).message).toBe(`cannot write ${file}/x.pcap: a part of the path is not a directory`);
  });

  it('permission denied (checked as an unprivileged user when running as root)', () => {
    const dir = tmp.path('locked');
    mkdirSync(dir);
    chmodSync(dir, 0o555);
    const path = `${dir}/out.pcap`;
    const root = process.getuid?.() === 0;
    // Root writes anywhere; drop the effective uid for the one synchronous open (forks pool:
    // this process only), then take it back.
    if (root) process.seteuid!(65534);
    let err: unknown;
    try {
      PcapWriter.open(path);
    } catch (e) {
      err = e;
    } finally {
      if (root) process.seteuid!(0);
    }
    expect(err).toBeInstanceOf(PcapWriteError);
    expect((err as PcapWriteError).message).toBe(`cannot write ${path}: permission denied`);
    expect(existsSync(path)).toBe(false);
  });

  it('disk full at open when the header is written then (/dev/full)', () => {
    expect(openError('/dev/full', LINKTYPE.ETHERNET).message).toBe('cannot write /dev/full: disk full');
  });

  it('disk full while writing: one error, repeated by every later call', () => {
    const w = PcapWriter.open('/dev/full', { bufferSize: 1024 });
    const [f] = sampleFrames();
    let err: unknown;
    try {
      for (let i = 0; i < 100; i++) w.write(f!);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PcapWriteError);
    expect((err as PcapWriteError).kind).toBe('write');
    expect((err as PcapWriteError).message).toBe('cannot write /dev/full: disk full');
    expect(() => w.write(f!)).toThrow(err as Error);
    expect(() => w.close()).toThrow('cannot write /dev/full: disk full');
    // Closed anyway.
    expect(() => w.close()).not.toThrow();
  });

  it('abort() removes the file', () => {
    const path = tmp.path('aborted.pcap');
    const w = PcapWriter.open(path, { linkType: 1 });
    expect(existsSync(path)).toBe(true);
    w.abort();
    expect(existsSync(path)).toBe(false);
  });
});

describe.skipIf(!hasTool('tshark'))('PcapWriter output read by tshark (tshark installed)', () => {
  it('tshark sees the same frames, lengths and nanosecond times', () => {
    const path = tmp.path('tshark.pcap');
    const input = sampleFrames();
    const w = PcapWriter.open(path);
    for (const f of input) w.write(f);
    w.close();
    const out = execFileSync('tshark', ['-r', path, '-T', 'fields', '-e', 'frame.len', '-e', 'frame.cap_len', '-e', 'frame.time_epoch', '-e', 'ip.proto', '-e', 'ipv6.nxt'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const rows = out.trim().split('\n').map((l) => l.split('\t'));
    expect(rows).toHaveLength(input.length);
    rows.forEach((r, i) => {
      const f = input[i]!;
      expect(Number(r[0])).toBe(f.originalLength);
      expect(Number(r[1])).toBe(f.capturedLength);
      expect(r[2]).toBe(`${f.tsSec}.${String(f.tsNsec).padStart(9, '0')}`);
    });
    expect(rows.map((r) => r[3] || r[4])).toEqual(['6', '6', '6', '17']);
  });
});

describe.skipIf(!hasTool('tcpdump'))('PcapWriter output read by tcpdump (tcpdump installed)', () => {
  it('tcpdump reads every record with nanosecond precision', () => {
    const path = tmp.path('tcpdump.pcap');
    const input = sampleFrames();
    const w = PcapWriter.open(path);
    for (const f of input) w.write(f);
    w.close();
    const out = execFileSync('tcpdump', ['-r', path, '-nn', '-tt', '--time-stamp-precision=nano'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(input.length);
    expect(lines[1]).toMatch(/^1700000000\.123456789 IP 127\.0\.0\.1\.80 > 127\.0\.0\.2\.9157: Flags \[P\.\]/);
    // tcpdump cannot print a time in 2106 ("[Error converting time]"); the record is still read.
    expect(lines[3]).toContain('IP6 ::1.5353 > ::1.5353: ');
  });
});
