import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/vm/**', 'node_modules/**'],
    testTimeout: 120_000, // the fault campaigns run hundreds of commands per test on slow CI machines
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
