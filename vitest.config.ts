import { defineConfig } from 'vitest/config'

// Two projects (CONTRIBUTING.md, "Tests"):
// - unit: unit and in-process tests (the CLI run through src/main.ts with injected streams,
//   the reference server on 127.0.0.1 in the test process); no build needed. The inner loop:
//   `npm run test:fast`.
// - e2e: tests that start processes: the built binary (npm test builds it first), signals and
//   exit codes, terminals, the real keychain, the packed tarball. Their budgets hold with the
//   CPUs saturated, since every spawned Node process pays its start-up on a loaded machine.
// Files under the unit folders that start processes of their own (child processes, Python
// clients, openssl, real shells, a bundle run by node): the e2e project runs them.
const SPAWNING = [
  'test/unit/cache/single-flight.test.ts',
  'test/unit/http/bundle.test.ts',
  'test/unit/term/young-generation.test.ts',
  'test/unit/shell/quote.test.ts',
  'test/server/authlib.test.ts',
  'test/cli/buildkite-fidelity.test.ts',
  'test/server/oauth-answers.test.ts',
  'test/docs/blocks.test.ts',
]

export default defineConfig({
  test: {
    // Transformed modules kept on disk between runs (node_modules/.experimental-vitest-cache,
    // keyed by each file's content, id and Vite's configuration; no plugin here reads other
    // files): the unit and e2e projects, each in a vitest of its own (scripts/test.mjs), no longer
    // transform the same sources on every run. Measured on the unit project: 33.6-34.1 CPU-s
    // without, 28.5-30.4 with. Vitest 5 turns it on by default; a fresh clone pays one cold run.
    experimental: { fsModuleCache: true },
    reporters: process.env['BKTX_VITEST_JSON'] ? ['default', ['json', { outputFile: process.env['BKTX_VITEST_JSON'] }]] : ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          sequence: { groupOrder: 0 },
          // One module graph per worker instead of one per file: loading the sources again for
          // each of some 55 files took three quarters of this project's CPU time (21 s of CPU
          // instead of 73 s, measured). These tests keep no state across files: each starts its
          // own servers and temp homes, and injects clock, fetch and secret store.
          isolate: false,
          include: ['test/unit/**/*.test.ts', 'test/cli/**/*.test.ts', 'test/server/**/*.test.ts', 'test/exchange/**/*.test.ts', 'test/docs/**/*.test.ts'],
          exclude: SPAWNING,
          testTimeout: 20_000,
          hookTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          // Three files at a time on two cores: the spawning files spend part of their time waiting
          // (servers, retries' backoff, terminals, kill timers), which a third file fills. Measured on
          // the quiet 2-core machine: 206 s of vitest with three workers, 239 s with two, same code.
          // Nothing asserts a duration, and the kill timers are generous, so a busier CPU only stretches the run.
          // Set here, not at the top: a project's own maxWorkers (inherited from the top with
          // `extends`) wins over --maxWorkers on the command line, so the unit project's worker
          // count is the command line's (`npm test` runs it in one, beside this project; `npm run
          // test:fast` in three).
          maxWorkers: 3,
          // Projects with different maxWorkers run as separate groups when one vitest runs both
          // (`npx vitest run FILES...`): the unit files first, then these.
          sequence: { groupOrder: 1 },
          // Also one module graph per worker: these files spawn processes, but their own module
          // loading (helpers, the reference server in-process) was most of the suite's import
          // time when each file loaded it again. They share no state across files either.
          isolate: false,
          // One pack and install of the tarball for the files that use the package as users get it,
          // and one code cache directory for the bktx processes the tests start.
          globalSetup: ['test/setup/packed.ts', 'test/setup/code-cache.ts'],
          include: ['test/e2e/**/*.test.ts', 'test/ci/**/*.test.ts', 'test/keychain/**/*.test.ts', 'test/security/**/*.test.ts', ...SPAWNING],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
})
