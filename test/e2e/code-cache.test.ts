// bin/bktx.js compiles the CLI from a V8 code cache in $XDG_CACHE_HOME/bktx/v8 (or
// $BKTX_CODE_CACHE). A code cache is
// code: one planted by someone else would run in bktx, with the user's keys and tokens. So a
// cache is used only when the file and its directory are the user's own and private, and is
// opened without following a symbolic link; otherwise the run compiles from source and writes
// its own in its place. What a run did is seen from outside: a cache it used is left as it
// was (same inode), one it refused is replaced (a new inode, mode 0600).
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runBin } from '../helpers/spawn.js'

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

/** A home whose first `bktx help token` wrote its code cache; the cache file's path. */
async function warmHome(): Promise<{ env: Record<string, string>; v8: string; file: string }> {
  const home = mkdtempSync(join(tmpdir(), 'bktx-v8-'))
  dirs.push(home)
  const env = { HOME: home, XDG_CACHE_HOME: join(home, 'cache'), XDG_CONFIG_HOME: join(home, 'config') }
  expect((await run(env)).code).toBe(0)
  const v8 = join(home, 'cache', 'bktx', 'v8')
  const names = readdirSync(v8).filter((name) => name.startsWith('cli.cjs-help-'))
  expect(names).toHaveLength(1)
  return { env, v8, file: join(v8, names[0] as string) }
}

// Without the run's shared cache directory (runBin's default), which would take these caches' place.
const run = (env: Record<string, string>) => runBin(['help', 'token'], { env: { ...env, BKTX_CODE_CACHE: undefined } })

describe('the V8 code cache', () => {
  it('is written private (0600 in a 0700 directory), and used as it is by the next run', async () => {
    const { env, v8, file } = await warmHome()
    expect(lstatSync(v8).mode & 0o777).toBe(0o700)
    expect(lstatSync(file).mode & 0o777).toBe(0o600)
    const before = lstatSync(file).ino
    expect((await run(env)).code).toBe(0)
    // Used, so not written again: the control for the cases below, which expect a new file.
    expect(lstatSync(file).ino).toBe(before)
  })

  it.each([
    ['readable by others (0644)', (file: string) => chmodSync(file, 0o644)],
    ['in a directory others can enter (0755)', (_file: string, v8: string) => chmodSync(v8, 0o755)],
  ])('is not used when it is %s: the run compiles from source and writes its own', async (_, spoil) => {
    const { env, v8, file } = await warmHome()
    const before = lstatSync(file).ino
    spoil(file, v8)
    const result = await run(env)
    expect(result.code).toBe(0)
    expect(lstatSync(file).ino).not.toBe(before)
    expect(lstatSync(file).mode & 0o777).toBe(0o600)
  })

  it('is not read through a symbolic link: the link is replaced by a file of its own', async () => {
    const { env, v8, file } = await warmHome()
    const elsewhere = join(v8, '..', 'planted.bin')
    cpSync(file, elsewhere)
    rmSync(file)
    symlinkSync(elsewhere, file)
    expect((await run(env)).code).toBe(0)
    expect(lstatSync(file).isFile()).toBe(true)
    expect(lstatSync(file).mode & 0o777).toBe(0o600)
  })

  it("an earlier install's caches of the same command are removed once 30 days old; others stay", async () => {
    const home = mkdtempSync(join(tmpdir(), 'bktx-v8-'))
    dirs.push(home)
    const env = { HOME: home, XDG_CACHE_HOME: join(home, 'cache'), XDG_CONFIG_HOME: join(home, 'config') }
    const v8 = join(home, 'cache', 'bktx', 'v8')
    mkdirSync(v8, { recursive: true, mode: 0o700 })
    const old = new Date(Date.now() - 40 * 24 * 60 * 60 * 1000)
    const plant = (name: string, stale: boolean): string => {
      const path = join(v8, name)
      writeFileSync(path, 'an old cache', { mode: 0o600 })
      if (stale) utimesSync(path, old, old)
      return path
    }
    plant('cli.cjs-help-v18.0.0-x64-1-2-3-4-5.bin', true)
    plant('cli.cjs-help-v18.0.0-x64-1-2-3-4-5.bin.999.tmp', true)
    const recentSame = plant('cli.cjs-help-v22.0.0-x64-1-2-3-4-5.bin', false)
    const staleOther = plant('cli.cjs-status-v18.0.0-x64-1-2-3-4-5.bin', true)
    const staleLonger = plant('cli.cjs-help-token-v18.0.0-x64-1-2-3-4-5.bin', true)
    expect((await run(env)).code).toBe(0)
    const left = readdirSync(v8)
    expect(left).not.toContain('cli.cjs-help-v18.0.0-x64-1-2-3-4-5.bin')
    expect(left).not.toContain('cli.cjs-help-v18.0.0-x64-1-2-3-4-5.bin.999.tmp')
    for (const kept of [recentSame, staleOther, staleLonger]) expect(lstatSync(kept).isFile()).toBe(true)
    expect(left.filter((name) => name.startsWith(`cli.cjs-help-${process.version}-`))).toHaveLength(1)
  })

  it('goes to $BKTX_CODE_CACHE when that is an absolute path (made 0700), and nowhere with off', async () => {
    const home = mkdtempSync(join(tmpdir(), 'bktx-v8-'))
    dirs.push(home)
    const env = { HOME: home, XDG_CACHE_HOME: join(home, 'cache'), XDG_CONFIG_HOME: join(home, 'config') }
    const elsewhere = join(home, 'kept', 'v8')
    expect((await runBin(['help', 'token'], { env: { ...env, BKTX_CODE_CACHE: elsewhere } })).code).toBe(0)
    expect(lstatSync(elsewhere).mode & 0o777).toBe(0o700)
    expect(readdirSync(elsewhere).filter((name) => name.startsWith('cli.cjs-help-'))).toHaveLength(1)
    expect(existsSync(join(home, 'cache'))).toBe(false)
    // A relative path is not a place: the default one is used.
    expect((await runBin(['help', 'token'], { env: { ...env, BKTX_CODE_CACHE: 'v8' } })).code).toBe(0)
    expect(readdirSync(join(home, 'cache', 'bktx', 'v8')).filter((name) => name.startsWith('cli.cjs-help-'))).toHaveLength(1)
    rmSync(join(home, 'cache'), { recursive: true })
    rmSync(elsewhere, { recursive: true })
    const off = await runBin(['help', 'token'], { env: { ...env, BKTX_CODE_CACHE: 'off' } })
    expect(off.code).toBe(0)
    expect(off.stdout).toContain('bktx token')
    expect([existsSync(join(home, 'cache')), existsSync(elsewhere)]).toEqual([false, false])
  })
})
