/**
 * `flowdemux check CAPTURE.. --rules rules.yaml [--junit report.xml] [--format table|json]`:
 * the rules measured over the capture's flows (src/check/). The rules file is read and checked
 * before any capture is (a bad one is exit 2 at once); then one read, feeding each flow and,
 * when a rule needs them, each TCP segment to the facts collector; then a verdict a rule on
 * stdout, and the JUnit file. Exit 4 when a rule failed (main.ts), after 1 for an unreadable
 * capture.
 */
import { FactsCollector } from '../check/facts.js';
import { evaluate, needsSegments } from '../check/measures.js';
import { inputName } from '../pipeline/read.js';
import {
  WRITING_REPORT, loadRulesFile, noPacketsKept, noPacketsLine, readCommandFlows, writeReport, writeVerdicts, type CommandResult, type Io,
} from './command.js';
import type { Options } from './options.js';
import type { Output } from './output.js';

export async function runCheck(options: Options, io: Io, out: Output): Promise<CommandResult> {
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
  if (read.captures.length === 0) return { errors: read.errors, warnings };
  const facts = collector.facts(engine.flows());
  const verdicts = rules.map((r) => evaluate(r, facts));
  const errors = [...read.errors];
  await writeReport(read, io, (beforeOutput) => {
    beforeOutput();
    // Nothing to measure is worth a word: every count is 0, and an upper bound passes.
    if (noPacketsKept(read)) io.stderr.write(noPacketsLine(read));
    errors.push(...writeVerdicts(options, out, verdicts, read.captures, warnings));
  });
  return { errors, warnings, ruleFailed: verdicts.some((v) => !v.pass) };
}
