import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { selectCache, selectEveryEntry } from '../../../src/cache/select.js'
import { withCache } from '../../../src/cache/with-cache.js'
import { KeychainError } from '../../../src/errors.js'
import { MemorySecretStore } from '../../../src/secrets/store.js'
import { fakeExchanger, fixedClock, testParams } from './helpers.js'

// The cache `bktx logout` reads: every backend's entries, the keychain asked only when an entry's
// secret is there, so a host without a keychain (CI, SSH, containers) hears nothing about it.

const uid = process.getuid?.()

async function cacheWith(mode: 'file' | 'keychain') {
  const root = await mkdtemp(join(tmpdir(), 'bktx-every-'))
  const clock = fixedClock()
  const secrets = new MemorySecretStore()
  const options = { env: { XDG_RUNTIME_DIR: root }, home: root, uid, clock, secrets }
  const { cache } = await selectCache({ mode, ...options })
  await withCache(fakeExchanger(clock).exchange, cache, { clock })(testParams())
  secrets.calls.length = 0
  return { secrets, options }
}

describe('selectEveryEntry', () => {
  it('with file entries alone, never asks the keychain and says nothing', async () => {
    const { secrets, options } = await cacheWith('file')
    secrets.fail = new KeychainError('no usable keychain: no D-Bus')
    const { cache, notices } = await selectEveryEntry(options)
    expect(notices).toEqual([])
    expect(secrets.calls).toEqual([])
    const [entry] = await cache.list()
    expect((await cache.read(entry?.key ?? '')).entry?.token.accessToken).toMatch(/^bktx_/)
  })

  it('with a keychain entry, reads it through the keychain; a keychain that does not answer is said once', async () => {
    const { secrets, options } = await cacheWith('keychain')
    const { cache, notices } = await selectEveryEntry(options)
    expect(notices).toEqual([])
    const [entry] = await cache.list()
    expect((await cache.read(entry?.key ?? '')).entry?.token.accessToken).toMatch(/^bktx_/)
    secrets.fail = new KeychainError('no usable keychain: no D-Bus')
    const down = await selectEveryEntry(options)
    expect(down.notices.map((n) => [n.kind, n.message])).toEqual([
      ['keychain-unavailable', 'no usable keychain: no D-Bus; only tokens cached in files can be read'],
    ])
  })
})
