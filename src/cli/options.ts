/**
 * The command-line table (yargs) and the pure checks on its result. Nothing here does I/O, so
 * tests can parse argument vectors without spawning a process.
 */
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { FilterError } from '../filter/syntax.js';
import { compileFilter, type PacketTest } from '../filter/match.js';
import { otherProtocolNumber } from '../core/ip-protocols.js';

export type Command = 'packets' | 'flows' | 'demux' | 'ladder' | 'follow' | 'live' | 'interfaces' | 'check' | 'report';

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
  /** --flow as `flows` prints it: `4`, or `4#2` (the 2nd flow on a reused tuple). */
  flow: FlowId | undefined;
  explain: boolean;
  /** flows --analysis: tshark's TCP analysis of each TCP flow (marks counted, handshake, ACK round trips). */
  analysis: boolean;
  interface: string;
  filter: string | undefined;
  /** --filter compiled for the file commands (live hands the text to libpcap instead). */
  keep: PacketTest | undefined;
  count: number | undefined;
  duration: number | undefined;
  write: string | undefined;
  /** live: raise the scheduling priority while capturing (default true; --no-boost). */
  boost: boolean;
  /** --checksums: validate checks IP, TCP, UDP and ICMP checksums as Zeek does; ignore (default) as tshark. */
  checksums: 'ignore' | 'validate';
  /** --tunnel-flows (default true; --no-tunnel-flows): a UDP tunnel's datagrams are a flow too. */
  tunnelFlows: boolean;
  /** follow --direction: both (default), to-server or to-client. */
  direction: 'both' | 'to-server' | 'to-client' | undefined;
  /** check: the rules file (YAML). */
  rules: string | undefined;
  /** check: where to write the JUnit XML report. */
  junit: string | undefined;
  /** report: the HTML file to write (-o); flows: the file to write instead of stdout; `-` for standard output. */
  output: string | undefined;
  /** flows --each: every capture on its own, one output each into the --output folder. */
  each: boolean;
  /** flows --each: worker threads (default: the cores). */
  jobs: number | undefined;
  /**
   * Set by `flows --each` for each capture's run (not an option): the capture as named on the
   * command line, written in Parquet's `capture` column.
   */
  captureLabel?: string;
  /** report: ladders of the first N TCP connections. */
  ladders: number | undefined;
  /** report: flows in the table at most. */
  rows: number | undefined;
  /** live: also write the HTML report (as `report` does) to this file at the end. */
  report: string | undefined;
}

export interface FlowId {
  id: number;
  /** Given as `id#generation`: checked against the flow's generation. */
  generation: number | undefined;
}

const STDIN_TOKEN = '\u0000stdin';

/** The package's version, from its package.json (dist/cli and src/cli are both two levels below). */
export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** A usage problem: the CLI prints it on one line and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

const FORMATS: Record<Command, readonly string[]> = {
  packets: ['table', 'ndjson'],
  flows: ['table', 'json', 'ndjson', 'csv', 'zeek', 'zeek-json', 'ecs', 'parquet'],
  demux: ['table', 'json', 'dot', 'mermaid', 'svg'],
  ladder: ['table', 'json', 'mermaid'],
  follow: ['text', 'hex', 'raw'],
  live: ['table', 'json', 'ndjson', 'zeek-json', 'ecs', 'dot', 'mermaid'],
  interfaces: ['table', 'json'],
  check: ['table', 'json'],
  report: ['html'],
};

/** Every command that reads packets: files and live. */
const checksumOption = {
  checksums: {
    choices: ['ignore', 'validate'], default: 'ignore',
    describe: 'validate: check IP, TCP, UDP and ICMP checksums as Zeek does (a bad IPv4 header drops the packet, '
      + 'a bad TCP/UDP checksum adds history C/c); ignore (default) as tshark. Checksums captured on the sending '
      + 'host (lo, offload) are often not filled in: validate is for captures from the wire',
  },
} as const;

