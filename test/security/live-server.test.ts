/**
 * Fuzzing the live server over loopback (issue 5): random methods, paths, content types and
 * bodies, through node:http and as raw bytes, always get a well-formed 4xx JSON answer, never a
 * 5xx and never a hang; oversized bodies get 413; slow clients are cut off by the header and
 * request timeouts while other clients are still served.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { http } from '../helpers/http.js'
import { es256, jws, makeKey, rawRequest, startSecurityServer, withoutInterim, writeFigures, type Key, type RawResult, type SecurityServer } from './support.js'

// Test and hook timeouts are kill timers, about ten times what a loaded 2-core machine needs:
// no test here bounds a duration.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 })

const MULTIPLIER = Number(process.env['BKTX_FUZZ_RUNS'] ?? '1') || 1
const SEED = process.env['BKTX_FUZZ_SEED'] === undefined ? undefined : Number(process.env['BKTX_FUZZ_SEED'])
const REQUEST_TIMEOUT_MS = 1_000
const HEADERS_TIMEOUT_MS = 500
/**
 * How long a raw request waits for its answer before counting as a hang: a kill timer, ten times
 * the request timeout plus Node's 500 ms check interval (listen.ts), so that a loaded machine
 * cannot pass for a hang. A complete request is answered at once; an incomplete one when the
 * request timeout cuts it off.
 */
const CUT_OFF_WITHIN_MS = 10 * (REQUEST_TIMEOUT_MS + 500)
const CLIENT = '0123456789abcdef0123'

const figures = {
  requests: 0,
  raw_requests: 0,
  runs: 0,
  slow_clients: 0,
  oversized: 0,
  statuses: {} as Record<string, number>,
  // Measured, not asserted: how long the timeouts took to cut slow clients off, and a valid
  // exchange among them (scripts/security-figures.mjs prints them).
  headers_timeout_ms: 0,
  request_timeout_ms: 0,
  slowest_headers_cut_off_ms: 0,
  slowest_request_cut_off_ms: 0,
  valid_exchange_among_slow_clients_ms: 0,
}

let server: SecurityServer
let key: Key

beforeAll(async () => {
  key = await makeKey('EC', 'k')
  server = await startSecurityServer(
    {
      organizations: [{ slug: 'acme', members: [{ email: 'dev@acme.test' }] }],
      apps: [{ client_id: CLIENT, org: 'acme', jwks: { keys: [key.jwk] }, grantable_scopes: ['read_builds'], default_scopes: ['read_builds'] }],
    },
    { requestTimeoutMs: REQUEST_TIMEOUT_MS, headersTimeoutMs: HEADERS_TIMEOUT_MS },
  )
})

afterAll(async () => {
  await server?.stop()
  writeFigures('live-server', figures)
})

function params(numRuns: number): fc.Parameters<unknown> {
  figures.runs += numRuns * MULTIPLIER
  return { numRuns: numRuns * MULTIPLIER, timeout: 10_000, ...(SEED === undefined ? {} : { seed: SEED }) }
}

function count(status: number | undefined): void {
  const key = String(status ?? 'none')
  figures.statuses[key] = (figures.statuses[key] ?? 0) + 1
}

/** A well-formed error answer: a 4xx status and a JSON object with an error or a message. */
function expectWellFormed4xx(status: number | undefined, json: unknown, method = 'POST'): void {
  expect(status).toBeGreaterThanOrEqual(400)
  expect(status).toBeLessThan(500)
  if (method === 'HEAD') return
  expect(json).toBeTypeOf('object')
  const body = json as Record<string, unknown>
  if ('error' in body) {
    expect(body['error']).toBeTypeOf('string')
    expect(body['error_description']).toBeTypeOf('string')
  } else {
    expect(body['message']).toBeTypeOf('string')
  }
}

async function validExchange(target: SecurityServer = server): Promise<number> {
  const now = Math.floor(Date.now() / 1000)
  const assertion = jws(
    { alg: 'ES256', typ: 'JWT', kid: 'k' },
    { iss: CLIENT, sub: CLIENT, aud: target.tokenUrl, iat: now, exp: now + 60, jti: crypto.randomUUID() },
    es256(key.privateKey),
  )
  const body = new URLSearchParams({
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: assertion,
    subject_token: 'dev@acme.test',
    subject_token_type: 'urn:buildkite:params:oauth:token-type:user-email',
    audience: 'acme',
  }).toString()
  const response = await http(target.tokenUrl, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body })
  return response.status
}

const METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'OPTIONS',
  'PATCH',
  'TRACE',
  'PROPFIND',
  'MKCOL',
  'COPY',
  'MOVE',
  'LOCK',
  'UNLOCK',
  'SEARCH',
  'PURGE',
  'REPORT',
  'QUERY',
  'SOURCE',
]
const PATHS = [
  '/oauth/token',
  '/v2/oauth/token',
  '/v2/access-token',
  '/v2/organizations/acme/builds',
  '/v2/organizations/acme/pipelines',
  '/',
  '/oauth/token/',
  '/OAUTH/TOKEN',
  '/oauth//token',
  '/oauth/token?x=1',
  '/oauth/token#x',
  '/v2/organizations/../oauth/token',
  '/%2e%2e/oauth/token',
  '/v2/organizations/ACME/builds',
]
const CONTENT_TYPES = [
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=utf-8',
  'APPLICATION/X-WWW-FORM-URLENCODED',
  'application/json',
  'multipart/form-data; boundary=x',
  'text/plain',
  '',
  'application/x-www-form-urlencoded, application/json',
  'application/x-www-form-urlencoded\t;x',
]
const token = fc.string({
  unit: fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~"),
  minLength: 1,
  maxLength: 10,
})
const pathArb = fc.oneof(
  fc.constantFrom(...PATHS),
  fc.array(fc.string({ maxLength: 12 }), { maxLength: 5 }).map((segments) => `/${segments.map(encodeURIComponent).join('/')}`),
  fc.tuple(fc.constantFrom(...PATHS), fc.string({ maxLength: 20 })).map(([p, q]) => `${p}?${encodeURIComponent(q)}`),
)
const formBody = fc
  .dictionary(
    fc.constantFrom('grant_type', 'client_assertion_type', 'client_assertion', 'subject_token', 'subject_token_type', 'audience', 'scope', 'expires_in', 'x'),
    fc.string({ maxLength: 40 }),
    { maxKeys: 8 },
  )
  .map((d) => new URLSearchParams(d).toString())
const bodyArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 500 }).map((s) => Buffer.from(s)),
  fc.uint8Array({ maxLength: 500 }).map((b) => Buffer.from(b)),
  formBody.map((s) => Buffer.from(s)),
  fc.constant(Buffer.alloc(0)),
)
const headerValue = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789 ;=/,-_.'), maxLength: 30 })

describe('random requests through node:http', () => {
  it('always get a well-formed 4xx JSON answer, never a 5xx or a hang', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...METHODS) }, { weight: 1, arbitrary: token.map((t) => t.toUpperCase()) }),
        pathArb,
        fc.oneof(fc.constantFrom(...CONTENT_TYPES), headerValue),
        bodyArb,
        fc.option(fc.oneof(fc.constantFrom('Bearer bktx_x', 'Basic eDp5', 'Bearer ', ''), headerValue), { nil: undefined }),
        async (method, path, contentType, body, authorization) => {
          // An explicit length: node:http sends a GET/HEAD/DELETE/OPTIONS body unframed otherwise,
          // which the server rightly reads as the start of a second, malformed request.
          const headers: Record<string, string> = { 'Content-Type': contentType, 'Content-Length': String(body.length) }
          if (authorization !== undefined) headers['Authorization'] = authorization
          let response: Awaited<ReturnType<typeof http>> | RawResult
          try {
            response = await http(`${server.url}${path}`, { method, headers, body })
          } catch (error) {
            // node:http refuses to send some methods it does not know; send those raw.
            if (!/method|token|Invalid/i.test((error as Error).message)) throw error
            response = await rawRequest(server.url, [`${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`, body], {
              untilAnswered: true,
            })
          }
          figures.requests++
          count(response.status)
          expectWellFormed4xx(response.status, response.json, method)
        },
      ),
      params(400),
    )
    expect(await validExchange()).toBe(200)
  })
})

