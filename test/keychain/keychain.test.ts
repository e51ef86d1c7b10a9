// The keychain against a real Secret Service (gnome-keyring). Tests marked "session" use the
// D-Bus session the suite runs in (.ci/run: dbus-run-session with an unlocked keyring); when CI
// is set they run, and fail, even if no Secret Service answers. Tests that lock a keyring or
// hang start a bus and daemons of their own, so they never disturb the session.
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cacheKey } from '../../src/cache/key.js'
import { selectCache, isCI } from '../../src/cache/select.js'
import { withCache } from '../../src/cache/with-cache.js'
import { KeychainError } from '../../src/errors.js'
import { createKeyringStore } from '../../src/secrets/keyring.js'
import { probeSecretService } from '../../src/secrets/probe.js'
import { type FakeSecretService, startHangingSecretService } from '../fixtures/fake-secret-service.js'
import { hasCommand, lockLogin, searchItems, startGnomeKeyring, startPrivateBus, type PrivateBus } from '../fixtures/private-bus.js'
import { runKeychainChild, startKeychainChild } from '../fixtures/run-child.js'
import { runParallelCallers } from '../fixtures/single-flight.js'
import { fakeExchanger, fixedClock, testParams } from '../unit/cache/helpers.js'

const uid = process.getuid?.() ?? 0
const ci = isCI(process.env)
const session = await probeSecretService({ env: process.env, uid, timeoutMs: 3000 })
const sessionUp = session.state === 'unlocked'
const daemons = hasCommand('dbus-daemon') && hasCommand('gnome-keyring-daemon')
// Outside CI, a machine without a Secret Service skips these; in CI they must run and fail.
const runSession = (sessionUp && hasCommand('secret-tool')) || ci
const runPrivate = daemons || ci

function account(): string {
  return randomBytes(16).toString('hex')
}

function secretTool(args: string[], env: NodeJS.ProcessEnv = process.env): { status: number | null; stdout: string } {
  const r = spawnSync('secret-tool', args, { env, encoding: 'utf8', timeout: 10_000 })
  return { status: r.status, stdout: `${r.stdout ?? ''}${r.stderr ?? ''}` }
}

describe('the session Secret Service', () => {
  it.skipIf(!runSession)('answers, unlocked (required when CI is set)', () => {
    expect(session).toEqual({ state: 'unlocked' })
  })

  it.skipIf(!runSession)('stores, reads, lists and deletes an item, visible to secret-tool under service bktx', async () => {
    const store = createKeyringStore({ env: process.env, uid, platform: process.platform })
    const name = account()
    const secret = `bktx_${randomBytes(20).toString('hex')}`
    try {
      expect(await store.status()).toEqual({ ok: true })
      expect(await store.get(name)).toBeUndefined()
      await store.set(name, secret)
      expect(await store.get(name)).toBe(secret)
      expect(await store.accounts()).toContain(name)

      const found = secretTool(['search', '--all', 'service', 'bktx', 'username', name])
      expect(found.stdout).toContain(`attribute.username = ${name}`)
      expect(found.stdout).toContain('attribute.service = bktx')
      expect(secretTool(['lookup', 'service', 'bktx', 'username', name]).stdout).toBe(secret)

      await store.set(name, `${secret}-2`)
      expect(await store.get(name)).toBe(`${secret}-2`)
      expect(await store.delete(name)).toBe(true)
      expect(await store.delete(name)).toBe(false)
      expect(await store.get(name)).toBeUndefined()
      expect(secretTool(['search', '--all', 'service', 'bktx', 'username', name]).stdout).not.toContain(name)
    } finally {
      await store.delete(name).catch(() => undefined)
    }
  })

  it.skipIf(!runSession)('auto mode caches in the keychain, with only metadata on disk', async () => {
    const service = `bktx-test-${account()}`
    const secrets = createKeyringStore({ env: process.env, uid, platform: process.platform, service })
    const root = await mkdtemp(join(tmpdir(), 'bktx-kc-'))
    const env = { XDG_RUNTIME_DIR: root }
    const clock = fixedClock()
    const {
      cache,
      notices: [notice],
    } = await selectCache({ mode: 'auto', env, home: root, uid, clock, secrets })
    expect(notice).toBeUndefined()
    expect(cache.backend).toBe('keychain')
    const mint = fakeExchanger(clock)
    const get = withCache(mint.exchange, cache, { clock })
    try {
      const first = await get(testParams())
      expect(first).toMatchObject({ cached: false, cache: 'keychain' })
      const second = await get(testParams())
      expect(second).toMatchObject({ cached: true, cache: 'keychain', accessToken: first.accessToken })
      expect(mint.count()).toBe(1)
      const dir = cache.dir as string
      const files = await readdir(dir)
      expect(files.filter((f) => f.endsWith('.token'))).toEqual([])
      for (const f of files.filter((f) => f.endsWith('.json'))) {
        expect(await readFile(join(dir, f), 'utf8')).not.toContain(first.accessToken)
      }
      // The item is named by the cache's scope (its home's, or its CI job's), then the key.
      expect(secretTool(['lookup', 'service', service, 'username', `${cache.scope}.${cacheKey(testParams())}`]).stdout).toBe(first.accessToken)
      // A fresh process' view: listing needs no keychain call.
      expect((await cache.list()).map((e) => e.backend)).toEqual(['keychain'])
    } finally {
      await cache.clearAll()
    }
    expect(secretTool(['search', '--all', 'service', service]).stdout).not.toContain('attribute.service')
  })
})

