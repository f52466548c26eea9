/**
 * The rules of `flowdemux check`: what a rule is, its `expect` comparison, and the loader of a
 * rules file (YAML) or of rule objects (the library). A rule is
 *
 * ```yaml
 * - name: one keep-alive connection to the API   # required, unique
 *   flows: tcp port 8089                         # optional: which flows (filter/ syntax, on flows)
 *   expect: connections <= 1                     # MEASURE OPERATOR VALUE
 * ```
 *
 * Anything wrong is a RulesError whose message names the file, the line and what is wrong
 * (unknown measure, bad operator, bad value, bad filter, a missing or unknown key), one line, so
 * that the CLI can print it as it is and exit 2. YAML is read by the `yaml` package, which keeps
 * every node's place in the text.
 */
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node, type Pair } from 'yaml';
import { FilterError } from '../filter/syntax.js';
import { formatAddress, tryParseAddress } from '../parse/format.js';
import { compileFlowFilter, type FlowTest } from './flow-filter.js';

/** The measures, in the order the README's table gives them. */
export const MEASURES = [
  'connections', 'flows', 'packets', 'bytes', 'resets', 'refused', 'incomplete', 'reused-in-time-wait',
  'retransmissions', 'max-handshake-rtt', 'max-duration', 'servers',
] as const;

export type Measure = (typeof MEASURES)[number];

export const OPERATORS = ['==', '!=', '<', '<=', '>', '>=', 'in'] as const;

export type Operator = (typeof OPERATORS)[number];

/** The unit a measure's value may be written with (`max-handshake-rtt < 5 ms`). */
export const UNITS: Partial<Record<Measure, string>> = { 'max-handshake-rtt': 'ms', 'max-duration': 's' };

/** A server end a `servers` list names: an address, with a port or (port null) any port. */
export interface EndpointPattern {
  /** The address in canonical text (as flows print it). */
  ip: string;
  port: number | null;
}

/** What the measure is compared with: a number, a list of numbers (`in`) or of server ends. */
export type Operand =
  | { kind: 'number'; value: number }
  | { kind: 'numbers'; values: number[] }
  | { kind: 'endpoints'; values: EndpointPattern[] };

/** A rule as a script writes it (the library's `check`), or as the YAML file holds it. */
export interface RuleSpec {
  name: string;
  /** The flows the measure is taken over (filter syntax); all flows when absent. */
  flows?: string;
  /** MEASURE OPERATOR VALUE, e.g. `connections <= 1`, `servers in [127.0.0.1:8089]`. */
  expect: string;
}

/** A rule ready to be evaluated. */
export interface Rule {
  name: string;
  flows: string | null;
  expect: string;
  measure: Measure;
  operator: Operator;
  operand: Operand;
  select: FlowTest;
  /** Where it is: `rules.yaml:4` (the line of its `- name:`), or `rule 2` for an object. */
  place: string;
}

/** A rules file or rule object that cannot be used: the message names where and what. */
export class RulesError extends Error {
  override name = 'RulesError';
}

const KEYS = ['name', 'flows', 'expect'];

/**
 * Reads a rules file's text. `source` names it in messages (the path as given). Throws
 * RulesError on the first problem.
 */
