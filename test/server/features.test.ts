import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { MemoryAuditSink } from '../../src/server/state/audit.js'
import { fakeSignals, runCli, tempHome } from '../helpers/cli.js'
import { http, postForm } from '../helpers/http.js'
import { assertion, baseConfig, CLIENT_ID, exchange, EXCHANGE, MEMBER, startServer, testKey, type RunningServer } from '../helpers/server.js'

const exec = promisify(execFile)
let home: Awaited<ReturnType<typeof tempHome>>
const running: RunningServer[] = []
beforeEach(async () => {
  home = await tempHome()
})
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()))
  await home.cleanup()
})

async function start(...args: Parameters<typeof startServer>): Promise<RunningServer> {
  const server = await startServer(...args)
  running.push(server)
  return server
}

describe('the Buildkite announcement curl command, verbatim', () => {
  it('mints a token with an assertion from bktx sign', async () => {
    const keyPath = join(home.dir, 'key.pem')
    await runCli(['keygen', '--out', keyPath], { env: home.env })
    const jwks = JSON.parse((await runCli(['jwks', '--key', keyPath], { env: home.env })).stdout)
    const key = await testKey()
    const server = await start({ doc: baseConfig(key, (doc) => (doc.apps[0].jwks = jwks)), key })
    const endpoint = `${server.url}/v2/oauth/token`
    const signed = await runCli(['sign', '--client-id', CLIENT_ID, '--key', keyPath, '--token-url', endpoint], { env: home.env })
    const script = `curl -sS -X POST ${endpoint} \\
  -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange \\
  -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \\
  -d client_assertion=$SIGNED_JWT \\
  -d audience=acme \\
  -d subject_token=$USER_EMAIL \\
  -d subject_token_type=urn:buildkite:params:oauth:token-type:user-email \\
  -d scope="read_builds read_pipelines"`
    const { stdout } = await exec('sh', ['-c', script], { env: { PATH: process.env['PATH'], SIGNED_JWT: signed.stdout.trim(), USER_EMAIL: MEMBER } })
    expect(JSON.parse(stdout)).toMatchObject({ token_type: 'Bearer', scope: 'read_builds read_pipelines', access_token: expect.stringMatching(/^bktx_/) })
  })
})

describe('JWKS URI served by bktx jwks serve', () => {
  it('verifies with the fetched keys and picks up a rotated key without restart', async () => {
    const oldKey = await testKey('ES256', 'old')
    const newKey = await testKey('RS256', 'new')
    const jwksFile = join(home.dir, 'jwks.json')
    await writeFile(jwksFile, JSON.stringify({ keys: [oldKey.publicJwk] }))
    const signals = fakeSignals()
    let jwksUrl = ''
    let ready: () => void = () => undefined
    const listening = new Promise<void>((resolve) => (ready = resolve))
    const serving = runCli(['jwks', 'serve', '--port', '0', '--key', jwksFile], {
      env: home.env,
      signals,
      onStderr: (chunk) => {
        const match = /serving JWKS at (\S+)/.exec(chunk)
        if (match?.[1] !== undefined) {
          jwksUrl = match[1]
          ready()
        }
      },
    })
    await listening
    try {
      const server = await start({
        key: oldKey,
        // jose times its refetch cooldown with Date.now(), out of reach of the injected clock;
        // with none, the unknown kid refetches at once. The cooldown has its own test (corpus:
        // JWKS amplification).
        jwksCooldownMs: 0,
        doc: baseConfig(oldKey, (doc) => {
          delete doc.apps[0].jwks
          doc.apps[0].jwks_uri = jwksUrl
          doc.allow_http_jwks = true
        }),
      })
      expect((await exchange(server)).status).toBe(200)
      // Rotation: publish old and new together; the new kid is unknown to the cached set.
      await writeFile(jwksFile, JSON.stringify({ keys: [oldKey.publicJwk, newKey.publicJwk] }))
      expect((await exchange(server, {}, { key: newKey })).status).toBe(200)
      expect((await exchange(server, {}, { key: oldKey })).status).toBe(200)
    } finally {
      signals.emit('SIGTERM')
      await serving
    }
  })

  it('refuses a plain-http JWKS URI unless allowed, and then only to loopback', async () => {
    const key = await testKey()
    const doc = baseConfig(key, (d) => {
      delete d.apps[0].jwks
      d.apps[0].jwks_uri = 'http://127.0.0.1:1/jwks.json'
    })
    await expect(startServer({ doc, key })).rejects.toMatchObject({
      message: 'config file test config: apps[0].jwks_uri: must be https://',
      advice: ['http:// to a loopback host needs ', { option: 'allow-http-jwks' }],
    })
    doc.allow_http_jwks = true
    doc.apps[0].jwks_uri = 'http://example.test/jwks.json'
    await expect(startServer({ doc, key })).rejects.toThrow(/only to a loopback host/)
  })

  it('fails closed (invalid_client) when the JWKS URI is unreachable, with the reason only in the audit log', async () => {
    const key = await testKey()
    const server = await start({
      key,
      doc: baseConfig(key, (d) => {
        delete d.apps[0].jwks
        d.apps[0].jwks_uri = 'http://127.0.0.1:9/jwks.json'
        d.allow_http_jwks = true
      }),
    })
    const response = await exchange(server)
    expect(response.json).toEqual({ error: 'invalid_client', error_description: 'Invalid client assertion signature' })
    const records = (server.server.state.audit as MemoryAuditSink).records
    expect(records.at(-1)?.detail).toMatch(/key or JWKS problem|fetch/i)
  })
})

