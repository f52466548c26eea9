/**
 * The byte renderer of a flow's JSON (writeFlowJson) against two oracles: JSON.stringify of the
 * flow object, on every fixture capture and on hand-made edge values; and the template that
 * flowJsonText was before the renderer existed, on arbitrary values (NaN, huge and negative
 * numbers, odd times, any text), byte for byte. Also the byte times (writeIsoTime) against
 * isoTime, and the page store of the JSON report.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { captureFiles, FIXTURES } from '../helpers/fixture-files.js';
import type { EndpointProcess, Flow, FlowEndpoint } from '../../src/core/flow.js';
import { durationSeconds } from '../../src/report/flow-time.js';
import { flowJsonBound, flowJsonText, flowToJson, jsonText, processToJson, writeFlowJson } from '../../src/report/json.js';
import { FlowJsonStore } from '../../src/report/json-store.js';
import { isoTime, writeIsoTime } from '../../src/report/time.js';
import { runPipeline } from './pipeline.js';



/**
 * flowJsonText as it was written before the byte renderer (a template string): the oracle for
 * "the same bytes as before" on values JSON.stringify spells otherwise (NaN is `NaN` here).
 * Counters end with `missedBytes`, 0 when a record made without it has none.
 */
function legacyFlowJsonText(flow: Flow, digits: number): string {
  const q = (v: string | null) => (v === null ? 'null' : `"${v}"`);
  const counts = (c: Flow['toServer']) =>
    `{"packets":${c.packets},"wireBytes":${c.wireBytes},"ipBytes":${c.ipBytes},"payloadBytes":${c.payloadBytes},"missedBytes":${c.missedBytes ?? 0}}`;
  const proc = (e: FlowEndpoint) => (e.process === undefined ? '' : `,"process":${jsonText(processToJson(e.process))}`);
  return `{"id":${flow.id},"proto":"${flow.proto}","generation":${flow.generation},`
    + `"client":{"ip":"${flow.client.ip}","port":${flow.client.port}${proc(flow.client)}},`
    + `"server":{"ip":"${flow.server.ip}","port":${flow.server.port}${proc(flow.server)}},`
    + `"rolesInferred":${flow.rolesInferred},"start":"${isoTime(flow.start.sec, flow.start.nsec, digits)}",`
    + `"end":"${isoTime(flow.end.sec, flow.end.nsec, digits)}","duration":${durationSeconds(flow, digits)},`
    + `"toServer":${counts(flow.toServer)},"toClient":${counts(flow.toClient)},`
    + `"state":"${flow.state}","history":"${flow.history}","communityId":"${flow.communityId}",`
    + `"generationReason":${q(flow.generationReason)},"endReason":${q(flow.endReason)},"ipVersion":${flow.ipVersion},`
    + `"icmpErrors":${flow.icmpErrors},"icmpError":${flow.icmpError === null ? 'null' : JSON.stringify(flow.icmpError)}}`;
}

/**
 * Renders at an odd offset of a buffer exactly as large as flowJsonBound asks, filled with a
 * marker first: returns the bytes, after checking nothing before the offset was touched.
 */
function render(flow: Flow, digits: number): Buffer {
  const at = 7;
  const buf = Buffer.alloc(at + flowJsonBound(flow), 0xee);
  const end = writeFlowJson(buf, at, flow, digits);
  expect(buf.subarray(0, at).every((b) => b === 0xee)).toBe(true);
  expect(end).toBeLessThanOrEqual(buf.length);
  return Buffer.from(buf.subarray(at, end));
}

function base(over: Partial<Flow> = {}): Flow {
  return {
    id: 1, proto: 'tcp', generation: 1,
    client: { ip: '10.0.0.2', port: 51234 }, server: { ip: '10.0.0.1', port: 80 },
    rolesInferred: false,
    start: { sec: 1_764_056_602, nsec: 900_203_000 }, end: { sec: 1_764_056_603, nsec: 1_000 }, duration: 0,
    toServer: { packets: 3, wireBytes: 200, ipBytes: 160, payloadBytes: 20, missedBytes: 1460 },
    toClient: { packets: 2, wireBytes: 150, ipBytes: 120, payloadBytes: 0, missedBytes: 0 },
    state: 'SF', history: 'ShADadFf', communityId: '1:LQU9qZlK+B5F3KDmev6m5PMibrg=',
    generationReason: 'first', endReason: 'fin', ipVersion: 4, icmpErrors: 0, icmpError: null,
    ...over,
  };
}

