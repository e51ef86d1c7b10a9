import { delay, http, HttpResponse } from 'msw'
import { describe, expect, it } from 'vitest'
import {
  BadResponseError,
  FileError,
  InsecureURLError,
  InterruptedError,
  NetworkError,
  OAuthRejectedError,
  ServerUnavailableError,
  TimeoutError,
} from '../../src/errors.js'
import { exchange, type ExchangeDeps } from '../../src/exchange/exchange.js'
import { makeFetch } from '../../src/http/fetch.js'
import type { Sleep } from '../../src/http/retry.js'
import { fixedClock } from '../helpers/cli.js'
import { makeParams, recordingSleep, TOKEN, TOKEN_URL, tokenBody, verifyJWS, failure } from '../helpers/exchange.js'
import { useStrictMsw } from '../helpers/msw.js'
import { cliText } from '../helpers/describe.js'

// Faults a real server cannot easily produce, through msw on the global fetch. Every request
// must be answered by a handler and every handler used (test/helpers/msw.ts).
const server = useStrictMsw()
const params = makeParams()

interface Seen {
  form: URLSearchParams
  headers: Headers
  jti: string
}

/** Answers the token URL with `responses` in order (the last one repeats), recording requests. */
function tokenEndpoint(...responses: (() => Response | Promise<Response>)[]): Seen[] {
  const seen: Seen[] = []
  server.use(
    http.post(TOKEN_URL, async ({ request }) => {
      const form = new URLSearchParams(await request.text())
      const { payload } = verifyJWS(form.get('client_assertion') ?? '', params.key.publicKey)
      seen.push({ form, headers: request.headers, jti: String(payload['jti']) })
      const next = responses[Math.min(seen.length, responses.length) - 1] as () => Response | Promise<Response>
      return next()
    }),
  )
  return seen
}

const ok = () => HttpResponse.json(tokenBody(), { headers: { 'cache-control': 'no-store', pragma: 'no-cache' } })
const status =
  (code: number, headers: Record<string, string> = {}) =>
  () =>
    new HttpResponse('unavailable', { status: code, headers: { 'content-type': 'text/plain', ...headers } })

function deps(overrides: Partial<ExchangeDeps> = {}): ExchangeDeps & { sleep: ReturnType<typeof recordingSleep> } {
  return {
    fetch: (input, init) => fetch(input, init),
    clock: fixedClock('2026-11-28T12:00:00Z'),
    sleep: recordingSleep(),
    random: () => 0.5,
    ...overrides,
  } as ExchangeDeps & {
    sleep: ReturnType<typeof recordingSleep>
  }
}

