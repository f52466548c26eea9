/**
 * Entry of the capture reader thread (worker-reader.ts): reads the paths in `workerData` and
 * streams their merged frames to the main thread. Ends by itself once everything is sent or it
 * was told to stop; an exception reaches the main thread as the Worker's 'error' event.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { produceFrames } from './worker-reader.js';

if (parentPort === null) throw new Error('read-worker.js runs only as a worker thread');
await produceFrames(parentPort, (workerData as { paths: string[] }).paths);
