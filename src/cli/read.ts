/**
 * Reads the captures named on the command line as one timeline and hands every decoded packet
 * to the command. Owns what every file-reading command shares: opening (with one-line errors),
 * merging, decoding into one reused Packet, the progress line, and warnings that are reported
 * once per capture rather than once per packet (an undecodable link type).
 */
import type { CaptureInfo, Frame, FrameSource } from '../capture/frame.js';
import { CaptureError } from '../capture/frame.js';
import { openCapture } from '../capture/open.js';
import { mergeSources } from '../capture/merge.js';
import { linkTypeName } from '../capture/linktypes.js';
import { decodeFrame } from '../parse/decode.js';
import { isSupportedLinkType } from '../parse/link.js';
import { newPacket, type Packet } from '../parse/packet.js';
import { safeText } from './output.js';
import { Progress } from './progress.js';

export interface ReadResult {
  /** One per capture that could be opened, in command-line order. */
  captures: CaptureInfo[];
  /** One line each: captures that could not be opened at all. */
  errors: string[];
  /** Damage read around, prefixed with the capture's path. */
  warnings: string[];
  /** True when the consumer asked to stop early (closed pipe). */
  stopped: boolean;
  packets: number;
}

/** The stderr line for captures that were read fine but held no packets (not an error). */
export function noPacketsLine(result: ReadResult): string {
  return `flowdemux: no packets in ${safeText(result.captures.map((c) => c.path).join(', '))}\n`;
}

export interface ReadOptions {
  progress: boolean;
  stdin?: NodeJS.ReadableStream;
  /** Checked between batches; true stops reading (e.g. the output pipe closed). */
  shouldStop?: () => boolean;
  /** Called once the captures are open, before the first packet. */
  onStart?: (captures: CaptureInfo[]) => void;
}

/**
 * `onPacket` gets the frame and its decoded packet; both are valid only during the call. It may
 * return a promise (output backpressure), which is awaited before the next packet.
 */
export async function readCaptures(
  paths: string[],
  onPacket: (frame: Frame, pkt: Packet) => void | Promise<void>,
  options: ReadOptions,
): Promise<ReadResult> {
  const sources: FrameSource[] = [];
  /** Command-line index → opened source (a capture that failed to open has none). */
  const byIndex = new Map<number, FrameSource>();
  const errors: string[] = [];
  for (let i = 0; i < paths.length; i++) {
    const path = paths[i]!;
    try {
      const source = await openCapture(path, i, { stdin: options.stdin });
      sources.push(source);
      byIndex.set(i, source);
    } catch (err) {
      errors.push(err instanceof CaptureError ? err.message : `${path}: ${(err as Error).message}`);
    }
  }
  const result: ReadResult = { captures: sources.map((s) => s.info), errors, warnings: [], stopped: false, packets: 0 };
  if (sources.length === 0) return result;
  options.onStart?.(result.captures);

  // Undecodable link types, counted per capture and reported once each.
  const unknownLinks = new Map<string, number>();
  const pkt = newPacket();
  const progress = new Progress(options.progress);
  const stop = options.shouldStop ?? (() => false);

  outer: for await (const batch of mergeSources(sources)) {
    for (let i = 0; i < batch.length; i++) {
      const frame = batch[i]!;
      decodeFrame(frame, pkt);
      // Only a link type without a decoder: a decodable link carrying something else (a BSD
      // loopback frame of another address family) is the packet's own business.
      if (pkt.networkOffset < 0 && !isSupportedLinkType(frame.linkType)) {
        const key = `${frame.sourceIndex}:${frame.linkType}`;
        unknownLinks.set(key, (unknownLinks.get(key) ?? 0) + 1);
      }
      const wait = onPacket(frame, pkt);
      if (wait) await wait;
      result.packets++;
    }
    progress.update(result.packets);
    if (stop()) {
      result.stopped = true;
      break outer;
    }
  }
  progress.done();

  for (const [key, count] of unknownLinks) {
    const [src, link] = key.split(':').map(Number) as [number, number];
    const path = byIndex.get(src)?.info.path ?? String(src);
    result.warnings.push(`${path}: link type ${link} (${linkTypeName(link)}) is not decoded: ${count} frame${count === 1 ? '' : 's'} counted without headers`);
  }
  for (const s of sources) for (const w of s.info.warnings) result.warnings.push(`${s.info.path}: ${w}`);
  return result;
}
