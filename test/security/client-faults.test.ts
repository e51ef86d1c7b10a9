/**
 * Client faults (issue 5): `bktx token --cache file` against stub token endpoints on 127.0.0.1
 * that are down, hang, answer 5xx or 429, or answer outside the protocol. Each case runs twice,
 * on its own stub and its own home: cold (nothing cached) and warm (a good token cached for the
 * same settings, then `--refresh`). Every run must exit with the documented code and one
 * `error:` line naming the problem, after exactly the documented number of requests, with
 * nothing on stdout, no secret on stderr, and the cache directory exactly as it was before
 * (names, modes, contents); the warm token is still served afterwards. Cached tokens that have
 * expired (or are about to) are never served, even when the server is gone.
 *
 * The faults run the CLI in-process (test/helpers/security-cli.ts) with a --timeout that holds
 * all four attempts many times over, so the counts are exact on a loaded machine. The built
 * binary (`npm test` builds it; otherwise `npm run build`) runs where a process is the point: a
 * hanging server must not keep bktx from exiting once --timeout strikes (a kill timer far past
 * what that needs; the run must end by itself with the timeout's message), and the start-up
 * fast path must not serve an expired token.
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { resolveCacheDir, scopeOf } from '../../src/cache/dir.js'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { fixedClock, runCli } from '../helpers/cli.js'
import { runBktx } from '../helpers/security-cli.js'
import { BIN, runBin, type SpawnResult } from '../helpers/spawn.js'
import { tokenWorld } from '../helpers/token-setup.js'
import { writeFigures } from './support.js'

// Test and hook timeouts are kill timers, about ten times what a loaded 2-core machine needs:
// no test here bounds a duration (a spawned run has its own kill timer and must end by itself).
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 })

/** --timeout of the hanging faults (the shortest bktx accepts): they end by it. */
const HANG_TIMEOUT_S = 1
/**
 * --timeout of every other fault: four attempts and their backoff (at most 0.5 + 1 + 2 s, or
 * three Retry-After waits of 1 s) fit many times over; the fault, not the clock, ends the run.
 */
const TIMEOUT_S = 30
/** Kill timer of a spawned run: ten times what the slowest needs on a loaded machine. */
const KILL_AFTER_MS = 30_000

const figures = {
  fault_cases: 0,
  runs: 0,
  requests: 0,
  exit_codes: {} as Record<string, number>,
  slowest_run_ms: 0,
  /** Longest time from the first request reaching a hanging stub to the binary having exited, minus --timeout. */
  worst_overshoot_ms: -Infinity,
  expired_cases: 0,
}