export function parseRulesYaml(text: string, source: string): Rule[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined) => `${source}:${offset === undefined ? 1 : lines.linePos(offset).line}`;
  const first = doc.errors[0];
  if (first !== undefined) throw new RulesError(`${at(first.pos[0])}: not valid YAML: ${firstLine(first.message)}`);
  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === ''))) {
    throw new RulesError(`${source}: no rules (the file is empty): write a list of rules, each with a name and an expect`);
  }
  if (!isSeq(root)) {
    throw new RulesError(`${at(root.range?.[0])}: the rules file is a list of rules ('- name: ...'), not ${describe(root)}`);
  }
  if (root.items.length === 0) throw new RulesError(`${at(root.range?.[0])}: no rules in the list`);
  const specs: { spec: RuleSpec; place: string; lineOf: (key: string) => string }[] = [];
  for (const item of root.items) {
    const node = item as Node;
    const place = at(node.range?.[0]);
    if (!isMap(node)) throw new RulesError(`${place}: a rule is a mapping with name, flows and expect, not ${describe(node)}`);
    const values: Record<string, string> = {};
    const keyLines: Record<string, string> = {};
    for (const pair of node.items as Pair<Node, Node | null>[]) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      const where = at(pair.key?.range?.[0]);
      if (!KEYS.includes(key)) throw new RulesError(`${where}: unknown key '${key}' in a rule (a rule has name, flows and expect)`);
      const v = pair.value;
      if (!isScalar(v) || v.value === null || typeof v.value === 'object' || String(v.value).trim() === '') {
        throw new RulesError(`${where}: '${key}' needs a value in one line${v !== null && !isScalar(v) ? `, not ${describe(v)}` : ''}`
          + (key === 'expect' ? ', e.g. expect: connections <= 1' : ''));
      }
      values[key] = String(v.value);
      keyLines[key] = at(v.range?.[0]);
    }
    if (values.name === undefined) throw new RulesError(`${place}: a rule without a name (each rule needs name and expect)`);
    if (values.expect === undefined) throw new RulesError(`${place}: rule '${values.name}' has no expect (e.g. expect: connections <= 1)`);
    const spec: RuleSpec = { name: values.name, expect: values.expect };
    if (values.flows !== undefined) spec.flows = values.flows;
    specs.push({ spec, place, lineOf: (k) => keyLines[k] ?? place });
  }
  return build(specs);
}

/** Rules given as objects (the library): the same checks, places named `rule N`. */
export function compileRules(specs: readonly RuleSpec[]): Rule[] {
  if (!Array.isArray(specs) || specs.length === 0) throw new RulesError('no rules: give a list of rules, each with a name and an expect');
  return build(specs.map((spec, i) => {
    const place = `rule ${i + 1}`;
    if (typeof spec !== 'object' || spec === null) throw new RulesError(`${place}: a rule is an object with name, flows and expect`);
    for (const key of Object.keys(spec)) {
      if (!KEYS.includes(key)) throw new RulesError(`${place}: unknown key '${key}' (a rule has name, flows and expect)`);
    }
    for (const key of KEYS) {
      const v = (spec as unknown as Record<string, unknown>)[key];
      if (v === undefined && key === 'flows') continue;
      if (typeof v !== 'string' || v.trim() === '') throw new RulesError(`${place}: '${key}' must be a non-empty string`);
    }
    return { spec, place, lineOf: () => place };
  }));
}

function build(specs: { spec: RuleSpec; place: string; lineOf: (key: string) => string }[]): Rule[] {
  const seen = new Map<string, string>();
  return specs.map(({ spec, place, lineOf }) => {
    const name = spec.name.trim();
    const before = seen.get(name);
    if (before !== undefined) throw new RulesError(`${place}: a second rule named '${name}' (the first is at ${before}): names must be unique`);
    seen.set(name, place);
    const flows = spec.flows === undefined ? null : spec.flows.trim();
    let select: FlowTest = () => true;
    if (flows !== null) {
      try {
        select = compileFlowFilter(flows);
      } catch (err) {
        if (!(err instanceof FilterError)) throw err;
        // syntax.ts speaks of files; here the question is what a flow has.
        const why = err.message.replace(/ is not supported on files(; supported: .*)?$/, ' needs a single packet; a flow selection looks at its protocol, addresses and ports');
        throw new RulesError(`${lineOf('flows')}: rule '${name}': bad flows '${flows}': ${why} (at character ${err.at + 1})`);
      }
    }
    const expect = spec.expect.trim();
    const parsed = parseExpect(expect, (what) => new RulesError(`${lineOf('expect')}: rule '${name}': ${what} in expect '${expect}'`));
    return { name, flows, expect, ...parsed, select, place };
  });
}

