/**
 * Verdicts as text: the table (one line a rule, the flows that broke it under a failure) and the
 * JSON document (`check --format json`, docs/json.md's `CheckDocument`; the library's `check`
 * returns its verdicts). Pure: verdicts in, text or plain objects out. JUnit XML is junit.ts.
 */
import type { Flow } from '../core/flow.js';
import type { CaptureInfo } from '../core/frame.js';
import type * as J from '../core/json-types.js';
import { endpointText } from '../demux/groups.js';
import { captureToJson } from '../report/json.js';
import { fixed, flowText, type Verdict } from './measures.js';
import { UNITS } from './rules.js';

/** Flows listed under a failed rule in the table; JSON and JUnit list them all. */
export const TABLE_FLOWS = 20;

/** The value measured, with its unit: `10`, `12.5 ms`, `[127.0.0.1:80, 127.0.0.1:8089]`. */
export function valueText(v: Verdict): string {
  if (Array.isArray(v.value)) return `[${v.value.join(', ')}]`;
  const unit = UNITS[v.rule.measure];
  if (unit === undefined) return String(v.value);
  return `${fixed(v.value, unit === 'ms' ? 3 : 6)} ${unit}`;
}

/** `connections = 10, expected <= 1`: what a failure message starts with. */
export function failureSummary(v: Verdict): string {
  const missing = v.missing.length > 0 ? `; no flow to ${v.missing.join(', ')}` : '';
  return `${v.rule.measure} = ${valueText(v)}, expected ${v.rule.expect.slice(v.rule.measure.length).trim()}`
    + `${v.broke.length > 0 ? `; ${v.broke.length} flow${v.broke.length === 1 ? '' : 's'} broke it` : ''}${missing}`;
}

/** The lines naming the flows that broke a rule: `  4#2 tcp A → B  RST (RSTO ShADadR)`. */
export function offenderLines(v: Verdict, limit = Infinity): string[] {
  const lines = v.broke.slice(0, limit).map((o) => `${flowText(o.flow)}  ${o.detail}`);
  if (v.broke.length > limit) lines.push(`... and ${v.broke.length - limit} more (--format json and --junit list every one)`);
  for (const m of v.missing) lines.push(`no flow to ${m}`);
  return lines;
}

/** The table: one line a rule, then the count. */
export function renderVerdictsTable(verdicts: readonly Verdict[]): string {
  const out: string[] = [];
  for (const v of verdicts) {
    const r = v.rule;
    const scope = r.flows === null ? '' : `, flows: ${r.flows}`;
    out.push(`${v.pass ? 'PASS' : 'FAIL'}  ${r.name}: ${r.measure} = ${valueText(v)}  (expect ${r.expect}${scope}; ${v.selected} flow${v.selected === 1 ? '' : 's'} selected)`);
    if (!v.pass) for (const l of offenderLines(v, TABLE_FLOWS)) out.push(`        ${l}`);
  }
  const failed = verdicts.filter((v) => !v.pass).length;
  out.push(`${verdicts.length} rule${verdicts.length === 1 ? '' : 's'}: ${verdicts.length - failed} passed, ${failed} failed`);
  return out.join('\n') + '\n';
}

const brokenFlow = (f: Flow, detail: string): J.BrokenFlow => ({
  id: f.id, generation: f.generation, proto: f.proto, client: endpointText(f.client), server: endpointText(f.server), detail,
});

/** One rule's verdict as docs/json.md's `Verdict`. */
export function verdictJson(v: Verdict): J.Verdict {
  return {
    name: v.rule.name,
    flows: v.rule.flows,
    expect: v.rule.expect,
    pass: v.pass,
    measure: v.rule.measure,
    value: v.value,
    selected: v.selected,
    broke: v.broke.map((o) => brokenFlow(o.flow, o.detail)),
    missing: v.missing,
  };
}

/** `check --format json`: docs/json.md's `CheckDocument`. */
export function checkDocument(verdicts: readonly Verdict[], captures: readonly CaptureInfo[], rules: string, warnings: readonly string[]): J.CheckDocument {
  const failed = verdicts.filter((v) => !v.pass).length;
  return {
    captures: captures.map(captureToJson) as unknown as J.Capture[],
    rules,
    passed: verdicts.length - failed,
    failed,
    verdicts: verdicts.map(verdictJson),
    warnings: [...warnings],
  };
}