let dir: string
let keyPath: string
beforeAll(async () => {
  if (!existsSync(join(BIN, '..', '..', 'dist', 'bin.js'))) throw new Error('bin/bktx.js needs dist/: run `npm run build` (npm test does)')
  dir = await mkdtemp(join(tmpdir(), 'bktx-faults-'))
  keyPath = join(dir, 'key.pem')
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  await writeFile(keyPath, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
})
afterAll(async () => {
  if (figures.worst_overshoot_ms === -Infinity) figures.worst_overshoot_ms = 0
  writeFigures('client-faults', figures)
  await rm(dir, { recursive: true, force: true })
})

// ---------------------------------------------------------------------------------------------
// A stub token endpoint whose behaviour can be switched after a good token has been cached.

type Behaviour = (req: IncomingMessage, res: ServerResponse) => void

interface Stub {
  tokenUrl: string
  /** Arrival times of requests (Date.now()). */
  arrivals: number[]
  /** Request bodies received (they hold client assertions: never to appear in output). */
  bodies: string[]
  behave: Behaviour
  close(): Promise<void>
}

async function startStub(behave: Behaviour): Promise<Stub> {
  const sockets = new Set<Socket>()
  const stub: Stub = { tokenUrl: '', arrivals: [], bodies: [], behave, close: async () => undefined }
  const server = createServer((req, res) => {
    stub.arrivals.push(Date.now())
    let body = ''
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')))
    req.on('end', () => {
      stub.bodies.push(body)
      stub.behave(req, res)
    })
  })
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  stub.tokenUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth/token`
  let closed = false
  stub.close = () =>
    closed
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          closed = true
          for (const socket of sockets) socket.destroy()
          server.close(() => resolve())
        })
  return stub
}

const newToken = (): string => `bktx_${randomBytes(32).toString('base64url').replace(/[-_]/g, 'x')}`

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers })
  res.end(typeof body === 'string' ? body : JSON.stringify(body))
}

/** A docs/token-exchange.md §4 answer with `overrides` (undefined removes a member). */
const tokenAnswer =
  (overrides: Record<string, unknown>): Behaviour =>
  (_req, res) =>
    json(res, 200, {
      access_token: newToken(),
      token_type: 'Bearer',
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      expires_in: 900,
      scope: 'read_builds',
      ...overrides,
    })

// ---------------------------------------------------------------------------------------------
// The faults.

interface Fault {
  name: string
  /** Installs the fault; 'down' closes the stub instead, so its port refuses connections. */
  behave: Behaviour | 'down'
  exit: 4 | 5 | 6
  /** What the one error line must say. */
  message: RegExp
  /** Requests the stub must see. */
  requests: number
  /** Server values that must never be echoed on stderr. */
  secrets?: string[]
  /** Extra checks on the arrival times of the requests. */
  arrivals?: (times: number[]) => void
  /**
   * Ends by --timeout (HANG_TIMEOUT_S): run on the binary, which must exit by itself with the
   * hung socket still open.
   */
  hangs?: boolean
}

const HANGING_TOKEN = newToken()
const faults: Fault[] = [
  // Network: exit 5. The slow ones first, so that they overlap.
  {
    name: 'hanging: accepts, reads the request, never answers',
    behave: () => undefined,
    exit: 5,
    message:
      /^error: the token endpoint http:\/\/127\.0\.0\.1:\d+\/oauth\/token did not answer within 1s; check --token-url, or allow more time with --timeout$/,
    requests: 1,
    hangs: true,
  },
  {
    name: 'hanging mid-body: headers and half a token, then nothing',
    behave: (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '400' })
      res.write(`{"access_token":"${HANGING_TOKEN}","token_type":"Bearer",`)
    },
    exit: 5,
    message: /^error: the token endpoint .* did not answer within 1s; check --token-url, or allow more time with --timeout$/,
    requests: 1,
    secrets: [HANGING_TOKEN],
    hangs: true,
  },
  {
    name: 'down: connection refused',
    behave: 'down',
    exit: 5,
    message:
      /^error: cannot reach the token endpoint http:\/\/127\.0\.0\.1:\d+\/oauth\/token: connection refused \(ECONNREFUSED\) \(4 attempts\); check --token-url/,
    requests: 0,
  },
  {
    name: 'HTTP 500 every time',
    behave: (_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' })
      res.end('Internal Server Error')
    },
    exit: 5,
    message: /^error: the token endpoint .* answered HTTP 500 \(4 attempts\); the server is having trouble, try again later$/,
    requests: 4,
  },
  {
    name: 'HTTP 503 with an OAuth error body every time',
    behave: (_req, res) => json(res, 503, { error: 'temporarily_unavailable' }),
    exit: 5,
    message: /^error: the token endpoint .* answered HTTP 503 \(4 attempts\)/,
    requests: 4,
  },
  {
    name: 'HTTP 429 with Retry-After: 1 every time',
    behave: (_req, res) => json(res, 429, { message: 'slow down' }, { 'retry-after': '1' }),
    exit: 5,
    message: /^error: the token endpoint .* is rate limiting requests \(HTTP 429, 4 attempts\); wait and try again/,
    requests: 4,
    // Retry-After is honoured: no retry comes sooner than the server asked. A lower bound on a
    // wait, which a loaded machine only lengthens.
    arrivals: (times) => {
      for (let i = 1; i < times.length; i++) expect((times[i] as number) - (times[i - 1] as number)).toBeGreaterThanOrEqual(950)
    },
  },
  {
    name: 'the connection cut mid-body every time',
    behave: (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '400' })
      res.write(`{"access_token":"${HANGING_TOKEN}",`)
      setTimeout(() => res.destroy(), 20)
    },
    exit: 5,
    message: /^error: cannot reach the token endpoint .*: (connection reset \(ECONNRESET\)|the connection closed before a complete answer.*) \(4 attempts\)/,
    requests: 4,
    secrets: [HANGING_TOKEN],
  },
  {
    name: 'HTTP 429 with Retry-After: 120 (longer than --timeout)',
    behave: (_req, res) => json(res, 429, { message: 'slow down' }, { 'retry-after': '120' }),
    exit: 5,
    message:
      /^error: the token endpoint .* is rate limiting requests \(HTTP 429, 1 attempts\); the next retry in 2m would not fit in the 30s time limit; wait and try again/,
    requests: 1,
  },
  // Bad responses: exit 6, never retried.
  {
    name: 'truncated JSON',
    behave: (_req, res) => json(res, 200, `{"access_token":"${HANGING_TOKEN}","token_type":"Bea`),
    exit: 6,
    message: /^error: the token endpoint .* answered HTTP 200 with invalid JSON \(truncated or malformed\)$/,
    requests: 1,
    secrets: [HANGING_TOKEN],
  },
  {
    name: 'an HTML page with status 200',
    behave: (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      res.end('<!doctype html><title>Sign in</title><form>...</form>')
    },
    exit: 6,
    message:
      /^error: the token endpoint .* answered HTTP 200 with text\/html, not JSON \(RFC 6749 §5\.1\); check --token-url; a proxy or a login page may have answered$/,
    requests: 1,
  },
  {
    name: 'JSON with no content type',
    behave: (_req, res) => {
      res.writeHead(200)
      res.end(JSON.stringify({ access_token: HANGING_TOKEN, token_type: 'Bearer', expires_in: 900, scope: 'read_builds' }))
    },
    exit: 6,
    message: /^error: the token endpoint .* answered HTTP 200 with no content type, not JSON/,
    requests: 1,
    secrets: [HANGING_TOKEN],
  },
  {
    name: 'a body over 64 KiB',
    behave: (_req, res) => json(res, 200, `{"access_token":"${newToken()}","padding":"${'x'.repeat(100_000)}"}`),
    exit: 6,
    message: /^error: the token endpoint .* sent a response larger than 65536 bytes; not a token response$/,
    requests: 1,
  },
  ...(
    [
      ['without the bktx_ prefix', 'ghp_0123456789abcdefghijklmnopqrstuvwxyzABCD', /without the bktx_ prefix/],
      ['with spaces', 'bktx_abc def', /with characters a bearer token cannot have \(RFC 6750 §2\.1\)/],
      ['with a newline and a shell command', 'bktx_abc\nexport BUILDKITE_API_TOKEN=evil', /with characters a bearer token cannot have/],
      ['that is empty', '', /sent no access_token \(a non-empty string is required/],
      ['that is a number', 123456789, /sent no access_token \(a non-empty string is required/],
      ['that is only the prefix', 'bktx_', /without the bktx_ prefix/],
    ] as const
  ).map(
    ([what, value, message]): Fault => ({
      name: `an access_token ${what}`,
      behave: tokenAnswer({ access_token: value }),
      exit: 6,
      message: new RegExp(`^error: the token endpoint .* ${message.source}`),
      requests: 1,
      secrets: typeof value === 'string' && value.length > 6 ? [value, ...value.split(/\s/).filter((p) => p.length > 6)] : [],
    }),
  ),
  ...(
    [
      ['zero', 0, /sent an expires_in that is not a positive whole number of seconds/],
      ['negative', -60, /sent an expires_in that is not a positive whole number of seconds/],
      ['missing', undefined, /sent no expires_in; bktx needs the token lifetime/],
      ['a string that is not decimal digits', '900s', /sent an expires_in that is not a positive whole number of seconds/],
      ['fractional', 0.5, /sent an expires_in that is not a positive whole number of seconds/],
    ] as const
  ).map(([what, value, message]): Fault => {
    const token = newToken()
    return {
      name: `an expires_in ${what}`,
      behave: tokenAnswer({ access_token: token, expires_in: value }),
      exit: 6,
      message: new RegExp(`^error: the token endpoint .* ${message.source}`),
      requests: 1,
      secrets: [token],
    }
  }),
  {
    name: 'HTTP 400 without an OAuth error',
    behave: (_req, res) => json(res, 400, { message: 'Bad Request' }),
    exit: 6,
    message: /^error: the token endpoint .* answered HTTP 400 without an OAuth error; check --token-url$/,
    requests: 1,
  },
  // An OAuth error: exit 4, never retried.
  {
    name: 'an OAuth error (invalid_client, HTTP 401)',
    behave: (_req, res) => json(res, 401, { error: 'invalid_client', error_description: 'Client authentication failed' }),
    exit: 4,
    message: /^error: token exchange rejected by the token endpoint .*: invalid_client \(Client authentication failed\); check --client-id /,
    requests: 1,
  },
]

// ---------------------------------------------------------------------------------------------

interface Home {
  env: Record<string, string>
  cacheDir: string
}

async function newHome(name: string, tokenUrl: string): Promise<Home> {
  const root = await mkdtemp(join(dir, `${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40)}-`))
  await mkdir(join(root, 'run'), { mode: 0o700 })
  return {
    // The scope's directory (src/cache/scope.ts) in the private one.
    cacheDir: join(root, 'run', 'bktx', scopeOf({ env: { XDG_CACHE_HOME: join(root, 'cache') }, home: root }).name),
    env: {
      HOME: root,
      XDG_CONFIG_HOME: join(root, 'config'),
      XDG_CACHE_HOME: join(root, 'cache'),
      XDG_RUNTIME_DIR: join(root, 'run'),
      BKTX_TOKEN_URL: tokenUrl,
      BKTX_CLIENT_ID: 'faults-client',
      BKTX_KEY: keyPath,
      BKTX_ORG: 'acme',
      BKTX_SUBJECT: 'dev@acme.test',
    },
  }
}

/** Every name in the cache directory with its type, mode and a digest of its content. */
async function snapshot(cacheDir: string): Promise<string[]> {
  if (!existsSync(cacheDir)) return []
  const out: string[] = []
  for (const name of (await readdir(cacheDir)).sort()) {
    // A key's remembered identity (src/cache/key-identities.ts) is written when the key is first
    // parsed, before any request: it holds no token and says nothing of the exchange's fate.
    if (/^key-[A-Za-z0-9_-]{43}\.json$/.test(name)) continue
    const path = join(cacheDir, name)
    const info = await lstat(path)
    const mode = (info.mode & 0o777).toString(8)
    if (info.isFile())
      out.push(
        `${name} file ${mode} ${createHash('sha256')
          .update(await readFile(path))
          .digest('hex')}`,
      )
    else out.push(`${name} ${info.isDirectory() ? 'dir' : 'other'} ${mode}`)
  }
  return out
}

interface Timed extends SpawnResult {
  /** For the figures only: no test bounds a duration. */
  ms: number
  exitedAt: number
}

/** The binary, under a kill timer far past what any run here needs. */
async function timedRun(args: string[], env: Record<string, string>): Promise<Timed> {
  const started = Date.now()
  const result = await runBin(args, { env, timeoutMs: KILL_AFTER_MS })
  const exitedAt = Date.now()
  return { ...result, ms: exitedAt - started, exitedAt }
}

/** The faulty run of `fault`: on the binary when it hangs, else the CLI in-process. */
async function faultyRun(fault: Fault, args: string[], env: Record<string, string>): Promise<Timed> {
  if (fault.hangs === true) return timedRun([...args, '--timeout', `${HANG_TIMEOUT_S}s`], env)
  const started = Date.now()
  const result = await runBktx([...args, '--timeout', `${TIMEOUT_S}s`], { env })
  const exitedAt = Date.now()
  return { code: result.code, signal: result.signal ?? null, stdout: result.stdout, stderr: result.stderr, ms: exitedAt - started, exitedAt }
}

/** The checks every faulty run must pass. */
function expectCleanFailure(fault: Fault, stub: Stub, run: Timed, extraSecrets: string[]): void {
  figures.runs++
  figures.requests += stub.arrivals.length
  figures.exit_codes[String(run.code)] = (figures.exit_codes[String(run.code)] ?? 0) + 1
  figures.slowest_run_ms = Math.max(figures.slowest_run_ms, run.ms)
  expect(run.signal, 'ended by the test harness: it did not finish by itself').toBeNull()
  expect(run.code, run.stderr).toBe(fault.exit)
  expect(run.stdout).toBe('')
  // One line, an error, naming the problem.
  const lines = run.stderr.split('\n').filter((l) => l !== '')
  expect(lines, run.stderr).toHaveLength(1)
  expect(lines[0]).toMatch(fault.message)
  // No secret: not the tokens the server sent or the cached one, not the assertion.
  for (const secret of [...(fault.secrets ?? []), ...extraSecrets]) expect(run.stderr).not.toContain(secret)
  for (const body of stub.bodies) {
    const assertion = new URLSearchParams(body).get('client_assertion')
    expect(assertion).not.toBeNull()
    expect(run.stderr).not.toContain(assertion)
    expect(run.stderr).not.toContain((assertion as string).split('.')[2])
  }
  // How long a hanging run outlived --timeout is a figure (scripts/security-figures.mjs), not a
  // bound: that it ended by itself, with the timeout's message, is the test.
  const first = stub.arrivals[0]
  if (fault.hangs === true && first !== undefined)
    figures.worst_overshoot_ms = Math.max(figures.worst_overshoot_ms, run.exitedAt - first - HANG_TIMEOUT_S * 1000)
  // Retried exactly when the fault is worth retrying; 4xx and bad answers never.
  expect(stub.arrivals).toHaveLength(fault.requests)
  fault.arrivals?.(stub.arrivals)
}

/** Cold: nothing cached. The run fails cleanly and leaves the cache directory as it found it. */
async function coldCase(fault: Fault): Promise<void> {
  const stub = await startStub(fault.behave === 'down' ? () => undefined : fault.behave)
  try {
    if (fault.behave === 'down') await stub.close()
    const home = await newHome(`cold-${fault.name}`, stub.tokenUrl)
    const before = await snapshot(home.cacheDir)
    const run = await faultyRun(fault, ['token', '--cache', 'file'], home.env)
    expectCleanFailure(fault, stub, run, [])
    expect(await snapshot(home.cacheDir)).toEqual(before)
  } finally {
    await stub.close()
  }
}

/**
 * Warm: a good token is cached for exactly these settings, then the endpoint turns faulty and
 * `--refresh` asks for a new one. The old entry is neither deleted nor replaced, nothing is
 * added, and the old token is still what a plain `bktx token` serves afterwards.
 */
async function warmCase(fault: Fault): Promise<void> {
  const good = newToken()
  const stub = await startStub(tokenAnswer({ access_token: good }))
  try {
    const home = await newHome(`warm-${fault.name}`, stub.tokenUrl)
    const warm = await runBktx(['token', '--cache', 'file'], { env: home.env })
    expect(warm.code, warm.stderr).toBe(0)
    expect(warm.stdout).toBe(`${good}\n`)
    const before = await snapshot(home.cacheDir)
    expect(before.filter((l) => / file 600 /.test(l))).toHaveLength(2)
    stub.arrivals.length = 0
    stub.bodies.length = 0
    if (fault.behave === 'down') await stub.close()
    else stub.behave = fault.behave

    const run = await faultyRun(fault, ['token', '--cache', 'file', '--refresh'], home.env)
    expectCleanFailure(fault, stub, run, [good])
    expect(await snapshot(home.cacheDir)).toEqual(before)
    const again = await runBktx(['token', '--cache', 'file'], { env: home.env })
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toBe(`${good}\n`)
  } finally {
    await stub.close()
  }
}

// The cases run in the background from the start, several at a time (most of a slow case is
// waiting for a backoff or --timeout); each test awaits its own case and reports its failure.
const CASES_AT_ONCE = 8
const outcomes = new Map<string, Promise<void>>()
const workers: Array<Promise<void>> = []
beforeAll(() => {
  const queue = [...faults]
  const next = async (): Promise<void> => {
    for (let fault = queue.shift(); fault !== undefined; fault = queue.shift()) {
      const done = Promise.all([coldCase(fault), warmCase(fault)]).then(() => undefined)
      // Awaited by its test; the worker only needs it settled.
      outcomes.set(fault.name, done)
      await done.catch(() => undefined)
    }
  }
  for (let i = 0; i < CASES_AT_ONCE; i++) workers.push(next())
})
// Before the directory goes (afterAll hooks run last-defined first): every case has ended,
// also those whose tests were filtered out.
afterAll(async () => {
  await Promise.all(workers)
})

describe('bktx token against a faulty token endpoint', () => {
  for (const fault of faults) {
    it(`${fault.name}: exit ${fault.exit}, one error line, nothing on stdout, the cache untouched`, async () => {
      figures.fault_cases++
      while (!outcomes.has(fault.name)) await new Promise((resolve) => setTimeout(resolve, 20))
      await outcomes.get(fault.name)
    })
  }
})

// ---------------------------------------------------------------------------------------------

describe.concurrent('a cached token past its time is never served', () => {
  /**
   * Caches a token through the in-process CLI with the server and bktx on a clock `offsetS`
   * seconds from now, then stops the server: the binary, on the real clock, must not serve it.
   */
  async function staleEntry(offsetS: number, ttl: string): Promise<{ env: Record<string, string>; token: string; cacheDir: string; stop(): Promise<void> }> {
    const clock = fixedClock(Date.now() + offsetS * 1000)
    const world = await tokenWorld({ clock })
    const minted = await runCli(['token', '--cache', 'file', '--ttl', ttl], { env: world.env, clock })
    expect(minted.code, minted.stderr).toBe(0)
    await world.server.stop()
    return {
      env: world.env,
      token: minted.stdout.trim(),
      cacheDir: await resolveCacheDir({ env: world.env, home: world.home.dir, uid: process.getuid?.() }),
      stop: () => world.home.cleanup(),
    }
  }

  it.each([
    ['expired an hour ago (60 s token minted 61 min ago)', -3660, '60s'],
    ['expired a second ago (30 s token minted 31 s ago)', -31, '30s'],
    ['inside --min-ttl: 3 of its 60 minutes left', -57 * 60, '1h'],
    ['received in the future (the clock was set back)', 3600, '1h'],
  ])('%s: exit 5 with the server down, the token never printed', async (_name, offsetS, ttl) => {
    const entry = await staleEntry(offsetS, ttl)
    try {
      figures.expired_cases++
      const before = await snapshot(entry.cacheDir)
      expect(before).toHaveLength(2)
      // Both the start-up fast path and the full CLI read this entry; neither may serve it.
      const run = await timedRun(['token', '--cache', 'file', '--ttl', ttl, '--timeout', '1s'], entry.env)
      expect([run.code, run.signal], run.stderr).toEqual([5, null])
      expect(run.stdout).toBe('')
      // It went for a new token: refused, or (on a loaded machine) not even refused within the 1 s.
      expect(run.stderr).toMatch(
        /^error: (cannot reach the token endpoint .*connection refused \(ECONNREFUSED\)|the token endpoint .* did not answer within 1s)/,
      )
      expect(run.stderr.trim().split('\n')).toHaveLength(1)
      expect(run.stderr).not.toContain(entry.token)
      const json = await timedRun(['token', '--cache', 'file', '--ttl', ttl, '--json', '--timeout', '1s'], entry.env)
      expect([json.code, json.signal]).toEqual([5, null])
      expect(json.stdout).toBe('')
      // Not served, and not deleted either: a failed call changes nothing.
      expect(await snapshot(entry.cacheDir)).toEqual(before)
    } finally {
      await entry.stop()
    }
  })
})
