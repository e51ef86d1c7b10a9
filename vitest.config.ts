import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Child-process and server tests share two cores; keep parallelism modest.
    maxWorkers: 2,
    reporters: process.env['BKTX_VITEST_JSON'] ? ['default', ['json', { outputFile: process.env['BKTX_VITEST_JSON'] }]] : ['default'],
  },
})
