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
  // Eight processes are enough to race for the lock (the test below shows the same eight minting
  // many times without it); the built binary's 32, 3 and 100 concurrent calls are in
  // test/e2e/token.test.ts and test/security/token-crash.test.ts.
  it('8 cold parallel callers make exactly one exchange and all get its token', async () => {
    const { results, mints } = await runParallelCallers(8, await config(true))
    expect(mints).toBe(1)
    expect(new Set(results.map((r) => r.token)).size).toBe(1)
    expect(results.filter((r) => !r.cached)).toHaveLength(1)
    expect(results.every((r) => r.cache === 'file')).toBe(true)
  }, 60_000)

  it('8 parallel processes of one CI job make one exchange; another job on the same host makes its own (issue 20)', async () => {
    const auto = { ...(await config(true)), mode: 'auto' as const }
    const job = (id: string) => ({ ...process.env, CI: 'true', BUILDKITE_JOB_ID: id })
    const a = await runParallelCallers(8, auto, job('job-a'))
    expect(a.mints).toBe(1)
    expect(new Set(a.results.map((r) => r.token)).size).toBe(1)
    expect(a.results.every((r) => r.cache === 'file')).toBe(true)
    const b = await runParallelCallers(8, auto, job('job-b'))
    // The mint log is shared: one more exchange, for job B, and never A's token.
    expect(b.mints).toBe(2)
    expect(new Set(b.results.map((r) => r.token)).size).toBe(1)
    expect(b.results[0]?.token).not.toBe(a.results[0]?.token)
  }, 120_000)

  it('without the lock, the same callers exchange many times (the test above can fail)', async () => {
    const { mints } = await runParallelCallers(8, await config(false))
    expect(mints).toBeGreaterThan(1)
  }, 60_000)
})
