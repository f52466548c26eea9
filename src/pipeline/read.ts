/**
 * Reads captures (files, stdin, FIFOs) as one timeline through the pipeline's loop (pump.ts)
 * and hands every decoded packet, and its flow when an engine is given, to the caller. Owns what
 * every file-reading command shares: opening (with one-line errors), merging, the progress line,
 * and warnings that are reported once per capture rather than once per packet (an undecodable
 * link type).
 *
 * Large gzip or pcapng files, and several files together, are read on a worker thread
 * (capture/worker-reader.ts, `useReadThread` says when); the environment variable
 * FLOWDEMUX_READ_THREAD=0/1 turns it off or on whatever the input.
 */
import type { ByteMeter, CaptureInfo, Frame, FrameSource } from '../core/frame.js';
import { openCapture } from '../capture/open.js';
import { mergeSources, mergedMeter } from '../capture/merge.js';
import { ThreadedCaptures, openErrorText, useReadThread } from '../capture/worker-reader.js';
import { linkTypeName } from '../core/linktypes.js';
import type { FlowRef } from '../core/flow.js';
import type { Packet } from '../core/packet.js';
import type { PacketSink } from '../demux/shards.js';
import { Progress, type ProgressStream } from './progress.js';
import { pump, type BadChecksums, type DamagedPackets } from './pump.js';

export interface ReadResult {
  /** One per capture that could be opened, in command-line order. */
  captures: CaptureInfo[];
  /** One line each: captures that could not be opened at all. */
  errors: string[];
  /** Damage read around, prefixed with the capture's path. */
  warnings: string[];
  /** True when the consumer asked to stop early (closed pipe). */
  stopped: boolean;
  /** Packets read, including those the filter dropped. */
  packets: number;
  /** Packets the filter (`ReadOptions.filter`) dropped; 0 without one. */
  filtered: number;
  /**
   * The progress line: cleared already, unless `nextPhase` was given; then it names that work
   * and the caller clears it (done()) before its output reaches the terminal, and at the end.
   */
  progress: Progress;
}

/**
 * The input as one name for a line about the whole timeline (the capture-loss warning): the
 * capture's path, or the first one and how many more were merged with it.
 */
export function inputName(result: ReadResult): string {
  const paths = result.captures.map((c) => c.path);
  if (paths.length <= 1) return paths[0] ?? '-';
  return `${paths[0]} and ${paths.length - 1} more`;
}

export interface ReadOptions {
  /** The progress line on stderr; 'auto': unless an input streams (its output is the progress). */
  progress: boolean | 'auto';
  stdin?: NodeJS.ReadableStream;
  /**
   * Keeps only the packets it is true for (--filter): the others are dropped before the engine
   * and `onPacket` (PumpHooks.keep).
   */
  filter?: (pkt: Packet) => boolean;
  /** Checked between batches; true stops reading (e.g. the output pipe closed). */
  shouldStop?: () => boolean;
  /**
   * Called once the captures are open, before the first packet. `streaming`: an input is a pipe
   * or FIFO whose bytes arrive as they are captured (FrameSource.streaming).
   */
  onStart?: (captures: CaptureInfo[], streaming: boolean) => void;
  /**
   * With a streaming input, called after every batch, that is whenever the packets that have
   * arrived were handed to `onPacket`: the command passes its output on now (a line is due when
   * its packet arrived, not when a buffer fills or the input ends). May return a promise
   * (output backpressure). Never called for files.
   */
  afterBatch?: () => Promise<void> | undefined;
  /** The work after reading, named on the progress line until the caller clears it (`writing report`). */
  nextPhase?: string;
  /** Where the progress line goes (default stderr). */
  progressStream?: ProgressStream;
  /** `--checksums validate` (PumpHooks.checksums): a warning line per capture with wrong ones. */
  checksums?: boolean;
}

/**
 * `onPacket` gets the frame, its decoded packet and, with an `engine`, what the engine's
 * `ingest` returned (null without one); all are valid only during the call. It may return a
 * promise (output backpressure), which is awaited before the next packet.
 */
