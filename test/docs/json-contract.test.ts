/**
 * docs/json.md is the contract of flowdemux's JSON output, and this test holds the code to it.
 *
 * The page has one table per object kind (`| Field | Type | Presence | Meaning |`, under a
 * heading that is the kind's name in backticks). The test reads those tables, runs the real
 * commands in-process on every capture in fixtures/, and walks every JSON object they write
 * from its root kind through the kinds the Type column links to. It fails when an object has
 * a field its kind's table does not list, lacks a field listed as `always`, or holds a value
 * of another type than the table says (quoted values included). And the other way round: a
 * documented field that no output writes fails too, so the page cannot keep a field the code
 * dropped or spell one wrong.
 *
 * Files carry no live-capture fields (an end's process, listener, UDP socket), so those are
 * checked on the flows of a real capture with such fields put on them, written by the very
 * functions `live` writes them with. Nothing here reads the clock.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { listInterfaces } from '../../src/capture/interfaces.js';
import { buildDemux } from '../../src/demux/groups.js';
import type { DemuxSummary, Flow } from '../../src/core/flow.js';
import { renderDemuxJson } from '../../src/report/demux.js';
import { flowToNdjsonLine, renderFlowsJson } from '../../src/report/json.js';
import { captureFiles, FIXTURES } from '../helpers/fixture-files.js';
import { runCli } from '../helpers/run-cli.js';
import { runPipeline } from '../report/pipeline.js';

const DOC = new URL('../../docs/json.md', import.meta.url).pathname;

// -------------------------------------------------------------------------------------------------
// The page

type Type =
  | { t: 'integer' | 'number' | 'string' | 'boolean' | 'null' }
  | { t: 'value'; value: string | number | boolean }
  | { t: 'array'; of: Type }
  | { t: 'object'; kind: string }
  | { t: 'or'; alts: Type[] };

interface Field {
  name: string;
  type: Type;
  always: boolean;
}

interface Contract {
  /** Object kinds by name, each with its fields in the page's order. */
  kinds: Map<string, Map<string, Field>>;
  /** The first column of the `CSV column` and `Zeek field` tables, by that header. */
  columns: Map<string, string[]>;
}

const BASE_TYPES = new Set(['integer', 'number', 'string', 'boolean', 'null']);

/**
 * The Type column: `integer`, `number`, `string`, `boolean`, `null`, a quoted value (`"tcp"`,
 * `4`, `true`), a kind's name, `array of T`, or alternatives joined by `or` (`array of A or B`
 * is an array whose items are A or B).
 */
function parseType(text: string): Type {
  if (text.startsWith('array of ')) return { t: 'array', of: parseType(text.slice('array of '.length)) };
  const alts = text.split(' or ');
  if (alts.length > 1) return { t: 'or', alts: alts.map(parseType) };
  if (BASE_TYPES.has(text)) return { t: text as 'integer' };
  if (/^"[^"]*"$/.test(text)) return { t: 'value', value: text.slice(1, -1) };
  if (/^-?\d+$/.test(text)) return { t: 'value', value: Number(text) };
  if (text === 'true' || text === 'false') return { t: 'value', value: text === 'true' };
  if (/^[A-Z][A-Za-z]*$/.test(text)) return { t: 'object', kind: text };
  throw new Error(`docs/json.md: the type '${text}' is none of the page's types`);
}

function cellsOf(line: string): string[] {
  return line.trim().replace(/^\|/, '').replace(/\|$/, '').split(/(?<!\\)\|/).map((c) => c.trim());
}

