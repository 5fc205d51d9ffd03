import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Crypto-heavy tests (fuzzing, proof of work) run for seconds each on 2 cores.
    testTimeout: 120_000,
    // Two files at a time even on 2 cores (vitest's default is cores - 1): most files wait on node
    // processes, sockets and disks rather than burning CPU, so this halves the suite's wall time.
    maxWorkers: 2,
    hookTimeout: 60_000,
    reporters: process.env.CI === 'true' ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results/vitest.json' }
  }
})
