import { createWriteStream, existsSync, readdirSync } from 'node:fs'
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lazyKeyringStore } from '../../src/secrets/lazy.js'
import { guardStream } from '../../src/term/process.js'
import { fixedClock, runCli, type CliResult } from '../helpers/cli.js'
import { runBin } from '../helpers/spawn.js'
import { tokenWorld, type TokenWorld } from '../helpers/token-setup.js'

// `bktx status` is answered by dist/fast-status.cjs (src/fast/status.ts) without commander:
// what it prints, on stdout and stderr, and its exit code must be byte for byte what the full
// CLI gives for the same command line. The fast path runs as users run it (bin/bktx.js, a real
// process); the full CLI in-process through src/main.ts with the real keychain store, so that
// nothing but the path differs. What the fast path does not serve goes to the full CLI in the
// same process: those lines must come out the same too, and the ones it serves must really be
// served by it (no code cache of the full CLI's status is written).

let world: TokenWorld
const clock = fixedClock(Math.floor(Date.now() / 1000) * 1000)
let env: Record<string, string>
let home: Record<string, string>
let configPath: string

beforeAll(async () => {
  // One stopped clock, on a whole second, for the server and the mints: every cached token
  // then expires on a whole second, and what status prints changes only at half seconds.
  world = await tokenWorld({ clock })
  env = { ...world.env, BKTX_CACHE: 'file' }
  expect((await runCli(['token', '--scope', 'read_builds'], { env, clock })).code).toBe(0)
  expect((await runCli(['token', '--scope', 'read_pipelines', '--ttl', '10m'], { env, clock })).code).toBe(0)
  // Another subject's token is not this profile's; an expired one is listed as expired.
  expect((await runCli(['token', '--subject-type', 'uuid', '--subject', '11111111-2222-4333-8444-555555555555'], { env, clock })).code).toBe(0)
  clock.advance(-3 * 3600)
  const old = await runCli(['token', '--scope', 'read_builds read_pipelines', '--ttl', '10m'], { env, clock })
  expect(old.code, old.stderr).toBe(0)
  clock.advance(3 * 3600)
  // The same settings in a configuration file, in two profiles.
  home = Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('BKTX_') || k === 'BKTX_CACHE'))
  configPath = join(world.home.dir, 'config', 'bktx', 'config.json')
  const profile = {
    'token-url': env.BKTX_TOKEN_URL,
    'client-id': env.BKTX_CLIENT_ID,
    key: world.keyPath,
    org: env.BKTX_ORG,
    subject: env.BKTX_SUBJECT,
  }
  await mkdir(join(world.home.dir, 'config', 'bktx'), { recursive: true, mode: 0o700 })
  await writeFile(configPath, JSON.stringify({ profiles: { default: profile, work: { ...profile, kid: 'work-kid' } } }), { mode: 0o600 })
})
afterAll(() => world.cleanup())

const result = (r: { code: number | null; stdout: string; stderr: string }) => ({ code: r.code, stdout: r.stdout, stderr: r.stderr })

/** Whether the last run of bin/bktx.js ran the full CLI's status to a success (it then writes that command's code cache). */
const fullCliRan = (e: Record<string, string>) => {
  const dir = join(e.XDG_CACHE_HOME as string, 'bktx', 'v8')
  return existsSync(dir) && readdirSync(dir).some((n) => n.startsWith('cli.cjs-status-'))
}

/**
 * `bktx status ARGS` through bin/bktx.js, and the full CLI's answer in-process at the moment
 * the process read the clock: the run lies between two instants, and the output can change
 * only at half seconds (the tokens expire on whole seconds), so one full run per whole second
 * of that span covers every output the process could have given.
 */
async function compare(args: string[], e: Record<string, string>, options: { full?: boolean; devFull?: boolean } = {}) {
  await rm(join(e.XDG_CACHE_HOME as string, 'bktx', 'v8'), { recursive: true, force: true })
  const started = Date.now()
  const quoted = args.map((a) => `'${a}'`).join(' ')
  const fast = result(await runBin([], { env: e, shell: `exec $BKTX status ${quoted}${options.devFull === true ? ' >/dev/full' : ''}` }))
  const ended = Date.now()
  const served = !fullCliRan(e)
  const candidates: CliResult[] = []
  for (let t = Math.floor(started / 1000) * 1000; t <= Math.ceil(ended / 1000) * 1000; t += 1000) {
    const secrets = lazyKeyringStore({ env: e, uid: process.getuid?.(), platform: process.platform, arch: process.arch })
    candidates.push(
      await runCli(['status', ...args], {
        env: e,
        home: e.HOME,
        clock: fixedClock(t),
        secrets,
        ...(options.devFull === true ? { stdoutStream: guardStream(createWriteStream('/dev/full') as unknown as NodeJS.WriteStream) } : {}),
      }),
    )
  }
  const full =
    candidates.map(result).find((c) => c.code === fast.code && c.stdout === fast.stdout && c.stderr === fast.stderr) ?? result(candidates[0] as CliResult)
  return { fast, full, served }
}

