import type { ResponseLike } from '../deps.js'
import { APIRejectedError, BadResponseError, InputError, type Advice } from '../errors.js'
import { BodyTooLargeError, isJSONMediaType, mediaType, printable, readBodyText, redactSecrets } from '../http/body.js'
import { fetchWithRetries, type RetryDeps, type RetryOptions } from '../http/retry.js'
import { redactURL, requireSecureURL } from '../http/url.js'
import { attachRaw, type RawResponse } from './response.js'

/** What `GET /v2/access-token` says about the calling token (docs/token-exchange.md §6). */
export interface AccessTokenInfo {
  uuid: string
  /** Sorted and unique. */
  scopes: string[]
  description: string | null
  createdAt: Date
  /** null for a token without expiry (a classic API token). */
  expiresAt: Date | null
  user: { name: string; email: string }
}

const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/

/** The REST API, for messages: its base URL is the `api-url` setting. */
export const API_ENDPOINT = { name: 'Buildkite API', setting: 'api-url' } as const

/** `{api-url}/v2/access-token`, keeping any path prefix of the API URL. */
export function accessTokenURL(apiUrl: string): URL {
  const base = requireSecureURL(apiUrl, API_ENDPOINT)
  base.pathname = `${base.pathname.replace(/\/+$/, '')}/v2/access-token`
  base.search = ''
  base.hash = ''
  return base
}

function bearer(token: string): string {
  // The token goes into a header: refuse anything a bearer token cannot be (RFC 6750 §2.1)
  // rather than let fetch fail with a message that might quote it.
  if (!B64TOKEN.test(token)) throw new InputError('the token is not a bearer token (RFC 6750 §2.1 characters only)')
  return `Bearer ${token}`
}

/**
 * `GET {api-url}/v2/access-token` with the token (docs/token-exchange.md §6): who and what it is for.
 * 401/403 → APIRejectedError; retried like the exchange on connection errors, 5xx and 429.
 */
export async function whoami(apiUrl: string, token: string, deps: RetryDeps, options: RetryOptions = {}): Promise<AccessTokenInfo> {
  const url = accessTokenURL(apiUrl)
  const authorization = bearer(token)
  return fetchWithRetries(
    { url, ...API_ENDPOINT },
    () => ({ method: 'GET', headers: { authorization, accept: 'application/json' } }),
    async (response) => {
      const raw = await readRaw(response, url)
      if (response.status !== 200) throw statusError(raw, url, 'read')
      return parseAccessToken(raw, url)
    },
    deps,
    options,
  )
}

/**
 * `DELETE {api-url}/v2/access-token`: revokes the token (docs/token-exchange.md §6, 204). 401 means the
 * token is already unknown, expired or revoked; the caller decides whether that is fine.
 */
export async function revoke(apiUrl: string, token: string, deps: RetryDeps, options: RetryOptions = {}): Promise<void> {
  const url = accessTokenURL(apiUrl)
  const authorization = bearer(token)
  return fetchWithRetries(
    { url, ...API_ENDPOINT },
    () => ({ method: 'DELETE', headers: { authorization, accept: 'application/json' } }),
    async (response) => {
      const raw = await readRaw(response, url)
      // 204 is documented; 200 is a success for DELETE too (RFC 9110 §9.3.5).
      if (response.status === 204 || response.status === 200) return
      throw statusError(raw, url, 'revoke')
    },
    deps,
    options,
  )
}

async function readRaw(response: ResponseLike, url: URL): Promise<RawResponse> {
  try {
    return { status: response.status, headers: response.headers, body: await readBodyText(response) }
  } catch (cause) {
    if (cause instanceof BodyTooLargeError) {
      throw new BadResponseError(`the Buildkite API ${redactURL(url)} sent a response larger than ${cause.limit} bytes`, { cause })
    }
    throw cause
  }
}