const captureOptions = {
  ...checksumOption,
  filter: {
    alias: 'f', type: 'string',
    describe: "only packets matching this tcpdump-style filter, e.g. 'tcp port 80 and host 10.0.0.1' (evaluated on the decoded packets)",
  },
  strict: { type: 'boolean', default: false, describe: 'exit 3 on any warning: a damaged file or packet (cut or malformed header), flows evicted' },
  progress: { type: 'boolean', describe: 'progress line on stderr: percent and time left, then the phase (default: only when stderr is a terminal)' },
} as const;

/** Which flows, and how the engine ends them: every command that reports flows. */
const filterOptions = {
  proto: { type: 'string', describe: 'only flows of this protocol (tcp, udp, icmp; other for the rest, or one: ospf, gre, ip-proto-N...)' },
  port: { type: 'number', describe: 'only flows with this port at either end' },
  host: { type: 'string', describe: 'only flows with this address at either end' },
  'idle-timeout': { type: 'number', describe: 'seconds of silence that end a flow (default tcp 300, udp 60)' },
  'max-flows': { type: 'number', describe: 'cap on flows held open at once (oldest idle evicted first)' },
  'tunnel-flows': {
    type: 'boolean', default: true,
    describe: "a UDP tunnel's own datagrams (VXLAN, Geneve, Teredo, GTP-U) are a flow too, as Zeek's outer connection; "
      + '--no-tunnel-flows counts a tunnelled packet only in its inner flow, so that totals over flows count none twice',
  },
} as const;

/** flows and live: the TCP analysis of each TCP flow, asked for (it costs time on every segment). */
const analysisOption = {
  analysis: {
    type: 'boolean', default: false,
    describe: "tshark's TCP analysis of each TCP flow: retransmissions, duplicate ACKs, zero windows... counted, "
      + 'the handshake and ACK round trips (costs time on every segment)',
  },
} as const;

/** The order and number of flows printed: only where flows are listed (not demux's groups). */
const flowOptions = {
  ...filterOptions,
  sort: { choices: ['start', 'bytes', 'packets'], describe: 'order of the flows' },
  limit: { type: 'number', describe: 'print at most this many flows' },
} as const;

/**
 * What every command's --help ends with: where captures come from and what the exit codes mean,
 * the facts a new user otherwise finds only in the README.
 */
const CAPTURES_NOTE = [
  'Captures: pcap or pcapng files, gzip\'d or not; several are read as one timeline (rotated files); '
    + "'-' reads one from standard input (tcpdump -U -w - | flowdemux packets -).",
  "--filter takes tcpdump's syntax (host, net, port, portrange, src/dst, ip, ip6, tcp, udp, icmp, vlan, "
    + 'and/or/not, parentheses); on files flowdemux evaluates it on each decoded packet (live hands it to '
    + 'libpcap). The packets it drops are dropped before flows are made, as if captured with the filter; '
    + 'packets keep their numbers.',
  'Exit codes: 0 fine (damage read around is a warning: how many packets, the first one), '
    + '1 a capture could not be read, 2 usage error, 3 any warning under --strict.',
].join('\n\n'); // paragraphs: yargs wraps each to the terminal's width

/** What check's --help ends with: the rules file in brief (the README has the measures' definitions). */
const CHECK_NOTE = [
  'A rule: "- name: one keep-alive connection", optional "flows: tcp port 8089" (the filter syntax below, '
    + 'asked of each flow: a flow is selected when its packets would match), and "expect: MEASURE OPERATOR VALUE", '
    + 'e.g. "connections <= 1", "resets == 0", "servers in [127.0.0.1:8089, 127.0.0.1:5432]".',
  'Measures: connections (TCP flows), flows, packets, bytes, resets, refused, incomplete (no finished handshake), '
    + 'reused-in-time-wait, retransmissions, max-handshake-rtt (ms), max-duration (s), servers (ADDRESS:PORT). '
    + 'Operators: == != < <= > >= in (a list).',
].join('\n\n');

const CHECK_EXIT_NOTE = 'Exit codes: 0 every rule passed, 4 a rule failed, 1 a capture could not be read, '
  + '2 usage error or a bad rules file (the message names its line), 3 any warning under --strict when every rule passed.';