describe('IP allow-lists, judged on the socket address', () => {
  it('refuses exchanges from outside the exchange list and token use from outside the token list', async () => {
    const key = await testKey()
    const server = await start({
      key,
      doc: baseConfig(key, (d) => {
        d.apps[0].exchange_ips = ['127.0.0.1/32', '::1']
        d.apps[0].token_ips = ['127.0.0.2']
      }),
    })
    const outside = await exchange(server, {}, { localAddress: '127.0.0.2' })
    // The description a bad signature gets: no oracle for whether an address is on the list.
    expect(outside.json).toEqual({ error: 'invalid_client', error_description: 'Invalid client assertion signature' })
    const inside = await exchange(server, {}, { localAddress: '127.0.0.1' })
    expect(inside.status).toBe(200)
    const auth = { Authorization: `Bearer ${inside.json.access_token}` }
    expect((await http(`${server.url}/v2/access-token`, { headers: auth, localAddress: '127.0.0.1' })).status).toBe(403)
    expect((await http(`${server.url}/v2/access-token`, { headers: auth, localAddress: '127.0.0.2' })).status).toBe(200)
  })

  it('ignores X-Forwarded-For', async () => {
    const key = await testKey()
    const server = await start({ key, doc: baseConfig(key, (d) => (d.apps[0].exchange_ips = ['10.0.0.0/8'])) })
    const response = await exchange(server, {}, { headers: { 'X-Forwarded-For': '10.1.2.3' } })
    expect(response.json.error).toBe('invalid_client')
  })
})

describe('rate limiting per organisation', () => {
  it('answers 429 with Retry-After, RateLimit-* headers and the REST body plus an OAuth error', async () => {
    const key = await testKey()
    const server = await start({ key, doc: baseConfig(key, (d) => (d.organizations[0].rate_limit = 3)) })
    const statuses = []
    let last
    for (let i = 0; i < 4; i++) {
      last = await exchange(server)
      statuses.push(last.status)
    }
    expect(statuses).toEqual([200, 200, 200, 429])
    expect(last?.headers['retry-after']).toMatch(/^\d+$/)
    expect(last?.headers['ratelimit-limit']).toBe('3')
    expect(last?.headers['ratelimit-remaining']).toBe('0')
    expect(Number(last?.headers['ratelimit-reset'])).toBeGreaterThan(0)
    expect(last?.json).toEqual({
      message: expect.any(String),
      scope: 'token_exchange',
      limit: 3,
      current: 4,
      reset: expect.any(Number),
      error: 'temporarily_unavailable',
      error_description: 'Too many token exchange requests for this organization; retry after the time in Retry-After',
    })
    expect(last?.headers['cache-control']).toBe('no-store')
    expect(last?.headers['pragma']).toBe('no-cache')
  })
})

