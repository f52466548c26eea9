import { defineConfig } from 'vitest/config';

/**
 * Tests that measure how fast live capture reacts (a curl's connection lasts 3-8 ms) and the
 * flood of new tuples run after the rest of the suite, one file at a time: what they measure is
 * then flowdemux on a busy machine, not flowdemux racing the other half of the test suite (or a
 * flood) for the two cores. They must still pass with the machine loaded (two `yes > /dev/null`
 * beside them).
 */
const REACTION = ['test/host/live-servers.test.ts', 'test/host/syn-watch.test.ts', 'test/host/flood.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: keep the pool small so the live-capture and corpus tests are not starved.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'suite', include: ['test/**/*.test.ts', 'examples/**/*.test.ts'], exclude: REACTION, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'live reaction', include: REACTION, fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});
