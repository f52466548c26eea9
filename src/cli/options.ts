/**
 * The command-line table (yargs) and the pure checks on its result. Nothing here does I/O, so
 * tests can parse argument vectors without spawning a process.
 */
import { readFileSync } from 'node:fs';
import yargs from 'yargs';

export type Command = 'packets' | 'flows' | 'demux' | 'ladder' | 'live' | 'interfaces';

export interface Options {
  command: Command;
  captures: string[];
  format: string;
  strict: boolean;
  progress: boolean | undefined;
  proto: string | undefined;
  port: number | undefined;
  host: string | undefined;
  sort: 'start' | 'bytes' | 'packets' | undefined;
  limit: number | undefined;
  idleTimeout: number | undefined;
  maxFlows: number | undefined;
  flow: number | undefined;
  explain: boolean;
  interface: string;
  filter: string | undefined;
  count: number | undefined;
  duration: number | undefined;
  write: string | undefined;
  /** live: raise the scheduling priority while capturing (default true; --no-boost). */
  boost: boolean;
}

const STDIN_TOKEN = '\u0000stdin';

/** The package's version, from its package.json (dist/cli and src/cli are both two levels below). */
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** A usage problem: the CLI prints it on one line and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

const FORMATS: Record<Command, readonly string[]> = {
  packets: ['table', 'ndjson'],
  flows: ['table', 'json', 'ndjson', 'csv', 'zeek'],
  demux: ['table', 'json', 'dot', 'mermaid'],
  ladder: ['table'],
  live: ['table', 'json', 'ndjson', 'dot', 'mermaid'],
  interfaces: ['table', 'json'],
};

const captureOptions = {
  strict: { type: 'boolean', default: false, describe: 'exit 3 when damage was read around (warnings)' },
  progress: { type: 'boolean', describe: 'progress line on stderr (default: only when stderr is a terminal)' },
} as const;

/** Which flows, and how the engine ends them: every command that reports flows. */
const filterOptions = {
  proto: { type: 'string', describe: 'only flows of this protocol (tcp, udp, icmp)' },
  port: { type: 'number', describe: 'only flows with this port at either end' },
  host: { type: 'string', describe: 'only flows with this address at either end' },
  'idle-timeout': { type: 'number', describe: 'seconds of silence that end a flow (default tcp 300, udp 60)' },
  'max-flows': { type: 'number', describe: 'cap on flows held open at once (oldest idle evicted first)' },
} as const;

/** The order and number of flows printed: only where flows are listed (not demux's groups). */
const flowOptions = {
  ...filterOptions,
  sort: { choices: ['start', 'bytes', 'packets'], describe: 'order of the flows' },
  limit: { type: 'number', describe: 'print at most this many flows' },
} as const;

/** Builds the yargs parser. `exitProcess(false)` and a throwing `fail` keep it pure. */
export function buildParser(argv: string[]) {
  return yargs(argv)
    .scriptName('flowdemux')
    .usage('$0 <command> [options]\n\nShows how a host demultiplexes packets to sockets.')
    .command('packets <captures..>', 'one line a packet, with the flow it demuxes to', (y) =>
      y.options({
        ...captureOptions,
        format: { choices: FORMATS.packets, default: 'table', describe: 'output format' },
        explain: { type: 'boolean', default: false, describe: 'say which socket the kernel would pick' },
      }),
    )
    .command('flows <captures..>', 'flows (connections) by tuple, both directions counted', (y) =>
      y.options({
        ...captureOptions,
        ...flowOptions,
        format: { choices: FORMATS.flows, describe: 'output format (default: table, wherever the output goes)' },
      }),
    )
    .command('demux <captures..>', 'where the port alone is ambiguous, and which key the kernel needs', (y) =>
      y.options({ ...captureOptions, ...filterOptions, format: { choices: FORMATS.demux, default: 'table' } }),
    )
    .command('ladder <captures..>', 'one connection as a sequence diagram', (y) =>
      y.options({ ...captureOptions, flow: { type: 'number', demandOption: true, describe: 'flow id (from `flows`)' } }),
    )
    .command('live', 'capture live (default on lo) and show the flows', (y) =>
      y.options({
        ...flowOptions,
        interface: { alias: 'i', type: 'string', default: 'lo', describe: 'capture device' },
        filter: { alias: 'f', type: 'string', describe: 'BPF capture filter' },
        count: { alias: 'c', type: 'number', describe: 'stop after this many packets' },
        duration: { type: 'number', describe: 'stop after this many seconds' },
        write: { alias: 'w', type: 'string', describe: 'also write the packets to this pcap file' },
        format: { choices: FORMATS.live, describe: 'output format' },
        boost: {
          type: 'boolean', default: true,
          describe: 'raise the priority while capturing (nice -10, as root) so that short connections are looked up before they close; --no-boost leaves it',
        },
      }),
    )
    .command('interfaces', 'list capture devices', (y) =>
      y.options({ format: { choices: FORMATS.interfaces, default: 'table', describe: 'output format' } }),
    )
    .demandCommand(1, 'name a command: packets, flows, demux, ladder, live or interfaces')
    .strict()
    .help()
    .version('version', 'show the version number', VERSION)
    .wrap(Math.min(100, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((msg, err) => {
      throw new UsageError(oneLine(msg || err?.message || 'invalid arguments'));
    });
}

/**
 * yargs' messages run over several lines ("Invalid values:\n  Argument: format, ..."): one line,
 * as every message of flowdemux is (a newline would otherwise show as a literal escape).
 */
function oneLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '').join(' ');
}

