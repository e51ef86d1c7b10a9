import { describe, expect, it } from 'vitest'
import { APIRejectedError, BadResponseError, InputError, InsecureURLError, ServerUnavailableError } from '../../../src/errors.js'
import { cliText } from '../../helpers/describe.js'
import { accessTokenURL, parseAPITimestamp, revoke, whoami } from '../../../src/exchange/access-token.js'
import type { FetchLike } from '../../../src/deps.js'
import { fixedClock } from '../../helpers/cli.js'
import { API_URL, jsonResponse, recordingSleep, TOKEN } from '../../helpers/exchange.js'

const INFO = {
  uuid: 'b63254c0-3271-4a98-8270-7cfbd6c2f14e',
  scopes: ['read_pipelines', 'read_builds'],
  description: 'bktx token exchange',
  created_at: '2025-07-16 06:07:42 UTC',
  expires_at: '2025-07-16T07:07:42Z',
  user: { name: 'Dev Eloper', email: 'dev@acme.test' },
}

interface Call {
  url: string
  method: string
  headers: Headers
}

/** A fake fetch answering with `responses` in order (the last repeats). */
function scripted(...responses: (() => Response)[]): FetchLike & { calls: Call[] } {
  const calls: Call[] = []
  const f: FetchLike = async (input, init) => {
    calls.push({ url: String(input), method: init?.method ?? 'GET', headers: new Headers(init?.headers) })
    return (responses[Math.min(calls.length, responses.length) - 1] as () => Response)()
  }
  return Object.assign(f, { calls })
}

/** The error a promise rejects with (fails the test if it resolves). */
async function rejected<E extends Error = Error>(promise: Promise<unknown>): Promise<E> {
  return promise.then(
    () => {
      throw new Error('expected a rejection')
    },
    (error: unknown) => error as E,
  )
}

const deps = (fetch: FetchLike) => ({ fetch, clock: fixedClock(), sleep: recordingSleep(), random: () => 0 })

describe('whoami: GET /v2/access-token (docs/token-exchange.md §6)', () => {
  it('sends the bearer token and parses the answer', async () => {
    const fetch = scripted(() => jsonResponse(INFO))
    const info = await whoami(API_URL, TOKEN, deps(fetch))
    expect(info).toEqual({
      uuid: INFO.uuid,
      scopes: ['read_builds', 'read_pipelines'],
      description: 'bktx token exchange',
      createdAt: new Date('2025-07-16T06:07:42Z'),
      expiresAt: new Date('2025-07-16T07:07:42Z'),
      user: { name: 'Dev Eloper', email: 'dev@acme.test' },
    })
    expect(fetch.calls).toHaveLength(1)
    expect(fetch.calls[0]?.url).toBe(`${API_URL}/v2/access-token`)
    expect(fetch.calls[0]?.method).toBe('GET')
    expect(fetch.calls[0]?.headers.get('authorization')).toBe(`Bearer ${TOKEN}`)
  })

  it('accepts a null description and a token without expiry', async () => {
    const info = await whoami(API_URL, TOKEN, deps(scripted(() => jsonResponse({ ...INFO, description: null, expires_at: null }))))
    expect([info.description, info.expiresAt]).toEqual([null, null])
  })

  it('401 and 403 → APIRejectedError saying what to do, never retried', async () => {
    const f401 = scripted(() => jsonResponse({ message: 'Authentication required. Please supply a valid API Access Token' }, { status: 401 }))
    const e401 = await rejected<APIRejectedError>(whoami(API_URL, TOKEN, deps(f401)))
    expect(e401).toBeInstanceOf(APIRejectedError)
    expect(e401.status).toBe(401)
    expect(cliText(e401)).toMatch(
      /did not accept the token \(HTTP 401: Authentication required.*\): it is unknown, expired or revoked; get a new one with `bktx token --refresh`/,
    )
    expect(f401.calls).toHaveLength(1)
    const f403 = scripted(() => jsonResponse({ message: 'Forbidden' }, { status: 403 }))
    const e403 = await rejected<APIRejectedError>(whoami(API_URL, TOKEN, deps(f403)))
    expect(e403).toBeInstanceOf(APIRejectedError)
    expect(e403.status).toBe(403)
    expect(e403.message).toMatch(/IP address/)
  })

  it('retries 5xx and gives up with ServerUnavailableError', async () => {
    const fetch = scripted(() => new Response('oops', { status: 502 }))
    await expect(whoami(API_URL, TOKEN, deps(fetch))).rejects.toBeInstanceOf(ServerUnavailableError)
    expect(fetch.calls).toHaveLength(4)
  })

  const wrong: [string, unknown][] = [
    ['no uuid', { ...INFO, uuid: undefined }],
    ['scopes a string', { ...INFO, scopes: 'read_builds' }],
    ['bad created_at', { ...INFO, created_at: 'yesterday' }],
    ['bad expires_at', { ...INFO, expires_at: '2025-13-01 00:00:00 UTC' }],
    ['no user', { ...INFO, user: undefined }],
    ['user without email', { ...INFO, user: { name: 'x' } }],
    ['description a number', { ...INFO, description: 5 }],
  ]
  for (const [name, body] of wrong) {
    it(`a body with ${name} → BadResponseError`, async () => {
      await expect(whoami(API_URL, TOKEN, deps(scripted(() => jsonResponse(body))))).rejects.toBeInstanceOf(BadResponseError)
    })
  }

  it('HTML or 404 → BadResponseError naming --api-url', async () => {
    const html = () => new Response('<html/>', { status: 200, headers: { 'content-type': 'text/html' } })
    expect(cliText(await whoami(API_URL, TOKEN, deps(scripted(html))).catch((e: unknown) => e))).toMatch(/not JSON; check --api-url/)
    expect(cliText(await whoami(API_URL, TOKEN, deps(scripted(() => jsonResponse({ message: 'No' }, { status: 404 })))).catch((e: unknown) => e))).toMatch(
      /HTTP 404: No; check --api-url/,
    )
  })

  it('never sends a bearer token over plain http off loopback, or one that is not a token', async () => {
    const fetch = scripted(() => jsonResponse(INFO))
    await expect(whoami('http://api.buildkite.test', TOKEN, deps(fetch))).rejects.toBeInstanceOf(InsecureURLError)
    await expect(whoami(API_URL, `${TOKEN}\r\nX-Evil: 1`, deps(fetch))).rejects.toBeInstanceOf(InputError)
    expect(fetch.calls).toEqual([])
  })

  it('never puts the token in an error message', async () => {
    const echo = scripted(() => jsonResponse({ message: `bad token ${TOKEN}` }, { status: 401 }))
    const error = await rejected<Error>(whoami(API_URL, TOKEN, deps(echo)))
    expect(error.message).not.toContain(TOKEN)
  })
})

