/**
 * `flowdemux check` end to end on real captures: the issue's example rules, the table, JSON and
 * JUnit outputs, stdin and several captures, and the exit codes (0 all pass, 4 a rule failed,
 * 1 a capture cannot be read, 2 a bad rules file, 3 warnings under --strict).
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/capture-builders.js';
import { runCli } from '../helpers/run-cli.js';
import { parseXml, type XmlElement } from '../helpers/xml.js';

const LO = 'fixtures/demux-lo.pcap';
const CLOSED = 'fixtures/closed-ports.pcap';
const DAMAGED = 'fixtures/damaged/ipv4-ihl-3.pcap';
const tmp = tempDir('flowdemux-check-cli-');
afterAll(() => tmp.cleanup());

const rulesFile = (name: string, text: string) => tmp.write(name, new TextEncoder().encode(text));

/** Issue 17's example rules, as the README runs them. */
const ISSUE_RULES = 'examples/check-rules.yaml';

const PASSING = rulesFile('passing.yaml', `- name: two clients on port 80
  flows: tcp port 80
  expect: connections == 2
- name: nothing refused
  expect: refused == 0
`);

const children = (el: XmlElement, name: string) => el.children.filter((c) => c.name === name);

describe('flowdemux check', () => {
  it("the issue's example on the teaching capture, as the README shows it: a line a rule, the flows that broke it, exit 4", async () => {
    const r = await runCli(['check', LO, '--rules', ISSUE_RULES]);
    expect([r.code, r.stderr]).toEqual([4, '']);
    expect(r.stdout).toBe([
      'FAIL  one keep-alive connection to the API: connections = 3  (expect connections <= 1, flows: tcp port 8089; 3 flows selected)',
      '        3 tcp 127.0.0.3:5775 → 127.0.0.1:8089  RSTO ShADadR',
      '        4#2 tcp 127.0.0.3:5775 → 127.0.0.1:8089  SF ShADadfF',
      '        5#3 tcp 127.0.0.3:5775 → 127.0.0.1:8089  SF ShADadfF',
      'FAIL  no resets anywhere: resets = 1  (expect resets == 0; 7 flows selected)',
      '        3 tcp 127.0.0.3:5775 → 127.0.0.1:8089  RST (RSTO ShADadR)',
      'FAIL  only the API and the database: servers = [127.0.0.1:80, 127.0.0.1:8089, 127.0.0.1:5353]  (expect servers in [127.0.0.1:8089, 127.0.0.1:5432]; 7 flows selected)',
      '        1 tcp 127.0.0.2:9157 → 127.0.0.1:80  server 127.0.0.1:80 is not in the list',
      '        2 tcp 127.0.0.3:9157 → 127.0.0.1:80  server 127.0.0.1:80 is not in the list',
      '        6 udp 127.0.0.2:9157 → 127.0.0.1:5353  server 127.0.0.1:5353 is not in the list',
      '        7 udp 127.0.0.3:9157 → 127.0.0.1:5353  server 127.0.0.1:5353 is not in the list',
      '3 rules: 0 passed, 3 failed',
      '',
    ].join('\n'));
  });

  it('every rule passes: exit 0', async () => {
    const r = await runCli(['check', LO, '--rules', PASSING]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toBe([
      'PASS  two clients on port 80: connections = 2  (expect connections == 2, flows: tcp port 80; 2 flows selected)',
      'PASS  nothing refused: refused = 0  (expect refused == 0; 7 flows selected)',
      '2 rules: 2 passed, 0 failed',
      '',
    ].join('\n'));
  });

  it('--format json: the verdicts for scripts', async () => {
    const r = await runCli(['check', CLOSED, '--rules', ISSUE_RULES, '--format', 'json']);
    expect(r.code).toBe(4);
    const doc = JSON.parse(r.stdout) as { captures: { path: string; packets: number }[]; rules: string; passed: number; failed: number; verdicts: { name: string; pass: boolean; value: unknown; broke: { id: number; detail: string; client: string; server: string }[] }[] };
    expect([doc.captures.map((c) => [c.path, c.packets]), doc.rules, doc.passed, doc.failed]).toEqual([[[CLOSED, 26]], ISSUE_RULES, 1, 2]);
    expect(doc.verdicts.map((v) => [v.name, v.pass, v.value])).toEqual([
      ['one keep-alive connection to the API', true, 0],
      ['no resets anywhere', false, 2],
      ['only the API and the database', false, ['127.0.0.1:9999', '[::1]:9999', '127.0.0.1:8090', '127.0.0.1:9998', '127.0.0.1:8091']],
    ]);
    expect(doc.verdicts[1]!.broke).toEqual([
      { id: 3, generation: 1, proto: 'tcp', client: '127.0.0.2:40002', server: '127.0.0.1:8090', detail: 'RST (REJ Sr)' },
      { id: 6, generation: 1, proto: 'tcp', client: '127.0.0.3:40005', server: '127.0.0.1:8091', detail: 'RST (REJ Sr)' },
    ]);
  });

  it('--junit: one testsuite, a testcase a rule, a failure naming the flows; valid XML whatever the names', async () => {
    const names = rulesFile('names.yaml', `- name: "<keep-alive> & 'one' \\"conn\\" \\u0001"
  flows: tcp port 8089
  expect: connections <= 1
- name: fine
  expect: flows == 7
`);
    const report = tmp.path('names.xml');
    const r = await runCli(['check', LO, '--rules', names, '--junit', report]);
    expect(r.code).toBe(4);
    const root = parseXml(readFileSync(report, 'utf8'));
    expect([root.name, root.attrs.tests, root.attrs.failures]).toEqual(['testsuites', '2', '1']);
    const [suite] = children(root, 'testsuite');
    expect([suite!.attrs.name, suite!.attrs.tests, suite!.attrs.failures]).toEqual([LO, '2', '1']);
    const cases = children(suite!, 'testcase');
    expect(cases.map((c) => [c.attrs.name, c.attrs.classname])).toEqual([
      ["<keep-alive> & 'one' \"conn\" \ufffd", names], ['fine', names],
    ]);
    const [failure] = children(cases[0]!, 'failure');
    expect(failure!.attrs.message).toBe('connections = 3, expected <= 1; 3 flows broke it');
    expect(failure!.attrs.type).toBe('connections');
    expect(failure!.text.split('\n')).toEqual([
      'connections <= 1 (flows: tcp port 8089)',
      '3 tcp 127.0.0.3:5775 → 127.0.0.1:8089  RSTO ShADadR',
      '4#2 tcp 127.0.0.3:5775 → 127.0.0.1:8089  SF ShADadfF',
      '5#3 tcp 127.0.0.3:5775 → 127.0.0.1:8089  SF ShADadfF',
    ]);
    expect(children(cases[1]!, 'failure')).toEqual([]);
    // On the terminal, the control character is shown, not sent.
    expect(r.stdout.split('\n')[0]).toBe(`FAIL  <keep-alive> & 'one' "conn" \\x01: connections = 3  (expect connections <= 1, flows: tcp port 8089; 3 flows selected)`);
  });

  it('several captures are one timeline: one testsuite named after them all; - reads stdin', async () => {
    const report = tmp.path('two.xml');
    const r = await runCli(['check', LO, CLOSED, '--rules', PASSING, '--junit', report, '--format', 'json']);
    expect(r.code).toBe(4); // closed-ports refused two SYNs
    const suite = children(parseXml(readFileSync(report, 'utf8')), 'testsuite');
    expect(suite.map((s) => s.attrs.name)).toEqual([`${LO} + ${CLOSED}`]);
    expect((JSON.parse(r.stdout) as { verdicts: { value: number }[] }).verdicts.map((v) => v.value)).toEqual([2, 2]);
    const piped = await runCli(['check', '-', '--rules', PASSING], readFileSync(LO));
    const file = await runCli(['check', LO, '--rules', PASSING]);
    expect([piped.code, piped.stdout]).toEqual([0, file.stdout]);
  });

  it('a capture that cannot be read: exit 1, before any verdict', async () => {
    const r = await runCli(['check', tmp.path('missing.pcap'), '--rules', PASSING, '--junit', tmp.path('none.xml')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('missing.pcap');
    expect(() => readFileSync(tmp.path('none.xml'))).toThrow();
  });

  it('a bad rules file: exit 2, one line naming the file and line, and nothing read', async () => {
    const cases: [string, RegExp][] = [
      ['- name: a\n  expect: conections <= 1\n', /^flowdemux: .*bad1\.yaml:2: rule 'a': unknown measure 'conections'/],
      ['- name: a\n  expect: connections => 1\n', /^flowdemux: .*bad2\.yaml:2: rule 'a': bad operator '=>'/],
      ['- name: a\n  expect: connections <= 1\n- name: b\n  flows: tcp-syn\n  expect: flows == 0\n', /^flowdemux: .*bad3\.yaml:4: rule 'b': bad flows 'tcp-syn'/],
      ['- expect: flows == 0\n', /^flowdemux: .*bad4\.yaml:1: a rule without a name/],
      ['- name: a\n  expect: servers in [nowhere]\n', /^flowdemux: .*bad5\.yaml:2: rule 'a': 'nowhere' is not ADDRESS:PORT/],
    ];
    for (const [i, [text, message]] of cases.entries()) {
      const file = rulesFile(`bad${i + 1}.yaml`, text);
      // The capture does not exist: the rules are refused before it is opened.
      const r = await runCli(['check', tmp.path('missing.pcap'), '--rules', file]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
    const missing = await runCli(['check', LO, '--rules', tmp.path('nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^flowdemux: --rules .*nope\.yaml: cannot read it: .*ENOENT/);
    const none = await runCli(['check', LO]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('rules');
  });

  it('--strict: warnings make 3 when every rule passed; a failed rule is still 4', async () => {
    const anyFlows = rulesFile('any.yaml', '- name: any\n  expect: flows >= 0\n');
    const noFlows = rulesFile('none.yaml', '- name: none\n  expect: flows == 0\n');
    expect((await runCli(['check', DAMAGED, '--rules', anyFlows])).code).toBe(0);
    expect((await runCli(['check', DAMAGED, '--rules', anyFlows, '--strict'])).code).toBe(3);
    expect((await runCli(['check', DAMAGED, '--rules', noFlows, '--strict'])).code).toBe(4);
  });

  it('a capture without packets: said on stderr, and the verdicts still written', async () => {
    const r = await runCli(['check', 'fixtures/crafted/empty-header-only.pcap', '--rules', PASSING]);
    expect(r.code).toBe(4); // two connections were expected on port 80
    expect(r.stderr).toBe('flowdemux: no packets in fixtures/crafted/empty-header-only.pcap\n');
    expect(r.stdout).toMatch(/^FAIL {2}two clients on port 80: connections = 0/);
  });

  it('a --junit file that cannot be written: exit 1 naming it, the verdicts on stdout', async () => {
    const r = await runCli(['check', LO, '--rules', PASSING, '--junit', tmp.path('no/such/dir/r.xml')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('2 rules: 2 passed, 0 failed');
    expect(r.stderr).toMatch(/^flowdemux: --junit .*r\.xml: cannot write it: .*ENOENT/);
  });
});
