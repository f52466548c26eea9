/**
 * The typed-array hash table under the engine, against a plain Map as the model: random inserts
 * and releases over a small key space (long probe runs, wrap-around, growth, backward-shift
 * deletion), and the lists in order of use.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlowTable, TupleKey } from '../../src/demux/flow-table.js';

/** Key k → (4-byte A address, 4-byte B address, ports, protocol), laid out in one buffer. */
function key(k: number): { b: Uint8Array; aPort: number; bPort: number; proto: number } {
  const b = new Uint8Array(8);
  b.set([10, 0, (k >> 8) & 255, k & 255, 10, 0, 0, 1]);
  return { b, aPort: 1000 + (k % 7), bPort: 80, proto: k % 3 === 0 ? 17 : 6 };
}

function find(t: FlowTable, k: number): number {
  const { b, aPort, bPort, proto } = key(k);
  return t.find(new TupleKey().set(b, 0, 4, 4, aPort, bPort, proto));
}

function insert(t: FlowTable, k: number): number {
  const { b, aPort, bPort, proto } = key(k);
  return t.insert(new TupleKey().set(b, 0, 4, 4, aPort, bPort, proto));
}

describe('FlowTable', () => {
  // 16 keys fill the first table (16 slots, 32 index cells) to its load limit, where probe runs
  // often wrap around the end; 300 keys make it grow several times.
  it.each([15, 300])('finds exactly what is stored through any inserts and releases of keys 0..%i (property)', (maxKey) => {
    const op = fc.tuple(fc.boolean(), fc.integer({ min: 0, max: maxKey }));
    fc.assert(fc.property(fc.array(op, { minLength: 1, maxLength: 600 }), (ops) => {
      const t = new FlowTable(1, 16);
      const model = new Map<number, number>();
      for (const [add, k] of ops) {
        const slot = model.get(k);
        if (add && slot === undefined) {
          const s = insert(t, k);
          t.append(s, 0);
          model.set(k, s);
        } else if (!add && slot !== undefined) {
          t.release(slot);
          model.delete(k);
        }
      }
      expect(t.size).toBe(model.size);
      expect(t.counts[0]).toBe(model.size);
      for (let k = 0; k <= maxKey; k++) expect(find(t, k)).toBe(model.get(k) ?? -1);
      // The stored key bytes are the ones given.
      for (const [k, s] of model) {
        const base = FlowTable.addrOffset(s);
        expect([...t.keyAddr.subarray(base + 2, base + 4)]).toEqual([(k >> 8) & 255, k & 255]);
      }
    }), { numRuns: 200 });
  });

  it('keeps lists in order of use', () => {
    const t = new FlowTable(2, 16);
    const s = [0, 1, 2, 3].map((k) => insert(t, k));
    for (const x of s) t.append(x, 0);
    t.touch(s[1]!, 0); // 0 2 3 1
    t.touch(s[2]!, 1); // list 0: 0 3 1; list 1: 2
    const order = (list: number) => {
      const out: number[] = [];
      for (let x = t.heads[list]!; x >= 0; x = t.next(x)) out.push(s.indexOf(x));
      return out;
    };
    expect(order(0)).toEqual([0, 3, 1]);
    expect(order(1)).toEqual([2]);
    t.release(s[3]!);
    expect(order(0)).toEqual([0, 1]);
    expect([...t.counts]).toEqual([2, 1]);
  });
});
