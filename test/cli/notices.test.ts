import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { cachedToken } from '../../src/fast/token.js'
import { MemorySecretStore } from '../../src/secrets/store.js'
import type { MemoryAuditSink } from '../../src/server/state/audit.js'
import { fixedClock, runCli } from '../helpers/cli.js'
import { tokenWorld, type TokenWorld } from '../helpers/token-setup.js'

// Warnings of the token commands (issue 20): an unknown scope name is said before it is sent;
// a --min-ttl the token's lifetime caps is said whenever the token served has less left than asked.

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

describe('--min-ttl capped by the token lifetime', () => {
  const clock = fixedClock('2026-12-06T12:00:00Z')
  beforeEach(async () => {
    await world.cleanup()
    world = await tokenWorld({ clock })
  })
  const FILE = { BKTX_CACHE: 'file' }
  const run = (args: string[]) => runCli(['token', '--ttl', '1h', ...args], { env: { ...world.env, ...FILE }, clock })

  it('is a notice at the mint and at every hit it applies to, naming the cap', async () => {
    const minted = await run(['--min-ttl', '2h'])
    expect(minted.code).toBe(0)
    expect(minted.stderr).toBe(
      'warning: the token lives 1h, less than the minimum of 2h left asked for: the minimum was capped to half its lifetime (30m); ask for at most --min-ttl 30m, or for a longer-lived token with --ttl\n',
    )
    clock.advance(20 * 60)
    const hit = await run(['--min-ttl', '45m'])
    expect(hit.stdout).toBe(minted.stdout)
    expect(hit.stderr).toBe(
      "warning: the cached token has 40m left, less than the 45m asked for: the minimum was capped to half the token's 1h lifetime (30m); ask for at most --min-ttl 30m, or for a longer-lived token with --ttl\n",
    )
    // The fast path serves the same hit with the same line.
    const fast = await cachedToken(['--ttl', '1h', '--min-ttl', '45m'], {
      env: { ...world.env, ...FILE },
      stderrIsTTY: false,
      home: world.home.dir,
      uid: process.getuid?.(),
      cwd: process.cwd(),
      clock,
      secrets: new MemorySecretStore(),
    })
    expect(fast).toMatchObject({ stdout: minted.stdout, stderr: hit.stderr })
    expect(world.mints()).toBe(1)
  })

  it('says nothing when the token has what was asked, or when no minimum was given (the default is capped silently)', async () => {
    expect((await run(['--min-ttl', '45m'])).stderr).toBe('')
    clock.advance(10 * 60)
    expect((await run(['--min-ttl', '45m'])).stderr).toBe('')
    // A 4 minute token: the default 5 minutes is more than it lives, and nobody asked for it.
    const short = await runCli(['token', '--ttl', '4m'], { env: { ...world.env, ...FILE }, clock })
    expect(short.code).toBe(0)
    expect(short.stderr).toBe('')
    clock.advance(60)
    expect((await runCli(['token', '--ttl', '4m'], { env: { ...world.env, ...FILE }, clock })).stderr).toBe('')
    expect(world.mints()).toBe(2)
  })
})
