/**
 * flowdemux as a library: the captures a script or a test names, read through the same pipeline
 * as the command line, handed back in the shapes of the JSON output (docs/json.md, typed in
 * core/json-types.ts, made from that doc).
 *
 * ```ts
 * import { flows } from 'flowdemux';
 * for await (const f of flows('lo.pcap')) console.log(f.client.port, '->', f.server.port, f.state);
 * ```
 *
 * - `flows(captures)`: every flow as it ends, an async iterable with back-pressure: reading stops
 *   while the consumer does not take (at most HIGH_WATER records wait), so memory stays bounded
 *   as in `flowdemux flows --format ndjson`. Leaving the loop early stops reading.
 * - `packets(captures)`: every packet, as `packets --format ndjson` writes it.
 * - `flowsDocument(captures)` / `demux(captures)`: the whole `flows --format json` or
 *   `demux --format json` document.
 * - `live({ device, filter })`: live capture (root, libpcap and the optional `cap` package), each
 *   flow as it ends with its processes named, until `stop()`.
 * - `check(captures, rules)`: the rules of `flowdemux check` (YAML text or objects) measured over
 *   the captures' flows: each rule's verdict, with the flows that broke it.
 *
 * Captures are paths (pcap, pcapng, gzip'd or not; several are merged into one timeline), or `-`
 * for `options.stdin`. A capture that cannot be opened is listed in `errors` (one line each) and
 * the others are read; when none can be, iterating throws a FlowdemuxError with those lines.
 */
import type { DemuxOptions, Flow as FlowRecord } from '../core/flow.js';
import type { CaptureInfo } from '../core/frame.js';
import { buildDemux } from '../demux/groups.js';
import { compileFilter } from '../filter/match.js';
import { LiveAttribution } from '../host/attribution.js';
import { PcapWriter } from '../capture/pcap-writer.js';
import { engineSettings, readFlows } from '../pipeline/flows.js';
import { openLiveCapture } from '../pipeline/live.js';
import { pump } from '../pipeline/pump.js';
import { inputName } from '../pipeline/read.js';
import { demuxToJson } from '../report/demux.js';
import { flowJsonText, flowsJsonChunks } from '../report/json.js';
import { packetJson } from '../report/packets.js';
import { WindowScales } from '../demux/window-scale.js';
import { DemuxEngine } from '../demux/engine.js';
import { FactsCollector } from '../check/facts.js';
import { renderJunit } from '../check/junit.js';
import { evaluate, needsSegments } from '../check/measures.js';
import { verdictJson } from '../check/report.js';
import { compileRules, parseRulesYaml, type RuleSpec } from '../check/rules.js';
import type { DemuxDocument, Flow, FlowsDocument, Packet, Verdict } from '../core/json-types.js';

export type * from '../core/json-types.js';
/** Thrown at once by a reading function whose `filter` cannot be evaluated (the CLI's exit 2). */
export { FilterError } from '../filter/syntax.js';
/** Thrown at once by `check` for rules it cannot use (the CLI's exit 2): the message names the rule and what is wrong. */
export { RulesError, type RuleSpec } from '../check/rules.js';

/** Records a consumer may leave waiting before reading pauses. */
const HIGH_WATER = 256;

export interface ReadOptions {
  /** Seconds of silence that end a flow, for every protocol (default tcp 300, udp 60, icmp 60, other IP protocols 60). */
  idleTimeout?: number;
  /** Flows held open at once, beyond which the oldest idle one is ended (default: no cap). */
  maxFlows?: number;
  /** The CLI's --checksums: 'validate' checks them as Zeek does; 'ignore' (default) as tshark. */
  checksums?: 'ignore' | 'validate';
  /**
   * The CLI's --tunnel-flows (default true): a UDP tunnel's own datagrams (VXLAN, Geneve, Teredo,
   * GTP-U) are a flow too, as Zeek's outer connection; false counts a tunnelled packet only in
   * its inner flow.
   */
  tunnelFlows?: boolean;
  /**
   * The CLI's `flows --analysis`: each TCP flow record gets `analysis` (tshark's TCP analysis:
   * each mark counted, the handshake, the ACK round trips). `packets` always carries each
   * segment's marks.
   */
  analysis?: boolean;
  /**
   * The CLI's --filter: tcpdump's filter language, evaluated on each decoded packet; the others
   * are dropped before flows are made. A filter it cannot evaluate throws FilterError at once.
   */
  filter?: string;
  /** What `-` reads (default: process.stdin). */
  stdin?: NodeJS.ReadableStream;
}

