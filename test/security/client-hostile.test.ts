/**
 * The client among hostile surroundings (issue 13): misbehaving proxies on loopback counting every connection; a
 * counting proxy that must never see a loopback token or API URL; FIFOs, /dev/zero and endless
 * stdin as inputs, with the peak RSS of the bktx process read from /proc while it runs; private
 * keys whose halves do not match; token and API endpoints that answer with terminal escape
 * sequences, a lifetime of 250,000 years and C1 bytes in `Date`; `inspect --jwks URL` against
 * endpoints that fail; and a /dev/shm/bktx-<uid> planted by another user (as root: the bktx
 * process runs under a throwaway uid, the squatter is another).
 *
 * Most cases run the whole CLI in-process (test/helpers/security-cli.ts: the binary's own
 * direct fetch, the same main()); the built binary (`npm test` builds it; otherwise `npm run
 * build`) only where a process is what is being proven: that a hanging server cannot keep bktx
 * from exiting, real stdin and its peak RSS, the start-up fast path, and other uids. No test
 * bounds a duration: one that must end by itself has a kill timer far beyond what it needs and
 * asserts that it ended by itself (no signal) with the timeout's own message.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto'
import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs'
import { chmod, chown, lchown, lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { resolveCacheDir, scopeOf } from '../../src/cache/dir.js'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { startCountingProxy, type CountingProxy, type ProxyBehaviour } from '../helpers/proxy.js'
import { fixedClock } from '../helpers/cli.js'
import { runBktx } from '../helpers/security-cli.js'
import { BIN } from '../helpers/spawn.js'
import { answerToken, startStubServer, type StubServer } from '../helpers/stub-token-server.js'
import { selfSignedCert } from '../helpers/tls.js'
import { tokenWorld, type TokenWorld } from '../helpers/token-setup.js'
import type { Clock } from '../../src/time/clock.js'
import { writeFigures } from './support.js'
import { CODE_CACHE } from '../helpers/code-cache.js'

// Test and hook timeouts are kill timers, about ten times what a loaded 2-core machine needs:
// no test here bounds a duration (a spawned run has its own kill timer and must end by itself).
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 })

/** --timeout for a server that never answers: the shortest bktx accepts. */
const TIMEOUT_S = 1
/**
 * --timeout for retried faults: all 4 attempts and their backoff (at most 0.5 + 1 + 2 s) fit
 * many times over, so the count is exact however slow the machine; the fault ends the run.
 */
const RETRY_TIMEOUT_S = 30
/** Kill timer of a spawned run: ten times what the slowest case needs on a loaded machine. */
const KILL_AFTER_MS = 30_000
/** Peak RSS a refused input may cost: a bktx run is about 60-80 MiB; /dev/zero read whole reached 2 GiB. */
const RSS_BOUND_MIB = 160

const figures = {
  proxy_cases: 0,
  /** Per misbehaving-proxy case: connections the proxy accepted during one run. */
  proxy_connections: {} as Record<string, number>,
  loopback_runs_with_proxy: 0,
  loopback_requests_proxied: 0,
  special_input_cases: 0,
  special_input_slowest_ms: 0,
  special_input_peak_rss_mib: 0,
  baseline_peak_rss_mib: 0,
  key_cases: 0,
  key_runs: 0,
  hostile_server_cases: 0,
  jwks_url_cases: 0,
  squat_cases: 0,
  squat_skipped: false,
}

let dir: string
let keyPath: string
let world: TokenWorld
let namedTls: { cert: string; key: string }
let namedCaPath: string
const cleanups: (() => Promise<void>)[] = []

beforeAll(async () => {
  if (!existsSync(join(BIN, '..', '..', 'dist', 'bin.js'))) throw new Error('bin/bktx.js needs dist/: run `npm run build` (npm test does)')
  dir = await mkdtemp(join(tmpdir(), 'bktx-hostile-'))
  await chmod(dir, 0o755)
  keyPath = join(dir, 'key.pem')
  await writeFile(keyPath, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
  namedTls = await selfSignedCert('named', ['token.test', 'api.test'])
  namedCaPath = join(dir, 'named-ca.pem')
  await writeFile(namedCaPath, namedTls.cert)
  world = await tokenWorld()
})
afterAll(async () => {
  writeFigures('client-hostile', figures)
  for (const cleanup of cleanups.reverse()) await cleanup()
  await world?.cleanup()
  await rm(dir, { recursive: true, force: true })
})

// ---------------------------------------------------------------------------------------------
// Running the binary, watched from outside.

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  ms: number
  /** VmHWM of the bktx process, the last time /proc could be read (polled every 5 ms). */
  peakRssMiB: number
}

interface RunOptions {
  env?: Record<string, string | undefined>
  /** A string, a file descriptor's path to open as stdin (/dev/zero), or an endless stream of bytes. */
  stdin?: string | { path: string } | 'endless'
  uid?: number
  gid?: number
  killAfterMs?: number
}

