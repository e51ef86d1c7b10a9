import { rm } from 'node:fs/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { cachedToken } from '../../src/fast/token.js'
import { MemorySecretStore } from '../../src/secrets/store.js'
import type { TokenHandover } from '../../src/token/request.js'
import { runCli } from '../helpers/cli.js'
import { tokenWorld, type TokenWorld } from '../helpers/token-setup.js'

// On a cache miss the fast path hands the request it resolved (settings, opened key) to the
// full CLI in the same process, which then does not resolve it again. The proof: the key file
// is gone by the time the full CLI runs, and it still mints, for the same command line only.

describe('the fast path hands its request to the full CLI on a miss', () => {
  let world: TokenWorld
  beforeEach(async () => {
    world = await tokenWorld()
  })
  afterEach(() => world.cleanup())

  async function missThenRemoveKey(argv: string[]): Promise<{ handover: TokenHandover | undefined; secrets: MemorySecretStore }> {
    const secrets = new MemorySecretStore()
    let handover: TokenHandover | undefined
    const deps = {
      env: world.env,
      stderrIsTTY: false,
      home: world.home.dir,
      uid: process.getuid?.(),
      cwd: world.home.dir,
      clock: { now: () => new Date() },
      secrets,
    }
    expect(await cachedToken(argv, deps, (h) => (handover = h))).toBeUndefined()
    await rm(world.keyPath)
    return { handover, secrets }
  }

  it('the full CLI uses it for the same command line: no second resolution, no second key read', async () => {
    const argv = ['--scope', 'read_builds', '--scope', 'read_pipelines', '--ttl', '10m', '--json']
    const { handover, secrets } = await missThenRemoveKey(argv)
    expect(handover?.settings).toEqual({ scope: 'read_builds read_pipelines', ttl: '10m' })
    const result = await runCli(['token', ...argv], { env: world.env, secrets, handover })
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({ cached: false, scopes: ['read_builds', 'read_pipelines'] })
  })

  it('and resolves for itself when the command line differs', async () => {
    const { handover, secrets } = await missThenRemoveKey(['--scope', 'read_builds'])
    const result = await runCli(['token', '--scope', 'read_pipelines'], { env: world.env, secrets, handover })
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/key\.pem/)
  })
})
