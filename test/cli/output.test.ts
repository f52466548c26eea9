/**
 * Output (src/cli/output.ts): text and bytes in one pending buffer, written in pieces of at
 * least 64 KiB, pieces never changed after they were handed over, backpressure as a promise,
 * and a closed reader dropping everything after.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Output } from '../../src/cli/output.js';

/** Keeps each piece as handed over (not a copy): later changes to a piece would show. */
class Keep extends Writable {
  pieces: Buffer[] = [];
  constructor(private readonly answer: 'now' | 'later' = 'now', highWaterMark = 16 * 1024) {
    super({ highWaterMark });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.pieces.push(chunk);
    if (this.answer === 'later') setImmediate(cb);
    else cb();
  }
  text(): string {
    return Buffer.concat(this.pieces).toString('utf8');
  }
}

const FLUSH_AT = 64 * 1024;

/**
 * Like a stream over a file descriptor (it has an `fd`): a piece's bytes are taken (copied out, as
 * the kernel does) before its write callback runs, later or at once. Records which memory each
 * piece lived in.
 */
class Descriptor extends Writable {
  readonly fd = 99;
  copies: Buffer[] = [];
  memory = new Set<ArrayBufferLike>();
  constructor(private readonly answer: 'now' | 'later') {
    super({ highWaterMark: 1 << 30 });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.copies.push(Buffer.from(chunk));
    this.memory.add(chunk.buffer);
    if (this.answer === 'later') setImmediate(cb);
    else cb();
  }
}

