/**
 * Load (issue 5), test-sized, with autocannon against the in-process reference server:
 * - valid exchanges, each with its own freshly signed assertion and jti, at 50 concurrent
 *   connections: zero errors, zero non-2xx, one token minted per request;
 * - memory bounded: with small store limits the token and jti stores never exceed them (503
 *   beyond), expired entries are swept so the server recovers, and the rate-limit window resets;
 * - a flood of invalid traffic alongside: every valid exchange is still answered, the flood
 *   only ever with a 4xx.
 * Speeds and heap growth under the same loads are benchmarks with targets (bench/load.mjs).
 * Nothing here depends on the CPU's speed: autocannon's per-request timeout and each test's
 * timeout are kill timers far beyond what a loaded 2-core machine needs, and the sizes are the
 * smallest that still keep 50 connections busy.
 */
import { randomUUID } from 'node:crypto'
import { createRequire } from 'node:module'
import { afterAll, describe, expect, it } from 'vitest'
import { es256, jws, makeKey, startSecurityServer, writeFigures, type Key, type SecurityServer } from './support.js'

interface Histogram {
  average: number
  p50: number
  p99: number
  max: number
}
interface Result {
  errors: number
  timeouts: number
  non2xx: number
  mismatches: number
  latency: Histogram
  requests: Histogram & { total: number; sent: number }
  duration: number
  start: Date
  finish: Date
  statusCodeStats: Record<string, { count: number }>
}
interface Request {
  method: string
  path: string
  headers: Record<string, string>
  setupRequest(req: { body?: string | Buffer; path?: string }, context: unknown): { body?: string | Buffer } | undefined
}
/** A run in progress: awaitable, stoppable, and an emitter of each answer. */
type Run = Promise<Result> & { stop(): void; once(event: 'response', listener: () => void): void }
type Autocannon = (opts: { url: string; connections: number; amount?: number; duration?: number; timeout?: number; requests: Request[] }) => Run
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon

const CLIENT = '0123456789abcdef0123'
const MEMBER = 'dev@acme.test'
const FORM_HEADERS = { 'Content-Type': 'application/x-www-form-urlencoded' }
/** autocannon's per-request timeout (s): a kill timer for a hung answer, not a speed target. */
const REQUEST_TIMEOUT_S = 60
/** Each test's timeout (ms): about ten times what the slowest needs on a loaded machine. */
const TEST_TIMEOUT_MS = 120_000
const figures = { requests: 0, valid: 0, invalid: 0, errors: 0, timeouts: 0, runs: [] as Array<Record<string, unknown>> }

afterAll(() => {
  writeFigures('load', figures)
})

function config(key: Key, patch: (doc: any) => void = () => undefined): unknown {
  const doc = {
    organizations: [{ slug: 'acme', members: [{ email: MEMBER }] }],
    apps: [{ client_id: CLIENT, org: 'acme', jwks: { keys: [key.jwk] }, grantable_scopes: ['read_builds'], default_scopes: ['read_builds'], max_ttl: 60 }],
  }
  patch(doc)
  return doc
}

/** Exchange bodies, each with a freshly signed assertion and its own jti, signed in advance. */
function signedBodies(
  server: SecurityServer,
  key: Key,
  count: number,
  nowS: number = Math.floor(Date.now() / 1000),
  extra: Record<string, string> = {},
): string[] {
  return Array.from({ length: count }, () =>
    new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: jws(
        { alg: 'ES256', typ: 'JWT', kid: key.kid },
        { iss: CLIENT, sub: CLIENT, aud: server.tokenUrl, iat: nowS, exp: nowS + 120, jti: randomUUID() },
        es256(key.privateKey),
      ),
      subject_token: MEMBER,
      subject_token_type: 'urn:buildkite:params:oauth:token-type:user-email',
      audience: 'acme',
      ...extra,
    }).toString(),
  )
}