/** A cell that is one name in backticks. */
function codeName(cell: string, what: string): string {
  const m = /^`([^`]+)`$/.exec(cell);
  if (!m) throw new Error(`docs/json.md: ${what}: '${cell}' is not a name in backticks`);
  return m[1]!;
}

function parseContract(markdown: string): Contract {
  const kinds = new Map<string, Map<string, Field>>();
  const columns = new Map<string, string[]>();
  const lines = markdown.split('\n');
  let heading = '';
  let fenced = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('```')) fenced = !fenced;
    if (fenced || line.startsWith('```')) continue;
    if (/^#{1,6} /.test(line)) heading = line;
    if (!line.startsWith('|') || !/^\|\s*-/.test(lines[i + 1] ?? '')) continue;
    // A table: its header, the separator, then rows up to the first line that is not one.
    const head = cellsOf(line);
    const rows: string[][] = [];
    let j = i + 2;
    for (; j < lines.length && lines[j]!.startsWith('|'); j++) rows.push(cellsOf(lines[j]!));
    i = j - 1;
    if (head.join('|') === 'Field|Type|Presence|Meaning') {
      const kind = /^#+ `([A-Za-z]+)`\s*$/.exec(heading)?.[1];
      if (kind === undefined) throw new Error(`docs/json.md: a field table under '${heading}', which is not an object kind's name`);
      if (kinds.has(kind)) throw new Error(`docs/json.md: two tables for ${kind}`);
      const fields = new Map<string, Field>();
      for (const row of rows) {
        const name = codeName(row[0]!, `${kind}'s field`);
        const presence = row[2];
        if (presence !== 'always' && presence !== 'optional') throw new Error(`docs/json.md: ${kind}.${name}: presence '${presence}'`);
        if (fields.has(name)) throw new Error(`docs/json.md: ${kind}.${name} twice`);
        // Links become the kind's name, backticks go: [`Flow`](#flow) → Flow, `"tcp"` → "tcp".
        const type = parseType(row[1]!.replace(/\[`([^`]+)`\]\([^)]*\)/g, '$1').replace(/`/g, ''));
        fields.set(name, { name, type, always: presence === 'always' });
      }
      kinds.set(kind, fields);
    } else if (head[0] === 'CSV column' || head[0] === 'Zeek field') {
      columns.set(head[0], rows.map((r) => codeName(r[0]!, head[0]!)));
    }
  }
  return { kinds, columns };
}

/** Kinds a type refers to. */
function kindsIn(type: Type): string[] {
  switch (type.t) {
    case 'object': return [type.kind];
    case 'array': return kindsIn(type.of);
    case 'or': return type.alts.flatMap(kindsIn);
    default: return [];
  }
}

// -------------------------------------------------------------------------------------------------
// Checking a value against the page

interface Problem {
  /** What is wrong, without where: the same fault on a thousand objects is one line. */
  what: string;
  where: string;
}

/** Per kind, the fields some output wrote. */
type Seen = Map<string, Set<string>>;

