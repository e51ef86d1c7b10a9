/**
 * Crash safety (issue 5), on the built binary (`npm test` builds it; otherwise `npm run build`):
 * - `bktx server --state-dir` killed with SIGKILL under load, and during start-up, then
 *   restarted: every audit and state line parses, every token whose 200 reached a client still
 *   works, and every jti of those exchanges is still refused as a replay.
 * - `bktx keygen` killed with SIGKILL at random moments, and the instant its temporary file
 *   appears: no partial key is ever readable where a key is expected, and what a crash leaves
 *   behind is a hidden `.tmp` file, mode 0600, that nothing reads as a key.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, watch } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/file.js'
import { loadSigningKey } from '../../src/keys/load.js'
import { http } from '../helpers/http.js'
import { BIN } from '../helpers/spawn.js'
import { spawnServer, type ServerProcess } from '../helpers/spawn-server.js'
import { es256, jws, makeKey, writeFigures, type Key } from './support.js'
import { CODE_CACHE } from '../helpers/code-cache.js'

const CLIENT = 'crash-client'
const MEMBER = 'dev@acme.test'
/** A fixed extra audience, so assertions stay valid across restarts on new ports. */
const AUD = 'https://bktx.test/oauth/token'
const REPLAY = 'JWT has already been used (jti)'

const figures = {
  server_kills: 0,
  startup_kills: 0,
  keygen_kills: 0,
  keygen_kills_mid_write: 0,
  exchanges_sent: 0,
  tokens_acknowledged: 0,
  keygen_outcomes: {} as Record<string, number>,
}

let dir: string
let env: Record<string, string>
beforeAll(async () => {
  if (!existsSync(join(BIN, '..', '..', 'dist', 'bin.js'))) throw new Error('bin/bktx.js needs dist/: run `npm run build` (npm test does)')
  dir = await mkdtemp(join(tmpdir(), 'bktx-crash-'))
  env = { HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), XDG_CACHE_HOME: join(dir, 'cache'), ...CODE_CACHE }
})
afterAll(async () => {
  writeFigures('crash', figures)
  await rm(dir, { recursive: true, force: true })
})

/** Each test's timeout: a kill timer about ten times what a loaded 2-core machine needs. */
const KILL_AFTER_MS = 120_000

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const between = (min: number, max: number): number => min + Math.floor(Math.random() * (max - min + 1))

// ---------------------------------------------------------------------------------------------

