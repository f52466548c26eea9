/**
 * `flowdemux check CAPTURE.. --rules rules.yaml [--junit report.xml] [--format table|json]`:
 * the rules measured over the capture's flows (src/check/). The rules file is read and checked
 * before any capture is (a bad one is exit 2 at once); then one read, feeding each flow and,
 * when a rule needs them, each TCP segment to the facts collector; then a verdict a rule on
 * stdout, and the JUnit file. Exit 4 when a rule failed (main.ts), after 1 for an unreadable
 * capture.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { FactsCollector } from '../check/facts.js';
import { renderJunit } from '../check/junit.js';
import { evaluate, needsSegments, type Verdict } from '../check/measures.js';
import { checkDocument, renderVerdictsTable } from '../check/report.js';
import { parseRulesYaml, RulesError, type Rule } from '../check/rules.js';
import { inputName } from '../pipeline/read.js';
import {
  WRITING_REPORT, noPacketsKept, noPacketsLine, outputErrorText, readCommandFlows, writeReport, type CommandResult, type Io,
} from './command.js';
import { UsageError, type Options } from './options.js';
import { safeText, type Output } from './output.js';

/** The exit code of a check with a failed rule. */
export const EXIT_RULE_FAILED = 4;

export interface CheckResult extends CommandResult {
  /** At least one rule failed. */
  failed: boolean;
}

/** The rules file, read and checked: a problem is a usage error naming the file (and line). */
export function loadRulesFile(path: string): Rule[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--rules ${path}: cannot read it: ${outputErrorText(err as Error)}`);
  }
  try {
    return parseRulesYaml(text, path);
  } catch (err) {
    if (err instanceof RulesError) throw new UsageError(err.message);
    throw err;
  }
}

export async function runCheck(options: Options, io: Io, out: Output): Promise<CheckResult> {
  const rules = loadRulesFile(options.rules!);
  const segments = needsSegments(rules);
  const collector = new FactsCollector(segments);
  const { engine, read } = await readCommandFlows(options, io, out, {
    engine: { onFlowEnd: (f) => collector.flowEnded(f) },
    // Only when a rule asks for retransmissions or handshake times: the loop pays nothing else.
    after: segments
      ? (frame, pkt, ref) => {
        collector.packet(frame, pkt, ref);
        return undefined;
      }
      : undefined,
    nextPhase: WRITING_REPORT,
  });
  const warnings = [...read.warnings, ...engine.summary(inputName(read)).warnings];
  if (read.captures.length === 0) return { errors: read.errors, warnings, failed: false };
  const facts = collector.facts(engine.flows());
  const verdicts: Verdict[] = rules.map((r) => evaluate(r, facts));
  const paths = read.captures.map((c) => c.path);
  const errors = [...read.errors];
  await writeReport(read, io, (beforeOutput) => {
    beforeOutput();
    // Nothing to measure is worth a word: every count is 0, and an upper bound passes.
    if (noPacketsKept(read)) io.stderr.write(noPacketsLine(read));
    out.write(options.format === 'json'
      ? `${JSON.stringify(checkDocument(verdicts, paths, options.rules!, warnings), null, 2)}\n`
      // Rule names and filters come from the rules file: no control character reaches the terminal.
      : renderVerdictsTable(verdicts).split('\n').map(safeText).join('\n'));
  });
  if (options.junit !== undefined) {
    try {
      writeFileSync(options.junit, renderJunit(verdicts, paths.join(' + '), options.rules!));
    } catch (err) {
      errors.push(`--junit ${options.junit}: cannot write it: ${outputErrorText(err as Error)}`);
    }
  }
  return { errors, warnings, failed: verdicts.some((v) => !v.pass) };
}