/** A request that takes the next body of the pool on every send (cycling if the run outlasts it). */
function fromPool(bodies: string[]): Request {
  let next = 0
  return {
    method: 'POST',
    path: '/oauth/token',
    headers: FORM_HEADERS,
    setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length] as string }),
  }
}

/** What a run did, for docs/security/figures.md: counts only (how fast is bench/load.mjs's business). */
function record(name: string, result: Result, kind: 'valid' | 'invalid'): void {
  figures.requests += result.requests.total
  figures[kind] += result.requests.total
  figures.errors += result.errors
  figures.timeouts += result.timeouts
  const statuses = Object.fromEntries(Object.entries(result.statusCodeStats).map(([status, { count }]) => [status, count]))
  figures.runs.push({ name, requests: result.requests.total, errors: result.errors, timeouts: result.timeouts, statuses })
}

describe('valid exchanges at 50 concurrent connections', () => {
  it(
    'all succeed, each minting exactly one token',
    async () => {
      const key = await makeKey('EC', 'load')
      const server = await startSecurityServer(config(key))
      try {
        const amount = 1_000
        const bodies = signedBodies(server, key, amount)
        const result = await autocannon({ url: server.url, connections: 50, amount, timeout: REQUEST_TIMEOUT_S, requests: [fromPool(bodies)] })
        record('valid, 50 connections', result, 'valid')
        expect(result.errors).toBe(0)
        expect(result.timeouts).toBe(0)
        expect(result.non2xx).toBe(0)
        expect(result.statusCodeStats).toEqual({ 200: { count: amount } })
        expect(server.server.state.store.size).toEqual({ tokens: amount, jtis: amount })
        expect(server.audit().filter((r) => r.type === 'token.minted')).toHaveLength(amount)
      } finally {
        await server.stop()
      }
    },
    TEST_TIMEOUT_MS,
  )
})

describe('memory stays bounded', () => {
  it(
    'caps the token and jti stores (503 beyond), and recovers once entries expire',
    async () => {
      const key = await makeKey('EC', 'cap')
      let now = Date.now()
      const clock = { now: () => new Date(now) }
      const limits = { maxTokens: 200, maxJtis: 200 }
      const server = await startSecurityServer(config(key), { clock, limits })
      try {
        const first = await autocannon({
          url: server.url,
          connections: 50,
          amount: 600,
          timeout: REQUEST_TIMEOUT_S,
          requests: [fromPool(signedBodies(server, key, 600, Math.floor(now / 1000)))],
        })
        record('at the store cap', first, 'valid')
        expect(first.errors).toBe(0)
        expect(first.statusCodeStats).toEqual({ 200: { count: 200 }, 503: { count: 400 } })
        expect(server.server.state.store.size).toEqual({ tokens: 200, jtis: 200 })
        const refused = server.audit().filter((r) => r.error === 'temporarily_unavailable')
        expect(refused).toHaveLength(400)
        expect(refused.every((r) => r.token_sha256 === null)).toBe(true)

        // Tokens live 60 s (max_ttl) and jtis until exp + 15 s: past both, everything is swept.
        now += 200_000
        const second = await autocannon({
          url: server.url,
          connections: 50,
          amount: 150,
          timeout: REQUEST_TIMEOUT_S,
          requests: [fromPool(signedBodies(server, key, 150, Math.floor(now / 1000)))],
        })
        record('after expiry', second, 'valid')
        expect(second.statusCodeStats).toEqual({ 200: { count: 150 } })
        expect(server.server.state.store.size).toEqual({ tokens: 150, jtis: 150 })
      } finally {
        await server.stop()
      }
    },
    TEST_TIMEOUT_MS,
  )

  it(
    'resets the rate-limit window: refused beyond the limit, served again a minute later',
    async () => {
      const key = await makeKey('EC', 'rate')
      let now = Date.now()
      const server = await startSecurityServer(
        config(key, (d) => (d.organizations[0].rate_limit = 100)),
        { clock: { now: () => new Date(now) } },
      )
      try {
        const flood = await autocannon({
          url: server.url,
          connections: 50,
          amount: 250,
          timeout: REQUEST_TIMEOUT_S,
          requests: [fromPool(signedBodies(server, key, 250, Math.floor(now / 1000)))],
        })
        record('rate limited', flood, 'valid')
        expect(flood.errors).toBe(0)
        // The injected clock stands still during the flood: one window.
        expect(flood.statusCodeStats).toEqual({ 200: { count: 100 }, 429: { count: 150 } })
        now += 61_000
        const later = await autocannon({
          url: server.url,
          connections: 10,
          amount: 50,
          timeout: REQUEST_TIMEOUT_S,
          requests: [fromPool(signedBodies(server, key, 50, Math.floor(now / 1000)))],
        })
        record('after the rate-limit window', later, 'valid')
        expect(later.statusCodeStats).toEqual({ 200: { count: 50 } })
      } finally {
        await server.stop()
      }
    },
    TEST_TIMEOUT_MS,
  )
})