describe('bktx status from dist/fast-status.cjs', () => {
  it.each([
    ['a profile with live, expired and foreign tokens', [], {}],
    ['the same, --json', ['--json'], {}],
    ['--quiet', ['-q'], {}],
    ['--no-color', ['--no-color'], {}],
    ['NO_COLOR', ['--json'], { NO_COLOR: '1' }],
    ['--json --json', ['--json', '--json'], {}],
    ['another key: the tokens are listed as not served', [], { BKTX_KID: '' }],
    ['the auto cache mode, no D-Bus session (the keychain is absent)', ['--json'], { BKTX_CACHE: '' }],
  ] as const)('%s: the full CLI output, served without it', async (_, args, extra) => {
    const { fast, full, served } = await compare([...args], { ...env, ...extra })
    expect(fast.code).toBe(0)
    expect(fast).toEqual(full)
    expect(served).toBe(true)
  })

  it.each([
    ['no configuration file, no key', [], {}],
    ['the default profile of a configuration file', ['--json'], { useConfig: '1' }],
    ['--profile NAME', ['--profile', 'work'], { useConfig: '1' }],
    ['--profile=NAME --json', ['--profile=work', '--json'], { useConfig: '1' }],
    ['BKTX_PROFILE', [], { useConfig: '1', BKTX_PROFILE: 'work' }],
    ['--config PATH', ['--config', 'CONFIG'], { emptyHome: '1' }],
  ] as const)('%s: the full CLI output, served without it', async (_, args, extra) => {
    const { useConfig, emptyHome, ...vars } = extra as Record<string, string>
    let e: Record<string, string> = { ...home, ...vars }
    if (useConfig === undefined && emptyHome === undefined) {
      // A home of its own, with neither configuration nor tokens.
      const dir = join(world.home.dir, 'fresh')
      await mkdir(join(dir, 'run'), { recursive: true, mode: 0o700 })
      e = { HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), XDG_CACHE_HOME: join(dir, 'cache'), XDG_RUNTIME_DIR: join(dir, 'run'), BKTX_CACHE: 'file' }
    }
    if (emptyHome !== undefined) e = { ...e, XDG_CONFIG_HOME: join(world.home.dir, 'elsewhere') }
    const { fast, full, served } = await compare(
      args.map((a) => (a === 'CONFIG' ? configPath : a)),
      e,
    )
    expect(fast.code).toBe(0)
    expect(fast).toEqual(full)
    expect(served).toBe(true)
  })

  it.each([
    // A key the fast path cannot describe (its loader is the full CLI's): the full CLI does.
    ['a 0644 key, reported as not loading', [], 'loose', 0],
    ['--verbose, which says where each setting came from', ['--verbose'], undefined, 0],
    ['an unknown option', ['--bogus'], undefined, 2],
    ['--help', ['--help'], undefined, 0],
    ['a profile the file does not hold', ['--profile', 'nosuch'], 'config', 3],
    ['an invalid profile name', ['--profile', 'a b'], undefined, 2],
    ['--profile without its value', ['--profile'], undefined, 2],
    ['an argument', ['extra'], undefined, undefined],
  ] as const)('%s: what the full CLI prints, with its exit code', async (_, args, setup, code) => {
    let e: Record<string, string> = env
    if (setup === 'loose') {
      const loose = join(world.home.dir, 'loose.pem')
      await writeFile(loose, world.server.key.privateKey.export({ format: 'pem', type: 'pkcs8' }))
      await chmod(loose, 0o644)
      e = { ...env, BKTX_KEY: loose }
    }
    if (setup === 'config') e = home
    const { fast, full } = await compare([...args], e)
    if (code !== undefined) expect(fast.code).toBe(code)
    expect(fast).toEqual(full)
  })

  it('an invalid configuration file: exit 3 and the full CLI message', async () => {
    const bad = join(world.home.dir, 'bad.json')
    await writeFile(bad, '{"profiles": {"default": {"ttl": "ten"}}}', { mode: 0o600 })
    const { fast, full } = await compare(['--config', bad, '--json'], home)
    expect(fast.code).toBe(3)
    expect(fast.stdout).toBe('')
    expect(fast).toEqual(full)
  })

  it.skipIf(!existsSync('/dev/full'))('stdout on a full device: exit 9 and the one line the full CLI prints', async () => {
    const { fast, full, served } = await compare([], env, { devFull: true })
    expect(fast.code).toBe(9)
    expect(fast.stderr).toBe('error: cannot write to stdout: no space left on the device (ENOSPC)\n')
    expect(fast).toEqual(full)
    // A run that fails writes no code cache: nothing to tell which path wrote this.
    void served
  })
})