describe('revoke: DELETE /v2/access-token', () => {
  it('204 is success', async () => {
    const fetch = scripted(() => new Response(null, { status: 204 }))
    await expect(revoke(API_URL, TOKEN, deps(fetch))).resolves.toBeUndefined()
    expect(fetch.calls[0]?.method).toBe('DELETE')
    expect(fetch.calls[0]?.headers.get('authorization')).toBe(`Bearer ${TOKEN}`)
  })

  it('401 → APIRejectedError with status 401 (the caller may treat it as already gone)', async () => {
    const error = await rejected<APIRejectedError>(revoke(API_URL, TOKEN, deps(scripted(() => jsonResponse({ message: 'Unauthorized' }, { status: 401 })))))
    expect(error).toBeInstanceOf(APIRejectedError)
    expect(error.status).toBe(401)
  })

  it('429 then 204: retried, honouring Retry-After', async () => {
    const fetch = scripted(
      () => new Response(null, { status: 429, headers: { 'retry-after': '3' } }),
      () => new Response(null, { status: 204 }),
    )
    const d = deps(fetch)
    await revoke(API_URL, TOKEN, d)
    expect(d.sleep.waits).toEqual([3000])
  })
})

describe('accessTokenURL', () => {
  it('appends /v2/access-token, keeping a path prefix and dropping query and fragment', () => {
    expect(accessTokenURL('https://api.buildkite.com').href).toBe('https://api.buildkite.com/v2/access-token')
    expect(accessTokenURL('https://api.buildkite.com/').href).toBe('https://api.buildkite.com/v2/access-token')
    expect(accessTokenURL('http://127.0.0.1:8787/bk/?x=1#y').href).toBe('http://127.0.0.1:8787/bk/v2/access-token')
  })
})

describe('parseAPITimestamp', () => {
  it('reads both forms the API uses', () => {
    expect(parseAPITimestamp('2025-07-16 06:07:42 UTC')?.toISOString()).toBe('2025-07-16T06:07:42.000Z')
    expect(parseAPITimestamp('2025-07-16T06:07:42Z')?.toISOString()).toBe('2025-07-16T06:07:42.000Z')
    expect(parseAPITimestamp('2025-07-16T06:07:42.123Z')?.toISOString()).toBe('2025-07-16T06:07:42.123Z')
    expect(parseAPITimestamp('2025-07-16T08:07:42+02:00')?.toISOString()).toBe('2025-07-16T06:07:42.000Z')
    expect(parseAPITimestamp('2025-07-16t06:07:42z')?.toISOString()).toBe('2025-07-16T06:07:42.000Z')
  })
  it('refuses anything else rather than guessing', () => {
    for (const value of [
      '2025-07-16',
      '2025-07-16 06:07:42',
      '2025-02-30 00:00:00 UTC',
      '2025-07-16 24:00:00 UTC',
      '1752645662',
      1752645662,
      null,
      'July 16, 2025',
    ]) {
      expect(parseAPITimestamp(value), String(value)).toBeUndefined()
    }
  })
})