describe('raw bytes on the socket', () => {
  const requestLine = fc.tuple(
    fc.oneof(fc.constantFrom(...METHODS, 'CONNECT'), token, fc.string({ maxLength: 8 })),
    fc.oneof(fc.constantFrom(...PATHS, '*', 'http://x/oauth/token', ''), fc.string({ maxLength: 20 })),
    fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9', 'http/1.1', ''),
  )
  const headerLines = fc.array(
    fc.oneof(
      fc.constantFrom(
        'Host: x',
        'Content-Length: 0',
        'Content-Length: -1',
        'Content-Length: 1e3',
        'Content-Length: 5, 6',
        'Transfer-Encoding: chunked',
        'Transfer-Encoding: gzip, chunked',
        'Content-Type: application/x-www-form-urlencoded',
        'Expect: 100-continue',
        'Connection: upgrade',
        'Upgrade: websocket',
        ' folded: header',
        'X: \u0000',
      ),
      fc.tuple(token, headerValue).map(([n, v]) => `${n}: ${v}`),
      fc.string({ maxLength: 30 }),
    ),
    { maxLength: 6 },
  )
  const rawArb = fc.oneof(
    fc.tuple(requestLine, headerLines, fc.string({ maxLength: 60 })).map(([[m, p, v], hs, body]) => `${m} ${p} ${v}\r\n${hs.join('\r\n')}\r\n\r\n${body}`),
    // Leading blank lines are skipped by the parser (RFC 9112 §2.2): keep at least one other byte.
    fc
      .uint8Array({ minLength: 1, maxLength: 300 })
      .filter((b) => b.some((x) => x !== 13 && x !== 10))
      .map((b) => Buffer.concat([Buffer.from(b), Buffer.from('\r\n\r\n')])),
  )

  it('get a 4xx JSON answer or, for what is not HTTP at all, a JSON 400 and a closed connection', async () => {
    await fc.assert(
      fc.asyncProperty(rawArb, async (bytes) => {
        const result = await rawRequest(server.url, [bytes], { waitMs: CUT_OFF_WITHIN_MS, untilAnswered: true })
        figures.raw_requests++
        count(result.status)
        // Some inputs are a complete request followed by the start of another (or a body still
        // owed); the first answer is what counts, and every answer on the wire must be 4xx JSON.
        expect(result.status, result.text.slice(0, 200)).toBeDefined()
        // An interim 100 Continue may come first (`Expect: 100-continue`); then the final answers.
        const statuses = [...result.text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1])).filter((status) => status >= 200)
        for (const status of statuses) expect(status, result.text.slice(0, 300)).toBeGreaterThanOrEqual(400)
        for (const status of statuses) expect(status, result.text.slice(0, 300)).toBeLessThan(500)
        if (!/^HEAD /.test(String(bytes))) expectWellFormed4xx(result.status, firstJson(withoutInterim(result.text)))
      }),
      params(250),
    )
    expect(await validExchange()).toBe(200)
  }, 60_000)
})

function firstJson(text: string): unknown {
  const start = text.indexOf('\r\n\r\n')
  const length = /content-length: (\d+)/i.exec(text.slice(0, start))?.[1]
  if (start === -1 || length === undefined) return undefined
  try {
    return JSON.parse(
      Buffer.from(text.slice(start + 4))
        .subarray(0, Number(length))
        .toString(),
    )
  } catch {
    return undefined
  }
}