/** How the flow table fits a terminal (report/table.ts says the same order). */
const WIDTH_NOTE = 'On a terminal the table fits its width (COLUMNS overrides it), giving up first the bytes each way '
  + "(one total), the start's fraction of a second, the packets each way (one total), then the bytes, "
  + 'start, processes and duration; addresses are cut in the middle last. Piped: the full table.';

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
        ...filterOptions,
        flow: { type: 'string', describe: 'only the packets of this flow id, as flows prints it (4, or 4#2)' },
      })
        .example('$0 packets fixtures/demux-lo.pcap', 'one line a packet, with its flow id')
        .example("$0 packets x.pcap --filter 'tcp port 80 and not host 10.0.0.1'", 'only the packets that match, as tcpdump -r would')
        .example('$0 packets fixtures/demux-lo.pcap --flow 4#2', 'the packets of one flow (the 2nd on its tuple)')
        .example('$0 packets x.pcap --explain', 'and which socket the kernel hands each packet to')
        .epilogue(CAPTURES_NOTE),
    )
    .command('flows <captures..>', 'flows (connections) by tuple, both directions counted', (y) =>
      y.options({
        ...captureOptions,
        ...flowOptions,
        format: { choices: FORMATS.flows, describe: 'output format (default: table, wherever the output goes)' },
        ...analysisOption,
        output: {
          alias: 'o', type: 'string',
          describe: "write to this file instead of standard output ('-': standard output); parquet, which is binary, needs a file or a pipe; "
            + 'with --each, the folder to write one file a capture into',
        },
        each: {
          type: 'boolean', default: false,
          describe: 'every capture on its own (not one timeline): one output a capture into the --output folder, '
            + 'named after the capture (x.pcap: x.parquet, x.ndjson, x.conn.log...)',
        },
        jobs: {
          alias: 'j', type: 'number',
          describe: 'with --each: captures read at once, on worker threads (default: the cores); without: the flows of the input split '
            + 'over N threads by address pair (the same output; default 1)',
        },
      })
        .example('$0 flows fixtures/demux-lo.pcap --port 80', 'the connections on port 80')
        .example('$0 flows x.pcap --proto tcp --analysis', 'with retransmissions, duplicate ACKs and round trips')
        .example('$0 flows part-*.pcap --format ndjson', 'rotated files as one timeline, a JSON line a flow')
        .example('$0 flows x.pcap --format parquet -o flows.parquet', 'typed columns for DuckDB, ClickHouse or Spark')
        .example('$0 flows x.pcap --format ecs', 'Elastic Common Schema documents, one a line')
        .example('$0 flows --each sensor-*.pcap --format parquet -o flows/ --jobs 2', 'one Parquet file a capture, two at a time')
        .example("$0 flows x.pcap -f 'udp and net 10.0.0.0/8'", 'flows made of the matching packets only')
        .epilogue(`${WIDTH_NOTE}\n\n${CAPTURES_NOTE}`),
    )
    .command('demux <captures..>', 'where the port alone is ambiguous, and which key the kernel needs', (y) =>
      y.options({ ...captureOptions, ...filterOptions, format: { choices: FORMATS.demux, default: 'table' } })
        .example('$0 demux fixtures/demux-lo.pcap', 'which key tells the flows of each shared port apart')
        .example('$0 demux x.pcap --format svg > demux.svg', 'the same as a drawing, laid out by flowdemux (no Graphviz needed)')
        .example('$0 demux x.pcap --format dot | dot -Tsvg > demux.svg', 'the same for Graphviz')
        .example("$0 demux x.pcap --filter 'portrange 8000-8999'", 'only the ports from 8000 to 8999')
        .epilogue(CAPTURES_NOTE),
    )
    .command('ladder <captures..>', 'one connection as a sequence diagram', (y) =>
      y.options({
        ...captureOptions,
        flow: { type: 'string', demandOption: true, describe: 'flow id as flows prints it (4, or 4#2)' },
        format: { choices: FORMATS.ladder, default: 'table', describe: 'output format' },
      })
        .example('$0 ladder fixtures/demux-lo.pcap --flow 1', 'the handshake, data and close of flow 1')
        .example('$0 ladder fixtures/demux-lo.pcap --flow 4#2', 'the 2nd connection on a reused 4-tuple')
        .example("$0 ladder x.pcap --filter 'port 443' --flow 2", 'flow 2 of the port 443 packets (with a filter, ids count the matching flows)')
        .example('$0 ladder x.pcap --flow 3 --format mermaid', 'the same as a Mermaid sequence diagram')
        .epilogue(CAPTURES_NOTE),
    )
    .command('follow <captures..>', "one flow's bytes both ways, in order (as tshark's -z follow)", (y) =>
      y.options({
        ...captureOptions,
        flow: { type: 'string', demandOption: true, describe: 'flow id as flows prints it (4, or 4#2)' },
        format: {
          choices: FORMATS.follow, default: 'text',
          describe: 'text (printable ASCII, other bytes as \\xNN), hex (a dump per chunk) or raw (the bytes themselves, to a file or pipe)',
        },
        direction: { choices: ['both', 'to-server', 'to-client'], default: 'both', describe: "whose bytes: both ends', or the client's (to-server) or the server's (to-client)" },
      })
        .example('$0 follow fixtures/demux-lo.pcap --flow 1', 'the HTTP request and its answer, as text')
        .example('$0 follow x.pcap --flow 3 --format hex', 'the same as a hex dump of each chunk')
        .example('$0 follow x.pcap --flow 3 --format raw --direction to-client > body.bin', "the server's bytes, as sent")
        .epilogue('TCP: each direction is put back in sequence order; retransmitted bytes are given once, early '
          + 'segments wait for the bytes before them, and bytes the capture does not hold (a lost segment, payload '
          + 'the snap length cut) are a marked gap of known size. UDP: one chunk a datagram. '
          + 'Nothing printed in text is a raw control byte.\n\n' + CAPTURES_NOTE),
    )
    .command('live', 'capture live (default on lo) and show the flows', (y) =>
      y.options({
        ...flowOptions,
        ...checksumOption,
        ...analysisOption,
        interface: { alias: 'i', type: 'string', default: 'lo', describe: 'capture device' },
        filter: { alias: 'f', type: 'string', describe: "BPF capture filter, compiled by libpcap (e.g. 'tcp port 80')" },
        count: { alias: 'c', type: 'number', describe: 'stop after this many packets' },
        duration: { type: 'number', describe: 'stop after this many seconds' },
        write: { alias: 'w', type: 'string', describe: 'also write the packets to this pcap file' },
        format: { choices: FORMATS.live, describe: 'output format' },
        rules: { type: 'string', describe: "check while capturing: at the end, the verdict of each rule of this file (as check's), exit 4 when one failed" },
        junit: { type: 'string', describe: 'with --rules: also write the verdicts as JUnit XML to this file' },
        report: { type: 'string', describe: "at the end, also write the HTML page of 'report' to this file, with each end's process where known" },
        boost: {
          type: 'boolean', default: true,
          describe: 'raise the priority while capturing (nice -10, as root) so that short connections are looked up before they close; --no-boost leaves it',
        },
      })
        .example("sudo $0 live -i lo --filter 'port 8089'", 'who talks to port 8089; Ctrl-C ends with the report')
        .example('sudo $0 live --format ndjson --duration 10', 'a JSON line a flow as each ends, for 10 s')
        .example("sudo $0 live --filter 'tcp port 8089' --rules rules.yaml", 'the verdicts of the rules when Ctrl-C ends it, exit 4 on a failure')
        .example("sudo $0 live --filter 'tcp port 8089' --report live.html", 'and the picture, timeline, flows and ladders in one page at the end')
        .epilogue("Live capture needs libpcap and the optional 'cap' package (apt-get install libpcap-dev, then npm install), "
          + 'and root, or the capture capabilities given to node once: '
          + 'sudo setcap cap_net_raw,cap_net_admin=eip $(readlink -f $(which node)). '
          + '--filter is a BPF filter compiled by libpcap (tcpdump\'s syntax). On a terminal the table is redrawn in place '
          + 'each second; Ctrl-C (or --count, --duration) ends with the final report on the normal screen.\n\n'
          + 'Exit codes as for files; 2 also for an unknown device, or a bad --rules file; 4 when a rule of --rules failed.\n\n' + WIDTH_NOTE),
    )
    .command('check <captures..>', 'assertions about the connections, for CI: rules pass or fail, exit 4 on a failure', (y) =>
      y.options({
        ...captureOptions,
        rules: { type: 'string', demandOption: true, describe: 'the rules file (YAML): a list of rules, each with a name, optional flows (a filter) and expect' },
        junit: { type: 'string', describe: 'also write the verdicts as JUnit XML to this file, for CI test reports' },
        format: { choices: FORMATS.check, default: 'table', describe: 'output format: a line a rule, or JSON for scripts' },
        'idle-timeout': filterOptions['idle-timeout'],
      })
        .example('$0 check test.pcap --rules rules.yaml', 'PASS or FAIL a rule, with the flows that broke it')
        .example('$0 check test.pcap --rules rules.yaml --junit report.xml', 'and a JUnit report for the CI system')
        .example('tcpdump -U -w - -i lo port 8089 | $0 check - --rules rules.yaml', 'check what a test run sent, from a pipe')
        .epilogue(CHECK_NOTE + '\n\n' + CAPTURES_NOTE.replace(/Exit codes: .*$/s, CHECK_EXIT_NOTE)),
    )
    .command('report <captures..>', 'one self-contained HTML page: the demux picture, a timeline, the flows, the ladders', (y) =>
      y.options({
        ...captureOptions,
        output: { alias: 'o', type: 'string', demandOption: true, describe: "the HTML file to write ('-': standard output)" },
        ladders: { type: 'number', default: 20, describe: 'draw the ladders of the first N TCP connections' },
        rows: { type: 'number', default: 1000, describe: 'list at most this many flows in the table' },
      })
        .example('$0 report fixtures/demux-lo.pcap -o report.html', 'the demux picture, timeline, flows and ladders in one page')
        .example("$0 report x.pcap --filter 'port 443' -o tls.html --ladders 50", 'the port 443 packets only, 50 ladders')
        .epilogue('The page works offline: everything is inline, and its Content-Security-Policy lets it load nothing '
          + 'and run no script but its own. Every text from the capture is escaped. Big captures: the picture holds the busiest '
          + 'server ports, the timeline 300 lanes, the table --rows flows, the ladders --ladders connections (500 packets each); '
          + 'the page says what it left out.\n\n' + CAPTURES_NOTE),
    )
    .command('interfaces', 'list capture devices', (y) =>
      y.options({ format: { choices: FORMATS.interfaces, default: 'table', describe: 'output format' } }),
    )
    .example('$0 demux fixtures/demux-lo.pcap', 'which key tells the flows of each shared port apart')
    .example('$0 flows x.pcap --filter \'tcp port 80\'', 'the connections on port 80, as a table')
    .example('sudo $0 live --port 8089', 'who talks to port 8089 now, and which process')
    .epilogue('Each command has its own --help, with examples. Exit codes: 0 fine, 1 a capture could not be '
      + 'read, 2 usage error, 3 any warning under --strict, 4 a rule of check failed. JSON output is described in docs/json.md.')
    .demandCommand(1, 'name a command: packets, flows, demux, ladder, follow, report, live, interfaces or check')
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
 * An option given twice counts once, the last one, as in tcpdump and tshark: yargs makes an array
 * of them (a second --format or --filter broke the command). Captures are the one list.
 */
