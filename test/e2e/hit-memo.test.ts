// The hit memo (src/fast/memo.ts): a `bktx token` or `bktx env` that dist/fast-token.cjs answered
// from the file cache is answered again by dist/fast-hit.cjs from a memo of what that answer
// depended on. What a run did is seen from outside: a run that answered from the memo leaves
// it as it was (same inode); one that went on to dist/fast-token.cjs writes it again (a new
// inode). Each check below is of what is printed: a memo that missed a change would print the
// token of the settings, key or entry as they were.
import { execFileSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { chownSync, copyFileSync, lstatSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runBin } from '../helpers/spawn.js'
import { tokenWorld, type TokenWorld } from '../helpers/token-setup.js'

let world: TokenWorld
let env: Record<string, string>
beforeEach(async () => {
  world = await tokenWorld()
  env = { ...world.env, BKTX_CACHE: 'file' }
})
afterEach(() => world.cleanup())

const hits = () => join(world.home.dir, 'cache', 'bktx', 'hits')
/** The one memo file (its path), or undefined. */
function memo(): string | undefined {
  let names: string[]
  try {
    names = readdirSync(hits()).filter((name) => name.endsWith('.json'))
  } catch {
    return undefined
  }
  expect(names.length).toBeLessThanOrEqual(1)
  return names[0] === undefined ? undefined : join(hits(), names[0])
}
// A memo is written only when what it depends on is older than 100 ms (src/fast/remember.ts).
const settle = () => new Promise((resolve) => setTimeout(resolve, 250))

async function token(extra: Record<string, string> = {}, args: string[] = []): Promise<string> {
  const run = await runBin(['token', ...args], { env: { ...env, ...extra } })
  expect(run.stderr).toBe('')
  expect(run.code).toBe(0)
  return run.stdout
}

/** A token minted, a memo written by the hit after it, and a hit answered from that memo. */
async function memoised(extra: Record<string, string> = {}, args: string[] = []): Promise<{ first: string; file: string; ino: number }> {
  const first = await token(extra, args)
  await settle()
  expect(await token(extra, args)).toBe(first)
  const file = memo()
  expect(file).toBeDefined()
  const ino = lstatSync(file as string).ino
  expect(await token(extra, args)).toBe(first)
  // Answered from the memo: not written again.
  expect(lstatSync(file as string).ino).toBe(ino)
  return { first, file: file as string, ino }
}

describe('the hit memo', () => {
  it('answers a repeated hit as the fast path does, private (0600 in a 0700 directory), holding no token', async () => {
    const { first, file } = await memoised()
    expect(lstatSync(hits()).mode & 0o777).toBe(0o700)
    expect(lstatSync(file).mode & 0o777).toBe(0o600)
    expect(readFileSync(file, 'utf8')).not.toContain(first.trim())
    expect(world.mints()).toBe(1)
    // Each output the memo prints, byte for byte what dist/fast-token.cjs printed before it.
    for (const args of [
      ['env', '--shell', 'fish'],
      ['env', '--json'],
      ['env', '--shell', 'powershell'],
      ['token', '--json'],
    ]) {
      const fast = await runBin(args, { env })
      await settle()
      const inodes = () => readdirSync(hits()).map((name) => `${name}:${lstatSync(join(hits(), name)).ino}`)
      const before = inodes()
      expect(await runBin(args, { env })).toEqual(fast)
      // Answered from its memo: no memo written again.
      expect(inodes()).toEqual(before)
      expect(fast.code).toBe(0)
    }
    expect(world.mints()).toBe(1)
  })

  it.each([
    ['BKTX_SCOPE', undefined, 'read_builds'],
    ['BKTX_SCOPE', 'read_builds', 'read_pipelines'],
    ['BKTX_PROFILE', 'one', 'two'],
    ['BUILDKITE_JOB_ID', undefined, '0190e2a4-0000-7000-8000-000000000001'],
    ['BUILDKITE_JOB_ID', '0190e2a4-0000-7000-8000-000000000001', '0190e2a4-0000-7000-8000-000000000002'],
  ])('is not used once %s changes (%s to %s)', async (name, from, to) => {
    await mkdir(join(world.home.dir, 'config', 'bktx'), { recursive: true, mode: 0o700 })
    const profiles = { one: { scope: 'read_builds' }, two: { scope: 'read_pipelines' } }
    writeFileSync(join(world.home.dir, 'config', 'bktx', 'config.json'), JSON.stringify({ profiles }), { mode: 0o600 })
    const { first } = await memoised(from === undefined ? {} : { [name]: from })
    expect(await token({ [name]: to })).not.toBe(first)
    expect(world.mints()).toBe(2)
  })

  it('answers `--cache auto` (the default) where there is no keychain: the lock question leaves a memo, which notices a bus appearing', async () => {
    // No session bus: auto caches in files, and asking whether the keychain is unlocked (the
    // probe found no bus socket) does not change how a file entry is served.
    const { BKTX_CACHE: _file, ...auto } = env
    env = auto
    expect(env['DBUS_SESSION_BUS_ADDRESS']).toBeUndefined()
    const minted = await runBin(['token'], { env })
    expect(minted.code).toBe(0)
    expect(minted.stderr).toMatch(/^warning: no keychain/)
    const { first, file, ino } = await memoised()
    expect(first).toBe(minted.stdout)
    // A socket where the probe looked (XDG_RUNTIME_DIR/bus) is a change the memo sees.
    writeFileSync(join(env['XDG_RUNTIME_DIR'] as string, 'bus'), '')
    await settle()
    expect(await token()).toBe(first)
    expect(lstatSync(file).ino).not.toBe(ino)
    expect(world.mints()).toBe(1)
  })

  it('is not used once a configuration file that was absent is created', async () => {
    const { first } = await memoised()
    await mkdir(join(world.home.dir, 'config', 'bktx'), { recursive: true, mode: 0o700 })
    writeFileSync(join(world.home.dir, 'config', 'bktx', 'config.json'), JSON.stringify({ profiles: { default: { scope: 'read_builds' } } }), {
      mode: 0o600,
    })
    expect(await token()).not.toBe(first)
    expect(world.mints()).toBe(2)
  })

  it('is not used once the key file is replaced in place with the same size and times put back', async () => {
    const { first } = await memoised()
    const before = statSync(world.keyPath, { bigint: true })
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string
    expect(BigInt(other.length)).toBe(before.size)
    writeFileSync(world.keyPath, other)
    // The old mtime to the nanosecond (utimes() in Node takes seconds as a double).
    const ns = before.mtimeNs
    execFileSync('touch', ['-m', '-d', `@${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`, world.keyPath])
    expect(statSync(world.keyPath, { bigint: true }).mtimeNs).toBe(before.mtimeNs)
    expect(statSync(world.keyPath).size).toBe(Number(before.size))
    // Another key: the server does not know it, so no token at all; never the old key's.
    const run = await runBin(['token'], { env })
    expect(run.stdout).not.toBe(first)
  })

  it('is not used once the entry is removed (logout)', async () => {
    const { first } = await memoised()
    expect((await runBin(['logout'], { env })).code).toBe(0)
    expect(await token()).not.toBe(first)
    expect(world.mints()).toBe(2)
  })

  it("is not read when another user owns it: the run goes on to the fast path, which writes the user's own", async () => {
    const { first, file, ino } = await memoised()
    chownSync(file, 65534, 65534)
    expect(await token()).toBe(first)
    expect(lstatSync(file).ino).not.toBe(ino)
    expect(lstatSync(file).uid).toBe(process.getuid?.())
  })

  it('is not read through a symbolic link', async () => {
    const { first, file, ino } = await memoised()
    const elsewhere = join(world.home.dir, 'planted.json')
    copyFileSync(file, elsewhere)
    rmSync(file)
    symlinkSync(elsewhere, file)
    expect(await token()).toBe(first)
    expect(lstatSync(file).isFile()).toBe(true)
    expect(lstatSync(file).ino).not.toBe(ino)
  })
})
