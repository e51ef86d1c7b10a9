import type { ResponseLike } from '../deps.js'
import { BadResponseError, OAuthRejectedError, ServerUnavailableError, type Advice, type BktxError } from '../errors.js'
import { BodyTooLargeError, isJSONMediaType, mediaType, printable, readBodyText, redactSecrets } from '../http/body.js'
import { isRetryableStatus } from '../http/retry.js'
import { redactURL } from '../http/url.js'
import type { Clock } from '../time/clock.js'
import { clockSkewMs, oauthErrorAdvice, type RequestContext } from './oauth-errors.js'
import { ISSUED_TOKEN_TYPE_ACCESS_TOKEN, MAX_TOKEN_LIFETIME, type TokenResult } from './types.js'

export interface ParseTokenResponseOptions {
  /** Read once, when parsing starts: the moment of receipt (docs/token-exchange.md §4). */
  clock: Clock
  /**
   * Require the `bktx_` prefix on `access_token` (docs/token-exchange.md §6). Default true: Buildkite and
   * the bundled reference server both issue `bktx_` tokens, and anything else cannot be used
   * against the Buildkite API, so it means bktx is not talking to the server it thinks.
   */
  expectBktxPrefix?: boolean
  /** What was asked: the scopes decide an absent `scope`; the rest goes into error advice. */
  requested: RequestContext
}

/** The raw response behind an error, kept out of messages, JSON.stringify and util.inspect. */
export interface RawResponse {
  status: number
  headers: ResponseLike['headers']
  /** The body text, as received. May hold a token: never print it. */
  body: string
}

/** Attaches the raw response as a non-enumerable `response` property (oauth4webapi's habit). */
export function attachRaw<E extends BktxError>(error: E, raw: RawResponse): E {
  Object.defineProperty(error, 'response', { value: raw, enumerable: false, writable: false, configurable: true })
  return error
}

// RFC 6750 §2.1 b64token: what can follow "Bearer " in an Authorization header.
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/
// RFC 6749 §3.3 scope-token, and §5.2 / §A.7 for error codes.
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/
const ERROR_CODE = /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/

/**
 * Validates a token endpoint response field by field (RFC 6749 §5.1 and §5.2, RFC 8693 §2.2,
 * docs/token-exchange.md §4 and §5) and returns the token with its expiry computed from the injected clock
 * at receipt, never from a server timestamp.
 *
 * - A JSON body with an `error` member is an OAuth error whatever the status (docs/token-exchange.md §5:
 *   decide on `error`, never the status) → OAuthRejectedError with advice.
 * - 5xx/429 without one → ServerUnavailableError (the exchange retries those before parsing).
 * - Anything else outside the protocol (other statuses, redirects, non-JSON, truncated JSON,
 *   wrong shapes) → BadResponseError.
 *
 * `scope` absent: RFC 6749 §5.1 lets a server omit it only when it granted exactly what was
 * requested, so it then reads as the requested scopes; when none were requested the grant is
 * unknown, and since RFC 6749 §5.1 then requires the member, that is a BadResponseError.
 * Unknown members are ignored (RFC 6749 §5.1).
 */
