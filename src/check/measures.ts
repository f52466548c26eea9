/**
 * The measures of a rule over the flows it selects, and the verdict: passed or not, the value
 * measured, and for a failure the flows that broke it, each with a word on why.
 *
 * How each measure reads a flow (Zeek's conn_state and history letters, flows' fields):
 * - connections: TCP flows; flows: every flow; packets, bytes: both directions (wire bytes);
 * - resets: TCP flows in which either end sent a RST (history R or r): those ended by a reset,
 *   and those refused (a SYN answered by RST);
 * - refused: conn_state REJ (Zeek's "connection attempt rejected": a SYN answered by RST);
 * - incomplete: TCP flows whose handshake was not seen to finish: no SYN-ACK from the server
 *   (history letter h), or no ACK, data or FIN from the client after it (A, D or F after the h);
 *   so S0, REJ, RSTOS0, SH, OTH (started before the capture) and a SYN-ACK answered by RST;
 * - reused-in-time-wait: new generations of a 4-tuple that started less than 60 s (2 MSL) after
 *   the previous one closed by FIN both ways (facts.ts; a RST leaves no TIME-WAIT);
 * - retransmissions: segments the TCP analysis marks retransmission, fast or spurious;
 * - max-handshake-rtt (ms), max-duration (s): the largest over the flows (0 when none has one);
 * - servers: the server ends (ADDRESS:PORT) of the selected TCP and UDP flows.
 */
import type { Flow } from '../core/flow.js';
import { endpointText } from '../demux/groups.js';
import type { FlowFacts } from './facts.js';
import type { EndpointPattern, Measure, Operator, Rule } from './rules.js';

/** A flow that broke a rule, and why in a few words (`RST (RSTO)`, `handshake 12.5 ms`...). */
export interface Offender {
  flow: Flow;
  detail: string;
}

export interface Verdict {
  rule: Rule;
  pass: boolean;
  /** The value measured: a number, or for `servers` compared with a list, the server ends. */
  value: number | string[];
  /** How many flows the rule's `flows` selected. */
  selected: number;
  /** For a failure: the flows that broke the rule (see `evaluate`); empty for a pass. */
  broke: Offender[];
  /** For a failure of `servers == [...]`: the listed ends no flow went to. */
  missing: string[];
}

const totalPackets = (f: Flow) => f.toServer.packets + f.toClient.packets;
const totalBytes = (f: Flow) => f.toServer.wireBytes + f.toClient.wireBytes;
const isTcp = (f: Flow) => f.proto === 'tcp';
const hasRst = (f: Flow) => isTcp(f) && /[Rr]/.test(f.history);

/** Zeek's letters say the handshake finished: h, then the client's A, D or F. */
function handshakeFinished(f: Flow): boolean {
  const h = f.history.indexOf('h');
  return h >= 0 && /[ADF]/.test(f.history.slice(h + 1));
}

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

/** Counting measures: which flows count, and what to say of each. */
const COUNTED: Partial<Record<Measure, { counts: (x: FlowFacts) => boolean; detail: (x: FlowFacts) => string }>> = {
  connections: { counts: (x) => isTcp(x.flow), detail: (x) => `${x.flow.state} ${x.flow.history}` },
  flows: { counts: () => true, detail: (x) => `${x.flow.state} ${x.flow.history}`.trim() },
  resets: { counts: (x) => hasRst(x.flow), detail: (x) => `RST (${x.flow.state} ${x.flow.history})` },
  refused: { counts: (x) => isTcp(x.flow) && x.flow.state === 'REJ', detail: (x) => `SYN answered by RST (REJ ${x.flow.history})` },
  incomplete: {
    counts: (x) => isTcp(x.flow) && !handshakeFinished(x.flow),
    detail: (x) => `no finished handshake (${x.flow.state} ${x.flow.history})`,
  },
  'reused-in-time-wait': {
    counts: (x) => x.reusedAfterS !== null,
    detail: (x) => `generation ${x.flow.generation}, ${fixed(x.reusedAfterS!, 3)} s after ${flowId(x.reusedFrom!)} closed (TIME-WAIT is 60 s)`,
  },
};

/** Summed measures: each flow's part, and its words. */
const SUMMED: Partial<Record<Measure, { part: (x: FlowFacts) => number; unit: string }>> = {
  packets: { part: (x) => totalPackets(x.flow), unit: 'packet' },
  bytes: { part: (x) => totalBytes(x.flow), unit: 'byte' },
  retransmissions: { part: (x) => x.retransmissions, unit: 'retransmission' },
};

/** Largest-of measures: each flow's value (null: it has none), and its words. */
const LARGEST: Partial<Record<Measure, { of: (x: FlowFacts) => number | null; detail: (v: number) => string }>> = {
  'max-handshake-rtt': { of: (x) => x.handshakeRttMs, detail: (v) => `handshake ${fixed(v, 3)} ms` },
  'max-duration': { of: (x) => x.flow.duration, detail: (v) => `lasted ${fixed(v, 6)} s` },
};

