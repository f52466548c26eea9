/**
 * The rules file: what it takes, and for each thing that can be wrong, one line naming the file,
 * the line and what is wrong.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileRules, parseRulesYaml, RulesError } from '../../src/check/rules.js';

/** Issue 17's example rules, as the README runs them. */
const ISSUE_EXAMPLE = readFileSync('examples/check-rules.yaml', 'utf8');


/** The message of the RulesError the text gives. */
function problem(text: string): string {
  try {
    parseRulesYaml(text, 'rules.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(RulesError);
    const message = (err as Error).message;
    expect(message.split('\n')).toHaveLength(1);
    return message;
  }
  throw new Error('no error');
}

describe('the rules file', () => {
  it("reads the issue's example", () => {
    const rules = parseRulesYaml(ISSUE_EXAMPLE, 'rules.yaml');
    expect(rules.map((r) => [r.name, r.flows, r.measure, r.operator, r.operand, r.place])).toEqual([
      ['one keep-alive connection to the API', 'tcp port 8089', 'connections', '<=', { kind: 'number', value: 1 }, 'rules.yaml:2'],
      ['no resets anywhere', null, 'resets', '==', { kind: 'number', value: 0 }, 'rules.yaml:5'],
      ['only the API and the database', null, 'servers', 'in',
        { kind: 'endpoints', values: [{ ip: '127.0.0.1', port: 8089 }, { ip: '127.0.0.1', port: 5432 }] }, 'rules.yaml:7'],
    ]);
  });

  it('takes flow-style rules, quoted values, units, IPv6 ends and addresses without a port', () => {
    const rules = parseRulesYaml([
      '- {name: fast, expect: "max-handshake-rtt < 5 ms"}',
      '- name: short',
      "  expect: 'max-duration <= 2.5s'",
      '- name: v6',
      '  expect: servers in ["[::1]:8089", 0:0:0:0:0:0:0:1, 10.0.0.1]',
      '- name: few',
      '  expect: retransmissions in [0, 1]  # a comment',
      '- name: glued',
      '  expect: packets>=3',
    ].join('\n'), 'r.yaml');
    expect(rules.map((r) => [r.measure, r.operator, r.operand])).toEqual([
      ['max-handshake-rtt', '<', { kind: 'number', value: 5 }],
      ['max-duration', '<=', { kind: 'number', value: 2.5 }],
      ['servers', 'in', { kind: 'endpoints', values: [{ ip: '::1', port: 8089 }, { ip: '::1', port: null }, { ip: '10.0.0.1', port: null }] }],
      ['retransmissions', 'in', { kind: 'numbers', values: [0, 1] }],
      ['packets', '>=', { kind: 'number', value: 3 }],
    ]);
  });

  it('an unknown measure: file, line, the word and the measures there are', () => {
    expect(problem('- name: a\n  expect: resets == 0\n- name: b\n  expect: conections <= 1\n')).toBe(
      "rules.yaml:4: rule 'b': unknown measure 'conections' (measures: connections, flows, packets, bytes, resets, refused, "
      + "incomplete, reused-in-time-wait, retransmissions, max-handshake-rtt, max-duration, servers) in expect 'conections <= 1'",
    );
  });

  it('a bad operator', () => {
    expect(problem('- name: a\n  expect: connections = 1\n')).toBe(
      "rules.yaml:2: rule 'a': bad operator '=' (operators: == != < <= > >= in) in expect 'connections = 1'",
    );
    expect(problem('- name: a\n  expect: connections =< 1\n')).toMatch(/^rules\.yaml:2: rule 'a': bad operator '=<'/);
    expect(problem('- name: a\n  expect: connections\n')).toMatch(/^rules\.yaml:2: rule 'a': no operator after 'connections'/);
  });

  it('a bad value', () => {
    expect(problem('- name: a\n  expect: connections <= one\n')).toBe("rules.yaml:2: rule 'a': 'one' is not a whole number >= 0 in expect 'connections <= one'");
    expect(problem('- name: a\n  expect: connections <= 1.5\n')).toMatch(/'1\.5' is not a whole number \(connections counts\)/);
    expect(problem('- name: a\n  expect: max-duration < 5 ms\n')).toMatch(/'5 ms' is not a number of seconds/);
    expect(problem('- name: a\n  expect: connections in 1\n')).toMatch(/'in' takes a list/);
    expect(problem('- name: a\n  expect: connections <= [1]\n')).toMatch(/'<=' takes a number, not a list/);
    expect(problem('- name: a\n  expect: servers in [localhost:80]\n')).toMatch(/^rules\.yaml:2: rule 'a': 'localhost:80' is not ADDRESS:PORT or ADDRESS/);
    expect(problem('- name: a\n  expect: servers in [127.0.0.1:99999]\n')).toMatch(/'99999' in '127\.0\.0\.1:99999' is not a port/);
    expect(problem('- name: a\n  expect: servers < [127.0.0.1:80]\n')).toMatch(/'servers <' takes a number/);
    expect(problem('- name: a\n  expect: connections <=\n')).toMatch(/no value after '<='/);
  });

  it('a bad filter: the part, and why a flow cannot answer it', () => {
    expect(problem('- name: a\n  flows: tcp prot 80\n  expect: flows == 1\n')).toMatch(/^rules\.yaml:2: rule 'a': bad flows 'tcp prot 80': .*prot.*\(at character 5\)$/);
    expect(problem('- name: a\n  flows: tcp-syn\n  expect: flows == 1\n')).toBe(
      "rules.yaml:2: rule 'a': bad flows 'tcp-syn': 'tcp-syn' (TCP flags) needs a single packet; a flow selection looks at its protocol, addresses and ports (at character 1)",
    );
    expect(problem('- name: a\n  flows: tcp and len > 100\n  expect: flows == 1\n')).toMatch(/'len' \(packet lengths\) needs a single packet/);
    expect(problem('- name: a\n  flows: tcp[13] & 2 != 0\n  expect: flows == 1\n')).toMatch(/bad flows 'tcp\[13\] & 2 != 0': byte offsets/);
    expect(problem('- name: a\n  flows: vlan 10 and tcp\n  expect: flows == 1\n')).toMatch(/'vlan' looks at a packet's tags, which a flow does not keep \(at character 1\)/);
    expect(problem('- name: a\n  flows: udp and sctp port 9\n  expect: flows == 1\n')).toMatch(/an SCTP flow is keyed on its addresses only.*\(at character 9\)/);
  });

  it('a missing name or expect, an unknown key, a duplicate name', () => {
    expect(problem('- expect: flows == 1\n')).toBe('rules.yaml:1: a rule without a name (each rule needs name and expect)');
    expect(problem('- name: a\n  expect: flows == 1\n- name: b\n  flows: tcp\n')).toBe("rules.yaml:3: rule 'b' has no expect (e.g. expect: connections <= 1)");
    expect(problem('- name: a\n  expcet: flows == 1\n')).toBe("rules.yaml:2: unknown key 'expcet' in a rule (a rule has name, flows and expect)");
    expect(problem('- name: a\n  expect: flows == 1\n- name: a\n  expect: flows == 2\n')).toBe(
      "rules.yaml:3: a second rule named 'a' (the first is at rules.yaml:1): names must be unique",
    );
    expect(problem('- name:\n  expect: flows == 1\n')).toMatch(/^rules\.yaml:1: 'name' needs a value/);
    expect(problem('- name: a\n  expect: [flows, 1]\n')).toMatch(/^rules\.yaml:2: 'expect' needs a value in one line, not a list/);
  });

  it('not a list of rules, empty, or not YAML', () => {
    expect(problem('name: a\nexpect: flows == 1\n')).toMatch(/^rules\.yaml:1: the rules file is a list of rules/);
    expect(problem('')).toMatch(/^rules\.yaml: no rules/);
    expect(problem('[]\n')).toMatch(/^rules\.yaml:1: no rules in the list/);
    expect(problem('- just a line\n')).toMatch(/^rules\.yaml:1: a rule is a mapping/);
    expect(problem('- name: a\n  expect: flows == 1\n  name: b\n')).toMatch(/^rules\.yaml:3: not valid YAML: Map keys must be unique/);
    expect(problem('- name: a\n   expect: "unclosed\n')).toMatch(/^rules\.yaml:\d+: not valid YAML: /);
  });

  it('rule objects (the library) get the same checks, placed by their number', () => {
    expect(() => compileRules([{ name: 'a', expect: 'flows == 1' }, { name: 'b', expect: 'flow == 1' }])).toThrow(
      /^rule 2: rule 'b': unknown measure 'flow'/,
    );
    expect(() => compileRules([{ name: 'a', expect: 'flows == 1', port: 80 } as never])).toThrow(/^rule 1: unknown key 'port'/);
    expect(() => compileRules([])).toThrow(/^no rules/);
    expect(() => compileRules([{ name: '', expect: 'flows == 1' }])).toThrow(/^rule 1: 'name' must be a non-empty string/);
  });
});