describe('the REST sample', () => {
  it('checks scopes and token validity; revocation is final', async () => {
    const server = await start()
    const token = (await exchange(server, { scope: 'read_builds' })).json.access_token as string
    const auth = { Authorization: `Bearer ${token}` }
    const me = await http(`${server.url}/v2/access-token`, { headers: auth })
    expect(me.json).toEqual({
      uuid: expect.stringMatching(/^[0-9a-f-]{36}$/),
      scopes: ['read_builds'],
      description: expect.any(String),
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/),
      expires_at: expect.stringMatching(/ UTC$/),
      user: { name: 'Dev', email: MEMBER },
    })
    expect((await http(`${server.url}/v2/organizations/acme/builds`, { headers: auth })).status).toBe(200)
    const missing = await http(`${server.url}/v2/organizations/acme/pipelines`, { headers: auth })
    expect(missing.status).toBe(403)
    expect(missing.json.message).toMatch(/read_pipelines/)
    expect((await http(`${server.url}/v2/organizations/other-org/builds`, { headers: auth })).status).toBe(404)
    expect((await http(`${server.url}/v2/access-token`, { headers: { Authorization: 'Bearer bktx_unknown' } })).status).toBe(401)
    expect((await http(`${server.url}/v2/access-token`)).status).toBe(401)
    expect((await http(`${server.url}/v2/access-token`, { method: 'DELETE', headers: auth })).status).toBe(204)
    expect((await http(`${server.url}/v2/organizations/acme/builds`, { headers: auth })).status).toBe(401)
  })

  it('rejects an expired token with 401 (injected clock)', async () => {
    let now = Date.now()
    const server = await start({ clock: { now: () => new Date(now) } })
    const token = (await exchange(server, { expires_in: '60' })).json.access_token as string
    const auth = { Authorization: `Bearer ${token}` }
    expect((await http(`${server.url}/v2/access-token`, { headers: auth })).status).toBe(200)
    now += 61_000
    expect((await http(`${server.url}/v2/access-token`, { headers: auth })).status).toBe(401)
  })
})

describe('persistence with a state directory', () => {
  it('keeps tokens valid, revocations final and replays rejected across a restart', async () => {
    const stateDir = join(home.dir, 'state')
    const key = await testKey()
    const first = await startServer({ key, stateDir })
    const kept = (await exchange(first)).json.access_token as string
    const revoked = (await exchange(first)).json.access_token as string
    await http(`${first.url}/v2/access-token`, { method: 'DELETE', headers: { Authorization: `Bearer ${revoked}` } })
    const used = await assertion(first)
    expect((await postForm(first.tokenUrl, { ...EXCHANGE, client_assertion: used })).status).toBe(200)
    await first.stop()

    const second = await start({ key, stateDir })
    expect((await http(`${second.url}/v2/access-token`, { headers: { Authorization: `Bearer ${kept}` } })).status).toBe(200)
    expect((await http(`${second.url}/v2/access-token`, { headers: { Authorization: `Bearer ${revoked}` } })).status).toBe(401)
    // The replayed assertion names the first server's URL: accept that URL as audience here.
    second.server.state.config.audiences.push(first.tokenUrl)
    const replay = await postForm(second.tokenUrl, { ...EXCHANGE, client_assertion: used })
    expect(replay.json.error_description).toBe('JWT has already been used (jti)')

    const lines = (await readFile(join(stateDir, 'audit.jsonl'), 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(lines.map((l) => l.type)).toEqual(['token.minted', 'token.minted', 'token.revoked', 'token.minted', 'token.exchange_failed'])
    const state = await readFile(join(stateDir, 'state.jsonl'), 'utf8')
    expect(state).not.toContain(kept)
    expect(await readFile(join(stateDir, 'audit.jsonl'), 'utf8')).not.toContain(kept)
  })

  it('repairs a torn last line left by a crash, so every audit line parses', async () => {
    const stateDir = join(home.dir, 'state')
    const first = await startServer({ stateDir })
    await exchange(first)
    await first.stop()
    await writeFile(join(stateDir, 'audit.jsonl'), '{"time":"torn', { flag: 'a' })
    await writeFile(join(stateDir, 'state.jsonl'), '{"t":"mint","tok', { flag: 'a' })
    const second = await start({ key: first.key, stateDir })
    await exchange(second)
    const lines = (await readFile(join(stateDir, 'audit.jsonl'), 'utf8')).trimEnd().split('\n')
    expect(lines).toHaveLength(2)
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow()
  })
})