function run(args: string[], options: RunOptions = {}): Promise<Run> {
  const env = { PATH: process.env['PATH'], HOME: dir, ...CODE_CACHE, ...options.env }
  let stdinFd: number | undefined
  let stdin: 'pipe' | number = 'pipe'
  if (typeof options.stdin === 'object') stdin = stdinFd = openSync(options.stdin.path, 'r')
  const started = performance.now()
  const child: ChildProcess = spawn(process.execPath, [BIN, ...args], {
    env,
    stdio: [stdin, 'pipe', 'pipe'],
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid ?? options.uid }),
  })
  if (stdinFd !== undefined) closeSync(stdinFd)
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk) => (stdout += chunk))
  child.stderr?.on('data', (chunk) => (stderr += chunk))
  if (options.stdin === 'endless') {
    const chunk = Buffer.alloc(64 * 1024, 'eyJhbGciOiJFUzI1NiJ9')
    const pump = () => {
      while (child.stdin?.writable === true && child.stdin.write(chunk));
    }
    child.stdin?.on('drain', pump)
    child.stdin?.on('error', () => undefined)
    pump()
  } else if (child.stdin !== null) {
    child.stdin.on('error', () => undefined)
    child.stdin.end(typeof options.stdin === 'string' ? options.stdin : '')
  }
  let peakKiB = 0
  const poll = setInterval(() => {
    try {
      const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))
      if (match !== null) peakKiB = Math.max(peakKiB, Number(match[1]))
    } catch {
      // Gone already.
    }
  }, 5)
  const killer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? KILL_AFTER_MS)
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearInterval(poll)
      clearTimeout(killer)
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started, peakRssMiB: Math.round((peakKiB / 1024) * 10) / 10 })
    })
  })
}

/** The CLI in-process, with this file's home. */
const cli = (args: string[], env: Record<string, string | undefined> = {}, clock?: Clock) =>
  runBktx(args, { env: { HOME: dir, ...env }, ...(clock === undefined ? {} : { clock }) })

/** One `error:` line and nothing on stdout. */
function expectOneError(result: { stdout: string; stderr: string }, message: RegExp): void {
  expect(result.stdout).toBe('')
  expect(result.stderr).toMatch(/^error: [^\n]*\n$/)
  expect(result.stderr).toMatch(message)
}

const tokenEnv = (tokenUrl: string, extra: Record<string, string> = {}): Record<string, string> => ({
  BKTX_TOKEN_URL: tokenUrl,
  BKTX_CLIENT_ID: '0123456789abcdef0123',
  BKTX_KEY: keyPath,
  BKTX_ORG: 'acme',
  BKTX_SUBJECT: 'dev@acme.test',
  XDG_CONFIG_HOME: join(dir, 'no-config'),
  ...extra,
})

async function proxy(behaviour: ProxyBehaviour, hosts: readonly string[] = ['token.test', 'api.test', 'jwks.test']): Promise<CountingProxy> {
  const p = await startCountingProxy({ behaviour, hosts })
  cleanups.push(() => p.close())
  return p
}

async function stub(...args: Parameters<typeof startStubServer>): Promise<StubServer> {
  const server = await startStubServer(...args)
  cleanups.push(() => server.close())
  return server
}

