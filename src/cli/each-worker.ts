/**
 * A worker thread of `flows --each` (each.ts): for each task, `flows` on one capture as the
 * command line would run it (its --output file, its own flow table), then the exit code and
 * what it wrote to stderr go back to the main thread.
 */
import { PassThrough, Writable } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import type { EachDone, EachTask } from './each.js';
import { runOptions } from './main.js';
import { fileFilter, type Options } from './options.js';

if (parentPort === null) throw new Error('each-worker.ts runs as a worker thread of flows --each');
const port = parentPort;

port.on('message', (task: EachTask) => {
  void (async () => {
    let stderr = '';
    const err = new Writable({
      write(chunk: Buffer | string, _e, cb) {
        stderr += chunk.toString();
        cb();
      },
    });
    // Output goes to the --output file; nothing is written to standard output.
    const out = new Writable({ write: (_c, _e, cb) => cb() });
    const stdin = new PassThrough();
    stdin.end();
    const options: Options = { ...task.options, keep: task.options.filter === undefined ? undefined : fileFilter(task.options.filter) };
    let code: number;
    try {
      code = await runOptions(options, { stdout: out, stderr: err, stdin });
    } catch (e) {
      stderr += `flowdemux: internal error: ${(e as Error).message}\n`;
      code = 70;
    }
    port.postMessage({ code, stderr } satisfies EachDone);
  })();
});
