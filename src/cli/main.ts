/**
 * `run(argv, io)` parses, runs one command and returns the exit code:
 * 0 success (damage read around is a warning), 1 a capture could not be read,
 * 2 usage error, 3 warnings under --strict, 4 a rule of `check` failed. Nothing here throws to
 * the caller: any unexpected error becomes one line on stderr (with the stack only under
 * FLOWDEMUX_DEBUG=1).
 */
import { EXIT, outputErrorText, type CommandResult, type Io } from './command.js';
import { parseArgs, UsageError, type Options } from './options.js';
import { Output, safeText } from './output.js';

export { EXIT, outputErrorText, safeText, type CommandResult, type Io };

export async function run(argv: string[], io: Io): Promise<number> {
  let options: Options;
  try {
    const parsed = await parseArgs(argv, Boolean(io.stdout.isTTY));
    if (parsed.helpText !== null) {
      io.stdout.write(parsed.helpText + '\n');
      return EXIT.OK;
    }
    options = parsed.options!;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`flowdemux: ${safeText(err.message)} (see flowdemux --help)\n`);
      return EXIT.USAGE;
    }
    throw err;
  }
  return runOptions(options, io);
}

/** Runs one command from checked Options (what `run` does after parsing; `flows --each`'s workers call it). */
export async function runOptions(options: Options, io: Io): Promise<number> {

  const out = new Output(io.stdout);
  let result: CommandResult;
  // Each command's module is loaded when it runs: a run compiles only what its command uses.
  try {
    switch (options.command) {
      case 'packets':
        result = await (await import('./packets.js')).runPackets(options, io, out);
        break;
      case 'flows':
        result = options.each ? await (await import('./each.js')).runEach(options, io) : await (await import('./flows.js')).runFlows(options, io, out);
        break;
      case 'demux':
        result = await (await import('./demux.js')).runDemux(options, io, out);
        break;
      case 'ladder':
        result = await (await import('./demux.js')).runLadder(options, io, out);
        break;
      case 'follow':
        result = await (await import('./follow.js')).runFollow(options, io, out);
        break;
      case 'live':
        result = await (await import('./live.js')).runLive(options, io, out);
        break;
      case 'interfaces':
        result = await (await import('./live.js')).runInterfaces(options, io, out);
        break;
      case 'check':
        result = await (await import('./check.js')).runCheck(options, io, out);
        break;
      case 'report':
        result = await (await import('./report.js')).runReport(options, io, out);
        break;
      default:
        io.stderr.write(`flowdemux: '${options.command}' is not available in this version\n`);
        return EXIT.USAGE;
    }
    await out.flush();
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`flowdemux: ${safeText(err.message)}\n`);
      return EXIT.USAGE;
    }
    throw err;
  }
  if (out.error) {
    io.stderr.write(`flowdemux: cannot write output: ${safeText(outputErrorText(out.error))}\n`);
    return EXIT.UNREADABLE;
  }
  for (const w of result.warnings) io.stderr.write(`flowdemux: warning: ${safeText(w)}\n`);
  for (const e of result.errors) io.stderr.write(`flowdemux: ${safeText(e)}\n`);
  if (result.errors.length > 0) return result.exitCode ?? EXIT.UNREADABLE;
  if (result.ruleFailed === true) return EXIT.RULE_FAILED;
  if (options.strict && result.warnings.length > 0) return EXIT.STRICT;
  return EXIT.OK;
}

/** Entry point for bin/flowdemux.js: real process streams, and a last line of defence. */
export async function main(argv: string[]): Promise<number> {
  // A closed stdout (`| head`) must end quietly; Output handles writes, this covers stray ones.
  process.stdout.on('error', () => undefined);
  // A broken stderr (2>/dev/full, a closed pipe) leaves nowhere to report anything: the exit
  // code still tells, instead of an uncaught 'error' event ending the process.
  process.stderr.on('error', () => undefined);
  try {
    return await run(argv, { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });
  } catch (err) {
    const e = err as Error;
    process.stderr.write(`flowdemux: internal error: ${safeText(e.message)}\n`);
    if (process.env.FLOWDEMUX_DEBUG) process.stderr.write(`${e.stack}\n`);
    return 70;
  }
}