/** A TCP listener that counts connections and closes each at once (or after the TLS ClientHello). */
async function closingListener(): Promise<{ port: number; connections: () => number }> {
  let connections = 0
  const server = createTcpServer((socket: Socket) => {
    connections++
    socket.once('data', () => socket.destroy())
    socket.on('error', () => undefined)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise((resolve) => server.close(() => resolve())))
  return { port: (server.address() as AddressInfo).port, connections: () => connections }
}

// ---------------------------------------------------------------------------------------------
// 1. Every network path makes at most the documented 4 attempts, whatever the proxy does; a 407
// is reported at once and never echoes the credentials. In-process (the proxy and TLS code is
// the binary's); the cases wait on backoffs, not the CPU, so they run side by side.

describe.concurrent('misbehaving proxies', () => {
  const CREDENTIALS = 'proxy-user:s3cret-pr0xy-pw'
  const cases: { name: string; behaviour: ProxyBehaviour; connections: number; message: RegExp }[] = [
    {
      name: 'closes the connection after reading CONNECT',
      behaviour: 'close',
      connections: 4,
      message: /the proxy closed the connection before the tunnel was open \(4 attempts\)/,
    },
    {
      name: 'answers CONNECT with 407',
      behaviour: 'auth',
      connections: 1,
      message: /the proxy refused to forward the request .*HTTP 407 Proxy Authentication Required.*HTTPS_PROXY or HTTP_PROXY/,
    },
    { name: 'answers CONNECT with 502', behaviour: 'bad-gateway', connections: 4, message: /the proxy answered CONNECT with HTTP 502 \(4 attempts\)/ },
  ]
  for (const c of cases) {
    it(`https through a proxy that ${c.name}: ${c.connections} connection(s), exit 5`, async () => {
      const p = await proxy(c.behaviour)
      const proxyUrl = p.url.replace('http://', `http://${CREDENTIALS}@`)
      const result = await cli(
        ['token', '--no-cache', '--timeout', `${RETRY_TIMEOUT_S}s`, '--ca-file', namedCaPath],
        tokenEnv('https://token.test:8443/oauth/token', { HTTPS_PROXY: proxyUrl }),
      )
      figures.proxy_cases++
      figures.proxy_connections[`CONNECT, ${c.behaviour}`] = p.connections
      expect(result.code, result.stderr).toBe(5)
      expectOneError(result, c.message)
      expect(p.connections).toBe(c.connections)
      expect(p.connects.every((target) => target === 'token.test:8443')).toBe(true)
      // The credentials were offered to the proxy, and are in no message.
      expect(p.authorizations.length).toBe(c.connections)
      expect(p.authorizations[0]).toBe(`Basic ${Buffer.from(CREDENTIALS).toString('base64')}`)
      expect(result.stderr).not.toMatch(/s3cret|proxy-user/)
    })
  }

  // A process-level fact: the hung tunnel's socket must not keep bktx alive once --timeout has
  // struck. The binary, then, with a kill timer far past the 1 s it needs: the run must end by
  // itself (no signal) with the timeout's message, not be killed.
  it('https through a proxy that never answers CONNECT: the binary exits by itself at --timeout, one connection, exit 5', async () => {
    const p = await proxy('hang')
    const proxyUrl = p.url.replace('http://', `http://${CREDENTIALS}@`)
    const result = await run(['token', '--no-cache', '--timeout', `${TIMEOUT_S}s`, '--ca-file', namedCaPath], {
      env: tokenEnv('https://token.test:8443/oauth/token', { HTTPS_PROXY: proxyUrl }),
    })
    figures.proxy_cases++
    figures.proxy_connections['CONNECT, hang'] = p.connections
    expect([result.code, result.signal], result.stderr).toEqual([5, null])
    expectOneError(result, /did not answer within 1s/)
    // The proxy (in this busy process) may take its accepted connection, and read the CONNECT,
    // only after bktx has gone: wait for the count, then it must be exactly one (no retry).
    while (p.connections === 0) await new Promise((resolve) => setTimeout(resolve, 10))
    expect(p.connections).toBe(1)
    expect(result.stderr).not.toMatch(/s3cret|proxy-user/)
  })

  for (const c of [
    { behaviour: 'close' as const, connections: 4, message: /cannot reach the JWKS URI http:\/\/jwks\.test:8080\/jwks\.json: .*\(4 attempts\)/ },
    { behaviour: 'auth' as const, connections: 1, message: /the proxy refused to forward the request to the JWKS URI .*HTTP 407/ },
  ]) {
    it(`plain http through a proxy (absolute URI) that ${c.behaviour === 'close' ? 'closes the connection' : 'answers 407'}: ${c.connections} connection(s), exit 5`, async () => {
      const p = await proxy(c.behaviour)
      const result = await cli(['inspect', '--jwks', 'http://jwks.test:8080/jwks.json', '--timeout', `${RETRY_TIMEOUT_S}s`, SAMPLE_JWT], {
        HTTP_PROXY: p.url.replace('http://', `http://${CREDENTIALS}@`),
        XDG_CONFIG_HOME: join(dir, 'no-config'),
      })
      figures.proxy_cases++
      figures.proxy_connections[`absolute URI, ${c.behaviour}`] = p.connections
      expect(result.code, result.stderr).toBe(5)
      expectOneError(result, c.message)
      expect(p.forwards.length).toBe(c.connections)
      expect(result.stderr).not.toMatch(/s3cret|proxy-user/)
    })
  }

  it('a working proxy carries the exchange (CONNECT, verified with --ca-file): one connection', async () => {
    const server = await stub(answerToken, namedTls)
    const port = new URL(server.origin).port
    const p = await proxy('forward')
    const result = await cli(['token', '--no-cache', '--ca-file', namedCaPath], tokenEnv(`https://token.test:${port}/oauth/token`, { HTTPS_PROXY: p.url }))
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^bktx_\w+\n$/)
    expect([p.connections, p.connects]).toEqual([1, [`token.test:${port}`]])
    expect(server.requests).toEqual(['POST /oauth/token'])
  })

  for (const path of ['direct (node:http)', '--ca-file (undici)'] as const) {
    it(`${path}: a server that closes every connection gets 4 attempts, exit 5`, async () => {
      const listener = await closingListener()
      const tls = path !== 'direct (node:http)'
      const result = await cli(
        ['token', '--no-cache', '--timeout', `${RETRY_TIMEOUT_S}s`, ...(tls ? ['--ca-file', namedCaPath] : [])],
        tokenEnv(`${tls ? 'https' : 'http'}://127.0.0.1:${listener.port}/oauth/token`),
      )
      figures.proxy_cases++
      figures.proxy_connections[`no proxy, ${path}, server closes`] = listener.connections()
      expect(result.code, result.stderr).toBe(5)
      expectOneError(result, /\(4 attempts\)/)
      expect(listener.connections()).toBe(4)
    })
  }
})

