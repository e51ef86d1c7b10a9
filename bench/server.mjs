// Server throughput: full valid exchanges (distinct jtis) per second against `bktx server`,
// and the same load against two floors in the same run (see bench/floors.mjs).
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose'

const ROOT = new URL('..', import.meta.url).pathname
const BIN = join(ROOT, 'bin', 'bktx.js')
const CLIENT_ID = '0123456789abcdef0123'
const FORM_BASE = new URLSearchParams({
  grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
  client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
  audience: 'acme',
  subject_token: 'dev@acme.test',
  subject_token_type: 'urn:buildkite:params:oauth:token-type:user-email',
}).toString()

/**
 * Starts a process that prints "listening on URL" on stderr. Its stderr goes to a file, so the
 * per-request log lines cost the measuring process nothing.
 */
export async function startListening(args, env = {}) {
  // BKTX_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the servers.
  const nodeArgs = process.env.BKTX_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []
  const logDir = mkdtempSync(join(tmpdir(), 'bktx-bench-log-'))
  const log = join(logDir, 'stderr')
  const fd = openSync(log, 'w')
  const child = spawn(process.execPath, [...nodeArgs, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', fd] })
  closeSync(fd)
  let exited = null
  child.once('exit', (code) => (exited = code))
  for (let waited = 0; waited < 10_000; waited += 20) {
    const text = readFileSync(log, 'utf8')
    const match = /listening on (\S+)/.exec(text)
    if (match) {
      return {
        url: match[1],
        pid: child.pid,
        /** The process's stderr so far (for `bktx server`: one line per request). */
        log: () => readFileSync(log, 'utf8'),
        stop: () =>
          new Promise((done) => {
            child.once('exit', () => {
              rmSync(logDir, { recursive: true, force: true })
              done()
            })
            child.kill('SIGTERM')
          }),
      }
    }
    if (exited !== null) throw new Error(`${args.join(' ')} exited ${exited}: ${text}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  child.kill('SIGKILL')
  throw new Error(`${args.join(' ')} did not start`)
}

/** Peak resident set size of a running process, in MiB (Linux VmHWM). */
export function peakRssMiB(pid) {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return match ? Math.round(Number(match[1]) / 1024) : undefined
}

async function load(url, bodies, { connections, duration }) {
  let i = 0
  const result = await autocannon({
    url: `${url}/oauth/token`,
    connections,
    duration,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        setupRequest: (req) => ({ ...req, body: bodies[i++ % bodies.length] }),
      },
    ],
  })
  return {
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  }
}

const ROUNDS = 3

export async function benchServer(tmp, { connections = 50, duration = 3 } = {}) {
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  const jwk = await exportJWK(publicKey)
  const kid = await calculateJwkThumbprint(jwk)
  const jwksFile = join(tmp, 'jwks.json')
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...jwk, kid, use: 'sig', alg: 'ES256' }] }))

  // Each round is a fresh server on the same port (its replay store empty, the audience the
  // same), so one set of distinct-jti assertions, more than a round can use, serves them all.
  let port = 0
  const startServer = async () => {
    const server = await startListening(
      [BIN, 'server', '--port', String(port), '--jwks', jwksFile, '--client-id', CLIENT_ID, '--org', 'acme', '--member', 'dev@acme.test'],
      { HOME: tmp, XDG_CONFIG_HOME: join(tmp, 'config') },
    )
    port = Number(new URL(server.url).port)
    return server
  }
  let server = await startServer()
  const count = 60_000
  const now = Math.floor(Date.now() / 1000)
  const bodies = []
  for (let n = 0; n < count; n++) {
    const jwt = await new SignJWT({ iss: CLIENT_ID, sub: CLIENT_ID, aud: `${server.url}/oauth/token`, iat: now, exp: now + 300, jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid })
      .sign(privateKey)
    bodies.push(`${FORM_BASE}&client_assertion=${jwt}`)
  }

  // The server and the crypto floor alternate, and the ratio is the median of the rounds'
  // pairs: with one 5 s run of each, load that changed between them moved the ratio by about
  // ±0.06 from run to run on this shared 2-core machine.
  // The trivial floor first: it also warms autocannon, which runs in this process and, cold,
  // held back whichever server it measured first (round 1 ran about 8% below the others).
  const trivial = await loadFloor(['trivial'], bodies, { connections, duration })
  const rounds = []
  for (let r = 0; r < ROUNDS; r++) {
    server ??= await startServer()
    let bktx
    try {
      bktx = await load(server.url, bodies, { connections, duration })
      bktx.peakRssMiB = peakRssMiB(server.pid)
    } finally {
      await server.stop()
      server = undefined
    }
    rounds.push({ bktx, crypto: await loadFloor(['verify', jwksFile], bodies, { connections, duration }) })
  }
  const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1]
  const pick = (side) => ({
    rps: median(rounds.map((r) => r[side].rps)),
    p50: median(rounds.map((r) => r[side].p50)),
    p99: median(rounds.map((r) => r[side].p99)),
    requests: rounds.reduce((sum, r) => sum + r[side].requests, 0),
    errors: rounds.reduce((sum, r) => sum + r[side].errors, 0),
    non2xx: rounds.reduce((sum, r) => sum + r[side].non2xx, 0),
  })
  return {
    bktx: { ...pick('bktx'), peakRssMiB: Math.max(...rounds.map((r) => r.bktx.peakRssMiB ?? 0)) },
    crypto: pick('crypto'),
    ratio: median(rounds.map((r) => r.bktx.rps / r.crypto.rps)),
    rounds: rounds.map((r) => ({ bktx: r.bktx.rps, crypto: r.crypto.rps })),
    trivial,
  }
}

async function loadFloor(args, bodies, options) {
  const floor = await startListening([join(ROOT, 'bench', 'floors.mjs'), ...args])
  try {
    return await load(floor.url, bodies, options)
  } finally {
    await floor.stop()
  }
}