describe('Expect', () => {
  it('100-continue: the interim 100 only when the body will be read, then the same 4xx JSON answer', async () => {
    // No Host: refused before any body is wanted, so no 100 Continue.
    const noHost = await rawRequest(server.url, ['GET /oauth/token HTTP/1.1\r\nExpect: 100-continue\r\n\r\n'], { untilAnswered: true })
    expect(noHost.text).toMatch(/^HTTP\/1\.1 400 /)
    expectWellFormed4xx(noHost.status, noHost.json)
    // The token endpoint reads the body: 100 Continue, then the 405.
    const put = await rawRequest(server.url, ['PUT /oauth/token HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n'], {
      untilAnswered: true,
    })
    expect(put.text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 405 /)
    expectWellFormed4xx(put.status, put.json)
    figures.raw_requests += 2
  })

  it('100-continue with a declared body over 64 KiB: the 413 at once, never a 100 Continue before it', async () => {
    const result = await rawRequest(
      server.url,
      [`POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nExpect: 100-continue\r\nContent-Length: 70000\r\n\r\n`],
      { untilAnswered: true },
    )
    figures.raw_requests++
    expect(result.text).toMatch(/^HTTP\/1\.1 413 /)
    expect(result.text).not.toContain('100 Continue')
    expect(result.text).toMatch(/\r\ncache-control: no-store\r\n/i)
    expect(result.text).toMatch(/\r\npragma: no-cache\r\n/i)
    expect(result.json).toEqual({ error: 'invalid_request', error_description: 'Request body exceeds 65536 bytes' })
  })

  it.each(['200-ok', '100-continue, 200-ok', 'x'])('an unknown expectation (%s) gets a JSON 417 and one log line, never a bare status', async (value) => {
    const logged = server.log.length
    const result = await rawRequest(server.url, [`POST /oauth/token HTTP/1.1\r\nHost: x\r\nExpect: ${value}\r\nContent-Length: 0\r\n\r\n`], {
      untilAnswered: true,
    })
    figures.raw_requests++
    count(result.status)
    expect(result.status).toBe(417)
    expect(result.json).toEqual({ error: 'invalid_request', error_description: 'Only the 100-continue expectation is supported' })
    await new Promise((resolve) => setTimeout(resolve, 50))
    const lines = server.log.slice(logged)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^POST \/oauth\/token 417 \d+ms 127\.0\.0\.1$/)
  })
})

