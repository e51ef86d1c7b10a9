import type { FetchLike } from '../deps.js'
import { NetworkError, TimeoutError, isBktxError } from '../errors.js'
import { CLIENT_ASSERTION_TYPE_JWT_BEARER, GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_ENDPOINT } from '../exchange/types.js'
import { readBodyText } from '../http/body.js'
import { describeNetworkCause } from '../http/retry.js'
import { redactURL, requireSecureURL } from '../http/url.js'
import type { Clock } from '../time/clock.js'

/** What the token endpoint said to a request that cannot mint. */
export interface EndpointAnswer {
  status: number
  /** The OAuth `error` (RFC 6749 §5.2) when the body is an OAuth error document. */
  error: string | undefined
  description: string | undefined
  /** True when the body parsed as JSON. */
  json: boolean
  /** The Location header of a redirect. */
  location: string | undefined
  /** The Date header (RFC 9110 §6.6.1), as sent. */
  date: string | null
  /**
   * This machine's clock minus the server's, in ms, from the Date header: the server's second
   * is taken at its middle, this machine's time at the middle of the round trip. Undefined
   * without a (valid) Date header.
   */
  skewMs: number | undefined
  /** Round trip, in ms, by the injected clock. */
  elapsedMs: number
}

/**
 * The probe `bktx doctor` sends: a token exchange grant with no client assertion. A token
 * endpoint must refuse it (RFC 6749 §3.2 and §5.2: the client is not authenticated; RFC 7523
 * §3), so nothing can be minted, no key is used and no `jti` is spent, yet the answer shows
 * the URL is an OAuth token endpoint (an `error` JSON) rather than a wrong path (a 404 page),
 * and its Date header gives the clock skew. A GET or HEAD would not do: many servers answer a
 * token URL's GET with the same 404 or 405 as any unknown path.
 */
export const PROBE_FORM = `grant_type=${encodeURIComponent(GRANT_TYPE_TOKEN_EXCHANGE)}&client_assertion_type=${encodeURIComponent(CLIENT_ASSERTION_TYPE_JWT_BEARER)}`

/**
 * Sends the probe once (no retries: a diagnosis should not hammer a server). Throws
 * InsecureURLError for plain http other than loopback, NetworkError or TimeoutError when
 * there is no answer.
 */
export async function probeTokenEndpoint(tokenUrl: string, deps: { fetch: FetchLike; clock: Clock }, options: { timeoutMs: number }): Promise<EndpointAnswer> {
  const url = requireSecureURL(tokenUrl, TOKEN_ENDPOINT)
  const sent = deps.clock.now().getTime()
  let response
  try {
    response = await deps.fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: PROBE_FORM,
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs),
    })
  } catch (cause) {
    if (isBktxError(cause)) throw cause
    if ((cause as Error).name === 'TimeoutError') {
      throw new TimeoutError(`the token endpoint ${redactURL(url)} did not answer within ${Math.round(options.timeoutMs / 1000)}s`, {
        cause,
        detail: { setting: 'token-url', option: 'timeout', reason: 'timeout' },
        advice: ['check ', { setting: 'token-url' }, ' and the network, or allow more time with ', { option: 'timeout' }],
      })
    }
    throw new NetworkError(`cannot reach the token endpoint ${redactURL(url)}: ${describeNetworkCause(cause)}`, {
      cause,
      detail: { setting: 'token-url', reason: 'unreachable' },
      advice: ['check ', { setting: 'token-url' }, ', the network and any proxy variables'],
    })
  }
  const received = deps.clock.now().getTime()
  const date = response.headers.get('date')
  let text = ''
  try {
    text = await readBodyText(response)
  } catch {
    // The status and headers are the answer; an unreadable body just has no OAuth error.
  }
  let error: string | undefined
  let description: string | undefined
  let json = false
  try {
    const body = JSON.parse(text) as unknown
    json = true
    if (typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string') {
      error = (body as { error: string }).error
      const d = (body as { error_description?: unknown }).error_description
      description = typeof d === 'string' ? d : undefined
    }
  } catch {
    // Not JSON: not an OAuth answer.
  }
  const server = date === null ? NaN : Date.parse(date)
  return {
    status: response.status,
    error,
    description,
    json,
    location: response.headers.get('location') ?? undefined,
    date,
    skewMs: Number.isNaN(server) ? undefined : Math.round((sent + received) / 2 - (server + 500)),
    elapsedMs: received - sent,
  }
}