describe('Output', () => {
  it('text, bytes and reserved bytes come out in order, as UTF-8, in pieces of 64 KiB or more', async () => {
    const sink = new Keep();
    const out = new Output(sink);
    let expected = '';
    for (let i = 0; i < 20_000; i++) {
      const line = `${i} é€😀 ${'x'.repeat(i % 97)}\n`;
      switch (i % 3) {
        case 0:
          await out.write(line);
          break;
        case 1:
          await out.writeBytes(Buffer.from(`[${line}]`, 'utf8'), 1, Buffer.byteLength(line) + 1);
          break;
        default: {
          const bytes = Buffer.from(line, 'utf8');
          const buf = out.reserve(bytes.length);
          bytes.copy(buf, out.end);
          await out.commit(out.end + bytes.length);
        }
      }
      expected += line;
    }
    await out.flush();
    expect(sink.text()).toBe(expected);
    const sizes = sink.pieces.map((p) => p.length).filter((n) => n > 0);
    expect(sizes.length).toBeGreaterThan(10);
    for (const n of sizes.slice(0, -1)) expect(n).toBeGreaterThanOrEqual(FLUSH_AT);
  });

  it('takes text and byte runs far larger than a piece (or a 1 MiB slab)', async () => {
    const sink = new Keep();
    const out = new Output(sink);
    const big = 'ab€'.repeat(700_000); // 3.5 MB of UTF-8
    const bytes = Buffer.alloc(2_500_000, 0x41);
    out.write('head\n');
    await out.write(big);
    await out.writeBytes(bytes);
    const buf = out.reserve(3_000_000);
    buf.fill(0x42, out.end, out.end + 3_000_000);
    await out.commit(out.end + 3_000_000);
    out.write('tail\n');
    await out.flush();
    expect(sink.text()).toBe(`head\n${big}${'A'.repeat(2_500_000)}${'B'.repeat(3_000_000)}tail\n`);
  });

  it('returns a promise when the stream asks to wait, and it resolves on drain', async () => {
    const sink = new Keep('later', 1024);
    const out = new Output(sink);
    let waits = 0;
    for (let i = 0; i < 50; i++) {
      const w = out.write('y'.repeat(10_000));
      if (w) {
        waits++;
        await w;
      }
    }
    await out.flush();
    expect(waits).toBeGreaterThan(3);
    expect(sink.text()).toBe('y'.repeat(500_000));
  });

  it('never changes a piece after handing it over, while the stream still holds it', async () => {
    const sink = new Keep('later', 1 << 30); // never asks to wait: pieces pile up unwritten
    const out = new Output(sink);
    const copies: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const line = `${String(i).padStart(6, '0')} ${'z'.repeat(200)}\n`;
      const buf = out.reserve(line.length);
      buf.write(line, out.end, 'latin1');
      out.commit(out.end + line.length);
      copies.push(line);
    }
    await out.flush();
    expect(sink.text()).toBe(copies.join(''));
  });

  it.each(['now', 'later'] as const)(
    'reuses written slabs over a descriptor (callbacks %s): 18 MB, a handful of slabs when written at once, bytes intact',
    async (answer) => {
      const sink = new Descriptor(answer);
      const out = new Output(sink);
      const expected: Buffer[] = [];
      for (let i = 0; i < 40_000; i++) {
        const line = Buffer.from(`${String(i).padStart(7, '0')} ${'q'.repeat(i % 900)}\n`, 'latin1');
        const buf = out.reserve(line.length);
        line.copy(buf, out.end);
        const w = out.commit(out.end + line.length);
        if (w) await w;
        if (i % 500 === 0) await out.settle();
        expected.push(line);
      }
      await out.flush();
      const all = Buffer.concat(expected);
      expect(all.length).toBeGreaterThan(15_000_000);
      expect(Buffer.concat(sink.copies).equals(all)).toBe(true);
      // Without reuse every 1 MiB of output would be a new slab (~18 of them). A slow descriptor
      // (one write at a time, each a turn of the loop) leaves most pieces unwritten: no reuse,
      // and the bytes must still be intact.
      if (answer === 'now') expect(sink.memory.size).toBeLessThanOrEqual(8);
    },
  );

  it('never reuses a slab whose last piece the descriptor has not taken yet (a full pipe)', async () => {
    // The kernel takes a piece when the descriptor can write (a full pipe: later); the write
    // callback says it did. Here bytes are taken at callback time, one loop turn after.
    const taken: Buffer[] = [];
    const pipe = new (class extends Writable {
      readonly fd = 98;
      constructor() {
        super({ highWaterMark: 1 << 30 });
      }
      override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
        setImmediate(() => {
          taken.push(Buffer.from(chunk));
          cb();
        });
      }
    })();
    const out = new Output(pipe);
    const expected: Buffer[] = [];
    const line = (i: number) => Buffer.from(`${String(i).padStart(8, '0')} ${'p'.repeat(90 + (i % 50))}\n`, 'latin1');
    let i = 0;
    const put = () => {
      const b = line(i++);
      const buf = out.reserve(b.length);
      b.copy(buf, out.end);
      out.commit(out.end + b.length);
      expected.push(b);
    };
    // Fill most of the first slab, and let every piece so far be taken...
    while (i < 9_000) {
      put();
      if (i % 200 === 0) await out.settle();
    }
    for (let k = 0; k < 5; k++) await out.settle();
    // ...then several slabs in one go, without a turn of the loop: pieces pile up untaken.
    for (let k = 0; k < 40_000; k++) put();
    await out.flush();
    for (let k = 0; k < 5; k++) await out.settle();
    expect(Buffer.concat(taken).equals(Buffer.concat(expected))).toBe(true);
  });

  it('never reuses memory handed to a stream without a descriptor', async () => {
    const sink = new Keep('now');
    const out = new Output(sink);
    for (let i = 0; i < 20_000; i++) {
      out.write(`${String(i).padStart(7, '0')} ${'r'.repeat(i % 900)}\n`);
      if (i % 500 === 0) await out.settle();
    }
    await out.flush();
    const memory = new Set(sink.pieces.map((p) => p.buffer));
    expect(memory.size).toBeGreaterThan(8);
    const text = sink.text().split('\n');
    expect(text[19_999]!.startsWith('0019999 ')).toBe(true);
    for (let i = 0; i < 20_000; i += 997) expect(text[i]).toBe(`${String(i).padStart(7, '0')} ${'r'.repeat(i % 900)}`);
  });

  it('drops everything once the reader went away, and flush still returns', async () => {
    let received = 0;
    const gone = new Writable({
      write(chunk: Buffer, _e, cb) {
        received += chunk.length;
        setImmediate(() => cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })));
      },
    });
    const out = new Output(gone);
    await out.write('a'.repeat(FLUSH_AT));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(out.closed).toBe(true);
    expect(out.error).toBe(null);
    expect(out.write('more')).toBeUndefined();
    expect(out.commit(out.reserve(10).length > 0 ? out.end + 10 : 0)).toBeUndefined();
    expect(out.writeBytes(Buffer.alloc(FLUSH_AT * 2))).toBeUndefined();
    await out.flush();
    expect(received).toBe(FLUSH_AT);
  });
});