describe('kill -9 of bktx server --state-dir', () => {
  interface Acked {
    jti: string
    assertion: string
    token: string
  }

  function assertionFor(key: Key, jti: string = randomUUID()): string {
    const now = Math.floor(Date.now() / 1000)
    return jws({ alg: 'ES256', typ: 'JWT', kid: key.kid }, { iss: CLIENT, sub: CLIENT, aud: AUD, iat: now, exp: now + 240, jti }, es256(key.privateKey))
  }

  const form = (assertion: string): string =>
    new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
      subject_token: MEMBER,
      subject_token_type: 'urn:buildkite:params:oauth:token-type:user-email',
      audience: 'acme',
    }).toString()

  /** One exchange on its own connection; the token only when the whole 200 response arrived. */
  function exchangeOnce(url: string, body: string): Promise<string | undefined> {
    return new Promise((resolve) => {
      const req = request(
        `${url}/oauth/token`,
        { method: 'POST', agent: false, headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body) } },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('error', () => resolve(undefined))
          res.on('end', () => {
            try {
              const json = JSON.parse(Buffer.concat(chunks).toString()) as { access_token?: string }
              resolve(res.statusCode === 200 && res.complete ? json.access_token : undefined)
            } catch {
              resolve(undefined)
            }
          })
        },
      )
      req.on('error', () => resolve(undefined))
      req.end(body)
    })
  }

  /** 24 clients exchanging as fast as they can until the server dies. */
  async function load(url: string, key: Key, acked: Acked[]): Promise<void> {
    let alive = true
    const worker = async (): Promise<void> => {
      while (alive) {
        const jti = randomUUID()
        const assertion = assertionFor(key, jti)
        figures.exchanges_sent++
        const token = await exchangeOnce(url, form(assertion))
        if (token === undefined) alive = false
        else acked.push({ jti, assertion, token })
      }
    }
    await Promise.all(Array.from({ length: 24 }, worker))
  }

  async function verifyAfterRestart(server: ServerProcess, stateDir: string, acked: Acked[]): Promise<void> {
    // Every line of both journals parses (a torn tail was cut off on start).
    for (const name of ['audit.jsonl', 'state.jsonl']) {
      const text = await readFile(join(stateDir, name), 'utf8')
      expect(text === '' || text.endsWith('\n'), name).toBe(true)
      for (const line of text.split('\n').filter((l) => l !== '')) expect(() => JSON.parse(line), `${name}: ${line.slice(0, 80)}`).not.toThrow()
    }
    const audit = (await readFile(join(stateDir, 'audit.jsonl'), 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { type: string; token_sha256: string | null; jti: string | null })
    const mintedJtis = new Set(audit.filter((r) => r.type === 'token.minted').map((r) => r.jti))
    // Every acknowledged token is audited, still valid, and its jti still refused.
    for (const { jti } of acked) expect(mintedJtis.has(jti), jti).toBe(true)
    const checks = await Promise.all(
      acked.map(async ({ token, assertion }) => {
        const me = await http(`${server.url}/v2/access-token`, { headers: { Authorization: `Bearer ${token}` } })
        const replay = await http(`${server.url}/oauth/token`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: form(assertion),
        })
        return { me: me.status, replay: replay.json?.error_description as string | undefined }
      }),
    )
    expect(checks.filter((c) => c.me !== 200)).toEqual([])
    expect(checks.filter((c) => c.replay !== REPLAY)).toEqual([])
  }

  it(
    'keeps every acknowledged token valid and every used jti refused, across kills under load and during start-up',
    async () => {
      const key = await makeKey('EC', 'crash-key')
      const jwksPath = join(dir, 'jwks.json')
      await writeFile(jwksPath, JSON.stringify({ keys: [key.jwk] }))
      const stateDir = join(dir, 'state')
      const args = ['--member', MEMBER, '--jwks', jwksPath, '--client-id', CLIENT, '--state-dir', stateDir, '--aud', AUD, '--grantable', 'read_builds']
      const acked: Acked[] = []

      let server = await spawnServer(args, env)
      try {
        for (let cycle = 0; cycle < 3; cycle++) {
          const before = acked.length
          let loading = true
          const running = load(server.url, key, acked).finally(() => (loading = false))
          await sleep(between(80, 400))
          // On a busy machine the random window can pass with little answered: kill only once this
          // cycle has acknowledged a few exchanges, so every cycle tests some. No time cap (the
          // test's timeout is the kill timer; the clients stop at their first failed exchange).
          while (acked.length < before + 8 && loading) await sleep(20)
          await server.stop('SIGKILL')
          figures.server_kills++
          await running
          // A kill while the restarted server replays and compacts its state.
          if (cycle === 1) {
            const child: ChildProcess = spawn(process.execPath, [BIN, 'server', '--port', '0', ...args], {
              env: { PATH: process.env['PATH'], ...env },
              stdio: 'ignore',
            })
            await sleep(between(60, 250))
            child.kill('SIGKILL')
            await new Promise((resolve) => child.once('exit', resolve))
            figures.startup_kills++
          }
          server = await spawnServer(args, env)
          await verifyAfterRestart(server, stateDir, acked)
        }
      } finally {
        await server.stop('SIGTERM')
      }
      figures.tokens_acknowledged = acked.length
      expect(acked.length).toBeGreaterThan(20)
      // Start-up compaction is atomic; a kill may leave its temporary file, never a torn state.
      // Nothing in the state directory is readable by another user.
      expect((await stat(stateDir)).mode & 0o077).toBe(0)
      for (const name of await readdir(stateDir)) {
        expect(name).toMatch(/^(audit\.jsonl|state\.jsonl|\.state\.jsonl\.[0-9a-f]{12}\.tmp)$/)
        expect((await stat(join(stateDir, name))).mode & 0o077, name).toBe(0)
      }
    },
    KILL_AFTER_MS,
  )
})

// ---------------------------------------------------------------------------------------------