/** MEASURE OPERATOR VALUE into its parts; `fail` makes the error for a message. */
export function parseExpect(text: string, fail: (what: string) => Error): Pick<Rule, 'measure' | 'operator' | 'operand'> {
  const m = /^([A-Za-z][\w-]*)\s*(.*)$/s.exec(text);
  if (m === null) throw fail(`no measure (write MEASURE OPERATOR VALUE, e.g. connections <= 1)`);
  const word = m[1]!;
  if (!(MEASURES as readonly string[]).includes(word)) throw fail(`unknown measure '${word}' (measures: ${MEASURES.join(', ')})`);
  const measure = word as Measure;
  const rest = m[2]!;
  const op = /^(==|!=|<=|>=|<|>|in(?![\w-]))\s*(.*)$/s.exec(rest);
  if (op === null) {
    const given = /^\S*/.exec(rest)![0];
    throw fail(given === '' ? `no operator after '${measure}' (operators: ${OPERATORS.join(' ')})`
      : `bad operator '${given}' (operators: ${OPERATORS.join(' ')})`);
  }
  const operator = op[1] as Operator;
  const value = op[2]!.trim();
  // `<=1` glued to its value is fine; `=< 1` or `= 1` is not (caught above: no operator matches).
  if (value === '') throw fail(`no value after '${operator}'`);
  return { measure, operator, operand: parseOperand(measure, operator, value, fail) };
}

function parseOperand(measure: Measure, operator: Operator, value: string, fail: (what: string) => Error): Operand {
  const isList = value.startsWith('[');
  if (isList && !value.endsWith(']')) throw fail(`a list that does not end with ']'`);
  if (measure === 'servers') {
    if (isList) {
      if (operator !== 'in' && operator !== '==' && operator !== '!=') {
        throw fail(`'servers ${operator}' takes a number (how many servers); a list goes with in, == or !=`);
      }
      return { kind: 'endpoints', values: listItems(value).map((t) => endpointPattern(t, fail)) };
    }
    if (operator === 'in') throw fail(`'servers in' takes a list of ADDRESS:PORT (or ADDRESS), e.g. [127.0.0.1:8089, 127.0.0.1:5432]`);
    return { kind: 'number', value: number(measure, value, fail) };
  }
  if (operator === 'in') {
    if (!isList) throw fail(`'in' takes a list, e.g. ${measure} in [0, 1]`);
    return { kind: 'numbers', values: listItems(value).map((t) => number(measure, t, fail)) };
  }
  if (isList) throw fail(`'${operator}' takes a number, not a list (a list goes with in)`);
  return { kind: 'number', value: number(measure, value, fail) };
}

/** The items of `[a, b, c]`, trimmed; `[]` is an empty list. */
function listItems(text: string): string[] {
  const inner = text.slice(1, -1).trim();
  return inner === '' ? [] : inner.split(',').map((t) => t.trim().replace(/^(['"])(.*)\1$/, '$2'));
}

/** A number >= 0, with the measure's unit optionally after it (`5 ms`, `2s`). */
function number(measure: Measure, text: string, fail: (what: string) => Error): number {
  const unit = UNITS[measure];
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text);
  if (m === null || (m[2] !== '' && m[2] !== unit)) {
    const what = unit !== undefined ? `a number of ${unit === 'ms' ? 'milliseconds' : 'seconds'} (e.g. 5 or 5 ${unit})` : 'a whole number >= 0';
    throw fail(`'${text}' is not ${what}`);
  }
  const n = Number(m[1]);
  if (unit === undefined && !Number.isInteger(n)) throw fail(`'${text}' is not a whole number (${measure} counts)`);
  return n;
}

/** `127.0.0.1:8089`, `[::1]:8089`, `127.0.0.1` or `::1` (any port). */
function endpointPattern(text: string, fail: (what: string) => Error): EndpointPattern {
  let addr = text;
  let port: string | null = null;
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (v6 !== null) {
    addr = v6[1]!;
    port = v6[2] ?? null;
  } else if (text.split(':').length === 2) {
    [addr, port] = text.split(':') as [string, string];
  }
  const bytes = tryParseAddress(addr);
  if (bytes === null) throw fail(`'${text}' is not ADDRESS:PORT or ADDRESS (IPv6 in brackets with a port: [::1]:8089)`);
  let p: number | null = null;
  if (port !== null) {
    if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) throw fail(`'${port}' in '${text}' is not a port (0..65535)`);
    p = Number(port);
  }
  return { ip: formatAddress(bytes, 0, bytes.length), port: p };
}

function describe(node: Node | null): string {
  if (node === null) return 'nothing';
  if (isSeq(node)) return 'a list';
  if (isMap(node)) return 'a mapping';
  return `the value '${String((node as { value?: unknown }).value)}'`;
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}