describe('single flight with the keychain backend', () => {
  it.skipIf(!runSession)(
    '12 cold parallel callers in auto mode make one exchange, served from the keychain',
    async () => {
      const root = await mkdtemp(join(tmpdir(), 'bktx-kc-flight-'))
      const service = `bktx-test-${account()}`
      const { results, mints } = await runParallelCallers(
        12,
        { mode: 'auto', runtimeDir: root, mintLog: join(root, 'mints.log'), mintMs: 300, service, lock: true },
        // Not a CI job, whatever CI runs this: auto then uses the keychain.
        { ...process.env, CI: '', BUILDKITE_JOB_ID: '', GITHUB_RUN_ID: '', CI_JOB_ID: '', CIRCLE_WORKFLOW_JOB_ID: '', BUILD_TAG: '' },
      )
      expect(mints).toBe(1)
      expect(new Set(results.map((r) => r.token)).size).toBe(1)
      expect(results.map((r) => r.cache)).toEqual(Array(12).fill('keychain'))
      expect(results.every((r) => r.note === undefined && r.notes.length === 0)).toBe(true)
      const store = createKeyringStore({ env: process.env, uid, platform: process.platform, service })
      for (const name of await store.accounts()) await store.delete(name)
    },
    60_000,
  )
})

describe('no D-Bus session at all', () => {
  it('fails fast with a KeychainError, from the probe and from the binding itself', async () => {
    // "Fast" means without waiting for the call timeout: it is set far beyond the test's own
    // timeout (testTimeout), so a store that waited for it fails the test instead of passing late.
    const store = createKeyringStore({ env: {}, uid, platform: 'linux', timeoutMs: 600_000 })
    await expect(store.get(account())).rejects.toThrow(KeychainError)
    await expect(store.set(account(), 'x')).rejects.toThrow(/D-Bus/)

    // Without bktx's probe the binding's own failure is fast too, and typed: the child is
    // killed (and its results cut short) long before a 600 s call timeout could fire.
    const run = await runKeychainChild(
      {
        service: 'bktx-test',
        timeoutMs: 600_000,
        probe: 'bypass',
        selfTerminate: false,
        ops: [
          { op: 'get', account: account() },
          { op: 'set', account: account(), secret: 'x' },
        ],
      },
      { PATH: process.env['PATH'] },
    )
    expect(run.code).toBe(0)
    expect(run.results).toHaveLength(3)
    for (const r of run.results.slice(0, 2)) {
      expect(r.ok).toBe(false)
      expect(r.error).toMatchObject({ name: 'KeychainError', code: 'BKTX_KEYCHAIN' })
      expect(r.error?.message).toMatch(/D-Bus/)
    }
  })

  it('reports a bus socket nobody listens on as no bus', async () => {
    const root = await mkdtemp(join(tmpdir(), 'bktx-nobus-'))
    const store = createKeyringStore({ env: { DBUS_SESSION_BUS_ADDRESS: `unix:path=${root}/none` }, uid, platform: 'linux' })
    const status = await store.status()
    expect(status.ok).toBe(false)
    expect(status.ok ? '' : status.error.message).toMatch(/cannot connect to the D-Bus session bus/)
  })
})