// ---------------------------------------------------------------------------------------------
// 2. Loopback is never sent through a proxy: plain http is allowed only because it never leaves
// the machine, and a proxy would see the assertion, the subject, the token and the bearer header.

describe('loopback token and API URLs with a proxy configured', () => {
  it('token, whoami and logout reach the loopback server directly, whatever NO_PROXY says', async () => {
    const p = await proxy('forward', [])
    for (const noProxy of [undefined, '', 'example.test', 'localhost']) {
      const env = { ...world.env, HTTP_PROXY: p.url, HTTPS_PROXY: p.url, http_proxy: p.url, ...(noProxy === undefined ? {} : { NO_PROXY: noProxy }) }
      for (const args of [
        ['token', '--cache', 'file'],
        ['whoami', '--cache', 'file'],
        ['logout', '--cache', 'file'],
      ]) {
        const result = await cli(args, env)
        expect(result.code, `${args[0]} with NO_PROXY=${String(noProxy)}: ${result.stderr}`).toBe(0)
        figures.loopback_runs_with_proxy++
      }
    }
    figures.loopback_requests_proxied = p.connections
    expect([p.connections, p.connects, p.forwards]).toEqual([0, [], []])
  })
})

// ---------------------------------------------------------------------------------------------
// 3. Special files: only regular files (or a pipe for `-`), the cap counted while reading, exit 3,
// and memory that stays at a bktx run's size. A file argument is opened by the same code
// in-process; stdin is the process's own, so those cases run the binary, with its peak RSS.

const SAMPLE_JWT = `${Buffer.from('{"alg":"ES256","typ":"JWT"}').toString('base64url')}.${Buffer.from('{"iss":"x","exp":1}').toString('base64url')}.c2ln`

describe('FIFOs, devices and endless stdin as inputs', () => {
  let fifo: string
  beforeAll(async () => {
    fifo = join(dir, 'input.fifo')
    await new Promise<void>((resolve, reject) => spawn('mkfifo', [fifo]).on('close', (code) => (code === 0 ? resolve() : reject(new Error('mkfifo failed')))))
  })

  const inputs = (special: string) => [
    {
      what: 'BKTX_CONFIG for token',
      args: ['token'],
      env: { BKTX_CONFIG: special },
      message: /^error: config file .*: is a (FIFO \(named pipe\)|character device), not a regular file$/m,
    },
    {
      what: 'BKTX_CONFIG for config list',
      args: ['config', 'list'],
      env: { BKTX_CONFIG: special },
      message: /^error: config file .*: is a .*, not a regular file$/m,
    },
    {
      what: '--config for server',
      args: ['--config', special, 'server', '--port', '0'],
      env: {},
      message: /^error: config file .*: is a .*, not a regular file$/m,
    },
    {
      what: '--key for token',
      args: ['token', '--key', special],
      env: tokenEnv('http://127.0.0.1:9/oauth/token'),
      message: /^error: key file .* is a .*, not a regular file$/m,
    },
    { what: '--key for jwks', args: ['jwks', '--key', special], env: {}, message: /^error: key file .* is a .*, not a regular file$/m },
    { what: '--key for sign', args: ['sign', '--client-id', 'c1', '--key', special], env: {}, message: /^error: key file .* is a .*, not a regular file$/m },
    {
      what: '--jwks for inspect',
      args: ['inspect', '--jwks', special, SAMPLE_JWT],
      env: {},
      message: /^error: JWKS .*: key file .* is a .*, not a regular file; check --jwks$/m,
    },
    {
      what: '--jwks for server',
      args: ['server', '--port', '0', '--org', 'acme', '--member', 'dev@acme.test', '--client-id', 'c1', '--jwks', special],
      env: {},
      message: /^error: key file .* is a .*, not a regular file$/m,
    },
    {
      what: '--ca-file for token',
      args: ['token', '--no-cache', '--ca-file', special],
      env: tokenEnv('https://token.test/oauth/token', { HTTPS_PROXY: 'http://127.0.0.1:9' }),
      message: /^error: the CA file .* is a .*, not a regular file; check --ca-file$/m,
    },
  ]

  // A FIFO opened for reading would block until a writer comes, and /dev/zero never ends: either
  // mistake leaves the call pending and the test's own timeout turns it red.
  for (const kind of ['a FIFO', '/dev/zero'] as const) {
    it(`${kind}: every input refuses it with exit 3`, async () => {
      const special = kind === 'a FIFO' ? fifo : '/dev/zero'
      for (const input of inputs(special)) {
        const result = await cli(input.args, { XDG_CONFIG_HOME: join(dir, 'no-config'), ...input.env })
        figures.special_input_cases++
        expect(result.code, `${input.what}: ${result.stderr}`).toBe(3)
        expectOneError(result, input.message)
      }
    })
  }

  describe.concurrent('stdin, on the binary', () => {
    it('baseline: the peak RSS of a bktx run (a figure for docs/security/figures.md)', async () => {
      const baseline = await run(['config', 'list'], { env: { XDG_CONFIG_HOME: join(dir, 'no-config') } })
      expect(baseline.code).toBe(0)
      figures.baseline_peak_rss_mib = baseline.peakRssMiB
    })

    for (const [what, stdin, message] of [
      ['/dev/zero as stdin', { path: '/dev/zero' }, /^error: stdin is a character device, not a pipe or a regular file$/m],
      ['an endless pipe', 'endless', /^error: stdin is larger than 1 MiB; not a client assertion$/m],
    ] as const) {
      it(`inspect - with ${what}: exit 3 by itself, memory bounded`, async () => {
        const result = await run(['inspect', '-'], { stdin })
        figures.special_input_cases++
        figures.special_input_slowest_ms = Math.max(figures.special_input_slowest_ms, Math.round(result.ms))
        figures.special_input_peak_rss_mib = Math.max(figures.special_input_peak_rss_mib, result.peakRssMiB)
        // Ended by itself, not by the kill timer; peak RSS does not depend on the CPU's speed.
        expect([result.code, result.signal]).toEqual([3, null])
        expectOneError(result, message)
        expect(result.peakRssMiB).toBeLessThan(RSS_BOUND_MIB)
      })
    }

    it('a JWT on a pipe still works', async () => {
      const result = await run(['inspect', '-'], { stdin: `${SAMPLE_JWT}\n` })
      expect(result.code).toBe(0)
      expect(result.stdout).toMatch(/^Header\n/)
    })
  })
})