describe('kill -9 of bktx keygen', () => {
  const TEMP = /^\.[0-9A-Za-z_-]+\.(pem|json)\.[0-9a-f]{12}\.tmp$/

  /** Runs keygen in its own config directory and kills it per `plan`; returns that directory. */
  async function keygenKilled(index: number, plan: 'at-random' | 'mid-write', after: number): Promise<{ configDir: string; killed: boolean }> {
    const configHome = join(dir, `keygen-${index}`)
    const keysDir = join(configHome, 'bktx', 'keys')
    const child = spawn(process.execPath, [BIN, 'keygen'], { env: { PATH: process.env['PATH'], HOME: dir, XDG_CONFIG_HOME: configHome }, stdio: 'ignore' })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    let killed = false
    const kill = (): void => {
      if (child.exitCode === null && child.signalCode === null) {
        killed = child.kill('SIGKILL')
      }
    }
    if (plan === 'at-random') {
      setTimeout(kill, after)
    } else {
      // The instant a temporary file appears in the keys directory, the write is under way.
      const { mkdir } = await import('node:fs/promises')
      await mkdir(keysDir, { recursive: true, mode: 0o700 })
      const watcher = watch(keysDir, (_event, name) => {
        if (name?.endsWith('.tmp')) {
          watcher.close()
          if (after === 0) kill()
          else setTimeout(kill, after)
        }
      })
      void exited.then(() => watcher.close())
    }
    await exited
    return { configDir: join(configHome, 'bktx'), killed }
  }

  async function inspect(configDir: string): Promise<string> {
    const keysDir = join(configDir, 'keys')
    const names = existsSync(keysDir) ? await readdir(keysDir) : []
    if (existsSync(keysDir)) expect((await stat(keysDir)).mode & 0o077).toBe(0)
    let outcome = 'nothing written'
    for (const name of names) {
      const path = join(keysDir, name)
      const info = await stat(path)
      // Never readable by anyone else, complete or not.
      expect(info.mode & 0o077, name).toBe(0)
      if (name.endsWith('.pem')) {
        // A file under a key's name is always a whole, loadable key.
        const key = await loadSigningKey(path)
        expect(`${key.kid}.pem`).toBe(name)
        outcome = outcome === 'temporary file left' ? 'key and temporary file' : 'complete key'
      } else {
        expect(name).toMatch(TEMP)
        outcome = outcome === 'complete key' ? 'key and temporary file' : 'temporary file left'
      }
    }
    // The config file is written after the key: when present it parses, and names a whole key.
    const configFile = join(configDir, 'config.json')
    if (existsSync(configFile)) {
      const config = parseConfig(await readFile(configFile, 'utf8'), configFile)
      const keyPath = config.profiles['default']?.key
      if (keyPath !== undefined) await expect(loadSigningKey(keyPath)).resolves.toMatchObject({ alg: 'ES256' })
    }
    // Nothing else in the config directory (a temporary config file, say) reads as a key.
    for (const name of existsSync(configDir) ? await readdir(configDir) : []) {
      if (name === 'keys' || name === 'config.json') continue
      const path = join(configDir, name)
      if ((await stat(path)).isFile()) await expect(loadSigningKey(path), name).rejects.toThrow()
    }
    return outcome
  }

  it(
    'never leaves a partial key where a key is read, whenever it dies',
    async () => {
      // How long a whole run takes here, to spread the random kills over its life.
      const started = Date.now()
      const whole = await keygenKilled(0, 'at-random', 60_000)
      const duration = Date.now() - started
      expect(await inspect(whole.configDir)).toBe('complete key')

      // The measured duration only spreads the random kills over a run's life; nothing bounds it.
      const plans: Array<['at-random' | 'mid-write', number]> = [
        ...Array.from({ length: 8 }, (): ['at-random', number] => ['at-random', between(Math.floor(duration * 0.4), Math.floor(duration * 1.05))]),
        ...Array.from({ length: 8 }, (_, i): ['mid-write', number] => ['mid-write', i % 4 === 0 ? 0 : between(0, 6)]),
      ]
      for (let i = 0; i < plans.length; i += 2) {
        const batch = plans.slice(i, i + 2)
        const results = await Promise.all(batch.map(([plan, after], j) => keygenKilled(i + j + 1, plan, after)))
        for (const [j, result] of results.entries()) {
          const outcome = await inspect(result.configDir)
          if (result.killed) {
            figures.keygen_kills++
            if (batch[j]?.[0] === 'mid-write') figures.keygen_kills_mid_write++
          }
          figures.keygen_outcomes[outcome] = (figures.keygen_outcomes[outcome] ?? 0) + 1
        }
      }
      // The mid-write kills must actually have landed before the key was complete at least once.
      expect(figures.keygen_kills_mid_write).toBeGreaterThan(0)
      expect((figures.keygen_outcomes['temporary file left'] ?? 0) + (figures.keygen_outcomes['nothing written'] ?? 0)).toBeGreaterThan(0)
    },
    KILL_AFTER_MS,
  )
})
