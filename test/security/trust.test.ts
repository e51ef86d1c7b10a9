/**
 * The reference server's second security round (issue 12): nothing on disk is trusted that
 * another user could have put there, tokens are re-checked against the configuration at every
 * use, JWKS fetching is bounded whatever the host answers, IP lists take canonical spellings
 * only, and client mistakes (aborted uploads, odd Expect values) stay client errors.
 *
 * Tests that need a second uid chown to one and so run as root (CI runs as root); elsewhere
 * they are skipped with a message, and when CI is set they run and fail.
 */
import { randomUUID } from 'node:crypto'
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runInNewContext } from 'node:vm'
import { setFlagsFromString } from 'node:v8'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { isCI } from '../../src/cache/select.js'
import { ConfigError, FileError } from '../../src/errors.js'
import { parseServerConfig } from '../../src/server/config/config.js'
import { FORM, http } from '../helpers/http.js'
import { runBktx } from '../helpers/security-cli.js'
import { runBin } from '../helpers/spawn.js'
import { spawnServer, type ServerProcess } from '../helpers/spawn-server.js'
import { es256, jws, makeKey, startListener, startSecurityServer, writeFigures, type Key, type Listener } from './support.js'
import { CODE_CACHE } from '../helpers/code-cache.js'

// Test and hook timeouts are kill timers, about ten times what a loaded 2-core machine needs:
// no test here bounds a duration (a spawned run has its own kill timer and must end by itself).
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 })

const CLIENT = 'trust-client'
const MEMBER = 'dev@acme.test'
/** A fixed extra audience, so assertions stay valid across restarts on new ports. */
const AUD = 'https://bktx.test/oauth/token'
const SIG = 'Invalid client assertion signature'
const OTHER_UID = 54321
const root = process.getuid?.() === 0
const ci = isCI(process.env)
// Outside CI a non-root run skips what needs chown; in CI those tests run (and fail) anyway.
const asRoot = root || ci
const EXCHANGE = {
  grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
  client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
  subject_token_type: 'urn:buildkite:params:oauth:token-type:user-email',
  subject_token: MEMBER,
  audience: 'acme',
}

const figures = {
  cases: 0,
  refused_starts: 0,
  jwks_requests: 0,
  jwks_fetches: 0,
  rechecked_tokens: 0,
  aborted_uploads: 0,
  /** Of those, requests the server had parsed before the reset (each must log one line). */
  aborted_requests_seen: 0,
  aborted_log_lines: 0,
  aborted_heap_growth_bytes: 0,
  skipped_not_root: asRoot ? 0 : 1,
}

let key: Key
let work: string
let env: Record<string, string>
let configPath: string

beforeAll(async () => {
  if (!asRoot)
    console.warn('test/security/trust.test.ts: not root, so the tests that chown a state directory to another uid are skipped (CI runs them as root)')
  key = await makeKey('EC', 'k1')
  work = await mkdtemp(join(tmpdir(), 'bktx-trust-'))
  env = { HOME: work, XDG_CONFIG_HOME: join(work, 'config'), XDG_CACHE_HOME: join(work, 'cache'), ...CODE_CACHE }
  configPath = join(work, 'server.json')
  writeFileSync(configPath, JSON.stringify(doc()))
})

afterAll(async () => {
  writeFigures('trust', figures)
  await rm(work, { recursive: true, force: true })
})

const running: Array<{ stop(): Promise<unknown> }> = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()))
})

/** The server configuration; `patch` edits it (one organisation, one app, two members). */
function doc(patch: (d: any) => void = () => undefined): any {
  const d = {
    organizations: [{ slug: 'acme', members: [{ email: MEMBER, name: 'Dev' }, { email: 'ops@acme.test' }] }],
    apps: [{ client_id: CLIENT, org: 'acme', jwks: { keys: [key.jwk] }, grantable_scopes: ['read_builds', 'read_pipelines'], default_scopes: ['read_builds'] }],
    audiences: [AUD],
  }
  patch(d)
  return d
}

function assertion(over: Record<string, unknown> = {}, nowS = Math.floor(Date.now() / 1000)): string {
  return jws(
    { alg: 'ES256', typ: 'JWT', kid: key.kid },
    { iss: CLIENT, sub: CLIENT, aud: AUD, iat: nowS, exp: nowS + 60, jti: randomUUID(), ...over },
    es256(key.privateKey),
  )
}

