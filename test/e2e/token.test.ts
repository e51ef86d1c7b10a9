import { spawn, spawnSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isCI } from '../../src/cache/select.js'
import { probeSecretService } from '../../src/secrets/probe.js'
import { tempHome } from '../helpers/cli.js'
import { startCountingProxy } from '../helpers/proxy.js'
import { BIN, runBin } from '../helpers/spawn.js'
import { spawnServer, type ServerProcess } from '../helpers/spawn-server.js'
import { MEMBER } from '../helpers/server.js'

let home: Awaited<ReturnType<typeof tempHome>>
let server: ServerProcess
let env: Record<string, string>
let stateDir: string

async function mints(): Promise<number> {
  const text = await readFile(join(stateDir, 'audit.jsonl'), 'utf8').catch(() => '')
  return text.split('\n').filter((line) => line.includes('"token.minted"')).length
}

beforeAll(async () => {
  home = await tempHome()
  const key = join(home.dir, 'key.pem')
  // The key `bktx keygen` makes (P-256, PKCS#8 PEM, 0600), made here: a bktx start less, and
  // keygen has tests of its own (test/cli/keygen.test.ts).
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  await writeFile(key, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
  stateDir = join(home.dir, 'state')
  server = await spawnServer(
    [
      '--member',
      MEMBER,
      '--org',
      'acme',
      '--jwks',
      key,
      '--client-id',
      'e2e-client',
      '--state-dir',
      stateDir,
      '--grantable',
      'read_builds read_pipelines read_user',
    ],
    home.env,
  )
  env = {
    ...home.env,
    BKTX_TOKEN_URL: `${server.url}/oauth/token`,
    BKTX_API_URL: server.url,
    BKTX_CLIENT_ID: 'e2e-client',
    BKTX_KEY: key,
    BKTX_ORG: 'acme',
    BKTX_SUBJECT: MEMBER,
    BKTX_CACHE: 'file',
  }
})
afterAll(async () => {
  await server.stop()
  await home.cleanup()
})

describe('bktx token from the built binary against bktx server', () => {
  it('32 parallel cold calls make exactly one exchange (counted in the audit log) and print the same token', async () => {
    const before = await mints()
    const runs = await Promise.all(Array.from({ length: 32 }, () => runBin(['token', '--scope', 'read_user'], { env, timeoutMs: 60_000 })))
    expect(runs.map((r) => r.code)).toEqual(Array(32).fill(0))
    expect(new Set(runs.map((r) => r.stdout)).size).toBe(1)
    expect(await mints()).toBe(before + 1)
  }, 90_000)

  it('env speaks the language of the shell that runs it, not of $SHELL; --shell wins', async () => {
    const bin = `${process.execPath} ${BIN}`
    // A bash script run by a fish user: the parent is bash.
    const bash = spawnSync('bash', ['-c', `eval "$(${bin} env)" && printf '%s\\n' "$BUILDKITE_ORGANIZATION_SLUG"`], {
      env: { ...env, SHELL: '/usr/bin/fish' },
      encoding: 'utf8',
    })
    expect(bash.stderr).toBe('')
    expect(bash.stdout).toBe('acme\n')
    // fish run by a bash user: the parent is fish.
    const fish = spawnSync('fish', ['--no-config', '-c', `${bin} env | source; printf '%s\\n' $BUILDKITE_ORGANIZATION_SLUG`], {
      env: { ...env, HOME: home.dir, SHELL: '/bin/bash' },
      encoding: 'utf8',
    })
    expect(fish.stdout).toBe('acme\n')
    // A parent that is not a shell (node here): $SHELL decides.
    expect((await runBin(['env'], { env: { ...env, SHELL: '/usr/bin/fish' } })).stdout).toMatch(/^set -gx BUILDKITE_API_TOKEN /)
    expect((await runBin(['env'], { env: { ...env, SHELL: '/bin/zsh' } })).stdout).toMatch(/^export BUILDKITE_API_TOKEN=/)
    const forced = spawnSync('bash', ['-c', `${bin} env --shell fish`], { env: { ...env, SHELL: '/bin/bash' }, encoding: 'utf8' })
    expect(forced.stdout).toMatch(/^set -gx BUILDKITE_API_TOKEN /)
  })

  it('exports variables that bash and fish evaluate to the same values', async () => {
    const json = JSON.parse((await runBin(['env', '--json'], { env })).stdout)
    const bash = spawnSync(
      'bash',
      [
        '-c',
        `eval "$(${process.execPath} ${BIN} env --shell bash)" && printf '%s\\n' "$BUILDKITE_API_TOKEN" "$BUILDKITE_ORGANIZATION_SLUG" "$BKTX_TOKEN_EXPIRES_AT"`,
      ],
      { env, encoding: 'utf8' },
    )
    expect(bash.stdout).toBe(`${json.BUILDKITE_API_TOKEN}\n${json.BUILDKITE_ORGANIZATION_SLUG}\n${json.BKTX_TOKEN_EXPIRES_AT}\n`)
    const fish = spawnSync(
      'fish',
      [
        '--no-config',
        '-c',
        `${process.execPath} ${BIN} env --shell fish | source; printf '%s\\n' $BUILDKITE_API_TOKEN $BUILDKITE_ORGANIZATION_SLUG $BKTX_TOKEN_EXPIRES_AT`,
      ],
      { env: { ...env, HOME: home.dir }, encoding: 'utf8' },
    )
    expect(fish.stdout).toBe(bash.stdout)
  })

  it('never sends the loopback server through HTTP_PROXY or HTTPS_PROXY, whatever NO_PROXY says (issue 13)', async () => {
    const proxy = await startCountingProxy()
    try {
      for (const noProxy of [undefined, 'example.test']) {
        const proxyEnv = { ...env, HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, ...(noProxy === undefined ? {} : { NO_PROXY: noProxy }) }
        const result = await runBin(['token', '--no-cache'], { env: proxyEnv })
        expect(result.code).toBe(0)
      }
      expect([proxy.connects, proxy.forwards, proxy.connections]).toEqual([[], [], 0])
    } finally {
      await proxy.close()
    }
  })

  it('fails within --timeout with exit 5 and nothing on stdout when the server is down', async () => {
    // Ends by itself: runBin's kill timer (20 s, ten times the --timeout) would end it by
    // SIGKILL instead, with no exit code. Exit 5 whether --timeout or the last of the four
    // attempts comes first, so the assertion does not race the retries.
    const result = await runBin(['token', '--no-cache', '--timeout', '2s'], {
      env: { ...env, BKTX_TOKEN_URL: 'http://127.0.0.1:9/oauth/token' },
      timeoutMs: 20_000,
    })
    expect(result.code).toBe(5)
    expect(result.stdout).toBe('')
  })
})

describe('bktx exec', () => {
  it('passes the variables, exits with the command code, and refuses to nest', async () => {
    const ok = await runBin([], { env, shell: `$BKTX exec -- sh -c 'test -n "$BUILDKITE_API_TOKEN" && test "$BUILDKITE_ORGANIZATION_SLUG" = acme && exit 7'` })
    expect(ok.code).toBe(7)
    expect(ok.stdout).toBe('')
    const nested = await runBin([], { env, shell: `$BKTX exec -- $BKTX exec -- true` })
    expect(nested.code).toBe(2)
    expect(nested.stderr).toMatch(/already inside bktx exec/)
    const allowed = await runBin([], { env, shell: `$BKTX exec -- $BKTX exec --allow-nested -- true` })
    expect(allowed.code).toBe(0)
  })

  it('exits 127 when the command is not found and 126 when it cannot be executed, as shells do', async () => {
    const missing = await runBin(['exec', '--', 'no-such-command-bktx'], { env })
    expect(missing).toMatchObject({ code: 127, stdout: '' })
    expect(missing.stderr).toBe('error: cannot run no-such-command-bktx: command not found\n')
    const notExecutable = await runBin(['exec', '--', '/etc/passwd'], { env })
    expect(notExecutable).toMatchObject({ code: 126, stdout: '' })
    expect(notExecutable.stderr).toMatch(/^error: cannot run \/etc\/passwd: permission denied/)
    expect((await runBin(['exec', '--', '/etc'], { env })).code).toBe(126)
    // The command's own 126 and 127 pass through unchanged.
    expect((await runBin(['exec', '--', 'sh', '-c', 'exit 127'], { env })).code).toBe(127)
  })

  it('dies of the signal its command died of, so the shell sees the same; 128 + N without a core dump for SIGQUIT', async () => {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGPIPE'] as const) {
      const result = await runBin(['exec', '--', 'sh', '-c', `kill -${signal.slice(3)} $$`], { env })
      expect(result, signal).toMatchObject({ code: null, signal })
    }
    // sh cannot dump core for SIGQUIT when its limit is 0; bktx never re-raises it.
    const quit = await runBin([], { env, shell: `ulimit -c 0; $BKTX exec -- sh -c 'kill -QUIT $$'` })
    expect(quit).toMatchObject({ code: 131, signal: null })
    // Six runs one after another: a kill timer far beyond need on a saturated machine.
  }, 300_000)

  it("leaves the command's own -v alone: no verbose output from bktx, the command's exit code (issue 9)", async () => {
    const result = await runBin(['exec', '--', 'sh', '-c', 'exit 3', '-v'], { env })
    expect(result.code).toBe(3)
    expect(result.stderr).not.toMatch(/debug:/)
    // A failure before the command starts is reported plainly too: -v after -- is not bktx's.
    const failed = await runBin(['exec', '--kid', 'x', '--key', '/nonexistent/key.pem', '--', 'sh', '-c', 'exit 3', '-v'], { env })
    expect(failed.code).toBe(3)
    expect(failed.stderr).toMatch(/^error: .*key.pem/)
    expect(failed.stderr).not.toMatch(/debug:/)
  })

  it('forwards SIGTERM to the command and dies of it when the command does', async () => {
    const child = spawn(process.execPath, [BIN, 'exec', '--', 'sh', '-c', 'echo ready; sleep 30'], { env: { PATH: process.env['PATH'], ...env } })
    let out = ''
    await new Promise<void>((resolve) => child.stdout.on('data', (chunk) => ((out += chunk), out.includes('ready') && resolve())))
    child.kill('SIGTERM')
    const ended = await new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
    expect(ended).toEqual({ code: null, signal: 'SIGTERM' })
  })

  it('--revoke-on-exit revokes the token when the command ends', async () => {
    const result = await runBin([], { env, shell: `$BKTX exec --revoke-on-exit --scope read_pipelines -- sh -c 'echo "$BUILDKITE_API_TOKEN"'` })
    expect(result.code).toBe(0)
    const token = result.stdout.trim()
    expect(result.stderr).toMatch(/token revoked/)
    const me = await fetch(`${server.url}/v2/access-token`, { headers: { Authorization: `Bearer ${token}` } })
    expect(me.status).toBe(401)
  })

  it('--revoke-on-exit uses a token of its own: concurrent runs and the cached token are untouched', async () => {
    const status = async (token: string) => (await fetch(`${server.url}/v2/access-token`, { headers: { Authorization: `Bearer ${token}` } })).status
    const cached = (await runBin(['token', '--scope', 'read_builds'], { env })).stdout.trim()
    const dir = join(home.dir, 'revoke')
    await mkdir(dir)
    // A waits until B has ended (and revoked its token), then checks that its own still works.
    const a = runBin([], {
      env,
      shell: `$BKTX exec --revoke-on-exit --scope read_builds -- sh -c 'echo "$BUILDKITE_API_TOKEN" > ${dir}/a; while [ ! -f ${dir}/b-done ]; do sleep 0.05; done'`,
      timeoutMs: 30_000,
    })
    while (!existsSync(join(dir, 'a'))) await new Promise((resolve) => setTimeout(resolve, 50))
    const b = await runBin([], { env, shell: `$BKTX exec --revoke-on-exit --scope read_builds -- sh -c 'echo "$BUILDKITE_API_TOKEN"'` })
    expect(b.code).toBe(0)
    const tokenA = (await readFile(join(dir, 'a'), 'utf8')).trim()
    const tokenB = b.stdout.trim()
    expect(new Set([cached, tokenA, tokenB]).size).toBe(3)
    expect(await status(tokenB)).toBe(401)
    expect(await status(tokenA)).toBe(200)
    await writeFile(join(dir, 'b-done'), '')
    expect((await a).code).toBe(0)
    expect(await status(tokenA)).toBe(401)
    // The cached token was neither used nor revoked, and is still what the cache serves.
    expect(await status(cached)).toBe(200)
    expect((await runBin(['token', '--scope', 'read_builds'], { env })).stdout.trim()).toBe(cached)
  })
})