describe('exchange over fetch (msw)', () => {
  it('sends the docs/token-exchange.md §3 form, no Authorization header, a bktx User-Agent', async () => {
    const seen = tokenEndpoint(ok)
    const d = deps({ fetch: makeFetch({ env: {}, userAgent: 'bktx/9.9.9' }) })
    const result = await exchange(params, d)
    expect(result.accessToken).toBe(TOKEN)
    expect(result.expiresAt.toISOString()).toBe('2026-11-28T12:15:00.000Z')
    expect(seen).toHaveLength(1)
    const [first] = seen as [Seen]
    expect(first.headers.get('authorization')).toBeNull()
    expect(first.headers.get('content-type')).toBe('application/x-www-form-urlencoded')
    expect(first.headers.get('user-agent')).toBe('bktx/9.9.9')
    expect(Object.fromEntries([...first.form].filter(([k]) => k !== 'client_assertion'))).toEqual({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      subject_token: 'dev+ci@acme.test',
      subject_token_type: 'urn:buildkite:params:oauth:token-type:user-email',
      audience: 'acme',
      scope: 'read_builds read_pipelines',
      expires_in: '900',
    })
    expect(d.sleep.waits).toEqual([])
  })

  it('500 then success: retried once with a new assertion and jti', async () => {
    const seen = tokenEndpoint(status(500), ok)
    const d = deps()
    const attempts: [number, string][] = []
    const result = await exchange(params, d, { onAttempt: (n, jti) => attempts.push([n, jti]) })
    expect(result.accessToken).toBe(TOKEN)
    expect(seen).toHaveLength(2)
    expect(new Set(seen.map((s) => s.jti)).size).toBe(2)
    expect(attempts.map(([n, jti]) => [n, jti])).toEqual(seen.map((s, i) => [i + 1, s.jti]))
    expect(seen[0]?.form.get('client_assertion')).not.toBe(seen[1]?.form.get('client_assertion'))
    // Default backoff: 500 ms step, half fixed and half jitter (random 0.5 → 375 ms).
    expect(d.sleep.waits).toEqual([375])
  })

  it('5xx every time: ServerUnavailableError after 4 attempts, every jti distinct, backoff growing', async () => {
    const seen = tokenEndpoint(status(503))
    const d = deps()
    const error = await failure(exchange(params, d))
    expect(error).toBeInstanceOf(ServerUnavailableError)
    expect((error as ServerUnavailableError).status).toBe(503)
    expect(error.message).toMatch(/answered HTTP 503 \(4 attempts\)/)
    expect(seen).toHaveLength(4)
    expect(new Set(seen.map((s) => s.jti)).size).toBe(4)
    expect(d.sleep.waits).toEqual([375, 750, 1500])
  })

  it('429 with Retry-After in seconds: waits exactly that long, then succeeds', async () => {
    const seen = tokenEndpoint(status(429, { 'retry-after': '2' }), ok)
    const d = deps()
    await exchange(params, d)
    expect(seen).toHaveLength(2)
    expect(d.sleep.waits).toEqual([2000])
  })

  it('503 with Retry-After as an HTTP date: the wait is measured against the injected clock', async () => {
    tokenEndpoint(status(503, { 'retry-after': 'Sat, 28 Nov 2026 12:00:07 GMT' }), ok)
    const d = deps()
    await exchange(params, d)
    expect(d.sleep.waits).toEqual([7000])
  })

  it('429 asking for longer than --timeout allows: fails at once, saying so', async () => {
    const seen = tokenEndpoint(status(429, { 'retry-after': '120' }))
    const d = deps()
    const error = await failure(exchange(params, d, { timeoutMs: 30_000 }))
    expect(error).toBeInstanceOf(ServerUnavailableError)
    expect(error.message).toMatch(/rate limiting requests \(HTTP 429, 1 attempts\); the next retry in 2m would not fit in the 30s time limit/)
    expect(seen).toHaveLength(1)
    expect(d.sleep.waits).toEqual([])
  })

  it('a connection error then success: retried', async () => {
    const seen = tokenEndpoint(() => HttpResponse.error(), ok)
    const result = await exchange(params, deps())
    expect(result.accessToken).toBe(TOKEN)
    expect(seen).toHaveLength(2)
  })

  it('connection errors every time: NetworkError after 4 attempts', async () => {
    const seen = tokenEndpoint(() => HttpResponse.error())
    const error = await failure(exchange(params, deps()))
    expect(error).toBeInstanceOf(NetworkError)
    expect(error.message).toMatch(/cannot reach the token endpoint https:\/\/buildkite.test\/oauth\/token: .* \(4 attempts\)/)
    expect(seen).toHaveLength(4)
  })

  const answers: [string, () => Response, new (...args: never[]) => Error][] = [
    [
      '400 invalid_request',
      () => HttpResponse.json({ error: 'invalid_request', error_description: 'Subject user must be an active member of the organization' }, { status: 400 }),
      OAuthRejectedError,
    ],
    [
      '401 invalid_client',
      () => HttpResponse.json({ error: 'invalid_client', error_description: 'Invalid client assertion signature' }, { status: 401 }),
      OAuthRejectedError,
    ],
    ['400 invalid_scope', () => HttpResponse.json({ error: 'invalid_scope' }, { status: 400 }), OAuthRejectedError],
    ['403 HTML', () => new HttpResponse('<h1>Forbidden</h1>', { status: 403, headers: { 'content-type': 'text/html' } }), BadResponseError],
    ['404 JSON', () => HttpResponse.json({ message: 'Not Found' }, { status: 404 }), BadResponseError],
    ['408', () => new HttpResponse(null, { status: 408 }), BadResponseError],
    [
      '200 truncated JSON',
      () => new HttpResponse('{"access_token":"bktx_abc","token_ty', { headers: { 'content-type': 'application/json' } }),
      BadResponseError,
    ],
    [
      '200 non-JSON',
      () => new HttpResponse('access_token=bktx_abc&token_type=bearer', { headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
      BadResponseError,
    ],
    ['200 HTML', () => HttpResponse.html('<html><body>Please sign in</body></html>'), BadResponseError],
    ['200 access_token a number', () => HttpResponse.json(tokenBody({ access_token: 42 })), BadResponseError],
    ['200 access_token without bktx_', () => HttpResponse.json(tokenBody({ access_token: 'gho_abcdef' })), BadResponseError],
    ['307 redirect', () => new HttpResponse(null, { status: 307, headers: { location: 'https://elsewhere.test/oauth/token' } }), BadResponseError],
  ]
  for (const [name, answer, type] of answers) {
    it(`${name}: an answer, never retried → ${type.name}`, async () => {
      const seen = tokenEndpoint(answer)
      const d = deps()
      const error = await failure(exchange(params, d))
      expect(error).toBeInstanceOf(type)
      expect(error.message).not.toContain(seen[0]?.form.get('client_assertion'))
      expect(seen).toHaveLength(1)
      expect(d.sleep.waits).toEqual([])
    })
  }

  it('a server that never answers: TimeoutError within the --timeout bound', async () => {
    const seen = tokenEndpoint(async () => {
      await delay('infinite')
      return ok()
    })
    const started = performance.now()
    // Only the 300 ms timeout can end this call; the test's own timeout is the kill timer.
    const error = await failure(exchange(params, deps(), { timeoutMs: 300 }))
    expect(error).toBeInstanceOf(TimeoutError)
    expect(cliText(error)).toBe(
      'the token endpoint https://buildkite.test/oauth/token did not answer within 300 ms; check --token-url, or allow more time with --timeout',
    )
    expect(seen).toHaveLength(1)
    // A lower bound (the timeout did not fire early): load can only lengthen the wait.
    expect(performance.now() - started).toBeGreaterThanOrEqual(250)
  })

  it('the timeout bounds backoff waits too', async () => {
    tokenEndpoint(status(503))
    // A sleep that only ends when aborted: only the deadline can end this call.
    const endless: Sleep = (_ms, signal) => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
    const error = await failure(exchange(params, deps({ sleep: endless }), { timeoutMs: 300, baseDelayMs: 100 }))
    expect(error).toBeInstanceOf(TimeoutError)
    expect(error.message).toMatch(/within 300 ms \(last attempt: HTTP 503\)$/)
  })

  it('an abort signal (SIGINT) ends the call with InterruptedError', async () => {
    tokenEndpoint(async () => {
      await delay('infinite')
      return ok()
    })
    const controller = new AbortController()
    setTimeout(() => controller.abort(), 50)
    const error = await failure(exchange(params, deps(), { signal: controller.signal, timeoutMs: 10_000 }))
    expect(error).toBeInstanceOf(InterruptedError)
  })

  it('a bad --ca-file is a local file error, not a network failure to retry', async () => {
    const d = deps({ fetch: makeFetch({ env: {}, caFile: '/nonexistent/bktx-ca.pem', userAgent: 'bktx/test' }) })
    const error = await failure(exchange(params, d))
    expect(error).toBeInstanceOf(FileError)
    expect(cliText(error)).toMatch(/cannot read the CA file \/nonexistent\/bktx-ca.pem: no such file or directory \(ENOENT\); check --ca-file/)
    expect(d.sleep.waits).toEqual([])
  })

  it('refuses a plain-http token URL before sending anything', async () => {
    const error = await failure(exchange(makeParams({ tokenUrl: 'http://buildkite.test/oauth/token' }), deps()))
    expect(error).toBeInstanceOf(InsecureURLError)
  })
})