async function mint(
  url: string,
  fields: Record<string, string> = {},
  options: { nowS?: number; localAddress?: string } = {},
): Promise<{ status: number; json: any; headers: Record<string, string> }> {
  const response = await http(`${url}/oauth/token`, {
    method: 'POST',
    headers: FORM,
    body: new URLSearchParams({ ...EXCHANGE, client_assertion: assertion({}, options.nowS), ...fields }).toString(),
    ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
  })
  return { status: response.status, json: response.json, headers: response.headers as Record<string, string> }
}

const use = (url: string, token: string, path = '/v2/access-token', method = 'GET') =>
  http(`${url}${path}`, { method, headers: { Authorization: `Bearer ${token}` } })

function freshDir(name: string): string {
  const dir = join(work, `${name}-${randomUUID().slice(0, 8)}`)
  return dir
}

/**
 * A server start that must be refused: the CLI in-process (the refusal comes before listening;
 * a start that is not refused never returns, and the test's timeout turns it red).
 */
async function refusedStart(args: string[]): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const result = await runBktx(['server', '--port', '0', '--config', configPath, ...args], { env })
  figures.refused_starts++
  return result
}

async function serve(args: string[]): Promise<ServerProcess> {
  const server = await spawnServer(['--config', configPath, ...args], env)
  running.push({ stop: () => server.stop() })
  return server
}

// ---------------------------------------------------------------------------------------------