/** What every reading function passes to the pipeline from ReadOptions (the filter compiled once). */
function readSettings(options: ReadOptions) {
  return {
    progress: false,
    stdin: options.stdin,
    checksums: options.checksums === 'validate',
    filter: options.filter === undefined ? undefined : compileFilter(options.filter),
  } as const;
}

/** None of the captures could be opened: `message` has one line for each. */
export class FlowdemuxError extends Error {
  constructor(readonly errors: readonly string[]) {
    super(errors.join('\n'));
    this.name = 'FlowdemuxError';
  }
}

/** What a reading learnt besides its records; complete once the iteration has ended. */
export interface ReadReport {
  /** The captures that could be opened, as in the JSON document. */
  captures: CaptureInfo[];
  /** Captures that could not be opened, one line each. */
  errors: string[];
  /** Damage read around and the flow table's warnings, one line each, as on stderr. */
  warnings: string[];
}

/**
 * An async iterable of records that also says, once reading has ended, what else was learnt.
 * Reading starts at the first `next()` and may be iterated once.
 */
export interface Reading<T> extends AsyncIterable<T> {
  /** Filled when reading has ended (the loop ran to its end, or was left and reading stopped). */
  readonly report: ReadReport;
  /** Resolves with `report` when reading has ended; rejects as the iteration does. */
  readonly done: Promise<ReadReport>;
  /**
   * Records read and not yet taken by the loop: reading pauses at HIGH_WATER (256), so this stays
   * below that plus the flows one packet can end.
   */
  readonly waiting: number;
}

const list = (captures: string | readonly string[]) => (typeof captures === 'string' ? [captures] : [...captures]);

/**
 * A queue between the pipeline (producer) and an async iterator (consumer): `push` returns a
 * promise while HIGH_WATER records wait, so the producer pauses until the consumer takes them.
 */
class Channel<T> {
  private items: T[] = [];
  private consumer: (() => void) | null = null;
  private producer: (() => void) | null = null;
  private ended = false;
  private failure: unknown = undefined;
  /** The consumer left (break, return, throw): the producer stops at its next check. */
  cancelled = false;

  get size(): number {
    return this.items.length;
  }

  push(item: T): Promise<void> | undefined {
    this.items.push(item);
    this.wakeConsumer();
    if (this.items.length < HIGH_WATER || this.cancelled) return undefined;
    return new Promise<void>((resolve) => (this.producer = resolve));
  }

  end(failure?: unknown): void {
    this.ended = true;
    this.failure = failure;
    this.wakeConsumer();
  }

  private wakeConsumer(): void {
    const c = this.consumer;
    this.consumer = null;
    c?.();
  }

  private wakeProducer(): void {
    const p = this.producer;
    this.producer = null;
    p?.();
  }

  async *drain(): AsyncGenerator<T> {
    try {
      for (;;) {
        if (this.items.length > 0) {
          const batch = this.items;
          this.items = [];
          this.wakeProducer();
          for (const item of batch) yield item;
          continue;
        }
        if (this.ended) {
          if (this.failure !== undefined) throw this.failure;
          return;
        }
        await new Promise<void>((resolve) => (this.consumer = resolve));
      }
    } finally {
      this.cancelled = true;
      this.wakeProducer();
    }
  }
}

/**
 * A Reading whose producer starts at the first `next()`: `produce` pushes records into the
 * channel and resolves when the input is read (or the consumer left).
 */
function reading<T>(produce: (channel: Channel<T>, report: ReadReport) => Promise<void>): Reading<T> {
  const report: ReadReport = { captures: [], errors: [], warnings: [] };
  let channel: Channel<T> | null = null;
  let settle!: { resolve: (r: ReadReport) => void; reject: (e: unknown) => void };
  const done = new Promise<ReadReport>((resolve, reject) => (settle = { resolve, reject }));
  done.catch(() => undefined); // also thrown to the loop
  return {
    report,
    done,
    get waiting() {
      return channel?.size ?? 0;
    },
    [Symbol.asyncIterator]() {
      if (channel !== null) throw new Error('flowdemux: a reading can be iterated once');
      const c = (channel = new Channel<T>());
      produce(c, report).then(
        () => {
          c.end();
          settle.resolve(report);
        },
        (err) => {
          c.end(err);
          settle.reject(err);
        },
      );
      return c.drain();
    },
  };
}