// ---------------------------------------------------------------------------------------------
// 4. Private keys whose halves do not match, or whose members are not base64url: exit 3 for
// every command that loads one, `jwks` included.

describe('mismatched and malformed private JWKs', () => {
  const ec = (): JsonWebKey => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' })
  const rsa = (): JsonWebKey => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' })

  it('are refused with exit 3 by jwks, sign, token, server and inspect', async () => {
    const [a, b, r, r2] = [ec(), ec(), rsa(), rsa()]
    const keys: [string, JsonWebKey, RegExp][] = [
      ['an EC JWK with the d of another key', { ...a, d: b.d }, /the private key does not match its public key \(d does not produce x and y\)/],
      ['an RSA JWK with the d of another key', { ...r, d: r2.d }, /the private key does not match its public key \(d does not invert e\)/],
      ['an RSA JWK with the p of another key', { ...r, p: r2.p }, /the private key does not match its public key \(p and q do not multiply to n\)/],
      ['an EC JWK whose d has a "!" in it', { ...a, d: `${a.d?.slice(0, 8)}!${a.d?.slice(9)}` }, /JWK member "d" is not base64url/],
      ['an EC JWK whose x is padded', { ...a, x: `${a.x}=` }, /JWK member "x" is not base64url/],
    ]
    for (const [name, jwk, message] of keys) {
      const path = join(dir, `bad-${figures.key_cases}.json`)
      await writeFile(path, JSON.stringify(jwk), { mode: 0o600 })
      figures.key_cases++
      for (const args of [
        ['jwks', '--key', path],
        ['sign', '--client-id', 'c1', '--key', path],
        ['token', '--no-cache', '--key', path],
        ['inspect', '--jwks', path, SAMPLE_JWT],
        ['server', '--port', '0', '--org', 'acme', '--member', 'dev@acme.test', '--client-id', 'c1', '--jwks', path],
      ]) {
        const result = await cli(args, tokenEnv('http://127.0.0.1:9/oauth/token'))
        figures.key_runs++
        expect(result.code, `${name}: bktx ${args[0]}: ${result.stderr}`).toBe(3)
        expectOneError(result, message)
      }
    }
  })
})

// ---------------------------------------------------------------------------------------------
// 5. Hostile token and API endpoints: control characters from a server reach the terminal only
// escaped; a lifetime of 250,000 years is cached for at most 86400 s.

const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/
const ESCAPES = '\u001b[2J\u001b]0;pwned\u0007\u001b]52;c;cm0gLXJmIH4K\u0007\u009b31m\u202e'

type Behaviour = (req: IncomingMessage, res: ServerResponse) => void
/** A loopback HTTP endpoint answering with `behave`; its URL, with how many connections it accepted. */
async function hostile(behave: Behaviour): Promise<{ url: string; connections(): number }> {
  let connections = 0
  const sockets = new Set<Socket>()
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => behave(req, res))
  })
  server.on('connection', (s: Socket) => {
    connections++
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(
    () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  )
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections }
}
const newToken = (): string => `bktx_${randomBytes(24).toString('hex')}`
const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