describe('writeFlowJson on every fixture capture', () => {
  const files = captureFiles(FIXTURES);
  it('finds the fixture captures', () => {
    expect(files.length).toBeGreaterThan(40);
  });
  let withFlows = 0;
  for (const file of files) {
    const name = file.slice(FIXTURES.length);
    it(`equals JSON.stringify(flowToJson) byte for byte: ${name}`, async () => {
      let flows: Flow[];
      try {
        ({ flows } = await runPipeline(file));
      } catch {
        return; // not a readable capture (fixtures/damaged has some on purpose)
      }
      if (flows.length > 0) withFlows++;
      for (const digits of [6, 9]) {
        for (const f of flows) {
          const expected = JSON.stringify(flowToJson(f, { digits }));
          expect(render(f, digits).equals(Buffer.from(expected)), `flow ${f.id} digits ${digits}`).toBe(true);
          expect(flowJsonText(f, { digits })).toBe(expected);
        }
      }
    });
  }
  it('read flows from most of them', () => {
    expect(withFlows).toBeGreaterThan(30);
  });
});

describe('writeFlowJson on edge values', () => {
  const running: EndpointProcess = {
    pid: 4121, command: 'python3 "x"\\ été', state: 'running', pids: [4121, 4122],
    listener: { socket: '[::]:80', pid: 1, command: 'nginx' },
  };
  const cases: [string, Flow][] = [
    ['counters past 2^32 and up to 2^53', base({
      id: 2 ** 31 + 5, generation: 4_294_967_297,
      toServer: { packets: 2 ** 32, wireBytes: 2 ** 53 - 1, ipBytes: 1e15, payloadBytes: 999_999_999_999_999, missedBytes: 2 ** 40 },
      toClient: { packets: 2 ** 31, wireBytes: 2 ** 31 - 1, ipBytes: 4_294_967_295, payloadBytes: 10, missedBytes: 2 ** 53 - 1 },
    })],
    ['every power of ten and its neighbours', base({
      toServer: { packets: 9, wireBytes: 10, ipBytes: 99, payloadBytes: 100, missedBytes: 1000 },
      toClient: { packets: 1e9 - 1, wireBytes: 1e9, ipBytes: 1e10 + 1, payloadBytes: 0, missedBytes: 9 },
    })],
    ['IPv6 ends', base({
      client: { ip: '2001:db8:85a3::8a2e:370:7334', port: 65535 }, server: { ip: '::ffff:192.0.2.128', port: 0 }, ipVersion: 6,
    })],
    ['processes at both ends (free text, pids, listener)', base({
      client: { ip: '127.0.0.1', port: 40000, process: { pid: 7, command: 'curl', state: 'running' } },
      server: { ip: '127.0.0.1', port: 80, process: running },
    })],
    ['an exited process', base({ client: { ip: '127.0.0.1', port: 1, process: { state: 'exited' } } })],
    ['an ICMP error note', base({ icmpErrors: 3, icmpError: { type: 3, code: 3, reporter: '192.0.2.1' } })],
    ['null end and generation reasons', base({ endReason: null, generationReason: null as unknown as Flow['generationReason'] })],
    ['roles inferred, ICMP, empty history', base({ rolesInferred: true, proto: 'icmpv6', history: '', state: 'OTH' })],
    ['zero duration', base({ end: { sec: 1_764_056_602, nsec: 900_203_000 } })],
    ['a nanosecond flow (exponent form at 9 digits)', base({ end: { sec: 1_764_056_602, nsec: 900_203_001 } })],
    ['just under a microsecond', base({ end: { sec: 1_764_056_602, nsec: 900_203_999 } })],
    ['a duration past 10^15 units', base({ start: { sec: 0, nsec: 0 }, end: { sec: 4_000_000_000, nsec: 123_456_789 } })],
    ['an end before the start', base({ end: { sec: 1_764_056_601, nsec: 0 } })],
    ['before 1970 and past 9999', base({ start: { sec: -86_401, nsec: 5 }, end: { sec: 253_402_300_800, nsec: 999_999_999 } })],
    ['beyond what Date can show', base({ start: { sec: 9e12, nsec: 0 }, end: { sec: 9e12, nsec: 1 } })],
    ['a leap day and the last second of a year', base({ start: { sec: 951_782_400, nsec: 0 }, end: { sec: 1_767_225_599, nsec: 999_999_999 } })],
    ['nanoseconds out of range', base({ end: { sec: 1_764_056_603, nsec: 1_500_000_000 } })],
    ['a long history and non-ASCII text', base({ history: 'ShADadFf'.repeat(500), state: 'Ünknown😀' })],
  ];
  for (const [name, flow] of cases) {
    it(name, () => {
      for (const digits of [0, 3, 6, 9]) {
        const bytes = render(flow, digits);
        expect(bytes.equals(Buffer.from(legacyFlowJsonText(flow, digits))), `digits ${digits}`).toBe(true);
        expect(bytes.toString('utf8')).toBe(JSON.stringify(flowToJson(flow, { digits })));
        expect(flowJsonText(flow, { digits })).toBe(bytes.toString('utf8'));
      }
    });
  }

  it('escapes DEL and C1 controls in a command name as before (jsonText), unlike plain JSON.stringify', () => {
    const f = base({ client: { ip: '127.0.0.1', port: 1, process: { pid: 1, command: 'a\u009bb\u007f', state: 'running' } } });
    const text = render(f, 6).toString('utf8');
    expect(text).toContain('"command":"a\\u009bb\\u007f"');
    expect(text).toBe(legacyFlowJsonText(f, 6));
    expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(flowToJson(f))));
  });

  it('clamps digits as flowJsonText does (below 0: 0, above 9: 9)', () => {
    const f = base();
    expect(render(f, -3).equals(render(f, 0))).toBe(true);
    expect(render(f, 12).equals(render(f, 9))).toBe(true);
    expect(render(f, 6.7).equals(render(f, 6))).toBe(true);
  });

  it('throws, rather than cutting the JSON short, when the buffer lacks the room flowJsonBound asks for', () => {
    for (const f of [base(), base({ history: 'S'.repeat(3000), client: { ip: '127.0.0.1', port: 1, process: { state: 'exited' } } })]) {
      const size = render(f, 6).length;
      expect(flowJsonBound(f)).toBeGreaterThanOrEqual(size);
      for (let room = 0; room < size; room += 1 + Math.floor(room / 10)) {
        expect(() => writeFlowJson(new Uint8Array(room), 0, f, 6), `room ${room} of ${size}`).toThrow(RangeError);
        expect(() => writeFlowJson(new Uint8Array(room + 100), 100, f, 6), `room ${room} of ${size}`).toThrow(RangeError);
      }
    }
  });
});

