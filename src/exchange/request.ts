import type { RequestInitLike } from '../deps.js'
import { buildAssertionClaims, DEFAULT_ASSERTION_LIFETIME } from '../assertion/claims.js'
import { signAssertion } from '../assertion/sign.js'
import { SettingInvalidError } from '../errors.js'
import { defaultAudience } from './buildkite.js'
import { requireSecureURL } from '../http/url.js'
import { epochSeconds, type Clock } from '../time/clock.js'
import { CLIENT_ASSERTION_TYPE_JWT_BEARER, GRANT_TYPE_TOKEN_EXCHANGE, SUBJECT_TOKEN_TYPES, TOKEN_ENDPOINT, type ExchangeParams } from './types.js'

// This module signs with jose: only the cache-miss path loads it (src/exchange/exchange.ts).

export interface BuildRequestOptions {
  clock: Clock
  /** The assertion's `jti`: a new one for every attempt, retries included (docs/token-exchange.md §2). */
  jti: string
  /** Seconds from `iat` to `exp`, 1..300; default 60 (docs/token-exchange.md §2). */
  assertionLifetime?: number
  /** Bounds signing (an external signer) by the call's time budget. */
  signal?: AbortSignal | undefined
}

/** One token-exchange request, ready to send. `body` holds the signed assertion: never log it. */
export interface TokenExchangeRequest {
  url: URL
  method: 'POST'
  headers: Record<string, string>
  body: URLSearchParams
  /** The assertion's jti, for audit and --verbose (not secret). */
  jti: string
}

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/

/**
 * The request of docs/token-exchange.md §3 (RFC 8693 §2.1 with RFC 7523 §2.2 client authentication): a
 * form POST carrying a freshly signed client assertion. Optional fields are omitted rather than
 * sent empty (RFC 6749 §3.2: an empty parameter counts as omitted; Buildkite then applies the
 * app's defaults). There is never an Authorization header: Buildkite rejects a request that
 * uses two client authentication methods as invalid_request (RFC 6749 §2.3).
 */
export async function buildTokenExchangeRequest(params: ExchangeParams, options: BuildRequestOptions): Promise<TokenExchangeRequest> {
  const url = requireSecureURL(params.tokenUrl, TOKEN_ENDPOINT)
  checkParams(params)
  const claims = buildAssertionClaims({
    clientId: params.clientId,
    // docs/token-exchange.md §2: Buildkite documents one audience for its token endpoints,
    // https://buildkite.com/oauth/token, whichever of them the request goes to.
    audience: params.audience ?? defaultAudience(url.href),
    now: epochSeconds(options.clock),
    lifetime: options.assertionLifetime ?? DEFAULT_ASSERTION_LIFETIME,
    jti: options.jti,
  })
  const assertion = await signAssertion(claims, params.key, { signal: options.signal })

  const body = new URLSearchParams()
  body.set('grant_type', GRANT_TYPE_TOKEN_EXCHANGE)
  body.set('client_assertion_type', CLIENT_ASSERTION_TYPE_JWT_BEARER)
  body.set('client_assertion', assertion)
  body.set('subject_token', params.subject)
  body.set('subject_token_type', SUBJECT_TOKEN_TYPES[params.subjectType])
  // The organisation slug, not its display name (docs/token-exchange.md §3).
  body.set('audience', params.org)
  if (params.scopes.length > 0) body.set('scope', params.scopes.join(' '))
  if (params.ttl !== undefined) body.set('expires_in', String(params.ttl))

  return {
    url,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body,
    jti: options.jti,
  }
}

/** The fetch init of a built request. */
export function toRequestInit(request: TokenExchangeRequest): RequestInitLike {
  return { method: request.method, headers: request.headers, body: request.body.toString() }
}

/** Checks what the settings validators should already have; a library caller gets a clear error too. */
function checkParams(params: ExchangeParams): void {
  const nonEmpty: [string, string][] = [
    [params.clientId, 'client-id'],
    [params.org, 'org'],
    [params.subject, 'subject'],
  ]
  for (const [value, setting] of nonEmpty) {
    if (value.trim() === '') throw new SettingInvalidError(setting, 'must not be empty')
  }
  if (!Object.hasOwn(SUBJECT_TOKEN_TYPES, params.subjectType)) {
    throw new SettingInvalidError('subject-type', `must be "email" or "uuid", not "${String(params.subjectType)}"`)
  }
  for (const scope of params.scopes) {
    if (!SCOPE_TOKEN.test(scope)) throw new SettingInvalidError('scope', `"${scope}" is not a scope name`)
  }
  if (params.ttl !== undefined && (!Number.isSafeInteger(params.ttl) || params.ttl < 1)) {
    throw new SettingInvalidError('ttl', 'must be a positive number of seconds')
  }
}
