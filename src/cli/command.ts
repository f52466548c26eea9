/**
 * What every command shares: the streams it is given (`Io`), what it hands back to `run`
 * (`CommandResult`), the exit codes, and the command-line options as the pipeline takes them.
 * Commands import this module, never each other or main.ts.
 */
import { closeSync, createWriteStream, openSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { CaptureInfo } from '../core/frame.js';
import type { Flow } from '../core/flow.js';
import { ecsLine } from '../report/ecs.js';
import { flowJsonBound, writeFlowJson } from '../report/json.js';
import { zeekJsonLine } from '../report/zeek.js';
import { renderJunit } from '../check/junit.js';
import type { Verdict } from '../check/measures.js';
import { checkDocument, renderVerdictsTable } from '../check/report.js';
import { parseRulesYaml, RulesError, type Rule } from '../check/rules.js';
import { tryParseAddress } from '../parse/format.js';
import { engineSettings, readFlows, type FlowRead, type FlowReadOptions } from '../pipeline/flows.js';
import type { ReadOptions, ReadResult } from '../pipeline/read.js';
import type { FlowSelection } from '../report/select.js';
import { UsageError, type FlowId, type Options } from './options.js';
import { Output, safeText } from './output.js';

export interface Io {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  stdin: Readable;
}

export const EXIT = { OK: 0, UNREADABLE: 1, USAGE: 2, STRICT: 3, RULE_FAILED: 4 } as const;

/** What a command reports back to `run` for the exit code and the closing stderr lines. */
export interface CommandResult {
  errors: string[];
  warnings: string[];
  /** Exit code when there are errors, if not 1 (e.g. 2 for an unknown capture device). */
  exitCode?: number;
  /** check, live --rules: a rule failed (exit 4, unless there are errors). */
  ruleFailed?: boolean;
}

/** Why standard output could not be written, in words, with the system's code: "disk full (ENOSPC)". */
export function outputErrorText(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  const words: Record<string, string> = {
    ENOSPC: 'disk full', EDQUOT: 'disk quota exceeded', EFBIG: 'file too large', EIO: 'i/o error',
    EACCES: 'permission denied', EPERM: 'permission denied', EBADF: 'not open for writing', EROFS: 'read-only file system',
  };
  const text = code !== undefined ? words[code] : undefined;
  if (text !== undefined) return `${text} (${code})`;
  return err.message.split('\n')[0] ?? String(err);
}

/** The captures' paths for a message, comma separated. */
function inputPaths(result: ReadResult): string {
  return result.captures.map((c) => c.path).join(', ');
}

/** No packet reached the flows: the captures held none, or --filter matched none. */
export function noPacketsKept(result: ReadResult): boolean {
  return result.packets - result.filtered === 0;
}

/**
 * The stderr line for captures that were read fine but held no packets, or none that --filter
 * kept (not an error).
 */
export function noPacketsLine(result: ReadResult): string {
  if (result.filtered > 0) {
    return `flowdemux: none of the ${result.packets} packets in ${safeText(inputPaths(result))} match the filter\n`;
  }
  return `flowdemux: no packets in ${safeText(inputPaths(result))}\n`;
}

/** --flow text as given: `4` or `4#2`. */
function flowIdText(flow: FlowId): string {
  return flow.generation === undefined ? String(flow.id) : `${flow.id}#${flow.generation}`;
}

/**
 * --flow ID#N when flow ID is another generation of its tuple: a usage error naming both, so
 * that a user who copied an id from another run (or another --filter) sees what changed.
 */
export function checkFlowGeneration(flow: FlowId, generation: number): void {
  if (flow.generation === undefined || flow.generation === generation) return;
  const actual = generation > 1 ? `${flow.id}#${generation}, generation ${generation}` : `generation 1`;
  throw new UsageError(`--flow ${flowIdText(flow)}: flow ${flow.id} is ${actual} of its tuple, not #${flow.generation}`);
}

/** --flow names a flow the captures do not have (or that --filter left out). */
export function noSuchFlow(flow: FlowId, read: ReadResult, flows: number, filtered: boolean): UsageError {
  const counted = filtered ? `${flows} flows from the packets that match the filter` : `${flows} flows`;
  return new UsageError(`no flow ${flowIdText(flow)} in ${inputPaths(read)} (${counted}; see flowdemux flows)`);
}

/** --proto, --port, --host, --sort, --limit; a --host that is no address is a usage error. */
export function flowSelection(options: Options): FlowSelection {
  if (options.host !== undefined && tryParseAddress(options.host) === null) {
    throw new UsageError(`--host '${options.host}' is not an IPv4 or IPv6 address`);
  }
  return { proto: options.proto, port: options.port, host: options.host, sort: options.sort, limit: options.limit };
}

/** The progress line's name for what follows the read in `flows` and `demux`. */
export const WRITING_REPORT = 'writing report';

/**
 * The report of a command whose progress line names the work after reading (WRITING_REPORT):
 * `write` renders and writes it; the line is cleared before output goes to the terminal it is
 * on (stdout a terminal too), and when `write` ends or throws.
 */
export async function writeReport(read: ReadResult, io: Io, write: (clear: () => void) => Promise<void> | void): Promise<void> {
  const clear = () => read.progress.done();
  try {
    await write(io.stdout.isTTY ? clear : () => undefined);
  } finally {
    clear();
  }
}

/**
 * The captures of a file command through the pipeline: paths, --idle-timeout and --max-flows,
 * the progress line, stdin, and a stop when the output went away; output passed on after every
 * batch of a streaming input.
 */
export function readCommandFlows(
  options: Options, io: Io, out: Output, hooks: Omit<FlowReadOptions, Exclude<keyof ReadOptions, 'nextPhase'>> = {},
): Promise<FlowRead> {
  // `-` with nothing piped in would wait, silently, for a capture typed at the keyboard.
  if (options.captures.includes('-') && (io.stdin as { isTTY?: boolean }).isTTY === true) {
    throw new UsageError("'-' reads a capture from standard input, which is a terminal here: pipe one in, e.g. tcpdump -U -w - | flowdemux packets -");
  }
  return readFlows(options.captures, {
    ...hooks,
    filter: options.keep,
    engine: engineSettings(options, hooks.engine),
    progress: options.progress ?? (io.stderr.isTTY ? 'auto' : false),
    progressStream: io.stderr,
    stdin: io.stdin,
    shouldStop: () => out.closed,
    afterBatch: () => out.sendQueued(),
    checksums: options.checksums === 'validate',
  });
}

/** --rules (check, live): the rules file, read and checked; a problem is a usage error naming the file (and line). */
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

/**
 * The verdicts of --rules on stdout (a line a rule, or --format json) and in the --junit file,
 * named after `captures`. Returns the error line when the JUnit file could not be written.
 */
export function writeVerdicts(
  options: Options, out: Output, verdicts: readonly Verdict[], captures: readonly CaptureInfo[], warnings: readonly string[],
): string[] {
  out.write(options.format === 'json'
    ? `${JSON.stringify(checkDocument(verdicts, captures, options.rules!, warnings), null, 2)}\n`
    // Rule names and filters come from the rules file: no control character reaches the terminal.
    : renderVerdictsTable(verdicts).split('\n').map(safeText).join('\n'));
  if (options.junit === undefined) return [];
  try {
    writeFileSync(options.junit, renderJunit(verdicts, captures.map((c) => c.path).join(' + '), options.rules!));
    return [];
  } catch (err) {
    return [`--junit ${options.junit}: cannot write it: ${outputErrorText(err as Error)}`];
  }
}

/** One flow's JSON and a newline, rendered straight into the output's pending bytes. */
function writeFlowLine(out: Output, flow: Flow, digits: number): Promise<void> | undefined {
  const buf = out.reserve(flowJsonBound(flow) + 1);
  const end = writeFlowJson(buf, out.end, flow, digits);
  buf[end] = 0x0a; // \n
  return out.commit(end + 1);
}

/** The formats written a line a flow, with nothing around: each can stream as flows end. */
export const LINE_FORMATS = ['ndjson', 'zeek-json', 'ecs'] as const;

export function isLineFormat(format: string): boolean {
  return (LINE_FORMATS as readonly string[]).includes(format);
}

/** Writes one flow's line in a line format (isLineFormat). */
export function flowLineWriter(format: string): (out: Output, flow: Flow, digits: number) => Promise<void> | undefined {
  switch (format) {
    case 'zeek-json': return (out, flow) => out.write(zeekJsonLine(flow));
    case 'ecs': return (out, flow, digits) => out.write(ecsLine(flow, { digits }));
    default: return writeFlowLine;
  }
}

/** --output must name a file in a folder that exists (checked before a long read, not after). */
export function checkOutputPath(path: string, what: string, option = '--output'): void {
  if (path === '-') return;
  let st;
  try {
    st = statSync(path, { throwIfNoEntry: false });
  } catch {
    st = undefined;
  }
  if (st?.isDirectory()) throw new UsageError(`${option} '${path}' is a folder: name ${what} to write`);
  const parent = statSync(dirname(path), { throwIfNoEntry: false });
  if (parent === undefined || !parent.isDirectory()) throw new UsageError(`${option} '${path}': no folder ${dirname(path)}`);
}

/** An --output file, open for writing, with an Output on it. */
export interface OutputFile {
  out: Output;
  /** Writes what is queued and closes the file. */
  close(): Promise<void>;
  /** Deletes the file (nothing was written to it). */
  remove(): void;
}

/** Opens (creates or truncates) an --output file now: a path that cannot be written is a usage error. */
export function openOutputFile(path: string): OutputFile {
  checkOutputPath(path, 'the file');
  let fd: number;
  try {
    fd = openSync(path, 'w');
  } catch (err) {
    throw new UsageError(`--output '${path}': cannot write it: ${outputErrorText(err as Error)}`);
  }
  const stream = createWriteStream(path, { fd, autoClose: false });
  const out = new Output(stream);
  let closed = false;
  return {
    out,
    async close() {
      if (closed) return;
      closed = true;
      await out.flush();
      await new Promise<void>((resolve) => stream.end(() => resolve()));
      try {
        closeSync(fd);
      } catch {
        // already closed by a failed stream
      }
    },
    remove() {
      try {
        unlinkSync(path);
      } catch {
        // gone already
      }
    },
  };
}
