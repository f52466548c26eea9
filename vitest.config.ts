import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: keep the pool small so the live-capture and corpus tests are not starved.
    maxWorkers: 2,
  },
});