/** Every flow of the captures, as it ends (`flows --format ndjson`, record by record). */
export function flows(captures: string | readonly string[], options: ReadOptions = {}): Reading<Flow> {
  const settings = readSettings(options); // a bad filter throws here, before any reading
  return reading<Flow>(async (channel, report) => {
    let digits = 6;
    let pending: Promise<void> | undefined;
    const { engine, read } = await readFlows(list(captures), {
      engine: engineSettings(options, {
        onFlowEnd: (flow: FlowRecord) => {
          const w = channel.push(JSON.parse(flowJsonText(flow, { digits })) as Flow);
          if (w) pending = w;
        },
      }),
      endOnClose: true,
      ...settings,
      shouldStop: () => channel.cancelled,
      onDigits: (d) => (digits = d),
      after: () => {
        const p = pending;
        pending = undefined;
        return p;
      },
    });
    finishReport(report, read.captures, read.errors, [...read.warnings, ...engine.summary(inputName(read)).warnings]);
  });
}

/** Every packet of the captures (`packets --format ndjson`, record by record). */
export function packets(captures: string | readonly string[], options: ReadOptions = {}): Reading<Packet> {
  const settings = readSettings(options); // a bad filter throws here, before any reading
  return reading<Packet>(async (channel, report) => {
    let digits = 6;
    const windows = new WindowScales();
    const { engine, read } = await readFlows(list(captures), {
      // Flows are needed for their ids only: none is kept.
      // The TCP analysis of each segment, as `packets` writes it (marks only).
      engine: engineSettings(options, { onFlowEnd: () => undefined, tcpAnalysis: 'marks' }),
      ...settings,
      shouldStop: () => channel.cancelled,
      onDigits: (d) => (digits = d),
      after: (frame, pkt, ref, engine) => channel.push(JSON.parse(packetJson(
        frame, pkt, ref, digits, undefined, windows, engine.outerIds(), ref !== null && ref.via === 'ports' ? engine.lastAnalysis : null,
      )) as Packet),
    });
    finishReport(report, read.captures, read.errors, [...read.warnings, ...engine.summary(inputName(read)).warnings]);
  });
}

function finishReport(report: ReadReport, captures: CaptureInfo[], errors: string[], warnings: string[]): void {
  report.captures = captures;
  report.errors = errors;
  report.warnings = warnings;
  if (captures.length === 0 && errors.length > 0) throw new FlowdemuxError(errors);
}

/** The `flows --format json` document. */
export async function flowsDocument(captures: string | readonly string[], options: ReadOptions = {}): Promise<FlowsDocument> {
  const { engine, read, digits } = await readFlows(list(captures), { engine: engineSettings(options), ...readSettings(options) });
  if (read.captures.length === 0 && read.errors.length > 0) throw new FlowdemuxError(read.errors);
  const summary = engine.summary(inputName(read));
  const text = [...flowsJsonChunks(engine.flows(), read.captures, [...read.warnings, ...summary.warnings], { digits, summary })].join('');
  return JSON.parse(text) as FlowsDocument;
}

/** The `demux --format json` document: where the port alone is ambiguous, and which key the kernel needs. */
export async function demux(captures: string | readonly string[], options: ReadOptions = {}): Promise<DemuxDocument> {
  const { engine, read } = await readFlows(list(captures), { engine: engineSettings(options), ...readSettings(options) });
  if (read.captures.length === 0 && read.errors.length > 0) throw new FlowdemuxError(read.errors);
  const summary = engine.summary(inputName(read));
  const doc = demuxToJson(buildDemux(engine.flows()), { captures: read.captures, warnings: [...read.warnings, ...summary.warnings], summary });
  return JSON.parse(JSON.stringify(doc)) as DemuxDocument;
}

export interface LiveOptions extends Omit<ReadOptions, 'stdin'> {
  /** Capture device (default 'lo'). */
  device?: string;
  /** BPF filter, tcpdump's syntax. */
  filter?: string;
  /** Stop after this many packets. */
  count?: number;
  /** Name the processes of both ends (default true; on lo both ends are this host's). */
  processes?: boolean;
  /**
   * Also write the packets to this pcap file (the CLI's -w), complete once the reading has
   * ended: record a test's traffic, then `check` it. Created before capture starts: a path that
   * cannot be written rejects `started` (PcapWriteError).
   */
  write?: string;
}

/** A live capture's flows, each as it ends; `stop()` ends the capture (the flows still open then follow). */
export interface LiveReading extends Reading<Flow> {
  /**
   * Resolves once packets are being captured (the CLI's "capturing on" line): traffic sent
   * after it is seen. Rejects when the capture could not start (not root, no libpcap or `cap`).
   */
  readonly started: Promise<void>;
  stop(): void;
}