describe('invalid traffic does not starve valid traffic', () => {
  it(
    'answers every valid exchange while a second client floods garbage, and the flood only with 4xx',
    async () => {
      const key = await makeKey('EC', 'fair')
      const intruder = await makeKey('EC', 'fair')
      const server = await startSecurityServer(config(key, (d) => (d.apps[0].max_ttl = 3600)))
      try {
        // Garbage: forged signatures (each costs a verification), bad claims, junk forms.
        const now = Math.floor(Date.now() / 1000)
        const forged = Array.from({ length: 500 }, () =>
          new URLSearchParams({
            grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
            client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
            client_assertion: jws(
              { alg: 'ES256', typ: 'JWT', kid: 'fair' },
              { iss: CLIENT, sub: CLIENT, aud: server.tokenUrl, iat: now, exp: now + 120, jti: randomUUID() },
              es256(intruder.privateKey),
            ),
            subject_token: MEMBER,
            subject_token_type: 'urn:buildkite:params:oauth:token-type:user-email',
            audience: 'acme',
          }).toString(),
        )
        const junk = [
          'grant_type=x',
          'a=1&a=2',
          '%%%',
          'client_assertion=a.b.c&grant_type=urn:ietf:params:oauth:grant-type:token-exchange&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          'x'.repeat(2000),
        ]
        const garbage = [...forged, ...signedBodies(server, key, 200, now - 3600), ...junk.flatMap((j) => Array(60).fill(j) as string[])]
        const amount = 400
        const bodies = signedBodies(server, key, amount)

        // The flood is answered before the first valid request goes out and stopped only after
        // the last valid answer, so every valid exchange meets it. Its duration is only a cap.
        const flooding = autocannon({ url: server.url, connections: 50, duration: 120, timeout: REQUEST_TIMEOUT_S, requests: [fromPool(garbage)] })
        await new Promise<void>((resolve) => flooding.once('response', resolve))
        const valid = await autocannon({ url: server.url, connections: 25, amount, timeout: REQUEST_TIMEOUT_S, requests: [fromPool(bodies)] })
        flooding.stop()
        const flood = await flooding
        record('valid under flood', valid, 'valid')
        record('garbage flood', flood, 'invalid')

        expect(valid.errors).toBe(0)
        expect(valid.timeouts).toBe(0)
        expect(valid.statusCodeStats).toEqual({ 200: { count: amount } })
        expect(flood.errors).toBe(0)
        expect(flood.requests.total).toBeGreaterThan(0)
        expect(Object.keys(flood.statusCodeStats).every((s) => s.startsWith('4'))).toBe(true)
        // Nothing minted or used up for the flood. (The audit log cannot show it: the flood
        // outgrows the in-memory log's cap.)
        expect(server.server.state.store.size).toEqual({ tokens: amount, jtis: amount })
      } finally {
        await server.stop()
      }
    },
    TEST_TIMEOUT_MS,
  )
})
