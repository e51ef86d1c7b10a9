import { randomUUID } from 'node:crypto'
import { fetchWithRetries, type RetryDeps, type RetryOptions } from '../http/retry.js'
import { requireSecureURL } from '../http/url.js'
import { buildTokenExchangeRequest, toRequestInit } from './request.js'
import { parseTokenResponse } from './response.js'
import { TOKEN_ENDPOINT, type Exchanger, type ExchangeParams, type TokenResult } from './types.js'

// The cache-miss path: this module pulls in jose (through ./request.js). The cache-hit path
// needs only ./types.js and ./key.js.

export interface ExchangeDeps extends RetryDeps {
  /** A new assertion `jti` per attempt; default crypto.randomUUID (122 random bits). */
  newJti?: () => string
}

export interface ExchangeOptions extends RetryOptions {
  /** Require `bktx_` tokens (default true); see parseTokenResponse. */
  expectBktxPrefix?: boolean
  /** Assertion lifetime in seconds, 1..300; default 60. */
  assertionLifetime?: number
  /** Called before each attempt with its number and jti (for --verbose); never given the assertion. */
  onAttempt?: (attempt: number, jti: string) => void
}

/**
 * Exchanges a freshly signed client assertion for a Buildkite token (docs/token-exchange.md §2-§5):
 * builds the request (new assertion and jti every attempt, retries included), sends it with
 * retries on connection errors, 5xx and 429, and validates the answer strictly.
 *
 * Fails with InsecureURLError (plain http other than loopback) before any request;
 * OAuthRejectedError (the server said no: never retried); BadResponseError; TimeoutError when
 * `timeoutMs` (default 30 s) runs out, retries and waits included; ServerUnavailableError or
 * NetworkError when the attempts run out; InterruptedError when `signal` aborts.
 */
export async function exchange(params: ExchangeParams, deps: ExchangeDeps, options: ExchangeOptions = {}): Promise<TokenResult> {
  const url = requireSecureURL(params.tokenUrl, TOKEN_ENDPOINT)
  const newJti = deps.newJti ?? randomUUID
  return fetchWithRetries(
    { url, ...TOKEN_ENDPOINT },
    async (attempt, signal) => {
      const jti = newJti()
      options.onAttempt?.(attempt, jti)
      const request = await buildTokenExchangeRequest(params, { clock: deps.clock, jti, assertionLifetime: options.assertionLifetime, signal })
      return toRequestInit(request)
    },
    (response) => parseTokenResponse(response, { clock: deps.clock, requested: params, expectBktxPrefix: options.expectBktxPrefix }),
    deps,
    options,
  )
}

/** An Exchanger bound to its dependencies: what the cache decorator wraps. */
export function makeExchanger(deps: ExchangeDeps, options: ExchangeOptions = {}): Exchanger {
  return (params) => exchange(params, deps, options)
}