/** Live capture (root): each flow as it ends, with its processes named, until `stop()` or `count`. */
export function live(options: LiveOptions = {}): LiveReading {
  let stopSource: (() => void) | null = null;
  let stopped = false;
  let started!: () => void;
  let failed!: (err: unknown) => void;
  const startedPromise = new Promise<void>((resolve, reject) => {
    started = resolve;
    failed = reject;
  });
  startedPromise.catch(() => undefined); // the iteration reports it too
  const r = reading<Flow>(async (channel, report) => {
    let source;
    let writer: PcapWriter | null = null;
    try {
      if (options.write !== undefined) writer = PcapWriter.open(options.write);
      source = openLiveCapture({ device: options.device ?? 'lo', filter: options.filter, count: options.count });
    } catch (err) {
      writer?.abort();
      failed(err);
      throw err;
    }
    stopSource = () => source.stop();
    if (stopped) source.stop();
    const attribution = options.processes === false ? null : new LiveAttribution();
    attribution?.start(options.device ?? 'lo');
    let pending: Promise<void> | undefined;
    const engine = new DemuxEngine(engineSettings(options, {
      onFlowEnd: (flow: FlowRecord) => {
        attribution?.attribute(flow);
        attribution?.forget(flow.id);
        const w = channel.push(JSON.parse(flowJsonText(flow, { digits: 9 })) as Flow);
        if (w) pending = w;
      },
    }));
    engine.handOverOnClose();
    started();
    try {
      await pump(source.batches(), engine, {
        checksums: options.checksums === 'validate',
        each: (frame, pkt, ref) => {
          writer?.write(frame);
          attribution?.notePacket(ref, pkt);
        },
        afterBatch: () => {
          attribution?.poll();
          const p = pending;
          pending = undefined;
          return p;
        },
        stop: () => channel.cancelled,
      });
    } finally {
      source.stop();
      writer?.close();
      attribution?.finish();
      engine.finish();
      attribution?.close();
    }
    report.captures = [source.info];
    report.warnings = [...source.info.warnings, ...engine.summary().warnings, ...(attribution?.warnings ?? [])];
  });
  return {
    report: r.report,
    done: r.done,
    get waiting() {
      return r.waiting;
    },
    started: startedPromise,
    [Symbol.asyncIterator]: () => r[Symbol.asyncIterator](),
    stop() {
      stopped = true;
      stopSource?.();
    },
  };
}

/** What `check` hands back: each rule's verdict, and what the reading learnt. */
export interface CheckReport extends ReadReport {
  /** Every rule passed. */
  pass: boolean;
  /** One a rule, in the rules' order, as `check --format json` writes them (docs/json.md's `Verdict`). */
  verdicts: Verdict[];
  /** The verdicts as JUnit XML (`check --junit`), one testsuite named after the captures. */
  junit: string;
}

/**
 * The rules of `flowdemux check` over the captures' flows. `rules` is a rules file's YAML text,
 * or the rules as objects (`{ name, flows?, expect }`). Rules it cannot use throw RulesError at
 * once, before any reading (a YAML text's message gives the line: `rules:4: ...`); a bad filter
 * in `options.filter` throws FilterError.
 *
 * ```ts
 * const r = await check('test.pcap', [{ name: 'keep-alive', flows: 'tcp port 8089', expect: 'connections <= 1' }]);
 * expect(r.verdicts.filter((v) => !v.pass)).toEqual([]);
 * ```
 */
export async function check(
  captures: string | readonly string[], rules: string | readonly RuleSpec[], options: ReadOptions = {},
): Promise<CheckReport> {
  const compiled = typeof rules === 'string' ? parseRulesYaml(rules, 'rules') : compileRules(rules);
  const settings = readSettings(options);
  const segments = needsSegments(compiled);
  const collector = new FactsCollector(segments);
  const { engine, read } = await readFlows(list(captures), {
    engine: engineSettings(options, { onFlowEnd: (f) => collector.flowEnded(f) }),
    ...settings,
    after: segments
      ? (frame, pkt, ref) => {
        collector.packet(frame, pkt, ref);
        return undefined;
      }
      : undefined,
  });
  const report: ReadReport = { captures: [], errors: [], warnings: [] };
  finishReport(report, read.captures, read.errors, [...read.warnings, ...engine.summary(inputName(read)).warnings]);
  const facts = collector.facts(engine.flows());
  const verdicts = compiled.map((r) => evaluate(r, facts));
  const junit = renderJunit(verdicts, read.captures.map((c) => c.path).join(' + '), typeof rules === 'string' ? 'rules' : 'flowdemux');
  return { ...report, pass: verdicts.every((v) => v.pass), verdicts: verdicts.map(verdictJson), junit };
}