// The keychain backend against the session's real Secret Service (.ci/run starts gnome-keyring
// under dbus-run-session). Outside CI a machine without one skips this; with CI set it fails.
const session = await probeSecretService({ env: process.env, uid: process.getuid?.() ?? 0, timeoutMs: 3000 })
describe.skipIf(session.state !== 'unlocked' && !isCI(process.env))('bktx token with the real keychain', () => {
  it('stores the token in the Secret Service and serves it from there', async () => {
    expect(session.state).toBe('unlocked')
    const keychainEnv = {
      ...env,
      ...pick(process.env, ['DBUS_SESSION_BUS_ADDRESS', 'XDG_RUNTIME_DIR']),
      BKTX_CACHE: 'keychain',
      XDG_RUNTIME_DIR: env['XDG_RUNTIME_DIR'] as string,
    }
    const first = await runBin(['token', '--json', '--scope', 'read_pipelines', '--refresh'], { env: keychainEnv })
    expect(first.code).toBe(0)
    const doc = JSON.parse(first.stdout)
    expect(doc).toMatchObject({ cached: false, cache: 'keychain' })
    const found = spawnSync('secret-tool', ['search', '--all', 'service', 'bktx'], { encoding: 'utf8' })
    expect(`${found.stdout}${found.stderr}`).toContain(doc.token)
    // The hit's lock probe asks the bus over Node's pipe handle, not node:net (src/fast/main.ts),
    // which with the streams it loads costs a hit about a fifth of `node -e 0` (issue 23).
    const probe = join(env['HOME'] as string, 'loaded-modules.cjs')
    await writeFile(probe, "process.on('exit', () => require('node:fs').writeSync(2, `\\nLOADED ${JSON.stringify(process.moduleLoadList)}\\n`))\n")
    const hit = await runBin(['token', '--json', '--scope', 'read_pipelines'], { env: { ...keychainEnv, NODE_OPTIONS: `--require ${probe}` } })
    const second = JSON.parse(hit.stdout)
    expect(second).toMatchObject({ token: doc.token, cached: true, cache: 'keychain' })
    const loaded = JSON.parse(/^LOADED (.*)$/m.exec(hit.stderr)?.[1] ?? 'null') as string[]
    expect(loaded).toContain('Internal Binding pipe_wrap')
    expect(loaded.filter((name) => ['NativeModule net', 'NativeModule internal/stream_base_commons'].includes(name))).toEqual([])
    await runBin(['logout', '--scope', 'read_pipelines'], { env: keychainEnv })
  })
})

function pick(source: NodeJS.ProcessEnv, names: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of names) if (source[name] !== undefined) out[name] = source[name] as string
  return out
}
