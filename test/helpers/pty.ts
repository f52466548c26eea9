/**
 * The CLI on a real pseudo-terminal of a given size. Node has no pty of its own; python3 (which
 * CI installs for the live tests) has the `pty` module: it forks the command on a new pty whose
 * window size is set before exec, copies everything the terminal shows to our stdout, and
 * passes what we write to the terminal's keyboard (so "\x03" is a real Ctrl-C: the terminal's
 * line discipline sends SIGINT to the command). Exits with the command's code (128 + signal).
 */
import { spawn } from 'node:child_process';

const BIN = new URL('../../bin/flowdemux.js', import.meta.url).pathname;

const PTY_PY = `
import os, pty, sys, fcntl, termios, struct, select
cols, rows = int(sys.argv[1]), int(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
    os.execvp(sys.argv[3], sys.argv[3:])
inputs = [fd, 0]
while True:
    ready = select.select(inputs, [], [])[0]
    if 0 in ready:
        data = os.read(0, 1024)
        if data: os.write(fd, data)
        else: inputs.remove(0)
    if fd in ready:
        try: data = os.read(fd, 65536)
        except OSError: data = b''
        if not data: break
        os.write(1, data)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
`;

export interface PtyRun {
  /** Resolves when the command ended: its exit code and all the terminal showed. */
  done: Promise<{ code: number | null; screen: string }>;
  /** What the terminal showed so far. */
  screen(): string;
  /** Resolves once the terminal has shown `text`. */
  shown(text: string): Promise<void>;
  /** Types on the terminal's keyboard ("\x03" is Ctrl-C). */
  type(keys: string): void;
}

/** `flowdemux ARGS` on a terminal of `cols` x `rows`; `env` is added to this process's. */
export function runOnPty(args: string[], cols: number, rows = 40, env: Record<string, string> = {}): PtyRun {
  const base = { ...process.env, ...env };
  delete base.COLUMNS; // the pty's own width decides, unless a test sets it
  if (env.COLUMNS !== undefined) base.COLUMNS = env.COLUMNS;
  const child = spawn('python3', ['-c', PTY_PY, String(cols), String(rows), process.execPath, BIN, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'], env: base,
  });
  let screen = '';
  const waiting: { text: string; resolve: () => void }[] = [];
  // Decoded across chunks: a character may be split between two reads of the pty.
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    screen += d;
    for (const w of waiting.filter((x) => screen.includes(x.text))) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve();
    }
  });
  const done = new Promise<{ code: number | null; screen: string }>((resolve) =>
    child.on('close', (code) => {
      for (const w of waiting.splice(0)) w.resolve();
      resolve({ code, screen });
    }),
  );
  return {
    done,
    screen: () => screen,
    shown: (text) => (screen.includes(text) ? Promise.resolve() : new Promise((resolve) => waiting.push({ text, resolve }))),
    type: (keys) => child.stdin.write(keys),
  };
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

/**
 * The lines the terminal showed, ANSI escapes removed: the pty ends lines with \r\n, and what
 * was written before another carriage return on a line (a progress line, cleared with \r ESC[K)
 * was overwritten.
 */
export function visibleLines(screen: string): string[] {
  return screen.split('\n').map((l) => {
    const line = l.replace(/\r$/, '');
    return line.slice(line.lastIndexOf('\r') + 1).replace(ANSI, '');
  });
}