describe.skipIf(!runPrivate)('a locked keyring (private gnome-keyring)', () => {
  let bus: PrivateBus
  const name = account()
  const service = 'bktx-test'

  beforeAll(async () => {
    bus = await startPrivateBus()
    await startGnomeKeyring(bus, 'test-password')
    const stored = await runKeychainChild(
      {
        service,
        timeoutMs: 3000,
        probe: 'real',
        selfTerminate: false,
        ops: [
          { op: 'set', account: name, secret: 'secret-value' },
          { op: 'get', account: name },
        ],
      },
      bus.env,
    )
    expect(stored.results.map((r) => r.ok)).toEqual([true, true, true])
    expect(stored.results[1]?.value).toBe('secret-value')
    await lockLogin(bus)
  })
  afterAll(async () => {
    await bus?.stop()
  })

  it('is reported as locked by the probe, and every call is a KeychainError without touching the item', async () => {
    const run = await runKeychainChild(
      {
        service,
        timeoutMs: 3000,
        probe: 'real',
        selfTerminate: false,
        ops: [
          { op: 'status' },
          { op: 'get', account: name },
          { op: 'get', account: account() },
          { op: 'set', account: name, secret: 'other' },
          { op: 'delete', account: name },
        ],
      },
      bus.env,
    )
    expect(run.code).toBe(0)
    const [status, get, getMissing, set, del] = run.results
    for (const r of [status, get, getMissing, set, del]) {
      expect(r?.ok).toBe(false)
      expect(r?.error?.code).toBe('BKTX_KEYCHAIN')
      // The probe's answer, not a call that waited for its timeout ("did not answer within").
      expect(r?.error?.message).toMatch(/locked/)
      expect(r?.error?.message).not.toMatch(/did not answer/)
    }
    // Locked, not deleted: the item is still there.
    expect(await searchItems(bus, { service, username: name })).toEqual({ unlocked: [], locked: [expect.any(String)] })
  })

  it('without the probe, the binding refuses (prompt dismissed: no display) and still deletes nothing', async () => {
    const run = await runKeychainChild(
      {
        service,
        timeoutMs: 3000,
        probe: 'bypass',
        selfTerminate: false,
        ops: [
          { op: 'get', account: name },
          { op: 'set', account: name, secret: 'other' },
          { op: 'delete', account: name },
        ],
      },
      bus.env,
    )
    expect(run.code).toBe(0)
    for (const r of run.results.slice(0, 3)) {
      expect(r.ok).toBe(false)
      expect(r.error?.code).toBe('BKTX_KEYCHAIN')
      // Refused by the keyring, not a timeout of ours.
      expect(r.error?.message).not.toMatch(/did not answer/)
    }
    expect(await searchItems(bus, { service, username: name })).toEqual({ unlocked: [], locked: [expect.any(String)] })
  })

  it('makes auto mode fall back to the file backend with a note, leaving the keychain alone', async () => {
    const root = await mkdtemp(join(tmpdir(), 'bktx-fallback-'))
    const secrets = createKeyringStore({ env: bus.env, uid, platform: 'linux', service })
    const env = { ...bus.env, XDG_RUNTIME_DIR: root }
    const clock = fixedClock()
    const {
      cache,
      notices: [notice],
    } = await selectCache({ mode: 'auto', env, home: root, uid, clock, secrets })
    expect(cache.backend).toBe('file')
    expect(notice).toBeUndefined()
    const mint = fakeExchanger(clock)
    const result = await withCache(mint.exchange, cache, { clock })(testParams())
    expect(result).toMatchObject({ cached: false, cache: 'file' })
    // Said when the token is stored (once a day on this host).
    expect(result.notices.map((n) => n.message)).toEqual([
      expect.stringMatching(/^no keychain \(it is locked\): caching tokens in .*bktx\/home-[0-9a-f]{16} \(said once a day\)$/),
    ])
    expect((await readdir(cache.dir as string)).filter((f) => f.endsWith('.token'))).toHaveLength(1)

    // Explicit --cache keychain: the locked keychain is an error (exit 8), before any exchange.
    await expect(selectCache({ mode: 'keychain', env, home: root, uid, clock, secrets })).rejects.toThrow(/keychain is locked/)
    expect(await searchItems(bus, { service, username: name })).toEqual({ unlocked: [], locked: [expect.any(String)] })
  })
})