describe("the state directory is trusted only when it is the server user's own", () => {
  it.skipIf(!asRoot)(
    "another user's directory with a planted token and audit.jsonl pointing at the server user's file: refused, the file untouched",
    async () => {
      // Issue 12 finding 1, as another local user would set it up under /tmp.
      const dir = freshDir('planted')
      mkdirSync(dir, { mode: 0o755 })
      const planted = `bktx_${'A'.repeat(43)}`
      const { createHash } = await import('node:crypto')
      const record = {
        sha256: createHash('sha256').update(planted).digest('hex'),
        uuid: randomUUID(),
        org: 'acme',
        clientId: CLIENT,
        user: { uuid: randomUUID(), email: MEMBER, name: 'Dev' },
        scopes: ['write_builds'],
        description: 'planted',
        createdAt: Math.floor(Date.now() / 1000),
        expiresAt: Math.floor(Date.now() / 1000) + 365 * 86400,
        revoked: false,
      }
      writeFileSync(join(dir, 'state.jsonl'), `${JSON.stringify({ t: 'mint', token: record, jti: null })}\n`)
      const victim = join(work, `precious-${randomUUID().slice(0, 8)}`)
      writeFileSync(victim, "the server user's data, no newline at the end", { mode: 0o600 })
      symlinkSync(victim, join(dir, 'audit.jsonl'))
      chownSync(dir, OTHER_UID, OTHER_UID)
      chownSync(join(dir, 'state.jsonl'), OTHER_UID, OTHER_UID)

      const result = await refusedStart(['--state-dir', dir])
      expect(result.code).toBe(3)
      expect(result.stdout).toBe('')
      expect(result.stderr).toBe(
        `error: refusing the state directory ${dir}: it belongs to uid ${OTHER_UID}, not to the server's user (uid 0); give the server a directory of its own with --state-dir (it creates a missing one with mode 0700)\n`,
      )
      expect(readFileSync(victim, 'utf8')).toBe("the server user's data, no newline at the end")
      expect(existsSync(join(dir, 'server.lock'))).toBe(false)
      figures.cases++
    },
  )

  it.skipIf(!asRoot)("another user's directory holding only a planted token (no symlink): refused, so the token is never loaded", async () => {
    const dir = freshDir('planted-only')
    mkdirSync(dir, { mode: 0o700 })
    const planted = { t: 'mint', token: null, jti: { client_id: CLIENT, jti: 'planted', until: Math.floor(Date.now() / 1000) + 86400 } }
    writeFileSync(join(dir, 'state.jsonl'), `${JSON.stringify(planted)}\n`)
    chownSync(join(dir, 'state.jsonl'), OTHER_UID, OTHER_UID)
    chownSync(dir, OTHER_UID, OTHER_UID)
    const result = await refusedStart(['--state-dir', dir])
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(new RegExp(`^error: refusing the state directory ${dir}: it belongs to uid ${OTHER_UID}`))
    figures.cases++
  })

  it.skipIf(!asRoot)('a file of the directory that belongs to another user is refused', async () => {
    const dir = freshDir('foreign-file')
    mkdirSync(dir, { mode: 0o700 })
    writeFileSync(join(dir, 'audit.jsonl'), '')
    chownSync(join(dir, 'audit.jsonl'), OTHER_UID, OTHER_UID)
    const result = await refusedStart(['--state-dir', dir])
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(
      new RegExp(`^error: refusing ${dir}/audit\\.jsonl: it belongs to uid ${OTHER_UID}, not to the server's user \\(uid 0\\); remove it, or give the server`),
    )
    figures.cases++
  })

  it.each([
    ['0777', 0o777],
    ['0770', 0o770],
    ['0702', 0o702],
  ])('its own directory writable by others (mode %s) is refused, naming the mode and the fix', async (shown, mode) => {
    const dir = freshDir('loose')
    mkdirSync(dir)
    chmodSync(dir, mode)
    const result = await refusedStart(['--state-dir', dir])
    expect(result.code).toBe(3)
    expect(result.stderr).toBe(
      `error: refusing the state directory ${dir}: its mode is ${shown}: other users can write to it; run \`chmod go-w ${dir}\`, or give the server a directory of its own with --state-dir (it creates a missing one with mode 0700)\n`,
    )
    figures.cases++
  })

  it('a symlink as the directory, or a file, is refused', async () => {
    const target = freshDir('target')
    mkdirSync(target, { mode: 0o700 })
    const link = freshDir('link')
    symlinkSync(target, link)
    const linked = await refusedStart(['--state-dir', link])
    expect(linked.code).toBe(3)
    expect(linked.stderr).toMatch(new RegExp(`^error: refusing the state directory ${link}: it is a symbolic link;`))
    expect(existsSync(join(target, 'state.jsonl'))).toBe(false)
    const file = freshDir('file')
    writeFileSync(file, '')
    const notDir = await refusedStart(['--state-dir', file])
    expect(notDir.code).toBe(3)
    expect(notDir.stderr).toMatch(/it is not a directory|cannot create the state directory/)
    figures.cases += 2
  })

  it.each(['audit.jsonl', 'state.jsonl'])('%s as a symlink is refused, and its target is neither truncated nor appended to', async (name) => {
    const dir = freshDir('symlinked')
    mkdirSync(dir, { mode: 0o700 })
    const victim = join(work, `victim-${randomUUID().slice(0, 8)}`)
    // No newline at the end: the old start-up tail repair truncated such a file to 0 bytes.
    writeFileSync(victim, 'keep me', { mode: 0o600 })
    symlinkSync(victim, join(dir, name))
    const result = await refusedStart(['--state-dir', dir])
    if (name === 'state.jsonl') {
      expect(result.code).toBe(3)
      expect(result.stderr).toMatch(new RegExp(`^error: refusing ${dir}/state\\.jsonl: it is a symbolic link;`))
    } else {
      expect(result.code).toBe(3)
      expect(result.stderr).toMatch(new RegExp(`^error: refusing ${dir}/audit\\.jsonl: it is a symbolic link;`))
    }
    expect(readFileSync(victim, 'utf8')).toBe('keep me')
    expect(existsSync(join(dir, 'server.lock'))).toBe(false)
    figures.cases++
  })

  it('a file of the directory writable by others is refused', async () => {
    const dir = freshDir('loose-file')
    mkdirSync(dir, { mode: 0o700 })
    writeFileSync(join(dir, 'state.jsonl'), '')
    chmodSync(join(dir, 'state.jsonl'), 0o666)
    const result = await refusedStart(['--state-dir', dir])
    expect(result.code).toBe(3)
    expect(result.stderr).toBe(`error: refusing ${dir}/state.jsonl: its mode is 0666: other users can write to it; run \`chmod 600 ${dir}/state.jsonl\`\n`)
    figures.cases++
  })

  it('a missing directory is created 0700, its files 0600', async () => {
    const dir = join(freshDir('new'), 'nested', 'state')
    const server = await serve(['--state-dir', dir])
    expect((await mint(server.url)).status).toBe(200)
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    for (const name of ['state.jsonl', 'audit.jsonl', 'server.lock']) expect(lstatSync(join(dir, name)).mode & 0o777).toBe(0o600)
    figures.cases++
  })
})