// Text the engine could never make, but that must still come out as the old template made it.
const anyText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('\ud800', 'a\udc00b', '😀', 'é"\\\n'),
);
const anyNumber = fc.oneof(
  fc.nat(),
  fc.maxSafeNat(),
  fc.integer({ min: -(2 ** 53), max: 2 ** 53 }),
  fc.double(),
  fc.constantFrom(2 ** 53, 2 ** 64, 1e21, -0, 0.1, 123.456),
);
const anySec = fc.oneof(
  fc.integer({ min: 1_600_000_000, max: 1_900_000_000 }),
  fc.integer({ min: -1e10, max: 3e11 }),
  fc.constantFrom(0, 253_402_300_799, 253_402_300_800, 8.64e12, 8.64e12 + 1, -8.64e12 - 1),
  fc.double({ min: -1e13, max: 1e13 }),
);
const anyNsec = fc.oneof(fc.integer({ min: 0, max: 999_999_999 }), fc.constantFrom(0, 999_999_999, 1e9, -1, 0.5));
const counters = fc.record(
  { packets: anyNumber, wireBytes: anyNumber, ipBytes: anyNumber, payloadBytes: anyNumber, missedBytes: anyNumber },
  { requiredKeys: ['packets', 'wireBytes', 'ipBytes', 'payloadBytes'] },
);
const endpoint = fc.record({ ip: anyText, port: anyNumber });
const anyFlow = fc.record({
  id: anyNumber, proto: anyText, generation: anyNumber, client: endpoint, server: endpoint, rolesInferred: fc.boolean(),
  start: fc.record({ sec: anySec, nsec: anyNsec }), end: fc.record({ sec: anySec, nsec: anyNsec }),
  duration: fc.constant(0), toServer: counters, toClient: counters, state: anyText, history: anyText, communityId: anyText,
  generationReason: fc.option(anyText), endReason: fc.option(anyText), ipVersion: anyNumber, icmpErrors: anyNumber,
  icmpError: fc.option(fc.record({ type: anyNumber, code: anyNumber, reporter: anyText })),
}) as unknown as fc.Arbitrary<Flow>;