describe('oversized bodies', () => {
  it('get 413 exactly when the body exceeds 64 KiB, declared or chunked', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 60 * 1024, max: 70 * 1024 }), fc.boolean(), async (size, chunked) => {
        const body = Buffer.alloc(size, 'a')
        const head = `POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n${chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${size}`}\r\nConnection: close\r\n\r\n`
        const parts = chunked ? [head, `${size.toString(16)}\r\n`, body, '\r\n0\r\n\r\n'] : [head, body]
        const result = await rawRequest(server.url, parts)
        figures.oversized++
        count(result.status)
        if (size > 64 * 1024) {
          expect(result.status).toBe(413)
          expect(result.json).toEqual({ error: 'invalid_request', error_description: 'Request body exceeds 65536 bytes' })
        } else {
          expect(result.status).toBe(400)
          expect(result.json).toEqual({ error: 'invalid_request', error_description: 'Missing required parameter `grant_type`' })
        }
      }),
      params(12),
    )
  })

  it('a declared 1 GiB body is refused at once, unread', async () => {
    const result = await rawRequest(server.url, [
      'POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1073741824\r\n\r\nabc',
    ])
    figures.oversized++
    // A server that waited for the body would answer 408 when its request timeout ran out:
    // 413 means it refused on the declared length alone.
    expect(result.status).toBe(413)
    expect(result.json).toEqual({ error: 'invalid_request', error_description: 'Request body exceeds 65536 bytes' })
    expect(result.closed).toBe(true)
  })

  it('headers over 16 KiB get 431 JSON', async () => {
    const result = await rawRequest(server.url, [`GET /v2/access-token HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`])
    figures.oversized++
    expect(result.status).toBe(431)
    expect(result.json).toEqual({ error: 'invalid_request', error_description: 'Request headers are too large' })
  })
})

describe('slow clients', () => {
  // Two servers, so that only the timeout under test can cut a client off: the first waits far
  // longer for a whole request than any client here is given to be cut off, so a cut there is
  // the header timeout's; on the second the headers arrive whole, so only the request timeout
  // applies.
  const HEADERS_MS = 500
  const REQUEST_MS = 3_000
  // Each slow client waits this long for the server to close on it: a kill timer far beyond
  // either timeout and Node's 500 ms check interval (listen.ts), so a loaded machine cannot turn
  // a late cut into a failure, yet shorter than the header server's request timeout (a client
  // the header timeout missed stays open and fails "closed"). A body trickle the request timeout
  // let run its course (10 s) would end in an answer other than the 408 required below.
  const WAIT_MS = 30_000
  let headerServer: SecurityServer
  let bodyServer: SecurityServer
  beforeAll(async () => {
    const doc = {
      organizations: [{ slug: 'acme', members: [{ email: 'dev@acme.test' }] }],
      apps: [{ client_id: CLIENT, org: 'acme', jwks: { keys: [key.jwk] }, grantable_scopes: ['read_builds'], default_scopes: ['read_builds'] }],
    }
    headerServer = await startSecurityServer(doc, { requestTimeoutMs: 60_000, headersTimeoutMs: HEADERS_MS })
    bodyServer = await startSecurityServer(doc, { requestTimeoutMs: REQUEST_MS, headersTimeoutMs: HEADERS_MS })
    figures.headers_timeout_ms = HEADERS_MS
    figures.request_timeout_ms = REQUEST_MS
  })
  afterAll(async () => {
    await headerServer?.stop()
    await bodyServer?.stop()
  })

  const head = 'POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\n'

  it('are cut off by the header and request timeouts, with a JSON 408, while others are served', async () => {
    const wait = { waitMs: WAIT_MS }
    const slow: Array<[string, 'headers' | 'request', Promise<RawResult>]> = [
      // Headers dribbled one byte every 50 ms.
      ['headers byte by byte', 'headers', rawRequest(headerServer.url, [...head], { gapMs: 50, ...wait })],
      // Connected, and nothing sent at all.
      ['nothing sent', 'headers', rawRequest(headerServer.url, [''], wait)],
      // Headers complete, body promised and never finished.
      ['body never finishes', 'request', rawRequest(bodyServer.url, [head, 'grant_type=x'], wait)],
      // Body trickling in steadily (1 byte / 50 ms for 200 bytes = 10 s): activity does not extend the deadline.
      ['body byte by byte', 'request', rawRequest(bodyServer.url, [head, ...'a'.repeat(200)], { gapMs: 50, ...wait })],
      // Chunked body whose terminating chunk never comes.
      [
        'chunked, never terminated',
        'request',
        rawRequest(bodyServer.url, [head.replace('Content-Length: 200', 'Transfer-Encoding: chunked'), '5\r\nabcde\r\n'], wait),
      ],
    ]
    // A slowloris crowd on top.
    const crowd = Array.from({ length: 40 }, () => rawRequest(headerServer.url, [...'POST /oauth/token HTTP/1.1\r\n'], { gapMs: 100, ...wait }))
    // Meanwhile a well-behaved client is served, once every slow client holds a connection.
    await holding(headerServer, 2 + crowd.length)
    await holding(bodyServer, 3)
    const servedAt = Date.now()
    expect(await validExchange(headerServer)).toBe(200)
    expect(await validExchange(bodyServer)).toBe(200)
    figures.valid_exchange_among_slow_clients_ms = Date.now() - servedAt

    const cutOff = (by: 'headers' | 'request', result: RawResult): void => {
      if (by === 'headers') figures.slowest_headers_cut_off_ms = Math.max(figures.slowest_headers_cut_off_ms, result.ms)
      else figures.slowest_request_cut_off_ms = Math.max(figures.slowest_request_cut_off_ms, result.ms)
    }
    for (const [name, by, pending] of slow) {
      const result = await pending
      figures.slow_clients++
      // Closed by the server, not by the end of the wait.
      expect(result.closed, name).toBe(true)
      cutOff(by, result)
      if (name === 'nothing sent') continue // Node may close an idle new connection without a word
      expect(result.status, `${name}: ${result.text}`).toBe(408)
      expect(result.json, name).toEqual({ error: 'invalid_request', error_description: 'The request was not received in time' })
    }
    const crowdResults = await Promise.all(crowd)
    figures.slow_clients += crowdResults.length
    for (const result of crowdResults) {
      expect(result.closed).toBe(true)
      cutOff('headers', result)
    }
    expect(await validExchange(headerServer)).toBe(200)
    expect(await validExchange(bodyServer)).toBe(200)
  }, 60_000)
})

/** Resolves once `target` holds at least `count` open connections. */
async function holding(target: SecurityServer, count: number): Promise<void> {
  const open = (): Promise<number> =>
    new Promise((resolve, reject) => target.listening.server.getConnections((error, n) => (error ? reject(error) : resolve(n))))
  while ((await open()) < count) await new Promise((resolve) => setTimeout(resolve, 5))
}