describe.skipIf(!runPrivate)('a keychain call that never returns (unlock prompt nobody answers)', () => {
  let bus: PrivateBus
  let service: FakeSecretService

  beforeAll(async () => {
    bus = await startPrivateBus()
    service = await startHangingSecretService(bus)
  })
  afterAll(async () => {
    await bus?.stop()
  })

  it('times out as a KeychainError, refuses later calls at once, and the process ends itself with SIGTERM', async () => {
    const run = await runKeychainChild(
      {
        service: 'bktx-test',
        timeoutMs: 1000,
        probe: 'real',
        selfTerminate: true,
        ops: [
          { op: 'set', account: account(), secret: 'x' },
          { op: 'get', account: account() },
        ],
      },
      bus.env,
    )
    const [set, get, stuck] = run.results
    expect(set?.ok).toBe(false)
    expect(set?.error?.message).toMatch(/did not answer within 1 s \(set\)/)
    expect(get?.error?.message).toMatch(/still blocked/)
    // Refused without asking the keychain again: the service saw only the set's calls, up to
    // the unlock prompt nobody answers. A get that waited for the keychain would call it (and
    // then fail with its own "did not answer" timeout instead of "still blocked").
    expect(service.calls).toEqual([
      'org.freedesktop.DBus.Properties.Get',
      'org.freedesktop.Secret.Service.OpenSession',
      'org.freedesktop.Secret.Service.SearchItems',
      'org.freedesktop.Secret.Service.Unlock',
      'org.freedesktop.Secret.Prompt.Prompt',
    ])
    expect(stuck?.value).toEqual([{ op: 'set', account: expect.any(String) }])
    // Ends by itself: runKeychainChild's kill timer (15 s) would end it with SIGKILL instead.
    expect(run.signal).toBe('SIGTERM')
    expect(run.stderr).toMatch(/exit status is 143 instead of 0/)
  })

  it('a get hangs the same way, and without the self-signal the process never ends', async () => {
    const run = await startKeychainChild(
      // 1 s, not less: the same timeout bounds the probe, which a loaded machine can take
      // hundreds of milliseconds to get an answer to.
      { service: 'bktx-test', timeoutMs: 1000, probe: 'real', selfTerminate: false, ops: [{ op: 'get', account: account() }] },
      bus.env,
    )
    const [get, stuck] = await run.lines(2)
    expect(get?.error?.message).toMatch(/did not answer within 1 s \(get\)/)
    expect(stuck?.value).toEqual([{ op: 'get', account: expect.any(String) }])
    // The script is done, yet the blocked native call keeps the process alive.
    const ended = await Promise.race([run.exit.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 1500))])
    expect(ended).toBe(false)
    run.child.kill('SIGKILL')
    await run.exit
  })
})