export async function readCaptures(
  paths: string[],
  onPacket: ((frame: Frame, pkt: Packet, ref: FlowRef | null) => void | Promise<void>) | undefined,
  options: ReadOptions,
  engine: PacketSink | null = null,
): Promise<ReadResult> {
  const input = useReadThread(paths) ? await openOnThread(paths) : await openInThread(paths, options.stdin);
  const progress = new Progress({
    enabled: options.progress === 'auto' ? !input.streaming : options.progress,
    eager: options.progress === true,
    stream: options.progressStream,
  });
  const result: ReadResult = { captures: input.captures, errors: input.errors, warnings: [], stopped: false, packets: 0, filtered: 0, progress };
  // The line stays only when it names the next phase; the caller clears it then.
  let handedOver = false;
  try {
    if (input.captures.length === 0) return result;
    options.onStart?.(result.captures, input.streaming);

    const afterBatch = input.streaming ? options.afterBatch : undefined;
    const pumped = await pump(input.batches(), engine, {
      each: onPacket,
      keep: options.filter,
      afterBatch: (frames) => {
        progress.update(frames, input.meter());
        return afterBatch?.();
      },
      stop: options.shouldStop,
      checksums: options.checksums,
    });
    result.packets = pumped.frames;
    result.filtered = pumped.dropped;
    result.stopped = pumped.stopped;
    if (options.nextPhase !== undefined && !pumped.stopped) {
      progress.phase(options.nextPhase);
      handedOver = true;
    }

    // Undecodable link types, counted per capture and reported once each.
    for (const [key, count] of pumped.unknownLinks) {
      const [src, link] = key.split(':').map(Number) as [number, number];
      // Frames come only from captures that opened, and a capture's info.path is its argument.
      const path = paths[src] ?? String(src);
      result.warnings.push(`${path}: link type ${link} (${linkTypeName(link)}) is not decoded: ${count} frame${count === 1 ? '' : 's'} counted without headers`);
    }
    for (const c of input.captures) for (const w of c.warnings) result.warnings.push(`${c.path}: ${w}`);
    for (const [src, damaged] of [...pumped.damaged].sort((a, b) => a[0] - b[0])) {
      result.warnings.push(damagedLine(paths[src] ?? String(src), damaged));
    }
    for (const [src, bad] of [...pumped.badChecksums].sort((a, b) => a[0] - b[0])) {
      result.warnings.push(...badChecksumLines(paths[src] ?? String(src), bad));
    }
    return result;
  } finally {
    if (!handedOver) progress.done();
    // The reader thread, when the loop above never ran or threw: stop it (no-op once it ended).
    await input.close();
  }
}

/**
 * A capture's damaged packets as one warning: how many, and the first one's number and layer, so
 * that `flowdemux packets FILE` (or Wireshark) finds it. Under --strict any warning exits 3.
 */
function damagedLine(path: string, damaged: DamagedPackets): string {
  const first = damaged.first;
  const count = damaged.count === 1 ? '1 packet was' : `${damaged.count.toLocaleString('en-US')} packets were`;
  return `${path}: ${count} damaged (first: packet ${first.number}, ${first.layer}: ${first.what}); what could be read is reported`;
}

/**
 * `--checksums validate`: one line for the packets dropped for a wrong IPv4 header checksum, one
 * for those with a wrong transport checksum, each with the count and the first packet's number.
 */
export function badChecksumLines(path: string, bad: BadChecksums): string[] {
  const lines: string[] = [];
  const packets = (n: number): string => (n === 1 ? '1 packet' : `${n.toLocaleString('en-US')} packets`);
  if (bad.ip.count > 0) {
    lines.push(`${path}: ${packets(bad.ip.count)} with a wrong IPv4 header checksum dropped (first: packet ${bad.ip.first}), as Zeek drops them (--checksums validate)`);
  }
  if (bad.transport.count > 0) {
    lines.push(`${path}: ${packets(bad.transport.count)} with a wrong TCP, UDP or ICMP checksum (first: packet ${bad.transport.first}): `
      + 'history C/c and left out of the connection as Zeek does (--checksums validate; on the sending host checksums are often left to offload)');
  }
  return lines;
}

/** The opened captures, wherever they are read. */
interface OpenedInput {
  /** One per capture that could be opened, in command-line order. */
  captures: CaptureInfo[];
  errors: string[];
  /** An input streams (FrameSource.streaming): merged with others, it still sets the pace. */
  streaming: boolean;
  /** The input's size and bytes read so far, when every capture is a regular file. */
  meter(): ByteMeter | undefined;
  /** The merged frames (once); the infos in `captures` are final when it ends. */
  batches(): AsyncIterable<Frame[]>;
  close(): Promise<void>;
}

async function openInThread(paths: string[], stdin: NodeJS.ReadableStream | undefined): Promise<OpenedInput> {
  const sources: FrameSource[] = [];
  const errors: string[] = [];
  for (let i = 0; i < paths.length; i++) {
    const path = paths[i]!;
    try {
      sources.push(await openCapture(path, i, { stdin }));
    } catch (err) {
      errors.push(openErrorText(path, err));
    }
  }
  const meter = mergedMeter(sources);
  return {
    captures: sources.map((s) => s.info),
    errors,
    streaming: sources.some((s) => s.streaming === true),
    meter: () => meter,
    batches: () => mergeSources(sources),
    close: async () => undefined,
  };
}

/**
 * Large regular files: opened, read and merged on a worker thread (capture/worker-reader.ts),
 * so that reading overlaps with decoding and the engine here. Same captures, errors, frames
 * and warnings as in-thread.
 */
async function openOnThread(paths: string[]): Promise<OpenedInput> {
  const t = await ThreadedCaptures.start(paths);
  return {
    captures: t.captures,
    errors: t.errors,
    streaming: false, // regular files only
    meter: () => t.meter,
    batches: () => t.batches(),
    close: () => t.close(),
  };
}