function jsonType(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

function typeText(type: Type): string {
  switch (type.t) {
    case 'value': return JSON.stringify(type.value);
    case 'array': return `array of ${typeText(type.of)}`;
    case 'object': return type.kind;
    case 'or': return type.alts.map(typeText).join(' or ');
    default: return type.t;
  }
}

/**
 * What is wrong with `value` as a `type`, where `label` names it (Flow.client...). `seen`
 * records the fields written; alternatives are tried without it, and the one that fits is
 * recorded.
 */
function check(kinds: Contract['kinds'], value: unknown, type: Type, label: string, where: string, seen?: Seen): Problem[] {
  const wrong = (): Problem[] => [{
    what: `${label}: ${typeText(type)} expected, found ${jsonType(value)}`,
    where: `${where} = ${JSON.stringify(value)?.slice(0, 40)}`,
  }];
  switch (type.t) {
    case 'integer': return Number.isInteger(value) ? [] : wrong();
    case 'number': return typeof value === 'number' && Number.isFinite(value) ? [] : wrong();
    case 'string': return typeof value === 'string' ? [] : wrong();
    case 'boolean': return typeof value === 'boolean' ? [] : wrong();
    case 'null': return value === null ? [] : wrong();
    case 'value': return value === type.value ? [] : wrong();
    case 'array': {
      if (!Array.isArray(value)) return wrong();
      return value.flatMap((item, i) => check(kinds, item, type.of, `${label}[]`, `${where}[${i}]`, seen));
    }
    case 'or': {
      const tries = type.alts.map((alt) => check(kinds, value, alt, label, where));
      const fit = tries.findIndex((p) => p.length === 0);
      if (fit >= 0) return seen ? check(kinds, value, type.alts[fit]!, label, where, seen) : [];
      // None fits: say why the nearest one does not.
      return tries.reduce((a, b) => (b.length < a.length ? b : a));
    }
    case 'object': {
      const fields = kinds.get(type.kind);
      if (fields === undefined) return [{ what: `${label}: the page has no ${type.kind} table`, where }];
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return wrong();
      const out: Problem[] = [];
      for (const [key, v] of Object.entries(value)) {
        const f = fields.get(key);
        if (f === undefined) out.push({ what: `${type.kind}.${key}: written, but not in the ${type.kind} table`, where });
        else out.push(...check(kinds, v, f.type, `${type.kind}.${key}`, `${where}.${key}`, seen));
      }
      for (const f of fields.values()) {
        if (f.always && !(f.name in value)) out.push({ what: `${type.kind}.${f.name}: documented as always, but missing`, where });
      }
      if (seen) {
        let s = seen.get(type.kind);
        if (s === undefined) seen.set(type.kind, (s = new Set()));
        for (const key of Object.keys(value)) s.add(key);
      }
      return out;
    }
  }
}

/** The problems as one line each (first place, and how many places), for a readable failure. */
function report(problems: readonly Problem[]): string[] {
  const byWhat = new Map<string, { where: string; n: number }>();
  for (const p of problems) {
    const e = byWhat.get(p.what);
    if (e) e.n++;
    else byWhat.set(p.what, { where: p.where, n: 1 });
  }
  return [...byWhat].map(([what, e]) => `${what} (at ${e.where}${e.n > 1 ? `, and ${e.n - 1} more` : ''})`);
}

// -------------------------------------------------------------------------------------------------
// The outputs

const contract = parseContract(readFileSync(DOC, 'utf8'));
const { kinds } = contract;
const seen: Seen = new Map();

/** Checks one output's text: a JSON document, or NDJSON (one `root` a line). */
function checkOutput(text: string, ndjson: boolean, root: string, where: string): { problems: Problem[]; records: number } {
  const docs = ndjson ? text.split('\n').filter((l) => l !== '') : [text];
  const problems = docs.flatMap((d, i) => check(kinds, JSON.parse(d), { t: 'object', kind: root }, root, `${where}${ndjson ? ` line ${i + 1}` : ''}: $`, seen));
  return { problems, records: docs.length };
}

/** A command on a capture and the kind its output is made of. */
const LADDER_CAPTURES = [
  'crafted/tcp-analysis-events.pcap', 'crafted/tcp-midstream-no-syn.pcap', 'closed-ports.pcap',
  'crafted/icmp-echo-and-port-unreachable.pcap', 'crafted/ipv4-udp-fragments-in-order.pcap',
];

const COMMANDS: { args: string[]; ndjson: boolean; root: string }[] = [
  { args: ['flows', '--format', 'json'], ndjson: false, root: 'FlowsDocument' },
  { args: ['flows', '--format', 'ndjson'], ndjson: true, root: 'Flow' },
  { args: ['flows', '--format', 'json', '--analysis'], ndjson: false, root: 'FlowsDocument' },
  { args: ['packets', '--format', 'ndjson'], ndjson: true, root: 'Packet' },
  { args: ['packets', '--format', 'ndjson', '--explain'], ndjson: true, root: 'Packet' },
  { args: ['demux', '--format', 'json'], ndjson: false, root: 'DemuxDocument' },
];

/**
 * The live-capture fields, every form of each, on the flows of demux-lo.pcap (tcp :80 twice at
 * once, tcp :8089 three generations, udp :5353 from two peers), as src/host/attribution.ts sets
 * them: an end's own socket's process (running, with several holders, gone with and without a
 * uid), a TCP server end's listener (an owner with forked children; an SO_REUSEPORT group), a
 * UDP end's socket (unconnected dual stack, connected).
 */
async function liveFlows(): Promise<{ flows: Flow[]; summary: DemuxSummary }> {
  const { flows, engine } = await runPipeline(FIXTURES + 'demux-lo.pcap');
  const [http1, http2, gen1, gen2, gen3, dns1, dns2] = flows as [Flow, Flow, Flow, Flow, Flow, Flow, Flow];
  http1.client.process = { pid: 300, command: 'curl', state: 'running' };
  http1.server.process = { pid: 4122, command: 'python3', state: 'running', pids: [4121, 4122] };
  http1.server.listener = { socket: '0.0.0.0:80', pid: 4121, command: 'python3', pids: [4121, 4122] };
  http2.client.process = { state: 'gone', uid: 1000 };
  http2.server.process = { state: 'gone' };
  http2.server.listener = { socket: '0.0.0.0:80', pid: 4121, command: 'python3' };
  const owners = [{ pid: 800, command: 'worker' }, { pid: 801, command: 'worker' }];
  for (const f of [gen1, gen2, gen3]) f.server.listener = { socket: '127.0.0.1:8089', reuseport: { listeners: 2, owners } };
  gen2.server.listener = { socket: '127.0.0.1:8089', pid: 801, command: 'worker', reuseport: { listeners: 2, owners } };
  gen2.server.process = { pid: 801, command: 'worker', state: 'running' };
  dns1.server.process = { pid: 500, command: 'avahi-daemon', state: 'running' };
  dns1.server.socket = { kind: 'unconnected', bound: '[::]:5353', dualStack: true };
  dns1.client.socket = { kind: 'connected', bound: '127.0.0.2:9157' };
  dns2.server.socket = { kind: 'connected', bound: '127.0.0.1:5353' };
  return { flows, summary: engine.summary() };
}

/** What each source of output did not hold to the page. */
const found = new Map<string, Problem[]>();
/** Captures, inputs (a capture, or several read together), outputs checked, and their records (documents and lines). */
const counts = { fixtures: 0, inputs: 0, outputs: 0, records: 0 };
let csvHeader = '';
let zeekFields: string[] = [];

beforeAll(async () => {
  // Every command on every capture.
  const files = captureFiles(FIXTURES);
  counts.fixtures = files.length;
  const fixtureProblems: Problem[] = [];
  // Each capture alone, and the rotated parts read together as one timeline (captures 0, 1, 2).
  const inputs = [...files.map((f) => [f]), captureFiles(FIXTURES + 'rotated')];
  counts.inputs = inputs.length;
  for (const paths of inputs) {
    for (const c of COMMANDS) {
      const args = [c.args[0]!, ...paths, ...c.args.slice(1)];
      const { code, stdout } = await runCli(args);
      const where = args.join(' ').replaceAll(FIXTURES, '');
      // 1: no capture could be opened (an empty file), and then nothing is written.
      if (code !== 0) {
        fixtureProblems.push(...(code === 1 && stdout === '' ? [] : [{ what: `exit ${code} with output`, where }]));
        continue;
      }
      const r = checkOutput(stdout, c.ndjson, c.root, where);
      fixtureProblems.push(...r.problems);
      counts.outputs++;
      counts.records += r.records;
    }
  }
  found.set('fixtures', fixtureProblems);

  // The live-capture fields, through the functions `live` writes with.
  const { flows, summary } = await liveFlows();
  found.set('live', [
    ...checkOutput(flows.map((f) => flowToNdjsonLine(f, { digits: 9 })).join(''), true, 'Flow', 'live --format ndjson').problems,
    ...checkOutput(renderFlowsJson(flows, [], [], { digits: 9, summary }), false, 'FlowsDocument', 'live --format json').problems,
    ...checkOutput(renderDemuxJson(buildDemux(flows), { captures: [], warnings: [], summary }), false, 'DemuxDocument', 'demux of live flows').problems,
  ]);

  // Capture devices: libpcap's list, and the OS's when libpcap is not there.
  const devices = await runCli(['interfaces', '--format', 'json']);
  const fallback = JSON.stringify(listInterfaces({ capModule: 'flowdemux-no-such-cap-module' }));
  found.set('interfaces', [
    ...checkOutput(devices.stdout, false, 'InterfacesDocument', 'interfaces --format json').problems,
    ...checkOutput(fallback, false, 'InterfacesDocument', 'interfaces without libpcap').problems,
  ]);

  // ladder --format json, every flow of captures that hold each kind of ladder row: TCP with
  // every analysis mark, TCP without a handshake, UDP, ICMP echo and ICMP errors, IP fragments.
  const ladderProblems: Problem[] = [];
  for (const name of LADDER_CAPTURES) {
    const { flows: ladderFlows } = await runPipeline(FIXTURES + name);
    for (const f of ladderFlows) {
      const args = ['ladder', FIXTURES + name, '--flow', String(f.id), '--format', 'json'];
      const { code, stdout } = await runCli(args);
      const where = `ladder ${name} --flow ${f.id}`;
      if (code !== 0) ladderProblems.push({ what: `exit ${code}`, where });
      else ladderProblems.push(...checkOutput(stdout, false, 'LadderDocument', where).problems);
    }
  }
  found.set('ladder', ladderProblems);

  // check --format json: rules that pass and fail, with and without flows, a value of each type.
  const rules = join(mkdtempSync(join(tmpdir(), 'flowdemux-contract-')), 'rules.yaml');
  writeFileSync(rules, [
    '- {name: keep-alive, flows: tcp port 8089, expect: connections <= 1}',
    '- {name: no resets, expect: resets == 0}',
    '- {name: servers, expect: "servers == [127.0.0.1:80, 127.0.0.1:5432]", flows: tcp}',
    '- {name: handshakes, expect: max-handshake-rtt < 1000 ms}',
  ].join('\n'));
  const checkProblems: Problem[] = [];
  for (const name of ['demux-lo.pcap', 'closed-ports.pcap']) {
    const { code, stdout } = await runCli(['check', FIXTURES + name, '--rules', rules, '--format', 'json']);
    if (code !== 4) checkProblems.push({ what: `exit ${code}`, where: `check ${name}` });
    checkProblems.push(...checkOutput(stdout, false, 'CheckDocument', `check ${name}`).problems);
  }
  rmSync(dirname(rules), { recursive: true, force: true });
  found.set('check', checkProblems);

  csvHeader = (await runCli(['flows', FIXTURES + 'demux-lo.pcap', '--format', 'csv'])).stdout.split('\n')[0]!;
  const zeek = (await runCli(['flows', FIXTURES + 'demux-lo.pcap', '--format', 'zeek'])).stdout;
  zeekFields = /^#fields\t(.*)$/m.exec(zeek)![1]!.split('\t');
}, 120_000);

describe('docs/json.md, the JSON contract', () => {
  it('has a table for every object kind it links to, and one for each command\'s output', () => {
    expect(kinds.size).toBeGreaterThan(20);
    for (const [kind, fields] of kinds) {
      expect(fields.size, kind).toBeGreaterThan(0);
      for (const f of fields.values()) {
        for (const k of kindsIn(f.type)) expect(kinds.has(k), `${kind}.${f.name} links to ${k}, which has no table`).toBe(true);
      }
    }
    for (const root of [...COMMANDS.map((c) => c.root), 'InterfacesDocument', 'LadderDocument', 'CheckDocument']) expect(kinds.has(root), root).toBe(true);
  });

  it('flows, packets and demux on every fixture write only documented fields, each always-field, of the documented type', () => {
    expect(counts.fixtures).toBeGreaterThan(70);
    // Every input but the empty file (damaged/zero-bytes.pcap: no capture, no output) gives all five.
    expect(counts.outputs).toBe((counts.inputs - 1) * COMMANDS.length);
    expect(counts.records).toBeGreaterThan(2000);
    expect(report(found.get('fixtures')!)).toEqual([]);
  });

  it('the live-capture fields of the ends, and of the demux sockets, are the documented ones', () => {
    expect(report(found.get('live')!)).toEqual([]);
  });

  it('ladder --format json, on flows of every kind, is the documented shape', () => {
    expect(report(found.get('ladder')!)).toEqual([]);
  });

  it('check --format json, with rules that pass and fail, is the documented shape', () => {
    expect(report(found.get('check')!)).toEqual([]);
  });

  it('interfaces --format json, from libpcap and from the OS list, is the documented shape', () => {
    expect(report(found.get('interfaces')!)).toEqual([]);
  });

  it('every documented field is written by some output: the page keeps no field the code does not write', () => {
    const never: string[] = [];
    for (const [kind, fields] of kinds) {
      for (const name of fields.keys()) if (!seen.get(kind)?.has(name)) never.push(`${kind}.${name}`);
    }
    // libpcap describes only some devices (`any`): a machine without libpcap lists none.
    const hostDependent = new Set(['Interface.description']);
    expect(never.filter((n) => !hostDependent.has(n))).toEqual([]);
  });

  it('lists the CSV columns and the Zeek conn.log fields in the order flows writes them', () => {
    expect(contract.columns.get('CSV column')).toEqual(csvHeader.split(','));
    expect(contract.columns.get('Zeek field')).toEqual(zeekFields);
  });
});
