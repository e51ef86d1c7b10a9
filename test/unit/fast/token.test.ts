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
    expect(await cachedToken([], deps())).toEqual({ stdout: full.stdout, stderr: '', colour: false })
    const json = await runCli(['token', '--cache', 'file', '--json'], { env: world.env })
    expect(await cachedToken(['--json'], deps())).toEqual({ stdout: json.stdout, stderr: '', colour: false })
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

  it("serves a hit in auto mode without a keychain with the full CLI's warning line, unless it would be coloured", async () => {
    const locked = new MemorySecretStore()
    locked.fail = new KeychainError('the Secret Service collection is locked')
    const { BKTX_CACHE: _file, ...env } = deps().env
    await runCli(['token'], { env, secrets: locked })
    const full = await runCli(['token'], { env, secrets: locked })
    expect(full.stderr).toMatch(/^warning: .*locked; using the file cache in /)
    expect(full.stderr).toMatch(
      /to make that your choice and stop trying the keychain \(and this note\), pass --cache file, set BKTX_CACHE=file, or run `bktx config set cache file`\n$/,
    )
    const auto = { ...deps(), env, secrets: locked }
    expect(await cachedToken([], auto)).toEqual({ stdout: full.stdout, stderr: full.stderr, colour: false })
    expect(await cachedToken([], { ...auto, stderrIsTTY: true })).toBeUndefined()
    expect(await cachedToken(['--no-color'], { ...auto, stderrIsTTY: true })).toEqual({ stdout: full.stdout, stderr: full.stderr, colour: false })
  })

  it('drops notices with --quiet, -q or BKTX_QUIET=1, as the full CLI does, and then serves a hit on a terminal too', async () => {
    const locked = new MemorySecretStore()
    locked.fail = new KeychainError('the Secret Service collection is locked')
    const { BKTX_CACHE: _file, ...env } = deps().env
    await runCli(['token'], { env, secrets: locked })
    for (const [argv, extra] of [
      [['--quiet'], {}],
      [['-q'], {}],
      [[], { BKTX_QUIET: '1' }],
    ] as const) {
      const full = await runCli(['token', ...argv], { env: { ...env, ...extra }, secrets: locked })
      expect(full.code).toBe(0)
      expect(full.stderr).toBe('')
      const fast = { ...deps(), env: { ...env, ...extra }, secrets: locked, stderrIsTTY: true }
      expect(await cachedToken(argv, fast)).toEqual({ stdout: full.stdout, stderr: '', colour: true })
    }
    // BKTX_QUIET=0 is not quiet.
    expect((await runCli(['token'], { env: { ...env, BKTX_QUIET: '0' }, secrets: locked })).stderr).toMatch(/^warning: /)
  })
})
