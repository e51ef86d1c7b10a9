import { copyFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, runBin, runProcess } from '../helpers/spawn.js'
import { tokenWorld, type TokenWorld } from '../helpers/token-setup.js'

// What bin/bktx.js answers before loading the full CLI (src/fast/static.ts: --version and help
// from constants; src/fast/token.ts: `bktx token` and `bktx env` from the cache) must be
// byte for byte what the full CLI (dist/cli.cjs, commander, run by test/fixtures/full-cli.cjs with
// no fast path in front) prints, with the same exit code.

const FULL = fileURLToPath(new URL('../fixtures/full-cli.cjs', import.meta.url))

let world: TokenWorld
let env: Record<string, string>
beforeAll(async () => {
  world = await tokenWorld()
  env = { ...world.env, BKTX_CACHE: 'file' }
  expect((await runBin(['token', '--scope', 'read_builds'], { env })).code).toBe(0)
})
afterAll(() => world.cleanup())

const quote = (args: string[]) => args.map((a) => `'${a}'`).join(' ')
/** Runs `args` through a shell program named `shell` (a copy of /bin/sh): the parent `bktx env` reads. */
const both = async (args: string[], shell = 'sh') => {
  const sh = join(world.home.dir, shell)
  copyFileSync('/bin/sh', sh)
  // `; true`: the shell stays the parent instead of exec'ing node.
  const fast = await runBin([], {
    env,
    shell: `exec ${sh} -c '"$0" "$@"; true' ${process.execPath} ${quote([fileURLToPath(new URL('../../bin/bktx.js', import.meta.url)), ...args])}`,
  })
  const full = await runBin([], { env, shell: `exec ${sh} -c '"$0" "$@"; true' ${process.execPath} ${quote([FULL, ...args])}` })
  return { fast, full }
}

describe('the answers bin/bktx.js gives before the full CLI', () => {
  it.each([['--version'], ['-V'], ['help'], ['--help'], ['-h']])('bktx %s prints what commander prints', async (arg) => {
    const { fast, full } = await both([arg])
    expect(full.code).toBe(0)
    expect(full.stdout.length).toBeGreaterThan(0)
    expect(fast).toEqual(full)
  })

  it.each([
    [['token', '--scope', 'read_builds']],
    [['token', '--scope', 'read_builds', '--json']],
    [['env', '--scope', 'read_builds']],
    [['env', '--scope', 'read_builds', '--shell', 'fish']],
    [['env', '--scope', 'read_builds', '--shell', 'powershell']],
    [['env', '--scope', 'read_builds', '--json']],
    [['--json', 'env', '--scope=read_builds']],
    [['env', '--scope', 'read_builds', '--shell', 'nosuch']],
  ])('bktx %j from the cache prints what the full CLI prints', async (args) => {
    const { fast, full } = await both(args)
    expect(fast).toEqual(full)
  })

  // A hit costs mostly what it loads (docs/benchmarks.md): these built-in modules cost it
  // milliseconds each and it needs none of them (node:module brings the ES module loader).
  it.each([['token'], ['env']])('a bktx %s hit loads no built-in module it does not need', async (command) => {
    const probe = join(world.home.dir, 'loaded-modules.cjs')
    writeFileSync(probe, "process.on('exit', () => require('node:fs').writeSync(2, `\\nLOADED ${JSON.stringify(process.moduleLoadList)}\\n`))\n")
    const run = await runProcess(process.execPath, ['-r', probe, BIN, command, '--scope', 'read_builds'], { env: { PATH: process.env['PATH'], ...env } })
    expect(run.code).toBe(0)
    const loaded = JSON.parse(/^LOADED (.*)$/m.exec(run.stderr)?.[1] ?? 'null') as string[]
    expect(loaded).toContain('NativeModule vm')
    const unneeded = ['crypto', 'os', 'module', 'fs/promises', 'stream', 'internal/modules/esm/loader'].map((name) => `NativeModule ${name}`)
    expect(loaded.filter((name) => unneeded.includes(name))).toEqual([])
  })

  // Once a token command remembered the key's identity (src/keys/identity.ts), status describes
  // the key from it: node:crypto is a tenth of `node -e 0` (issue 23).
  it('bktx status loads no node:crypto for a key file a token command has read', async () => {
    const probe = join(world.home.dir, 'loaded-modules.cjs')
    writeFileSync(probe, "process.on('exit', () => require('node:fs').writeSync(2, `\\nLOADED ${JSON.stringify(process.moduleLoadList)}\\n`))\n")
    const run = await runProcess(process.execPath, ['-r', probe, BIN, 'status'], { env: { PATH: process.env['PATH'], ...env } })
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^key {7}.*\n {10}ES256, kid .* loads$/m)
    const loaded = JSON.parse(/^LOADED (.*)$/m.exec(run.stderr)?.[1] ?? 'null') as string[]
    expect(loaded).toContain('NativeModule vm')
    expect(loaded.filter((name) => name === 'NativeModule crypto' || name === 'Internal Binding crypto')).toEqual([])
  })

  it('bktx env writes the syntax of the shell that runs it, as the full CLI does', async () => {
    const { fast, full } = await both(['env', '--scope', 'read_builds'], 'fish')
    expect(full.stdout).toMatch(/^set -gx BUILDKITE_API_TOKEN /)
    expect(fast).toEqual(full)
  })
})