/** The longest wait a Node timer takes (2^31 - 1 ms, 24.8 days): --duration beyond it would not wait at all. */
const MAX_DURATION_S = Math.floor((2 ** 31 - 1) / 1000);

/** A count: a whole number >= min. */
function optionalInteger(v: unknown, name: string, min: number): number | undefined {
  const n = optionalNumber(v, name, min);
  if (n !== undefined && !Number.isInteger(n)) throw new UsageError(`--${name} must be a whole number >= ${min}`);
  return n;
}

/** --duration: seconds, at least a millisecond and at most what a timer can wait. */
function optionalDuration(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0.001 || v > MAX_DURATION_S) {
    throw new UsageError(`--duration must be a number of seconds from 0.001 to ${MAX_DURATION_S} (24.8 days)`);
  }
  return v;
}

function optionalNumber(v: unknown, name: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
    throw new UsageError(`--${name} must be a number >= ${min}`);
  }
  return v;
}

/**
 * Turns yargs' result into checked Options. Pure: throws UsageError with a one-line message.
 * `stdoutIsTty` is not used for the format (its default is the same everywhere).
 */
export function check(args: Record<string, unknown>, stdoutIsTty: boolean): Options {
  const command = String((args._ as unknown[])[0] ?? '') as Command;
  if (!(command in FORMATS)) throw new UsageError(`unknown command '${command}'`);
  const captures = ((args.captures as unknown[]) ?? []).map((c) => (c === STDIN_TOKEN ? '-' : String(c)));
  if (captures.filter((c) => c === '-').length > 1) throw new UsageError("stdin ('-') can be read only once");
  // One rule, as tshark, tcpdump and ss have it: the default format never depends on where the
  // output goes (`flows x.pcap | less` is the table you saw on the terminal); --format chooses.
  const format = (args.format as string | undefined) ?? 'table';
  const port = optionalNumber(args.port, 'port', 0);
  if (port !== undefined && (port > 65535 || !Number.isInteger(port))) throw new UsageError('--port must be 0..65535');
  const proto = args.proto === undefined ? undefined : String(args.proto).toLowerCase();
  if (proto !== undefined && !['tcp', 'udp', 'icmp'].includes(proto)) throw new UsageError('--proto must be tcp, udp or icmp');
  return {
    command,
    captures,
    format,
    strict: Boolean(args.strict),
    progress: args.progress as boolean | undefined,
    proto,
    port,
    host: args.host as string | undefined,
    sort: args.sort as Options['sort'],
    limit: optionalInteger(args.limit, 'limit', 0),
    idleTimeout: optionalNumber(args['idle-timeout'], 'idle-timeout', 0),
    maxFlows: optionalInteger(args['max-flows'], 'max-flows', 1),
    flow: optionalNumber(args.flow, 'flow', 1),
    explain: Boolean(args.explain),
    interface: String(args.interface ?? 'lo'),
    filter: args.filter as string | undefined,
    count: optionalInteger(args.count, 'count', 1),
    duration: optionalDuration(args.duration),
    write: args.write as string | undefined,
    boost: args.boost !== false,
  };
}

/** Parses an argument vector into Options, or throws UsageError. `help` is set when --help ran. */
export async function parseArgs(
  argv: string[],
  stdoutIsTty: boolean,
): Promise<{ options: Options | null; helpText: string | null }> {
  let helpText: string | null = null;
  // yargs drops a bare '-' (stdin) from positionals; carry it through under another name.
  argv = argv.map((a) => (a === '-' ? STDIN_TOKEN : a));
  const parser = buildParser(argv);
  const args = (await parser.parseAsync(argv, {}, (err, _argv, output) => {
    if (err) throw err instanceof UsageError ? err : new UsageError(err.message);
    if (output) helpText = output;
  })) as Record<string, unknown>;
  if (helpText !== null) return { options: null, helpText };
  return { options: check(args, stdoutIsTty), helpText: null };
}
