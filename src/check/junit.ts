/**
 * Verdicts as JUnit XML, the report CI systems display (GitHub Actions test reporters, GitLab's
 * `artifacts:reports:junit`, Jenkins' junit step): one `<testsuite>` for the capture read (several
 * captures are one timeline, so one suite named after all of them, joined by ` + `), one
 * `<testcase>` a rule, and for a failed rule a `<failure>` whose message is the measured value
 * against the expectation and whose text names every flow that broke the rule, a line each.
 *
 * No time or timestamp attributes: the report says what the traffic did, and is the same bytes
 * every time the same capture is checked.
 */
import { failureSummary, offenderLines } from './report.js';
import type { Verdict } from './measures.js';

/**
 * Text for an XML attribute or element: the five special characters escaped, and the
 * characters XML 1.0 cannot hold at all (C0 controls but tab, newline and return; lone
 * surrogates; U+FFFE, U+FFFF) replaced by U+FFFD, so that any rule name gives a valid file.
 */
export function xmlText(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** The JUnit document: `suite` names the captures, `rules` the rules file (each testcase's classname). */
export function renderJunit(verdicts: readonly Verdict[], suite: string, rules: string): string {
  const failures = verdicts.filter((v) => !v.pass).length;
  const counts = `tests="${verdicts.length}" failures="${failures}" errors="0"`;
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="flowdemux check" ${counts}>`,
    `  <testsuite name="${xmlText(suite)}" ${counts} skipped="0">`,
  ];
  for (const v of verdicts) {
    const open = `    <testcase name="${xmlText(v.rule.name)}" classname="${xmlText(rules)}"`;
    if (v.pass) {
      out.push(`${open}/>`);
      continue;
    }
    const body = [`${v.rule.expect}${v.rule.flows === null ? '' : ` (flows: ${v.rule.flows})`}`, ...offenderLines(v)].join('\n');
    out.push(`${open}>`);
    out.push(`      <failure message="${xmlText(failureSummary(v))}" type="${xmlText(v.rule.measure)}">${xmlText(body)}</failure>`);
    out.push('    </testcase>');
  }
  out.push('  </testsuite>', '</testsuites>', '');
  return out.join('\n');
}