function statusError(raw: RawResponse, url: URL, action: 'read' | 'revoke'): Error {
  const where = `the Buildkite API ${redactURL(url)}`
  const said = serverMessage(raw)
  if (raw.status === 401) {
    return attachRaw(
      new APIRejectedError(`${where} did not accept the token (HTTP 401${said}): it is unknown, expired or revoked`, 401, {
        detail: { reason: 'token-rejected' },
        advice: ['get a new one with ', { command: 'token', options: ['refresh'] }],
      }),
      raw,
    )
  }
  if (raw.status === 403) {
    return attachRaw(
      new APIRejectedError(
        `${where} refused to ${action} the token (HTTP 403${said}): the request may come from an IP address the application does not allow for minted tokens`,
        403,
        { detail: { reason: 'forbidden' } },
      ),
      raw,
    )
  }
  if (raw.status >= 300 && raw.status < 400) {
    return attachRaw(
      new BadResponseError(`${where} redirected (HTTP ${raw.status})`, {
        detail: { setting: 'api-url', reason: 'redirect' },
        advice: ['set ', { setting: 'api-url' }, ' to the API host itself (https://api.buildkite.com)'],
      }),
      raw,
    )
  }
  return attachRaw(
    new BadResponseError(`${where} answered HTTP ${raw.status}${said}`, {
      detail: { setting: 'api-url', reason: 'unexpected-status' },
      advice: ['check ', { setting: 'api-url' }],
    }),
    raw,
  )
}

/** Buildkite error bodies are `{"message": "..."}`; quoted sanitised, never with a token in it. */
function serverMessage(raw: RawResponse): string {
  try {
    const json: unknown = JSON.parse(raw.body)
    const message = isObject(json) ? json['message'] : undefined
    return typeof message === 'string' && message !== '' ? `: ${printable(redactSecrets(message), 200)}` : ''
  } catch {
    return ''
  }
}

function parseAccessToken(raw: RawResponse, url: URL): AccessTokenInfo {
  const bad = (problem: string, advice?: Advice) =>
    attachRaw(
      new BadResponseError(`the Buildkite API ${redactURL(url)} ${problem}`, { detail: { reason: 'malformed' }, ...(advice === undefined ? {} : { advice }) }),
      raw,
    )
  const type = mediaType(raw)
  if (!isJSONMediaType(type)) throw bad(`answered with ${type === '' ? 'no content type' : type}, not JSON`, ['check ', { setting: 'api-url' }])
  let json: unknown
  try {
    json = JSON.parse(raw.body)
  } catch {
    throw bad('answered with invalid JSON (truncated or malformed)')
  }
  if (!isObject(json)) throw bad('answered with JSON that is not an object')
  const { uuid, scopes, description, created_at: createdAt, expires_at: expiresAt, user } = json
  if (typeof uuid !== 'string' || uuid === '') throw bad('sent no token uuid')
  if (!Array.isArray(scopes) || !scopes.every((s): s is string => typeof s === 'string')) throw bad('sent scopes that are not a list of strings')
  if (description !== undefined && description !== null && typeof description !== 'string') throw bad('sent a description that is not a string')
  const created = parseAPITimestamp(createdAt)
  if (created === undefined) throw bad('sent a created_at that is not a timestamp')
  let expires: Date | null = null
  if (expiresAt !== undefined && expiresAt !== null) {
    const parsed = parseAPITimestamp(expiresAt)
    if (parsed === undefined) throw bad('sent an expires_at that is not a timestamp')
    expires = parsed
  }
  if (!isObject(user) || typeof user['name'] !== 'string' || typeof user['email'] !== 'string') {
    throw bad('sent no user {name, email}')
  }
  return {
    uuid,
    scopes: [...new Set(scopes)].sort(),
    description: (description as string | null | undefined) ?? null,
    createdAt: created,
    expiresAt: expires,
    user: { name: user['name'], email: user['email'] },
  }
}

const BUILDKITE_TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) UTC$/
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/

/**
 * The REST API's timestamps: `2025-07-16 06:07:42 UTC` or RFC 3339 (docs/token-exchange.md §6). Strict:
 * out-of-range fields (month 13, 25:00) are rejected rather than rolled over.
 */
export function parseAPITimestamp(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined
  const match = BUILDKITE_TIME.exec(value) ?? RFC3339.exec(value)
  if (match === null) return undefined
  const [, y, mo, d, h, mi, s] = match.map(Number) as [number, number, number, number, number, number, number]
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return undefined
  // Day 31 of a 30-day month would roll over into the next month: refuse it.
  if (new Date(Date.UTC(y, mo - 1, d)).getUTCDate() !== d) return undefined
  const at = BUILDKITE_TIME.test(value) ? Date.UTC(y, mo - 1, d, h, mi, s) : Date.parse(value.toUpperCase().replace(' ', 'T'))
  return Number.isNaN(at) ? undefined : new Date(at)
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