describe('one server per state directory', () => {
  it('a second server refuses to start, naming the pid of the first; the first keeps its state', async () => {
    const dir = freshDir('locked')
    const first = await serve(['--state-dir', dir])
    const token = (await mint(first.url)).json.access_token as string
    const second = await refusedStart(['--state-dir', dir])
    expect(second.code).toBe(3)
    expect(second.stderr).toBe(
      `error: the state directory ${dir} is in use by another bktx server (pid ${first.child.pid}); stop that server, or give this one another directory with --state-dir\n`,
    )
    // Issue 12 finding 5: the second one's compaction used to replace the first one's journal.
    expect((await use(first.url, token, '/v2/access-token', 'DELETE')).status).toBe(204)
    await first.stop()
    running.length = 0
    expect(existsSync(join(dir, 'server.lock'))).toBe(false)
    const third = await serve(['--state-dir', dir])
    expect((await use(third.url, token)).status).toBe(401)
    figures.cases++
  })

  it('a lock left by a server killed with SIGKILL is taken over', async () => {
    const dir = freshDir('stale')
    const first = await spawnServer(['--config', configPath, '--state-dir', dir], env)
    const token = (await mint(first.url)).json.access_token as string
    await first.stop('SIGKILL')
    expect(readFileSync(join(dir, 'server.lock'), 'utf8')).toBe(`${first.child.pid}\n`)
    const second = await serve(['--state-dir', dir])
    expect((await use(second.url, token)).status).toBe(200)
    expect(readFileSync(join(dir, 'server.lock'), 'utf8')).toBe(`${second.child.pid}\n`)
    figures.cases++
  })

  it('two servers in one process are refused too (the library)', async () => {
    const dir = freshDir('in-process')
    const first = await startSecurityServer(doc(), { stateDir: dir })
    running.push(first)
    const error = await startSecurityServer(doc(), { stateDir: dir }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(FileError)
    expect((error as FileError).message).toBe(`the state directory ${dir} is in use by another bktx server (pid ${process.pid})`)
    figures.cases++
  })
})

describe('a damaged state journal stops the start, unless repair is asked for', () => {
  async function journalWithRevocation(): Promise<{ dir: string; kept: string; revoked: string }> {
    const dir = freshDir('journal')
    const server = await spawnServer(['--config', configPath, '--state-dir', dir], env)
    const kept = (await mint(server.url)).json.access_token as string
    const revoked = (await mint(server.url)).json.access_token as string
    expect((await use(server.url, revoked, '/v2/access-token', 'DELETE')).status).toBe(204)
    await server.stop()
    return { dir, kept, revoked }
  }

  it.each([
    ['a line that is not JSON', 'garbage{'],
    ['JSON of another shape', JSON.stringify({ t: 'mint', token: { sha256: 'x' }, jti: null })],
    ['a revocation of no hash', JSON.stringify({ t: 'revoke', sha256: 42 })],
  ])('%s in the middle: the start is refused with the file and line number', async (_name, line) => {
    const { dir } = await journalWithRevocation()
    const path = join(dir, 'state.jsonl')
    const lines = readFileSync(path, 'utf8').split('\n')
    lines.splice(1, 0, line)
    writeFileSync(path, lines.join('\n'))
    const result = await refusedStart(['--state-dir', dir])
    expect(result.code).toBe(3)
    expect(result.stderr).toBe(
      `error: ${path} line 2 is not a state record: the file is damaged; restore the file from a backup, or drop the damaged lines with --repair-state (a revocation or used jti on them is lost)\n`,
    )
    figures.cases++
  })

  it('a damaged revocation line would bring the revoked token back: refused, and --repair-state drops it only when asked', async () => {
    const { dir, kept, revoked } = await journalWithRevocation()
    const path = join(dir, 'state.jsonl')
    const text = readFileSync(path, 'utf8')
    // The revocation is the last complete line: damage it, keep its newline (not a torn tail).
    const lines = text.split('\n')
    const at = lines.findIndex((l) => l.startsWith('{"t":"revoke"'))
    expect(at).toBeGreaterThan(0)
    lines[at] = (lines[at] as string).slice(0, 20)
    writeFileSync(path, lines.join('\n'))
    const refused = await refusedStart(['--state-dir', dir])
    expect(refused.code).toBe(3)
    expect(refused.stderr).toContain(`line ${at + 1} is not a state record`)

    const repaired = await serve(['--state-dir', dir, '--repair-state'])
    expect(repaired.stderr()).toContain(`warning: dropped 1 damaged line of state.jsonl (line ${at + 1}): revocations or used jtis on them are lost`)
    expect((await use(repaired.url, kept)).status).toBe(200)
    // What repair costs, and why it is never implicit: the revocation is gone.
    expect((await use(repaired.url, revoked)).status).toBe(200)
    figures.cases++
  })
})

describe('tokens are re-checked against the configuration at every use (restart after each change)', () => {
  const changes: Array<[string, (d: any) => void, { access: number; builds: number; scopes?: string[] }]> = [
    ['nothing changed', () => undefined, { access: 200, builds: 200, scopes: ['read_builds', 'read_pipelines'] }],
    ['the member removed', (d) => d.organizations[0].members.splice(0, 1), { access: 401, builds: 401 }],
    ['the member deactivated', (d) => (d.organizations[0].members[0].active = false), { access: 401, builds: 401 }],
    ["the organisation's token exchange disabled", (d) => (d.organizations[0].token_exchange_enabled = false), { access: 401, builds: 401 }],
    ['the app deleted', (d) => (d.apps = []), { access: 401, builds: 401 }],
    [
      'the app moved to another organisation',
      (d) => {
        d.organizations.push({ slug: 'other', members: [{ email: MEMBER }] })
        d.apps[0].org = 'other'
      },
      { access: 401, builds: 401 },
    ],
    [
      'read_builds no longer grantable',
      (d) => {
        d.apps[0].grantable_scopes = ['read_pipelines']
        d.apps[0].default_scopes = ['read_pipelines']
      },
      { access: 200, builds: 403, scopes: ['read_pipelines'] },
    ],
    ['the token-use IP list no longer holding the caller', (d) => (d.apps[0].token_ips = ['10.0.0.0/8']), { access: 403, builds: 403 }],
  ]

  it.each(changes)('%s', async (_name, patch, expected) => {
    const dir = freshDir('recheck')
    const before = await startSecurityServer(doc(), { stateDir: dir })
    const minted = await mint(before.url, { scope: 'read_builds read_pipelines' })
    expect(minted.status).toBe(200)
    const token = minted.json.access_token as string
    await before.stop()

    const after = await startSecurityServer(doc(patch), { stateDir: dir })
    running.push(after)
    const access = await use(after.url, token)
    const builds = await use(after.url, token, '/v2/organizations/acme/builds')
    expect(access.status, JSON.stringify(access.json)).toBe(expected.access)
    expect(builds.status).toBe(expected.builds)
    if (expected.scopes !== undefined) expect(access.json.scopes).toEqual(expected.scopes)
    for (const answer of [access, builds]) {
      if (answer.status === 401) {
        expect(answer.headers['www-authenticate']).toBe(
          'Bearer realm="buildkite", error="invalid_token", error_description="The access token is unknown, expired, revoked or no longer allowed"',
        )
        expect(answer.json).toEqual({ message: 'Authentication required. Please supply a valid, unexpired and unrevoked API access token.' })
      }
    }
    figures.rechecked_tokens++
    figures.cases++
  })
})

describe('JWKS URI fetching is bounded whatever the host answers', () => {
  const behaviours: Array<[string, NonNullable<Listener['respond']>]> = [
    ['HTTP 500', (_req, res) => res.writeHead(500).end('{"keys":[]}')],
    ['HTTP 404', (_req, res) => res.writeHead(404).end()],
    ['garbage', (_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('<html>')],
    ['keys that is not an array', (_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"keys":{"kid":"k1"}}')],
  ]

  it.each(behaviours)('a host answering %s is fetched once for 200 requests from 20 connections', async (_name, respond) => {
    const host = await startListener()
    host.respond = respond
    try {
      // The default 30 s cooldown; the whole test takes a fraction of it.
      const server = await startSecurityServer(
        doc((d) => {
          delete d.apps[0].jwks
          d.apps[0].jwks_uri = `${host.url}/jwks.json`
          d.allow_http_jwks = true
        }),
      )
      running.push(server)
      const answers: Array<{ status: number; json: any }> = []
      for (let round = 0; round < 10; round++) answers.push(...(await Promise.all(Array.from({ length: 20 }, () => mint(server.url)))))
      expect(answers).toHaveLength(200)
      for (const answer of answers) expect(answer.json).toEqual({ error: 'invalid_client', error_description: SIG })
      expect(host.hits).toHaveLength(1)
      expect(server.server.state.keys.fetchCounts()).toEqual({ [`${host.url}/jwks.json`]: 1 })
      figures.jwks_requests += 200
      figures.jwks_fetches += host.hits.length
      figures.cases++
    } finally {
      await host.close()
    }
  })

  it('the last good set keeps serving while the host fails, for its hour plus one more; fetches stay one per 30 s', async () => {
    let now = Date.now()
    const clock = { now: () => new Date(now) }
    const host = await startListener({ keys: [key.jwk] })
    try {
      const server = await startSecurityServer(
        doc((d) => {
          delete d.apps[0].jwks
          d.apps[0].jwks_uri = `${host.url}/jwks.json`
          d.allow_http_jwks = true
        }),
        { clock },
      )
      running.push(server)
      const at = (): { nowS: number } => ({ nowS: Math.floor(now / 1000) })
      expect((await mint(server.url, {}, at())).status).toBe(200)
      expect(host.hits).toHaveLength(1)
      host.respond = (_req, res) => res.writeHead(503).end()

      now += 61 * 60 * 1000 // past the hour: a refresh is due, and fails
      for (let i = 0; i < 20; i++) expect((await mint(server.url, {}, at())).status).toBe(200)
      expect(host.hits).toHaveLength(2)
      now += 31 * 1000 // one more attempt per cooldown
      for (let i = 0; i < 20; i++) expect((await mint(server.url, {}, at())).status).toBe(200)
      expect(host.hits).toHaveLength(3)

      now += 60 * 60 * 1000 // over two hours old: no longer served
      const stale = await mint(server.url, {}, at())
      expect(stale.json).toEqual({ error: 'invalid_client', error_description: SIG })
      expect(server.audit().at(-1)?.detail).toMatch(/JWKS URI answered HTTP 503; the last good JWKS is older than its grace period/)
      expect(host.hits).toHaveLength(4)

      host.respond = undefined // the host recovers: the next attempt after the cooldown succeeds
      expect((await mint(server.url, {}, at())).status).toBe(401)
      now += 31 * 1000
      expect((await mint(server.url, {}, at())).status).toBe(200)
      expect(host.hits).toHaveLength(5)
      figures.jwks_requests += 44
      figures.jwks_fetches += host.hits.length
      figures.cases++
    } finally {
      await host.close()
    }
  })
})

describe('IP allow-lists take canonical spellings only', () => {
  const refused = [
    '127.0.0.010',
    '010.0.0.0/8',
    '127.1',
    '0x7f.0.0.1',
    '0177.0.0.1',
    '2130706433',
    '127.0.0.1/032',
    '10.0.0.0/33',
    '::1/129',
    'fe80::1%eth0',
    '1.2.3.4 ',
    '::ffff:127.0.0.010',
  ]
  it.each(refused)('%j is a config error naming the entry', async (entry) => {
    for (const field of ['exchange_ips', 'token_ips']) {
      const error = await parseServerConfig(
        doc((d) => (d.apps[0][field] = ['127.0.0.1', entry])),
        'ips.json',
      ).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ConfigError)
      expect((error as ConfigError).field).toBe(`apps[0].${field}[1]`)
      expect((error as ConfigError).problem).toMatch(
        new RegExp(`^${JSON.stringify(entry).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not an IP address or CIDR range`),
      )
    }
    figures.cases++
  })

  it('the flag names the entry and the rule', async () => {
    const result = await runBin(
      ['server', '--port', '0', '--member', MEMBER, '--jwks-uri', 'https://example.test/jwks', '--exchange-ips', '10.0.0.0/8,127.0.0.010'],
      { env },
    )
    expect(result.code).toBe(2)
    expect(result.stderr.split('\n')[0]).toBe(
      'error: --exchange-ips: "127.0.0.010" is not an IP address or CIDR range (IPv4 addresses are four decimal numbers without leading zeros)',
    )
  })

  it.each(['127.0.0.10', '10.0.0.0/8', '0.0.0.0/0', '::1', '2001:db8::/32', '::ffff:127.0.0.10', '::/0'])('%j is accepted', async (entry) => {
    await expect(
      parseServerConfig(
        doc((d) => (d.apps[0].exchange_ips = [entry])),
        'ips.json',
      ),
    ).resolves.toBeDefined()
  })

  it('127.0.0.10 admits 127.0.0.10 and refuses 127.0.0.8 (octal would have swapped them)', async () => {
    const server = await startSecurityServer(doc((d) => (d.apps[0].exchange_ips = ['127.0.0.10'])))
    running.push(server)
    expect((await mint(server.url, {}, { localAddress: '127.0.0.10' })).status).toBe(200)
    expect((await mint(server.url, {}, { localAddress: '127.0.0.8' })).json).toEqual({ error: 'invalid_client', error_description: SIG })
    figures.cases++
  })
})

describe('inputs validated where they were taken as given', () => {
  it("--aud '' is refused, and --aud is normalised as the config file's audiences are", async () => {
    const empty = await refusedStart(['--aud', ''])
    expect(empty.code).toBe(2)
    expect(empty.stderr.split('\n')[0]).toBe('error: --aud: must be a non-empty string')
    const relative = await refusedStart(['--aud', '/oauth/token'])
    expect(relative.code).toBe(2)
    expect(relative.stderr.split('\n')[0]).toBe('error: --aud: must be an absolute URL')
    const server = await serve(['--aud', 'HTTPS://Other.TEST:443/oauth/token'])
    expect((await mint(server.url, { client_assertion: assertion({ aud: 'https://other.test/oauth/token' }) })).status).toBe(200)
    figures.cases += 3
  })

  it('member emails that differ only in case are refused', async () => {
    const error = await parseServerConfig(
      doc((d) => d.organizations[0].members.push({ email: 'Dev@ACME.test', active: false })),
      'm.json',
    ).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).message).toBe(
      'config file m.json: organizations[0].members[2].email: duplicate member: "Dev@ACME.test" is members[0] (emails compare case-insensitively)',
    )
    figures.cases++
  })

  it.each([
    [['sign'], 'is ["sign"]; a key registered to verify assertions needs "verify" in it, or no key_ops'],
    [[], 'is []; a key registered to verify assertions needs "verify" in it, or no key_ops'],
    [['verify', 'verify'], 'must be an array of distinct strings (RFC 7517 §4.3)'],
    ['verify', 'must be an array of distinct strings (RFC 7517 §4.3)'],
  ])('a JWK with key_ops %j is refused', async (ops, problem) => {
    const error = await parseServerConfig(
      doc((d) => (d.apps[0].jwks.keys[0] = { ...key.jwk, key_ops: ops })),
      'k.json',
    ).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).message).toBe(`config file k.json: apps[0].jwks.keys[0].key_ops: ${problem}`)
    figures.cases++
  })

  it('a JWK whose use is not sig is refused', async () => {
    const error = await parseServerConfig(
      doc((d) => (d.apps[0].jwks.keys[0] = { ...key.jwk, use: 'enc' })),
      'k.json',
    ).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).message).toBe('config file k.json: apps[0].jwks.keys[0]: JWK "use" is "enc"; a signing key needs "sig" or no "use"')
    figures.cases++
  })

  it('a JWK with key_ops ["verify"] is accepted and verifies', async () => {
    const server = await startSecurityServer(doc((d) => (d.apps[0].jwks.keys[0] = { ...key.jwk, key_ops: ['verify'] })))
    running.push(server)
    expect((await mint(server.url)).status).toBe(200)
  })
})

