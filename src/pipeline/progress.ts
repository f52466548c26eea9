/**
 * One progress line on stderr, redrawn at most four times a second, only when asked for (by
 * default when stderr is a terminal). While reading: the packets, their rate and, when the
 * input's size is known (regular files; gzip by compressed bytes), the percent read and the time
 * left. After reading, the name of the work that follows (`writing report`) until the command
 * clears it. Cleared at the end and on Ctrl-C, so that it never mixes with the report or stays
 * behind on the terminal.
 *
 * Time comes from `clock` (milliseconds), Date.now unless a test passes its own.
 */
import type { ByteMeter } from '../core/frame.js';

/** Where the line goes: stderr, or a test's collector. */
export interface ProgressStream {
  write(text: string): unknown;
}

/** Quiet for the first half second: a short read shows no line at all. */
const FIRST_DRAW_MS = 500;
const REDRAW_MS = 250;
const CLEAR = '\r\x1b[K';

/** 1,234,567 */
const grouped = (n: number) => Math.round(n).toLocaleString('en-US');

/** A rate as tools print it: 950/s, 12.3 K/s, 1.2 M/s. */
export function rateText(perSecond: number): string {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(1)} M/s`;
  if (perSecond >= 1e4) return `${(perSecond / 1e3).toFixed(1)} K/s`;
  return `${grouped(perSecond)}/s`;
}

/** Seconds as m:ss, or h:mm:ss from an hour on. */
export function clockText(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export interface ProgressOptions {
  enabled: boolean;
  /**
   * Draw from the first batch on, without the quiet first half second: the user asked for the
   * line (--progress), so even a short read shows it.
   */
  eager?: boolean;
  /** Default stderr. */
  stream?: ProgressStream;
  /** Milliseconds; default Date.now. */
  clock?: () => number;
}

export class Progress {
  private readonly enabled: boolean;
  private readonly eager: boolean;
  private readonly stream: ProgressStream;
  private readonly clock: () => number;
  private readonly started: number;
  private lastDraw = Number.NEGATIVE_INFINITY;
  private drawn = false;
  /** Ctrl-C while the line shows: clear it, then die of the signal as without the handler. */
  private readonly onSigint = () => {
    this.done();
    process.kill(process.pid, 'SIGINT');
  };

  constructor(opts: ProgressOptions) {
    this.enabled = opts.enabled;
    this.eager = opts.eager ?? false;
    this.stream = opts.stream ?? process.stderr;
    this.clock = opts.clock ?? Date.now;
    this.started = this.clock();
  }

  /** After a batch: `packets` read so far; `meter` the input's size and bytes read, when known. */
  update(packets: number, meter?: ByteMeter): void {
    if (!this.enabled) return;
    const now = this.clock();
    if (now - this.lastDraw < REDRAW_MS || (!this.eager && now - this.started < FIRST_DRAW_MS)) return;
    this.lastDraw = now;
    // At least a millisecond: an eager first draw may come before the clock moved.
    const seconds = Math.max(1, now - this.started) / 1000;
    const counts = `${grouped(packets)} packets, ${rateText(packets / seconds)}`;
    if (meter === undefined || meter.size <= 0 || meter.bytesRead <= 0) {
      this.draw(`reading: ${counts}`);
      return;
    }
    const done = Math.min(1, meter.bytesRead / meter.size);
    // Bytes go at the pace they went so far: the time left is the time taken, scaled.
    const left = (seconds * (1 - done)) / done;
    this.draw(`reading: ${Math.floor(done * 100)}% ${counts}, ${clockText(left)} left`);
  }

  /**
   * The work after reading (`writing report`), shown until done(); only when the line was shown
   * already (a read too short for a line is followed by work too short for one).
   */
  phase(name: string): void {
    if (!this.enabled || !this.drawn) return;
    this.draw(`${name}...`);
  }

  done(): void {
    if (this.drawn) this.stream.write(CLEAR);
    this.drawn = false;
    process.removeListener('SIGINT', this.onSigint);
  }

  private draw(text: string): void {
    // The handler first: a Ctrl-C right after the line appeared must find it.
    if (!this.drawn) process.once('SIGINT', this.onSigint);
    this.drawn = true;
    this.stream.write(CLEAR + text);
  }
}