describe.concurrent('hostile token and API endpoints', () => {
  it('whoami: escape sequences and fake lines in the API answer are escaped; --json stays exact JSON', async () => {
    const user = { name: `Eve${ESCAPES}`, email: `eve@acme.test\n✓ signature and time claims verified` }
    const scopes = ['read_builds', `write\u009b2J`]
    const { url: origin } = await hostile((req, res) => {
      if (req.url === '/oauth/token') return json(res, 200, { access_token: newToken(), token_type: 'Bearer', expires_in: 900, scope: 'read_builds' })
      json(res, 200, { uuid: `u-1\r\u001b[1A`, scopes, description: null, created_at: '2026-11-28 12:00:00 UTC', user })
    })
    const env = tokenEnv(`${origin}/oauth/token`, { BKTX_API_URL: origin })
    const human = await cli(['whoami', '--mint', '--no-cache'], env)
    figures.hostile_server_cases++
    expect(human.code).toBe(0)
    const lines = human.stdout.split('\n')
    expect(lines).toHaveLength(5)
    expect(lines.every((line) => !CONTROL.test(line))).toBe(true)
    expect(lines[0]).toBe(
      'user     Eve\\x1b[2J\\x1b]0;pwned\\x07\\x1b]52;c;cm0gLXJmIH4K\\x07\\x9b31m\\u202e <eve@acme.test\\n✓ signature and time claims verified>',
    )
    expect(CONTROL.test(human.stderr)).toBe(false)
    const machine = await cli(['whoami', '--mint', '--no-cache', '--json'], env)
    expect(machine.code).toBe(0)
    expect(JSON.parse(machine.stdout)).toMatchObject({ user, scopes: [...scopes].sort(), uuid: `u-1\r\u001b[1A` })
    expect(/[\u0080-\u009f\u202e]/.test(machine.stdout)).toBe(false)
  })

  it('token: C1 bytes in the Date header and escapes in error_description reach stderr escaped', async () => {
    const { url: origin } = await hostile((_req, res) =>
      json(
        res,
        401,
        { error: 'invalid_client', error_description: `JWT \`exp\` claim must be in the future${ESCAPES}\n` },
        { date: 'Sat, 28 Nov 2020 11:58:00 GMT (\u009b2J\u009d0;pwned\u009c)' },
      ),
    )
    const result = await cli(['token', '--no-cache'], tokenEnv(`${origin}/oauth/token`))
    figures.hostile_server_cases++
    expect(result.code).toBe(4)
    expectOneError(result, /its Date header says Sat, 28 Nov 2020 11:58:00 GMT \(\\x9b2J\\x9d0;pwned\\x9c\)/)
    expect(CONTROL.test(result.stderr.slice(0, -1))).toBe(false)
  })

  it('an API error quoting escapes is escaped too', async () => {
    const { url: origin } = await hostile((req, res) => {
      if (req.url === '/oauth/token') return json(res, 200, { access_token: newToken(), token_type: 'Bearer', expires_in: 900, scope: 'read_builds' })
      json(res, 401, { message: `Unauthorized${ESCAPES}\nerror: fake` })
    })
    const result = await cli(['whoami', '--mint', '--no-cache'], tokenEnv(`${origin}/oauth/token`, { BKTX_API_URL: origin }))
    figures.hostile_server_cases++
    expect(result.code).toBe(4)
    expectOneError(result, /HTTP 401: Unauthorized\\x1b\[2J/)
    expect(CONTROL.test(result.stderr.slice(0, -1))).toBe(false)
  })

  it('inspect without --jwks: a claim cannot draw a "verified" line', async () => {
    const payload = { iss: 'x', note: '\n\u001b[32m✓\u001b[0m signature and time claims verified', ['k\u001b[2Jey']: 1 }
    const jwt = `${Buffer.from('{"alg":"ES256","kid":"k\\u009b1"}').toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.c2ln`
    const result = await cli(['inspect', jwt])
    figures.hostile_server_cases++
    expect([result.code, result.stderr]).toEqual([0, ''])
    expect(CONTROL.test(result.stdout.replace(/\n/g, ''))).toBe(false)
    expect(result.stdout.split('\n').some((line) => line.includes('✓') && !line.includes('\\n'))).toBe(false)
    expect(result.stdout).toMatch(/\n {2}note +\\n\\x1b\[32m✓\\x1b\[0m signature and time claims verified\n/)
  })

  for (const expiresIn of [7_889_238_000_000, Number.MAX_SAFE_INTEGER]) {
    it(`expires_in ${expiresIn}: the token is served, its lifetime capped at 86400 s, in the cache too`, async () => {
      const home = await mkdtemp(join(dir, 'ttl-'))
      const { url: origin } = await hostile((_req, res) =>
        json(res, 200, { access_token: newToken(), token_type: 'Bearer', expires_in: expiresIn, scope: 'read_builds' }),
      )
      const env = tokenEnv(`${origin}/oauth/token`, { XDG_RUNTIME_DIR: home, XDG_CACHE_HOME: join(home, 'cache') })
      // A clock that stands still: the expiry is exactly received + 86400 s.
      const clock = fixedClock(Date.now())
      const result = await cli(['token', '--cache', 'file', '--json'], env, clock)
      figures.hostile_server_cases++
      expect(result.code, result.stderr).toBe(0)
      const doc = JSON.parse(result.stdout)
      const expiresAt = Date.parse(doc.expires_at)
      expect(expiresAt).toBe(clock.now().getTime() + 86_400_000)
      const scoped = await resolveCacheDir({ env, home, uid: process.getuid?.() })
      const metadata = (await readdir(scoped)).filter((f) => f.endsWith('.json'))
      const meta = JSON.parse(await readFile(join(scoped, metadata[0] as string), 'utf8'))
      expect(meta.expiresIn).toBe(86_400)
      const listed = JSON.parse((await cli(['cache', 'list', '--json'], env, clock)).stdout)
      expect(Date.parse(listed[0].expires_at)).toBe(expiresAt)
    })
  }
})

// ---------------------------------------------------------------------------------------------
// 6. inspect --jwks URL failures are typed errors with readable text; --timeout 0 is a usage error.

describe.concurrent('inspect --jwks URL against failing endpoints', () => {
  const refusedPort = (): Promise<number> =>
    new Promise<number>((resolve) => {
      const s = createTcpServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as AddressInfo
        s.close(() => resolve(port))
      })
    })
  const cases: [string, () => Promise<string[]>, number, RegExp][] = [
    [
      'connection refused',
      async () => [`http://127.0.0.1:${await refusedPort()}/jwks.json`, '--timeout', `${RETRY_TIMEOUT_S}s`],
      5,
      /^error: cannot reach the JWKS URI http:\/\/127\.0\.0\.1:\d+\/jwks\.json: connection refused \(ECONNREFUSED\) \(4 attempts\); check --jwks/,
    ],
    [
      '404',
      async () => [`${(await hostile((_req, res) => json(res, 404, { message: 'Not Found' }))).url}/jwks.json`],
      6,
      /^error: the JWKS URI http:\/\/127\.0\.0\.1:\d+\/jwks\.json answered HTTP 404; check --jwks$/m,
    ],
    [
      'a hang',
      async () => [`${(await hostile(() => undefined)).url}/jwks.json`, '--timeout', `${TIMEOUT_S}s`],
      5,
      /^error: the JWKS URI .* did not answer within 1s; check --jwks, or allow more time with --timeout$/m,
    ],
    ['--timeout 0', async () => ['http://127.0.0.1:9/jwks.json', '--timeout', '0'], 2, /--timeout.*expected a duration of at least 1 second/],
    ['--timeout -1', async () => ['http://127.0.0.1:9/jwks.json', '--timeout', '-1'], 2, /--timeout/],
  ]
  for (const [name, args, code, message] of cases) {
    it(`${name}: exit ${code}, one readable error`, async () => {
      const result = await cli(['inspect', '--jwks', ...(await args()), SAMPLE_JWT])
      figures.jwks_url_cases++
      expect(result.code, `${name}: ${result.stderr}`).toBe(code)
      expect(result.stdout).toBe('')
      expect(result.stderr, name).toMatch(message)
      expect(result.stderr).not.toMatch(/internal error|This is a bug|SSL routines/)
    })
  }

  it('TLS to a plain-http port: exit 5, not retried (one connection)', async () => {
    const plain = await hostile((_req, res) => json(res, 200, { keys: [] }))
    const result = await cli(['inspect', '--jwks', `https://127.0.0.1:${new URL(plain.url).port}/jwks.json`, SAMPLE_JWT])
    figures.jwks_url_cases++
    expect(result.code, result.stderr).toBe(5)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(
      /^error: cannot reach the JWKS URI https:\/\/127\.0\.0\.1:\d+\/jwks\.json: the server does not speak TLS on this port \(an https URL for a plain-http server\?\); check the scheme and port in --jwks/m,
    )
    expect(result.stderr).not.toMatch(/internal error|This is a bug|SSL routines/)
    expect(plain.connections()).toBe(1)
  })

  it('--timeout 0 is a usage error for token too, with a cached token at hand (the fast path defers to the CLI)', async () => {
    const cached = await run(['token', '--cache', 'file'], { env: world.env })
    expect(cached.code).toBe(0)
    for (const value of ['0', '0s', '-5']) {
      const result = await run(['token', '--cache', 'file', '--timeout', value], { env: world.env })
      expect(result.code, value).toBe(2)
      expect(result.stdout).toBe('')
      expect(result.stderr, value).toMatch(/--timeout/)
    }
  })
})

// ---------------------------------------------------------------------------------------------
// 7. /dev/shm/bktx-<uid> planted by another user: bktx passes over it with one notice, never
// fails for it and never uses it. Needs root (chown, and running bktx under other uids).

/** The directories above `path`, from its own up to the root. */
function ancestors(path: string): string[] {
  const dirs: string[] = []
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    dirs.push(dir)
    if (dirname(dir) === dir) return dirs
  }
}

