// bktx status and doctor against a real Secret Service (gnome-keyring on a private D-Bus
// session): the keychain's state is read with the lock probe, never with a call that could
// raise an unlock prompt, and a locked keyring is reported, not unlocked or changed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isCI } from '../../src/cache/select.js'
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createKeyringStore } from '../../src/secrets/keyring.js'
import { lazyKeyringStore } from '../../src/secrets/lazy.js'
import { runCli, tempHome } from '../helpers/cli.js'
import { BIN, runBin, runProcess } from '../helpers/spawn.js'
import { tokenWorld, type TokenWorld } from '../helpers/token-setup.js'
import { runKeychainChild } from '../fixtures/run-child.js'
import { hasCommand, lockLogin, searchItems, startGnomeKeyring, startPrivateBus, type PrivateBus } from '../fixtures/private-bus.js'

const uid = process.getuid?.() ?? 0
const runPrivate = (hasCommand('dbus-daemon') && hasCommand('gnome-keyring-daemon')) || isCI(process.env)

describe.skipIf(!runPrivate)('status and doctor with a real keyring, unlocked then locked', () => {
  let bus: PrivateBus
  let world: TokenWorld
  const service = 'bktx-status-test'
  const account = '0123456789abcdef0123456789abcdef'

  beforeAll(async () => {
    bus = await startPrivateBus()
    await startGnomeKeyring(bus, 'test-password')
    world = await tokenWorld()
    // The native binding reads the bus address from its own process environment: store the
    // item from a child on the private bus. status and doctor only probe, with the injected env.
    const stored = await runKeychainChild(
      { service, timeoutMs: 3000, probe: 'real', selfTerminate: false, ops: [{ op: 'set', account, secret: 'a-secret-that-must-stay-locked' }] },
      bus.env,
    )
    expect(stored.results.map((r) => r.ok)).toEqual([true, true])
  })
  afterAll(async () => {
    await world?.cleanup()
    await bus?.stop()
  })

  // A fresh store per run, as a fresh process has: the probe's answer is kept per store.
  const run = (args: string[], extra: Record<string, string> = {}) =>
    runCli(args, {
      env: { ...world.env, DBUS_SESSION_BUS_ADDRESS: bus.address, ...extra },
      secrets: createKeyringStore({ env: { ...bus.env }, uid, platform: 'linux', service }),
    })

  it('reports an unlocked keyring as available, and auto picks it', async () => {
    const doc = JSON.parse((await run(['status', '--json'])).stdout)
    expect(doc.cache).toMatchObject({ mode: 'auto', backend: 'keychain', reason: 'the keychain is available', keychain: { state: 'available', detail: null } })
  })

  // bin/bktx.js answers status without the full CLI (src/fast/status.ts): over a real bus its
  // probe connects, and what it prints must be the full CLI's (in-process, with the same real
  // store bin/bktx.js makes), unlocked and locked. No tokens are cached here: nothing depends on the clock.
  const sameAsFullCli = async (args: string[]) => {
    const env: Record<string, string> = { ...world.env, DBUS_SESSION_BUS_ADDRESS: bus.address }
    const v8 = join(env['XDG_CACHE_HOME'] as string, 'bktx', 'v8')
    rmSync(v8, { recursive: true, force: true })
    const fast = await runBin(['status', ...args], { env })
    const full = await runCli(['status', ...args], {
      env,
      home: env['HOME'] as string,
      secrets: lazyKeyringStore({ env, uid, platform: 'linux', arch: process.arch }),
    })
    expect({ code: fast.code, stdout: fast.stdout, stderr: fast.stderr }).toEqual({ code: full.code, stdout: full.stdout, stderr: full.stderr })
    // Served by the fast path: the full CLI's status, after a success, leaves its code cache.
    expect(existsSync(v8) && readdirSync(v8).some((n) => n.startsWith('cli.cjs-status-'))).toBe(false)
    return fast.stdout
  }

  it('bin/bktx.js status prints what the full CLI prints (unlocked)', async () => {
    expect(await sameAsFullCli(['--json'])).toContain('"state": "available"')
    await sameAsFullCli([])
  })

  // The probe's socket is Node's pipe handle, not node:net (src/term/process.ts): node:net and
  // the streams it loads cost a status run about a fifth of `node -e 0` (issue 23).
  it('bin/bktx.js status asks the bus without loading node:net', async () => {
    const probe = join(world.home.dir, 'loaded-modules.cjs')
    writeFileSync(probe, "process.on('exit', () => require('node:fs').writeSync(2, `\\nLOADED ${JSON.stringify(process.moduleLoadList)}\\n`))\n")
    const env = { PATH: process.env['PATH'] ?? '', ...world.env, DBUS_SESSION_BUS_ADDRESS: bus.address }
    const run = await runProcess(process.execPath, ['-r', probe, BIN, 'status', '--json'], { env })
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout).cache.keychain).toEqual({ state: 'available', detail: null })
    const loaded = JSON.parse(/^LOADED (.*)$/m.exec(run.stderr)?.[1] ?? 'null') as string[]
    expect(loaded).toContain('Internal Binding pipe_wrap')
    expect(loaded.filter((name) => ['NativeModule net', 'NativeModule internal/stream_base_commons'].includes(name))).toEqual([])
  })

  it('reports a locked keyring as locked (status), a WARN in auto mode and a FAIL with --cache keychain (doctor), and leaves it locked', async () => {
    await lockLogin(bus)
    const status = await run(['status', '--json'])
    expect(status.code).toBe(0)
    const doc = JSON.parse(status.stdout)
    expect(doc.cache).toMatchObject({
      backend: 'file',
      reason: 'the keychain is not available (token commands say so once a day)',
      usable: true,
      keychain: { state: 'locked' },
    })
    expect(doc.cache.keychain.detail).toMatch(/the keychain is locked; bktx does not raise unlock prompts/)
    expect((await run(['status'])).stdout).toMatch(/^ {10}keychain locked \(the keychain is locked/m)

    const auto = await run(['doctor', '--json'])
    const autoChecks = JSON.parse(auto.stdout).checks as Array<{ id: string; status: string; message: string; fix: string | null }>
    expect(autoChecks.find((c) => c.id === 'keychain')).toMatchObject({
      status: 'warn',
      message: expect.stringMatching(/^locked: .*the auto cache falls back to files/),
    })
    expect(autoChecks.find((c) => c.id === 'cache')).toMatchObject({ status: 'pass' })

    const required = await run(['doctor', '--json'], { BKTX_CACHE: 'keychain' })
    expect(required.code).toBe(11)
    const requiredChecks = JSON.parse(required.stdout).checks as Array<{ id: string; status: string; fix: string | null }>
    expect(requiredChecks.filter((c) => c.status === 'fail').map((c) => c.id)).toEqual(['cache', 'keychain'])
    expect(requiredChecks.find((c) => c.id === 'keychain')?.fix).toBe(
      'unlock it, or pass --cache file, set BKTX_CACHE=file, or run `bktx config set cache file`',
    )

    // Still locked and still there: nothing unlocked, read or deleted it.
    expect(await searchItems(bus, { service, username: account })).toEqual({ unlocked: [], locked: [expect.any(String)] })
  })

  it('bin/bktx.js status prints what the full CLI prints (locked)', async () => {
    expect(await sameAsFullCli(['--json'])).toContain('"state": "locked"')
    await sameAsFullCli([])
    expect(await searchItems(bus, { service, username: account })).toEqual({ unlocked: [], locked: [expect.any(String)] })
  })

  it('reports no Secret Service at all as absent', async () => {
    const h = await tempHome()
    try {
      const result = await runCli(['status', '--json'], {
        env: { ...h.env, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' },
        secrets: createKeyringStore({ env: { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' }, uid, platform: 'linux', service }),
      })
      expect(JSON.parse(result.stdout).cache.keychain.state).toBe('absent')
    } finally {
      await h.cleanup()
    }
  })
})
