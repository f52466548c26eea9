/**
 * What the commands need to know about a terminal: how wide the report may be, and the live
 * view's screen (the alternate screen, redrawn in place, left with the normal screen as it was).
 */
import { writeSync } from 'node:fs';
import type { Io } from './command.js';
import type { Output } from './output.js';

type Tty = Io['stdout'] & { columns?: number; rows?: number };

/** A positive whole number of columns from the environment, else undefined. */
function envColumns(env: NodeJS.ProcessEnv): number | undefined {
  const n = Number(env.COLUMNS);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/**
 * The width the table outputs must fit: only on a terminal (piped, the full width, so that
 * files and scripts see the same bytes everywhere). COLUMNS overrides the terminal's own width,
 * as it does for ls and ps; 80 when neither is known.
 */
export function reportWidth(stdout: Tty, env: NodeJS.ProcessEnv = process.env): number | undefined {
  if (!stdout.isTTY) return undefined;
  return envColumns(env) ?? (stdout.columns && stdout.columns > 0 ? stdout.columns : 80);
}

/** Rows of the terminal (24 when unknown), for the live view's height. */
export function reportRows(stdout: Tty, env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.LINES);
  if (Number.isInteger(n) && n > 0) return n;
  return stdout.rows && stdout.rows > 0 ? stdout.rows : 24;
}

const ENTER = '\x1b[?1049h\x1b[?25l'; // alternate screen, cursor hidden
const LEAVE = '\x1b[?25h\x1b[?1049l'; // cursor shown, normal screen back as it was

/**
 * The live view: drawn on the terminal's alternate screen (as top and less do), so that each
 * redraw replaces the last in place (cursor home, each line then clear-to-end-of-line, then
 * clear below) instead of wiping the screen and pushing old frames into the scrollback. Leaving
 * brings the normal screen back as it was, where the final report is then printed.
 */
export class LiveScreen {
  private active = false;
  /** A crash or an exit that skipped `leave` must not leave the terminal on the alternate screen. */
  private readonly onExit = () => {
    if (this.active) writeSync(1, LEAVE);
  };

  /** `rows`: the terminal's height now (it may be resized while the view shows). */
  constructor(private readonly out: Output, private readonly rows: () => number) {}

  enter(): void {
    this.active = true;
    process.once('exit', this.onExit);
    this.out.write(ENTER);
  }

  /** Replaces what is shown by `text`, cut to the screen's height (a last line would scroll). */
  draw(text: string): void {
    const lines = text.replace(/\n$/, '').split('\n').slice(0, Math.max(1, this.rows() - 1));
    this.out.write(`\x1b[H${lines.map((l) => `${l}\x1b[K`).join('\n')}\n\x1b[J`);
  }

  leave(): void {
    this.out.write(LEAVE);
    // Until the bytes are out, an exit (a crash after this) still leaves the alternate screen.
    const done = () => {
      this.active = false;
      process.removeListener('exit', this.onExit);
    };
    void this.out.flush().then(done, done);
  }
}