describe('a squatted /dev/shm/bktx-<uid>', () => {
  const isRoot = process.getuid?.() === 0
  const victim = 42_000 + (process.pid % 1000) * 2
  const squatter = victim + 1
  const shmPath = `/dev/shm/bktx-${victim}`

  it('token and env exit 0, cache in $XDG_CACHE_HOME/bktx with one notice, and leave the squatted path alone', async (ctx) => {
    if (!isRoot) {
      figures.squat_skipped = true
      if (process.env['CI'] !== undefined && process.env['CI'] !== '') throw new Error('the squatting test needs root (chown, other uids); CI runs as root')
      console.warn('skipped: the /dev/shm squatting test needs root (chown and other uids); CI runs it')
      ctx.skip()
    }
    // The other uid runs this checkout's bktx: every directory above it must let others in (a
    // clone inside `mktemp -d`, mode 0700, does not), or bktx cannot even be loaded.
    const closed = ancestors(BIN).find((dir) => (statSync(dir).mode & 0o001) === 0)
    if (closed !== undefined) {
      const why = `${closed} is closed to other users (mode ${(statSync(closed).mode & 0o777).toString(8)}), so uid ${victim} cannot load ${BIN}; clone where other users can read`
      if (process.env['CI'] !== undefined && process.env['CI'] !== '') throw new Error(`the squatting test: ${why}`)
      figures.squat_skipped = true
      console.warn(`skipped: the /dev/shm squatting test: ${why}`)
      ctx.skip()
    }
    const plants: [string, () => Promise<void>, RegExp][] = [
      [
        'a directory of another uid',
        async () => {
          await mkdir(shmPath, { mode: 0o777 })
          await chown(shmPath, squatter, squatter)
        },
        new RegExp(`it belongs to uid ${squatter}, not to you \\(uid ${victim}\\)`),
      ],
      [
        'a symlink of another uid to its directory',
        async () => {
          await mkdir(`${shmPath}.target`, { mode: 0o777 })
          await chown(`${shmPath}.target`, squatter, squatter)
          await symlink(`${shmPath}.target`, shmPath)
          await lchown(shmPath, squatter, squatter)
        },
        /it is a symbolic link/,
      ],
      [
        'a directory of ours open to others',
        async () => {
          await mkdir(shmPath)
          await chmod(shmPath, 0o777)
          await chown(shmPath, victim, victim)
        },
        /its mode is 0777, other users can reach it/,
      ],
    ]
    const { url: server } = await hostile((_req, res) =>
      json(res, 200, { access_token: newToken(), token_type: 'Bearer', expires_in: 900, scope: 'read_builds' }),
    )
    const key = join(dir, `victim-key.pem`)
    await writeFile(key, await readFile(keyPath), { mode: 0o600 })
    await chown(key, victim, victim)
    for (const [name, plant, reason] of plants) {
      await rm(shmPath, { recursive: true, force: true })
      await rm(`${shmPath}.target`, { recursive: true, force: true })
      const home = await mkdtemp(join(dir, 'victim-'))
      await chmod(home, 0o700)
      await chown(home, victim, victim)
      try {
        await plant()
        const before = await lstat(shmPath)
        const env = {
          ...tokenEnv(`${server}/oauth/token`, { BKTX_KEY: key, BKTX_CACHE: 'file' }),
          HOME: home,
          XDG_CACHE_HOME: join(home, 'cache'),
          XDG_CONFIG_HOME: join(home, 'config'),
        }
        const first = await run(['token'], { env, uid: victim })
        figures.squat_cases++
        expect(first.code, `${name}: ${first.stderr}`).toBe(0)
        expect(first.stdout).toMatch(/^bktx_\w+\n$/)
        const warning = new RegExp(`^warning: not using ${shmPath} \\(${reason.source}\\); caching in ${join(home, 'cache', 'bktx')} instead; `)
        expect(first.stderr).toMatch(warning)
        expect(first.stderr.split('\n')).toHaveLength(2)
        // Cached in the fallback, served from there (the fast path too), and env works.
        const second = await run(['token'], { env, uid: victim })
        expect([second.code, second.stdout]).toEqual([0, first.stdout])
        expect(second.stderr).toMatch(warning)
        const exported = await run(['env'], { env, uid: victim })
        expect(exported.code).toBe(0)
        expect(exported.stdout).toContain(`BUILDKITE_API_TOKEN='${first.stdout.trim()}'`)
        expect((await readdir(join(home, 'cache', 'bktx', scopeOf({ env, home }).name))).filter((f) => f.endsWith('.token'))).toHaveLength(1)
        // The squatted path: the same inode, owner and mode, and nothing written into it.
        const after = await lstat(shmPath)
        expect([after.ino, after.uid, after.mode], name).toEqual([before.ino, before.uid, before.mode])
        const inside = after.isSymbolicLink() ? `${shmPath}.target` : shmPath
        expect(await readdir(inside), name).toEqual([])
      } finally {
        await rm(shmPath, { recursive: true, force: true })
        await rm(`${shmPath}.target`, { recursive: true, force: true })
      }
    }
  })
})
