import { defineConfig } from 'vitest/config';

// Integration tests create namespaces, cgroups, bridges and servers on a 2-core machine:
// run files one at a time so they neither fight over CPU nor over host-wide names.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['./test/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default', './test/reporters/summary.ts'],
  },
});