describe('client mistakes stay client errors', () => {
  /** Sends headers and part of a declared body, then resets (or half-closes) the connection. */
  function abortUpload(url: string, mode: 'reset' | 'end'): Promise<string> {
    const { hostname, port } = new URL(url)
    return new Promise((resolve) => {
      const socket = connect(Number(port), hostname)
      let text = ''
      socket.on('data', (chunk) => (text += chunk))
      socket.on('error', () => undefined)
      socket.on('close', () => resolve(text))
      socket.write(`POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\ngrant_type=urn`)
      setTimeout(() => (mode === 'reset' ? socket.resetAndDestroy() : socket.end()), 5)
    })
  }

  it('3000 aborted uploads: one quiet line each, never "internal error", no audit record, memory flat', async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const server = await startSecurityServer(doc())
    running.push(server)
    // Warm up, then measure over the 3000.
    for (let i = 0; i < 100; i++) await abortUpload(server.url, 'reset')
    await new Promise((resolve) => setTimeout(resolve, 100))
    gc()
    const heapBefore = process.memoryUsage().heapUsed
    const logBefore = server.log.length
    const auditBefore = server.audit().length
    // On a loaded machine some resets land before the server has parsed the request line: such a
    // connection is no request and gets no line. One line per request the server saw, then.
    let seen = 0
    server.listening.server.on('request', () => seen++)
    const N = 3000
    for (let sent = 0; sent < N; sent += 50) await Promise.all(Array.from({ length: 50 }, () => abortUpload(server.url, 'reset')))
    // Every request the server saw has ended by now or will shortly; wait for its line (the
    // test's timeout is the kill timer).
    while (server.log.length - logBefore < seen) await new Promise((resolve) => setTimeout(resolve, 20))
    await new Promise((resolve) => setTimeout(resolve, 200))
    gc()
    const grown = process.memoryUsage().heapUsed - heapBefore
    const lines = server.log.slice(logBefore)
    figures.aborted_requests_seen = seen
    expect(lines.filter((l) => l.includes('internal error'))).toEqual([])
    expect(seen).toBeGreaterThan(0)
    expect(lines).toHaveLength(seen)
    // A connection reset before it was accepted has no peer address left to log: "-".
    for (const line of lines) expect(line).toMatch(/^POST \/oauth\/token aborted \d+ms (127\.0\.0\.1|-)$/)
    expect(server.audit().length).toBe(auditBefore)
    // Bounded: well under 1 KiB per aborted request (nothing is kept per request).
    expect(grown).toBeLessThan(3 * 1024 * 1024)
    expect((await mint(server.url)).status).toBe(200)
    figures.aborted_uploads += N
    figures.aborted_log_lines += lines.length
    figures.aborted_heap_growth_bytes = grown
    figures.cases++
  })

  it('a body cut short by a half-closed connection gets a JSON 400 where the connection can still carry it', async () => {
    const server = await startSecurityServer(doc())
    running.push(server)
    const text = await abortUpload(server.url, 'end')
    expect(text).toMatch(/^HTTP\/1\.1 400 /)
    expect(text).toContain('{"error":"invalid_request","error_description":"The request body was cut short"}')
    await new Promise((resolve) => setTimeout(resolve, 50))
    // The answer came from the listener (the parser saw the early end); the request's own line says aborted.
    expect(server.log.at(-1)).toMatch(/^POST \/oauth\/token aborted \d+ms 127\.0\.0\.1$/)
    figures.cases++
  })

  it('with --verbose, the line of a refused request says why (escaped), never the assertion', async () => {
    const server = await startSecurityServer(doc(), { verbose: true })
    running.push(server)
    const bad = assertion({ iss: 'nobody\nPOST /oauth/token 200', sub: 'nobody\nPOST /oauth/token 200' })
    await http(`${server.url}/oauth/token`, { method: 'POST', headers: FORM, body: new URLSearchParams({ ...EXCHANGE, client_assertion: bad }).toString() })
    await new Promise((resolve) => setTimeout(resolve, 50))
    const line = server.log.at(-1) as string
    expect(line).toBe(`POST /oauth/token 401 ${/\d+ms/.exec(line)?.[0]} 127.0.0.1 invalid_client: unknown client id "nobody\\nPOST /oauth/token 200"`)
    expect(line).not.toContain(bad)
    figures.cases++
  })
})

describe('--host other than loopback', () => {
  it.each([
    ['0.0.0.0', 'http://127.0.0.1:'],
    ['127.0.0.1', 'http://127.0.0.1:'],
  ])('--host %s: a warning only off loopback, and a token URL clients can reach', async (host, advertised) => {
    const server = await serve(['--host', host])
    const log = server.stderr()
    const warning = /^warning: --host 0\.0\.0\.0 is not loopback: the server speaks plain http there/m
    if (host === '127.0.0.1') expect(log).not.toMatch(/warning/)
    else expect(log).toMatch(warning)
    const tokenUrl = /^token URL (\S+)/m.exec(log)?.[1] as string
    expect(tokenUrl.startsWith(advertised)).toBe(true)
    expect((await mint(tokenUrl.replace(/\/oauth\/token$/, ''))).status).toBe(200)
    figures.cases++
  })
})