/** Evaluates one rule over every flow's facts. */
export function evaluate(rule: Rule, all: readonly FlowFacts[]): Verdict {
  const selected = all.filter((x) => rule.select(x.flow));
  const base = { rule, selected: selected.length, missing: [] as string[] };
  const m = rule.measure;
  const counted = COUNTED[m];
  if (counted !== undefined) {
    const flows = selected.filter(counted.counts);
    const pass = compare(flows.length, rule);
    return { ...base, pass, value: flows.length, broke: pass ? [] : flows.map((x) => ({ flow: x.flow, detail: counted.detail(x) })) };
  }
  const summed = SUMMED[m];
  if (summed !== undefined) {
    const parts = selected.map((x) => [x, summed.part(x)] as const).filter(([, n]) => n > 0);
    const value = parts.reduce((s, [, n]) => s + n, 0);
    const pass = compare(value, rule);
    return { ...base, pass, value, broke: pass ? [] : parts.map(([x, n]) => ({ flow: x.flow, detail: plural(n, summed.unit) })) };
  }
  const largest = LARGEST[m];
  if (largest !== undefined) {
    const values = selected.map((x) => [x, largest.of(x)] as const).filter((e): e is readonly [FlowFacts, number] => e[1] !== null);
    const value = values.reduce((s, [, v]) => Math.max(s, v), 0);
    const pass = compare(value, rule);
    if (pass) return { ...base, pass, value, broke: [] };
    // Under an upper bound, every flow above it broke the rule; otherwise the largest did.
    const upper = rule.operator === '<' || rule.operator === '<=';
    const broke = values.filter(([, v]) => (upper ? !compare(v, rule) : v === value));
    return { ...base, pass, value, broke: broke.map(([x, v]) => ({ flow: x.flow, detail: largest.detail(v) })) };
  }
  return servers(rule, selected, base);
}

/** `servers`: with a list, which ends are allowed (in) or expected (==, !=); with a number, how many. */
function servers(rule: Rule, selected: readonly FlowFacts[], base: Pick<Verdict, 'rule' | 'selected' | 'missing'>): Verdict {
  const ported = selected.filter((x) => x.flow.proto === 'tcp' || x.flow.proto === 'udp');
  const firstFlow = new Map<string, Flow>();
  for (const x of ported) {
    const end = endpointText(x.flow.server);
    if (!firstFlow.has(end)) firstFlow.set(end, x.flow);
  }
  const ends = [...firstFlow.keys()]; // in the order flows first went to them
  const operand = rule.operand;
  if (operand.kind !== 'endpoints') {
    const pass = compare(ends.length, rule);
    return { ...base, pass, value: ends.length, broke: pass ? [] : ends.map((e) => ({ flow: firstFlow.get(e)!, detail: `server ${e}` })) };
  }
  const patterns = operand.values;
  const outside = ported.filter((x) => !patterns.some((p) => matchesEnd(p, x.flow)));
  const missing = rule.operator === 'in' ? [] : patterns.filter((p) => !ported.some((x) => matchesEnd(p, x.flow))).map(patternText);
  const equal = outside.length === 0 && missing.length === 0;
  const pass = rule.operator === 'in' ? outside.length === 0 : rule.operator === '==' ? equal : !equal;
  const broke = pass || rule.operator === '!=' ? [] : outside.map((x) => ({ flow: x.flow, detail: `server ${endpointText(x.flow.server)} is not in the list` }));
  return { ...base, pass, value: ends, broke, missing: pass ? [] : missing };
}

function matchesEnd(p: EndpointPattern, f: Flow): boolean {
  return f.server.ip === p.ip && (p.port === null || f.server.port === p.port);
}

export function patternText(p: EndpointPattern): string {
  return p.port === null ? p.ip : endpointText({ ip: p.ip, port: p.port });
}

/** `value OPERATOR operand`, for a numeric operand (or `in` a list of numbers). */
function compare(value: number, rule: Rule): boolean {
  const o = rule.operand;
  if (o.kind === 'numbers') return o.values.includes(value);
  if (o.kind !== 'number') return false;
  return test(value, rule.operator, o.value);
}

function test(a: number, op: Operator, b: number): boolean {
  switch (op) {
    case '==': return a === b;
    case '!=': return a !== b;
    case '<': return a < b;
    case '<=': return a <= b;
    case '>': return a > b;
    case '>=': return a >= b;
    case 'in': return false;
  }
}

/** A flow's id as `flows` prints it: `4`, or `4#2` for the 2nd flow on a reused tuple. */
export function flowId(f: Flow): string {
  return f.generation > 1 ? `${f.id}#${f.generation}` : String(f.id);
}

/** `4#2 tcp 127.0.0.3:5775 → 127.0.0.1:8089`: a flow by id and tuple. */
export function flowText(f: Flow): string {
  return `${flowId(f)} ${f.proto} ${endpointText(f.client)} → ${endpointText(f.server)}`;
}

/** A number with at most `digits` fraction digits, trailing zeros dropped. */
export function fixed(n: number, digits: number): string {
  return String(Number(n.toFixed(digits)));
}

/** The rules need the TCP segments of each flow (retransmissions, handshake round trips: facts.ts). */
export function needsSegments(rules: readonly Rule[]): boolean {
  return rules.some((r) => r.measure === 'retransmissions' || r.measure === 'max-handshake-rtt');
}
