import type { JSONWebKeySet } from 'jose'
import type { ResponseLike } from '../deps.js'
import { BadResponseError } from '../errors.js'
import { BodyTooLargeError, readBodyText } from '../http/body.js'
import { fetchWithRetries, type RetryDeps, type RetryOptions } from '../http/retry.js'
import { redactURL } from '../http/url.js'

/** A JWKS URI given to verify a JWT (`inspect`), for messages: its URL is the `jwks` option. */
export const JWKS_URI = { name: 'JWKS URI', setting: 'jwks' } as const

/** A JWKS holds a few public keys; the reference server caps the ones it fetches the same way. */
export const MAX_JWKS_BYTES = 100 * 1024

/**
 * GETs a JWK Set (RFC 7517 §5) with the retries and the one time budget of every other call
 * (src/http/retry.ts): connection failures, timeouts and 5xx are NetworkError, TimeoutError or
 * ServerUnavailableError (exit 5); a redirect (never followed), another status, a body over
 * 100 KiB, or anything but a JSON object with a `keys` array of objects is a BadResponseError
 * (exit 6). The keys themselves are checked by whoever uses them.
 */
export async function fetchJWKS(url: URL, deps: RetryDeps, options: RetryOptions = {}): Promise<JSONWebKeySet> {
  return fetchWithRetries(
    { url, ...JWKS_URI },
    () => ({ method: 'GET', headers: { accept: 'application/jwk-set+json, application/json' } }),
    (response) => parseJWKSResponse(response, url),
    deps,
    options,
  )
}

async function parseJWKSResponse(response: ResponseLike, url: URL): Promise<JSONWebKeySet> {
  const where = `the JWKS URI ${redactURL(url)}`
  const bad = (problem: string, reason: string) =>
    new BadResponseError(`${where} ${problem}`, { detail: { option: 'jwks', reason }, advice: ['check ', { option: 'jwks' }] })
  if (response.status >= 300 && response.status < 400) {
    void response.body?.cancel().catch(() => undefined)
    throw bad(`redirected (HTTP ${response.status}); redirects are not followed`, 'redirect')
  }
  if (response.status !== 200) {
    void response.body?.cancel().catch(() => undefined)
    throw bad(`answered HTTP ${response.status}`, 'unexpected-status')
  }
  let text: string
  try {
    text = await readBodyText(response, MAX_JWKS_BYTES)
  } catch (cause) {
    if (cause instanceof BodyTooLargeError) throw bad(`sent more than ${MAX_JWKS_BYTES / 1024} KiB; not a JWKS`, 'too-large')
    throw cause
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw bad('answered with something that is not JSON', 'not-json')
  }
  const keys = typeof json === 'object' && json !== null && !Array.isArray(json) ? (json as { keys?: unknown }).keys : undefined
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'object' && k !== null && !Array.isArray(k))) {
    throw bad('answered with JSON that is not a JWK Set ({"keys": [...]})', 'not-a-jwks')
  }
  return json as JSONWebKeySet
}
