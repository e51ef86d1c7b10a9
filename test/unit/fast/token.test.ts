import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { buildAllCommands, makeProgram } from '../../../src/cli/program.js'
import { cachedToken, FAST_ENV_FLAGS, FAST_FLAGS, parseFastTokenArgs } from '../../../src/fast/token.js'
import { KeychainError } from '../../../src/errors.js'
import { MemorySecretStore } from '../../../src/secrets/store.js'
import { fixedClock, runCli } from '../../helpers/cli.js'
import { tokenWorld, type TokenWorld } from '../../helpers/token-setup.js'

describe('the fast path flag table', () => {
  it('agrees with commander: every flag of `bktx token` and `bktx env` and the globals, with the same arity', () => {
    let out = ''
    const program = buildAllCommands(
      makeProgram({
        stdout: { write: (s) => void (out += s), isTTY: false },
        stderr: { write: () => undefined, isTTY: false },
        stdinIsTTY: true,
        readStdin: async () => '',
        env: {},
        clock: { now: () => new Date() },
        signals: { on: () => () => undefined },
        fetch,
        secrets: new MemorySecretStore(),
        platform: process.platform,
        cwd: '/',
        uid: 0,
        home: '/',
        version: '0',
      }),
    )
    for (const [command, table] of [
      ['token', FAST_FLAGS],
      ['env', FAST_ENV_FLAGS],
    ] as const) {
      const cmd = program.commands.find((c) => c.name() === command)
      const commander = new Map<string, 'value' | 'boolean'>()
      for (const option of [...(cmd?.options ?? []), ...program.options]) {
        const arity = option.required || option.optional ? 'value' : 'boolean'
        for (const name of [option.long, option.short]) if (name !== undefined && name !== '-V' && name !== '--version') commander.set(name, arity)
      }
      expect(new Map([...table].sort()), command).toEqual(new Map([...commander].sort()))
    }
  })

  it('leaves anything it does not fully handle to the full CLI', () => {
    expect(parseFastTokenArgs(['--scope', 'read_builds', '--scope=read_user', '--json', '--ttl', '15m'])).toMatchObject({
      settings: { scope: 'read_builds read_user', ttl: '15m' },
      json: true,
    })
    for (const argv of [
      ['--refresh'],
      ['--no-cache'],
      ['-v'],
      ['--help'],
      ['-h'],
      ['extra'],
      ['--scope'],
      ['--scope', '--json'],
      ['--min-ttl', 'soon'],
      ['--json=1'],
      ['--unknown'],
    ]) {
      expect(parseFastTokenArgs(argv)).toBeUndefined()
    }
  })
})

describe('cachedToken', () => {
  let world: TokenWorld
  beforeEach(async () => {
    world = await tokenWorld()
  })
  afterEach(() => world.cleanup())

  const deps = (clock = { now: () => new Date() }) => ({
    env: { ...world.env, BKTX_CACHE: 'file' },
    stderrIsTTY: false,
    home: world.home.dir,
    uid: process.getuid?.(),
    cwd: world.home.dir,
    clock,
    secrets: new MemorySecretStore(),
  })

  it('serves exactly what the full CLI prints on a hit, and nothing on a miss', async () => {
    expect(await cachedToken([], deps())).toBeUndefined()
    const full = await runCli(['token', '--cache', 'file'], { env: world.env })
    expect(await cachedToken([], deps())).toMatchObject({ stdout: full.stdout, stderr: '', colour: false })
    const json = await runCli(['token', '--cache', 'file', '--json'], { env: world.env })
    expect(await cachedToken(['--json'], deps())).toMatchObject({ stdout: json.stdout, stderr: '', colour: false })
    expect(await cachedToken(['--scope', 'read_pipelines'], deps())).toBeUndefined()
  })

  it('does not serve a token inside the min-ttl window, nor after a settings error', async () => {
    const clock = fixedClock(new Date())
    await runCli(['token', '--cache', 'file', '--ttl', '10m'], { env: world.env, clock })
    expect((await cachedToken(['--ttl', '10m'], deps(clock)))?.stdout).toMatch(/^bktx_/)
    clock.advance(6 * 60)
    expect(await cachedToken(['--ttl', '10m'], deps(clock))).toBeUndefined()
    expect(await cachedToken(['--ttl', 'ten'], deps())).toBeUndefined()
  })

  it("in auto mode without a keychain, the day's first mint says so and hits are served silently, on a terminal too (issue 20)", async () => {
    const locked = new MemorySecretStore()
    locked.fail = new KeychainError('the Secret Service collection is locked')
    const { BKTX_CACHE: _file, ...env } = deps().env
    const first = await runCli(['token'], { env, secrets: locked })
    expect(first.stderr).toMatch(
      /^warning: no keychain \(it is not available\): caching tokens in \S+ \(said once a day\); to choose files and not see this, pass --cache file, set BKTX_CACHE=file, or run `bktx config set cache file`\n$/,
    )
    const full = await runCli(['token'], { env, secrets: locked })
    expect(full.stderr).toBe('')
    const auto = { ...deps(), env, secrets: locked }
    expect(await cachedToken([], auto)).toMatchObject({ stdout: full.stdout, stderr: '', colour: false })
    expect(await cachedToken([], { ...auto, stderrIsTTY: true })).toMatchObject({ stdout: full.stdout, stderr: '', colour: true })
  })

  it('drops notices with --quiet, -q or BKTX_QUIET=1, as the full CLI does, and then serves a hit on a terminal too', async () => {
    const locked = new MemorySecretStore()
    locked.fail = new KeychainError('the Secret Service collection is locked')
    const { BKTX_CACHE: _file, ...env } = deps().env
    // The day's notice is dropped with the rest under --quiet.
    expect((await runCli(['token', '--quiet'], { env, secrets: locked })).stderr).toBe('')
    for (const [argv, extra] of [
      [['--quiet'], {}],
      [['-q'], {}],
      [[], { BKTX_QUIET: '1' }],
    ] as const) {
      const full = await runCli(['token', ...argv], { env: { ...env, ...extra }, secrets: locked })
      expect(full.code).toBe(0)
      expect(full.stderr).toBe('')
      const fast = { ...deps(), env: { ...env, ...extra }, secrets: locked, stderrIsTTY: true }
      expect(await cachedToken(argv, fast)).toMatchObject({ stdout: full.stdout, stderr: '', colour: true })
    }
    // BKTX_QUIET=0 is not quiet (a mint says it again once the day's marker is gone).
    const runtime = join(world.env.XDG_RUNTIME_DIR, 'bktx')
    for (const scope of await readdir(runtime))
      for (const name of await readdir(join(runtime, scope)).catch(() => [])) if (name.startsWith('said-')) await rm(join(runtime, scope, name))
    expect((await runCli(['token', '--refresh'], { env: { ...env, BKTX_QUIET: '0' }, secrets: locked })).stderr).toMatch(/^warning: /)
  })
})
