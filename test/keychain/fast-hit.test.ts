// A repeated `bktx token` whose token is in the keychain, answered by dist/fast-hit.cjs from the
// memo the first hit left (src/fast/memo.ts), reading the item over bktx's own D-Bus client
// (src/secrets/read.ts) instead of the native binding: from the built binary, against a private
// gnome-keyring. Who answered is seen from outside: a memo answer leaves the memo as it was
// (same inode) and loads no native module; each check is of what is printed.
import { lstatSync, readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isCI } from '../../src/cache/select.js'
import { hasCommand, lockLogin, searchItems, startGnomeKeyring, startPrivateBus, type PrivateBus } from '../fixtures/private-bus.js'
import { runKeychainChild } from '../fixtures/run-child.js'
import { runBin } from '../helpers/spawn.js'
import { tokenWorld, type TokenWorld } from '../helpers/token-setup.js'

const runPrivate = (hasCommand('dbus-daemon') && hasCommand('gnome-keyring-daemon')) || isCI(process.env)

describe.skipIf(!runPrivate)('a keychain hit answered from its memo', () => {
  let bus: PrivateBus
  let world: TokenWorld
  let dir: string
  let env: Record<string, string>
  const log = () => join(dir, 'dlopen.log')
  const args = ['token', '--json', '--scope', 'read_builds']

  beforeAll(async () => {
    bus = await startPrivateBus()
    await startGnomeKeyring(bus, 'test-password')
    world = await tokenWorld()
    dir = await mkdtemp(join(tmpdir(), 'bktx-keychain-memo-'))
    // Every native module the process loads (Node loads .node files with process.dlopen).
    await writeFile(
      join(dir, 'dlopen.cjs'),
      "const fs = require('node:fs'); const dlopen = process.dlopen; process.dlopen = function (m, file, ...rest) { fs.appendFileSync(process.env.DLOPEN_LOG, `${file}\\n`); return dlopen.call(this, m, file, ...rest) }\n",
    )
    env = {
      ...world.env,
      DBUS_SESSION_BUS_ADDRESS: bus.address,
      BKTX_CACHE: 'keychain',
      NODE_OPTIONS: `--require ${join(dir, 'dlopen.cjs')}`,
      DLOPEN_LOG: log(),
    }
  })
  afterAll(async () => {
    await world?.cleanup()
    await bus?.stop()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  const loaded = async () => (await readFile(log(), 'utf8').catch(() => '')).split('\n').filter(Boolean)
  const hits = () => join(world.home.dir, 'cache', 'bktx', 'hits')
  const memoFile = () => {
    const names = readdirSync(hits()).filter((name) => name.endsWith('.json'))
    expect(names).toHaveLength(1)
    return join(hits(), names[0] as string)
  }
  // A memo is written only when what it depends on is older than 100 ms (src/fast/remember.ts).
  const settle = () => new Promise((resolve) => setTimeout(resolve, 250))
  const token = async () => {
    await rm(log(), { force: true })
    const run = await runBin(args, { env })
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    return JSON.parse(run.stdout) as { token: string; cached: boolean; cache: string }
  }
  /** The item's account, as the memo names it. */
  const account = () => (JSON.parse(readFileSync(memoFile(), 'utf8')) as { keychain: { account: string } }).keychain.account
  const binding = (op: { op: 'set'; account: string; secret: string } | { op: 'delete'; account: string }) =>
    runKeychainChild({ service: 'bktx', timeoutMs: 3000, probe: 'real', selfTerminate: false, ops: [op] }, bus.env)

  it('prints what the first hit printed, without loading the binding, and reads the item again each time', async () => {
    const minted = await token()
    expect(minted).toMatchObject({ cached: false, cache: 'keychain' })
    await settle()
    // Answered by dist/fast-token.cjs through the binding; it leaves the memo.
    const first = await token()
    expect(first).toMatchObject({ token: minted.token, cached: true, cache: 'keychain' })
    expect((await loaded()).some((f) => /keyring\.linux-.*\.node$/.test(f))).toBe(true)
    const ino = lstatSync(memoFile()).ino
    const again = await token()
    expect(again).toEqual(first)
    expect(await loaded()).toEqual([])
    expect(lstatSync(memoFile()).ino).toBe(ino)
    expect(world.mints()).toBe(1)
  })

  it('does not serve an item replaced behind its back: the cache reads it as a miss, and a new token is minted', async () => {
    const before = await token()
    const foreign = `bktx_${'x'.repeat(43)}`
    expect((await binding({ op: 'set', account: account(), secret: foreign })).results[0]).toMatchObject({ ok: true })
    const after = await token()
    expect(after.token).not.toBe(foreign)
    expect(after.token).not.toBe(before.token)
    expect(after).toMatchObject({ cached: false, cache: 'keychain' })
    expect(world.mints()).toBe(2)
  })

  it('does not serve an item removed behind its back', async () => {
    await settle()
    const before = await token()
    expect(before.cached).toBe(true)
    await settle()
    await token()
    expect(await loaded()).toEqual([]) // from the memo
    expect((await binding({ op: 'delete', account: account() })).results[0]).toMatchObject({ ok: true, value: true })
    const after = await token()
    expect(after).toMatchObject({ cached: false, cache: 'keychain' })
    expect(after.token).not.toBe(before.token)
    expect(world.mints()).toBe(3)
  })

  // Last: it locks the keyring.
  it('refuses a locked keyring as before (exit 8), prompting for nothing and unlocking nothing', async () => {
    await settle()
    await token()
    await settle()
    await token()
    expect(await loaded()).toEqual([]) // from the memo
    await lockLogin(bus)
    const locked = await runBin(['token', '--scope', 'read_builds'], { env })
    expect(locked.code).toBe(8)
    expect(locked.stdout).toBe('')
    expect(locked.stderr).toMatch(/keychain is locked/)
    expect(world.mints()).toBe(3)
    const items = await searchItems(bus, { service: 'bktx' })
    expect(items.unlocked).toEqual([])
    expect(items.locked).toHaveLength(1)
  })
})
