import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { MemoryAuditSink } from '../../src/server/state/audit.js'
import { runCli } from '../helpers/cli.js'
import { tokenWorld, type TokenWorld } from '../helpers/token-setup.js'

// Warnings of the token commands (issue 20): an unknown scope name is said before it is sent.

let world: TokenWorld
beforeEach(async () => {
  world = await tokenWorld()
})
afterEach(() => world.cleanup())

const exchanges = () =>
  (world.server.server.state.audit as MemoryAuditSink).records.filter((r) => r.type === 'token.minted' || r.type === 'token.exchange_failed')

describe('unknown scope names', () => {
  it('are said with the likely scope before the exchange, and sent all the same (the server decides)', async () => {
    const result = await runCli(['token', '--cache', 'none', '--scope', 'read_bilds'], { env: world.env })
    const warning = 'warning: unknown scope read_bilds (did you mean read_builds?); sending it anyway\n'
    expect(result.stderr.startsWith(warning)).toBe(true)
    // The reference server knows no such scope either: the request went out and was refused.
    expect(exchanges().map((r) => r.type)).toEqual(['token.exchange_failed'])
    expect(result.code).not.toBe(0)
    expect(result.stderr.slice(warning.length)).toMatch(/^error: .*scope/)
  })

  it('say nothing for known scopes, nor on a cache hit (nothing is sent)', async () => {
    const env = { ...world.env, BKTX_CACHE: 'file' }
    const first = await runCli(['token', '--scope', 'read_builds read_pipelines'], { env })
    expect(first.code).toBe(0)
    expect(first.stderr).toBe('')
    expect((await runCli(['env', '--scope', 'read_pipelines', '--scope', 'read_builds'], { env })).stderr).toBe('')
    expect(exchanges()).toHaveLength(1)
  })
})
