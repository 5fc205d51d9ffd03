import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Crypto-heavy tests (fuzzing, proof of work) run for seconds each on 2 cores.
    testTimeout: 120_000,
    hookTimeout: 60_000,
    reporters: process.env.CI === 'true' ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results/vitest.json' }
  }
})