describe('writeFlowJson on arbitrary values', () => {
  it('writes the bytes of the old template flowJsonText', () => {
    fc.assert(
      fc.property(anyFlow, fc.integer({ min: -1, max: 10 }), (flow, digits) => {
        const d = digits < 0 ? 0 : digits > 9 ? 9 : digits;
        const bytes = render(flow, digits);
        expect(bytes.equals(Buffer.from(legacyFlowJsonText(flow, d)))).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('times near "now" in the engine\'s shape: also what JSON.stringify says', () => {
    const sec = fc.integer({ min: 1_000_000_000, max: 2_000_000_000 });
    const nsec = fc.integer({ min: 0, max: 999_999_999 });
    fc.assert(
      fc.property(sec, nsec, fc.integer({ min: 0, max: 200_000 }), nsec, fc.constantFrom(6, 9), (s, ns, span, ns2, digits) => {
        const f = base({ start: { sec: s, nsec: ns }, end: { sec: s + span, nsec: ns2 } });
        expect(render(f, digits).toString('utf8')).toBe(JSON.stringify(flowToJson(f, { digits })));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('writeIsoTime', () => {
  it('writes isoTime\'s text', () => {
    const view = new DataView(new ArrayBuffer(64));
    fc.assert(
      fc.property(anySec, anyNsec, fc.integer({ min: 0, max: 9 }), (sec, nsec, digits) => {
        const end = writeIsoTime(view, 3, sec, nsec, digits);
        expect(Buffer.from(view.buffer, 3, end - 3).toString('latin1')).toBe(isoTime(sec, nsec, digits));
      }),
      { numRuns: 5000 },
    );
  });

  it('on every day boundary of 1970-2100 and a few seconds around each', () => {
    const view = new DataView(new ArrayBuffer(64));
    for (let day = 0; day < 47_500; day += 1) {
      for (const sec of [day * 86400, day * 86400 + 86399]) {
        const end = writeIsoTime(view, 0, sec, 123_456_789, 6);
        expect(Buffer.from(view.buffer, 0, end).toString('latin1')).toBe(isoTime(sec, 123_456_789, 6));
      }
    }
  });
});

describe('FlowJsonStore', () => {
  it('keeps each flow\'s bytes by id, across pages, whatever the order they come in', () => {
    // ~2,400 bytes a flow: 3,000 flows fill seven 1 MiB pages, so some flows start pages.
    const flows = Array.from({ length: 3000 }, (_, i) => base({ id: i + 1, history: 'Sh'.repeat(900 + (i % 50)) }));
    const kept = flows.filter((f) => f.id % 7 !== 0); // gaps: flows not kept (filtered out)
    const order = kept.slice().sort((a, b) => ((a.id * 7919) % 3001) - ((b.id * 7919) % 3001));
    const store = new FlowJsonStore(9);
    for (const f of order) store.add(f);
    expect(store.maxId).toBe(3000);
    const dst = new Uint8Array(8000);
    for (const f of flows) {
      const n = store.size(f.id);
      if (f.id % 7 === 0) {
        expect(n).toBe(0);
        expect(store.copyTo(f.id, dst, 5)).toBe(5);
        continue;
      }
      const end = store.copyTo(f.id, dst, 5);
      expect(end - 5).toBe(n);
      expect(Buffer.from(dst.subarray(5, end)).toString('utf8')).toBe(flowJsonText(f, { digits: 9 }));
    }
    expect(store.size(0)).toBe(0);
    expect(store.size(5000)).toBe(0);
  });

  it('gives a flow larger than a page a page of its own', () => {
    const big = base({ id: 2, history: 'F'.repeat(1_200_000) });
    const store = new FlowJsonStore();
    store.add(base({ id: 1 }));
    store.add(big);
    store.add(base({ id: 3 }));
    const text = flowJsonText(big);
    const dst = new Uint8Array(text.length);
    expect(store.copyTo(2, dst, 0)).toBe(text.length);
    expect(Buffer.from(dst).toString('utf8')).toBe(text);
    const small = new Uint8Array(1000);
    const end = store.copyTo(3, small, 0);
    expect(Buffer.from(small.subarray(0, end)).toString('utf8')).toBe(flowJsonText(base({ id: 3 })));
  });

  it('refuses ids it cannot index', () => {
    const store = new FlowJsonStore();
    expect(() => store.add(base({ id: 0 }))).toThrow(RangeError);
    expect(() => store.add(base({ id: 1.5 }))).toThrow(RangeError);
  });
});
