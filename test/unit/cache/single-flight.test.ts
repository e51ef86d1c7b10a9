import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runParallelCallers } from '../../fixtures/single-flight.js'

async function config(lock: boolean) {
  const root = await mkdtemp(join(tmpdir(), 'bktx-flight-'))
  return { mode: 'file' as const, runtimeDir: root, mintLog: join(root, 'mints.log'), mintMs: 300, service: 'bktx-test', lock }
}

describe('single flight across processes', () => {
  // The cache's lock between processes of bktx's own code, here with a fake exchange (the mint
  // log counts exchanges) and the lock replaceable by a no-op (the last test: without it the
  // same callers exchange many times, so the first can fail). Four processes per job race for
  // it: released together, each misses and would mint without the lock (a mint takes 300 ms).
  // One cold start of many through the built binary (32 calls, one exchange counted in the
  // server's audit log, one token printed) is test/e2e/token.test.ts's; 3, 32 and 100 calls
  // waiting for a holder killed with SIGKILL are test/security/token-crash.test.ts's.
  it('4 parallel processes of one CI job make one exchange; another job on the same host makes its own (issue 20)', async () => {
    const auto = { ...(await config(true)), mode: 'auto' as const }
    const job = (id: string) => ({ ...process.env, CI: 'true', BUILDKITE_JOB_ID: id })
    const a = await runParallelCallers(4, auto, job('job-a'))
    expect(a.mints).toBe(1)
    expect(a.results.filter((r) => !r.cached)).toHaveLength(1)
    expect(new Set(a.results.map((r) => r.token)).size).toBe(1)
    expect(a.results.every((r) => r.cache === 'file')).toBe(true)
    const b = await runParallelCallers(4, auto, job('job-b'))
    // The mint log is shared: one more exchange, for job B, and never A's token.
    expect(b.mints).toBe(2)
    expect(new Set(b.results.map((r) => r.token)).size).toBe(1)
    expect(b.results[0]?.token).not.toBe(a.results[0]?.token)
  }, 120_000)

  it('without the lock, the same callers exchange many times (the test above can fail)', async () => {
    const { mints } = await runParallelCallers(4, await config(false))
    expect(mints).toBeGreaterThan(1)
  }, 60_000)
})