function lastOfRepeated(args: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(args)) {
    out[key] = Array.isArray(value) && key !== '_' && key !== 'captures' ? value[value.length - 1] : value;
  }
  return out;
}

/**
 * Turns yargs' result into checked Options. Pure: throws UsageError with a one-line message.
 * `stdoutIsTty` is not used for the format (its default is the same everywhere).
 */
export function check(parsed: Record<string, unknown>, stdoutIsTty: boolean): Options {
  const args = lastOfRepeated(parsed);
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
  if (command === 'live' && args.junit !== undefined && args.rules === undefined) throw new UsageError('--junit writes the verdicts of --rules: give --rules too');
  if (command === 'live' && args.rules !== undefined && !FORMATS.check.includes(format)) {
    throw new UsageError(`--rules ends with the verdicts, as a table or JSON: not --format ${format}`);
  }
  const jobs = optionalInteger(args.jobs, 'jobs', 1);
  if (args.each === true) {
    if (args.output === undefined) throw new UsageError('--each writes one output a capture: name the folder with --output DIR');
    if (captures.includes('-')) throw new UsageError("--each reads files, each on its own: not standard input ('-')");
  } else if (jobs !== undefined && jobs > 1) {
    // Every thread reads the whole input itself (a pipe is checked when it is opened: cli/shards.ts).
    if (captures.includes('-')) throw new UsageError(`--jobs ${jobs} reads the capture on ${jobs} threads, each reading it whole: not standard input ('-')`);
  }
  if (proto !== undefined && !['tcp', 'udp', 'icmp', 'other'].includes(proto) && otherProtocolNumber(proto) < 0) {
    throw new UsageError('--proto must be tcp, udp, icmp, other (every other IP protocol) or the name of one (ospf, gre, esp, ip-proto-N...)');
  }
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
    flow: flowId(args.flow),
    explain: Boolean(args.explain),
    analysis: Boolean(args.analysis),
    interface: String(args.interface ?? 'lo'),
    filter: args.filter as string | undefined,
    keep: command === 'live' || args.filter === undefined ? undefined : fileFilter(String(args.filter)),
    count: optionalInteger(args.count, 'count', 1),
    duration: optionalDuration(args.duration),
    write: args.write as string | undefined,
    boost: args.boost !== false,
    checksums: args.checksums === 'validate' ? 'validate' : 'ignore',
    tunnelFlows: args['tunnel-flows'] !== false,
    direction: args.direction as Options['direction'],
    rules: args.rules as string | undefined,
    junit: args.junit as string | undefined,
    output: args.output === undefined ? undefined : args.output === STDIN_TOKEN ? '-' : String(args.output),
    each: args.each === true,
    jobs,
    ladders: optionalInteger(args.ladders, 'ladders', 0),
    rows: optionalInteger(args.rows, 'rows', 0),
    report: args.report === undefined ? undefined : args.report === STDIN_TOKEN ? '-' : String(args.report),
  };
}