export async function parseTokenResponse(response: ResponseLike, options: ParseTokenResponseOptions): Promise<TokenResult> {
  const receivedAt = options.clock.now()
  const where = `the token endpoint ${redactURL(options.requested.tokenUrl)}`
  const status = response.status
  let text: string
  try {
    text = await readBodyText(response)
  } catch (cause) {
    if (cause instanceof BodyTooLargeError) {
      throw new BadResponseError(`${where} sent a response larger than ${cause.limit} bytes; not a token response`, { cause })
    }
    throw cause
  }
  const raw: RawResponse = { status, headers: response.headers, body: text }
  const bad = (problem: string, advice?: Advice): BadResponseError =>
    attachRaw(new BadResponseError(`${where} ${problem}`, { detail: { reason: 'malformed' }, ...(advice === undefined ? {} : { advice }) }), raw)
  const checkTokenUrl: Advice = ['check ', { setting: 'token-url' }]

  if (status >= 300 && status < 400) {
    // Redirects are not followed: a 307/308 would resend the assertion to another URL.
    throw bad(`redirected (HTTP ${status}${redirectTarget(response, options.requested.tokenUrl)})`, [
      'set ',
      { setting: 'token-url' },
      ' to the token endpoint itself',
    ])
  }
  const type = mediaType(response)
  if (!isJSONMediaType(type)) {
    if (isRetryableStatus(status)) throw unavailable(where, status, raw)
    throw bad(`answered HTTP ${status} with ${type === '' ? 'no content type' : type}, not JSON (RFC 6749 §5.1)`, [
      ...checkTokenUrl,
      '; a proxy or a login page may have answered',
    ])
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw bad(`answered HTTP ${status} with invalid JSON (${text.length === 0 ? 'empty body' : 'truncated or malformed'})`)
  }
  if (!isObject(json)) throw bad(`answered HTTP ${status} with JSON that is not an object`)

  if ('error' in json) throw oauthError(json, raw, receivedAt, options, where)
  if (status !== 200) {
    if (isRetryableStatus(status)) throw unavailable(where, status, raw)
    // RFC 6749 §5.1: success is 200; §5.2: failures carry `error`.
    throw bad(`answered HTTP ${status} without an OAuth error`, checkTokenUrl)
  }

  const accessToken = json['access_token']
  if (typeof accessToken !== 'string' || accessToken === '') throw bad('sent no access_token (a non-empty string is required, RFC 6749 §5.1)')
  // The token goes into Authorization headers and shell exports: only the RFC 6750 syntax.
  if (!B64TOKEN.test(accessToken)) throw bad('sent an access_token with characters a bearer token cannot have (RFC 6750 §2.1)')
  if ((options.expectBktxPrefix ?? true) && (!accessToken.startsWith('bktx_') || accessToken.length <= 'bktx_'.length)) {
    throw bad('sent an access_token without the bktx_ prefix of Buildkite token exchange tokens', [
      'is ',
      { setting: 'token-url' },
      ' a Buildkite token endpoint?',
    ])
  }

  const tokenType = json['token_type']
  // RFC 6749 §5.1 and §7.1: token_type is required and case-insensitive.
  if (typeof tokenType !== 'string') throw bad('sent no token_type (required, RFC 6749 §5.1)')
  if (tokenType.toLowerCase() !== 'bearer') throw bad(`sent token_type "${printable(tokenType, 40)}"; bktx can only use Bearer tokens (RFC 6750)`)

  const issuedTokenType = json['issued_token_type']
  // RFC 8693 §2.2.1 makes it required, but it adds nothing bktx needs beyond token_type, so
  // absence is tolerated; a different type is not, since bktx asked for an access token.
  if (issuedTokenType !== undefined && issuedTokenType !== ISSUED_TOKEN_TYPE_ACCESS_TOKEN) {
    throw bad(
      `sent issued_token_type ${typeof issuedTokenType === 'string' ? `"${printable(issuedTokenType, 80)}"` : 'that is not a string'}; expected ${ISSUED_TOKEN_TYPE_ACCESS_TOKEN} (RFC 8693 §3)`,
    )
  }

  const sentExpiresIn = json['expires_in']
  // Required here although RFC 6749 says RECOMMENDED: the expiry is computed from it and a
  // token of unknown lifetime cannot be cached safely. A JSON number (Buildkite's); a string of
  // decimal digits only is read as that number, as oauth4webapi and Authlib read it, since
  // some servers send one (docs/token-exchange.md §4 [bktx]); nothing looser ("9e2", " 900").
  if (sentExpiresIn === undefined) throw bad('sent no expires_in; bktx needs the token lifetime (docs/token-exchange.md §4)')
  const expiresIn = typeof sentExpiresIn === 'string' && /^[0-9]{1,16}$/.test(sentExpiresIn) ? Number(sentExpiresIn) : sentExpiresIn
  if (typeof expiresIn !== 'number' || !Number.isSafeInteger(expiresIn) || expiresIn <= 0) {
    throw bad('sent an expires_in that is not a positive whole number of seconds')
  }
  // Capped here, where the answer is validated, so that every consumer (the cache, --json, a
  // library caller that keeps the token) sees the lifetime bktx trusts.
  const lifetime = Math.min(expiresIn, MAX_TOKEN_LIFETIME)
  const expiresAt = new Date(receivedAt.getTime() + lifetime * 1000)

  const scope = json['scope']
  let scopes: string[]
  if (scope === undefined) {
    if (options.requested.scopes.length === 0) {
      throw bad('sent no scope although none was requested, so the granted scopes are unknown (RFC 6749 §5.1 requires scope then)')
    }
    scopes = [...options.requested.scopes]
  } else {
    if (typeof scope !== 'string') throw bad('sent a scope that is not a string (RFC 6749 §3.3: space-separated)')
    scopes = scope.split(' ').filter((s) => s !== '')
    if (scopes.some((s) => !SCOPE_TOKEN.test(s))) throw bad('sent a scope with characters a scope name cannot have (RFC 6749 §3.3)')
  }

  return {
    accessToken,
    tokenType: 'Bearer',
    issuedTokenType: issuedTokenType as string | undefined,
    expiresIn: lifetime,
    // docs/token-exchange.md §4: compare scopes as sets.
    scopes: [...new Set(scopes)].sort(),
    receivedAt,
    expiresAt,
  }
}

function oauthError(json: Record<string, unknown>, raw: RawResponse, receivedAt: Date, options: ParseTokenResponseOptions, where: string): BktxError {
  const error = json['error']
  const description = json['error_description']
  if (typeof error !== 'string' || error === '' || !ERROR_CODE.test(error)) {
    return attachRaw(new BadResponseError(`${where} answered HTTP ${raw.status} with an "error" member that is not an OAuth error code (RFC 6749 §5.2)`), raw)
  }
  const cleanDescription = typeof description === 'string' && description !== '' ? printable(redactSecrets(description), 300) : undefined
  // Quoted in the clock-skew advice: the server's text, so escaped and capped like any other.
  const date = raw.headers.get('date')
  const serverDate = date === null ? null : printable(date, 64)
  const advice = oauthErrorAdvice(error, cleanDescription, options.requested, { skewMs: clockSkewMs(serverDate, receivedAt), serverDate })
  const code = printable(error, 60)
  return attachRaw(
    new OAuthRejectedError(
      `token exchange rejected by ${where}: ${code}${cleanDescription === undefined ? '' : ` (${cleanDescription})`}`,
      { error: code, errorDescription: cleanDescription, status: raw.status },
      { detail: { reason: code }, advice },
    ),
    raw,
  )
}

function unavailable(where: string, status: number, raw: RawResponse): ServerUnavailableError {
  return attachRaw(
    new ServerUnavailableError(`${where} answered HTTP ${status}`, status, { detail: { reason: 'server-error' }, advice: ['try again later'] }),
    raw,
  )
}

function redirectTarget(response: ResponseLike, base: string): string {
  const location = response.headers.get('location')
  if (location === null) return ''
  try {
    return ` to ${redactURL(new URL(location, base))}`
  } catch {
    return ''
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