/**
 * --filter on files: compiled once, up front; what it cannot evaluate (or parse) is a usage
 * error naming the part and where it is, never a filter that silently matches something else.
 */
export function fileFilter(text: string): PacketTest {
  try {
    return compileFilter(text);
  } catch (err) {
    if (!(err instanceof FilterError)) throw err;
    throw new UsageError(`--filter '${text}': ${err.message} (at character ${err.at + 1})`);
  }
}

/** --flow: `4`, `4#2` or `4 #2` (as the flows table shows it). */
function flowId(v: unknown): FlowId | undefined {
  if (v === undefined) return undefined;
  const m = /^\s*([1-9][0-9]*)\s*(?:#\s*([1-9][0-9]*)\s*)?$/.exec(String(v));
  if (m === null) throw new UsageError(`--flow '${String(v)}' is not a flow id: give it as flows prints it, e.g. 4, or 4#2 for the 2nd flow on a reused tuple`);
  return { id: Number(m[1]), generation: m[2] === undefined ? undefined : Number(m[2]) };
}

/**
 * yargs renders a command's whole --help text after parsing it (to show it if the command later
 * fails), ~90 ms of CPU on every run, a fifth of a small capture's run. Our `fail` throws a one-line
 * UsageError and never shows that text, and --help renders it afresh: the cache is skipped. The
 * hook is yargs' internal usage object (yargs 18); without it, yargs goes on as it was.
 */
function skipHelpCache(parser: ReturnType<typeof buildParser>): void {
  const internal = (parser as unknown as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } } });
  const usage = internal.getInternalMethods?.().getUsageInstance?.();
  if (usage !== undefined && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => undefined;
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
  skipHelpCache(parser);
  const args = (await parser.parseAsync(argv, {}, (err, _argv, output) => {
    if (err) throw err instanceof UsageError ? err : new UsageError(err.message);
    if (output) helpText = output;
  })) as Record<string, unknown>;
  if (helpText !== null) return { options: null, helpText };
  return { options: check(args, stdoutIsTty), helpText: null };
}
