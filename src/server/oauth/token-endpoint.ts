import { CLIENT_ASSERTION_TYPE_JWT_BEARER, GRANT_TYPE_TOKEN_EXCHANGE, ISSUED_TOKEN_TYPE_ACCESS_TOKEN, SUBJECT_TOKEN_TYPES } from '../../exchange/types.js'
import type { AuditRecord } from '../state/audit.js'
import { authenticateClient, CLOCK_TOLERANCE_S } from './client-auth.js'
import type { App, Member, Organization } from '../config/config.js'
import { parseForm } from './form.js'
import { DESCRIPTIONS, invalidClient, invalidRequest, OAuthError, unverified } from './oauth-error.js'
import { rateLimitHeaders, type RateDecision } from '../rate-limit.js'
import { KNOWN_SCOPES, parseScopeParam } from '../scopes.js'
import type { ServerState } from '../state/state.js'
import type { TokenRecord } from '../state/store.js'

export interface TokenRequest {
  method: string
  contentType: string | undefined
  hasAuthorization: boolean
  body: string
  ip: string | undefined
  /** Accepted `aud` values for this request: the endpoint URLs as this socket reached them, and the configured audiences. */
  audiences: ReadonlySet<string>
}

export interface EndpointResult {
  status: number
  headers: Record<string, string>
  body: unknown
  audit: AuditRecord
  /** Resolves when the minted token is durable (state journal). */
  durable: Promise<void>
}

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' }

/**
 * The token endpoint (docs/token-exchange.md §3–§5, §9). Checks run in one fixed order: method, content
 * type, no Authorization header, form (no repeated parameters), grant type, assertion type and
 * presence, client authentication (client-auth.ts, including `client_id` and the exchange IP
 * list), token exchange enabled for the org, rate limit, the RFC 8693 parameters this endpoint
 * does not support, subject token type and token, audience (org slug), subject membership,
 * scopes, expires_in, capacity, then the jti is claimed and the token minted in one synchronous
 * step. The audit record is filled as facts become known.
 */
export async function tokenEndpoint(req: TokenRequest, state: ServerState): Promise<EndpointResult> {
  const now = state.now()
  const audit = emptyAudit(now, req.ip)
  let headers: Record<string, string> = { ...NO_STORE }
  try {
    if (req.method !== 'POST') {
      throw new OAuthError('invalid_request', 'The token endpoint accepts POST requests only', `method ${req.method}`, {
        status: 405,
        headers: { Allow: 'POST' },
      })
    }
    const mediaType = (req.contentType ?? '').split(';')[0]?.trim().toLowerCase()
    if (mediaType !== 'application/x-www-form-urlencoded') {
      throw invalidRequest('Content-Type must be application/x-www-form-urlencoded', `content type ${JSON.stringify(req.contentType ?? null)}`)
    }
    // docs/token-exchange.md §3: the client authenticates with its assertion only.
    if (req.hasAuthorization) throw invalidRequest('Authorization header is not accepted; authenticate with client_assertion')
    const form = parseForm(req.body)

    const grantType = form.get('grant_type')
    if (grantType === undefined) throw invalidRequest('Missing required parameter `grant_type`')
    if (grantType !== GRANT_TYPE_TOKEN_EXCHANGE) {
      throw new OAuthError('unsupported_grant_type', 'Only the token exchange grant type is supported', `grant_type ${JSON.stringify(grantType.slice(0, 100))}`)
    }
    const assertionType = form.get('client_assertion_type')
    if (assertionType === undefined) throw invalidRequest('Missing required parameter `client_assertion_type`')
    if (assertionType !== CLIENT_ASSERTION_TYPE_JWT_BEARER) throw invalidClient(`client_assertion_type ${JSON.stringify(assertionType.slice(0, 100))}`)
    const assertion = form.get('client_assertion')
    if (assertion === undefined) throw invalidRequest('Missing required parameter `client_assertion`')

    const verified = await authenticateClient(assertion, {
      formClientId: form.get('client_id'),
      findApp: (clientId) => state.app(clientId),
      checkApp: (app) => {
        audit.client_id = app.clientId
        audit.org = app.org
        if (!state.exchangeIps(app).allows(req.ip)) throw unverified(`exchange from ${req.ip ?? 'unknown address'} is outside the app's exchange IP list`)
      },
      keys: (app) => state.keys.for(app),
      audiences: req.audiences,
      now,
      requireJti: (app) => state.org(app.org)?.requireJti === true,
      isReplay: (clientId, jti) => state.store.isReplay(clientId, jti, now),
      headerPolicy: state.config.strictJwsHeader ? 'strict' : 'lenient',
    })
    const { app } = verified
    audit.kid = verified.kid === undefined ? null : sharedKid(verified.kid)
    audit.jti = verified.jti ?? null
    const org = state.org(app.org) as Organization

    if (!org.tokenExchangeEnabled) throw new OAuthError('unsupported_grant_type', DESCRIPTIONS.disabled, `organisation ${org.slug} has token exchange disabled`)
    if (org.rateLimit !== undefined) {
      const decision = state.rateLimiter.take(org.slug, org.rateLimit, now)
      headers = { ...headers, ...rateLimitHeaders(decision) }
      if (!decision.allowed) throw rateLimited(decision, org.slug)
    }

    unsupportedParameters(form)

    const subjectType = form.get('subject_token_type')
    if (subjectType === undefined) throw invalidRequest('Missing required parameter `subject_token_type`')
    const byEmail = subjectType === SUBJECT_TOKEN_TYPES.email
    if (!byEmail && subjectType !== SUBJECT_TOKEN_TYPES.uuid)
      throw invalidRequest('Unsupported `subject_token_type`', `subject_token_type ${JSON.stringify(subjectType.slice(0, 100))}`)
    const subject = form.get('subject_token')
    if (subject === undefined) throw invalidRequest('Missing required parameter `subject_token`')
    audit.user = subject.slice(0, 320)

    const audience = form.get('audience')
    if (audience !== org.slug) {
      throw new OAuthError(
        'invalid_target',
        DESCRIPTIONS.audience,
        `audience ${JSON.stringify(audience?.slice(0, 100) ?? null)} is not the app's organisation ${org.slug}`,
      )
    }

    const member = findMember(org, subject, byEmail)
    if (member === undefined)
      throw invalidRequest(
        DESCRIPTIONS.subject,
        `subject ${JSON.stringify(subject.slice(0, 100))} is not an active${byEmail ? ', verified' : ''} member of ${org.slug}`,
      )
    audit.user = member.email

    const scopes = grantedScopes(form.get('scope'), app)
    const ttl = requestedTtl(form.get('expires_in'), app)

    if (!state.store.hasRoom(now)) {
      throw new OAuthError('temporarily_unavailable', 'The server is at capacity; try again later', 'token or jti store full', {
        status: 503,
        headers: { 'Retry-After': '30' },
      })
    }
    const minted = state.store.mint(
      {
        org: org.slug,
        clientId: app.clientId,
        user: tokenUser(member),
        scopes,
        description: tokenDescription(app),
        createdAt: Math.floor(now),
        expiresAt: Math.floor(now) + ttl,
      },
      verified.jti === undefined ? undefined : { clientId: app.clientId, jti: verified.jti, until: verified.exp + CLOCK_TOLERANCE_S },
      now,
    )
    // Two concurrent requests with one jti: both passed the early check; only one claims it.
    if (minted === undefined) throw invalidClient('jti claimed by a concurrent request', DESCRIPTIONS.replay)

    Object.assign(audit, {
      type: 'token.minted',
      scopes,
      expires_at: isoTime(minted.record.expiresAt * 1000),
      token_sha256: minted.record.sha256,
    })
    return {
      status: 200,
      headers,
      body: {
        access_token: minted.token,
        issued_token_type: ISSUED_TOKEN_TYPE_ACCESS_TOKEN,
        token_type: 'Bearer',
        expires_in: ttl,
        scope: scopes.join(' '),
      },
      audit,
      durable: minted.durable,
    }
  } catch (error) {
    if (!(error instanceof OAuthError)) throw error
    audit.error = error.error
    audit.detail = error.detail
    return { status: error.status, headers: { ...headers, ...error.headers }, body: error.body(), audit, durable: Promise.resolve() }
  }
}

/** A failed-exchange record with nothing known yet; endpoints fill in what they learn. */
export function emptyAudit(now: number, ip: string | undefined): AuditRecord {
  return {
    time: isoTime(now * 1000),
    type: 'token.exchange_failed',
    org: null,
    client_id: null,
    user: null,
    kid: null,
    jti: null,
    scopes: null,
    expires_at: null,
    ip: ip ?? null,
    token_sha256: null,
    error: null,
    detail: null,
  }
}

/**
 * `new Date(ms).toISOString()`, the same text for the same millisecond. Audit records keep these
 * strings (the last 10,000 in memory, each minted token's until it is written): the exchanges of
 * one millisecond (their `time`) and of one second (their `expires_at`, whole seconds) share one
 * string instead of keeping a copy each. Date truncates a fractional millisecond, as Math.trunc.
 */
function isoTime(ms: number): string {
  const whole = Math.trunc(ms)
  if (whole === ISO_TIMES.time) return ISO_TIMES.lastTime
  if (whole === ISO_TIMES.expiry) return ISO_TIMES.lastExpiry
  const text = new Date(whole).toISOString()
  // Two entries: an exchange asks for its time (now) and its expiry (later) in turn.
  if (whole % 1000 === 0) {
    ISO_TIMES.expiry = whole
    ISO_TIMES.lastExpiry = text
  } else {
    ISO_TIMES.time = whole
    ISO_TIMES.lastTime = text
  }
  return text
}
const ISO_TIMES = { time: Number.NaN, lastTime: '', expiry: Number.NaN, lastExpiry: '' }

/**
 * The kid of a verified assertion as one string per distinct kid (a bounded set), so that audit
 * records, which keep it, share it rather than each keeping the copy JSON.parse made.
 */
function sharedKid(kid: string): string {
  const known = KIDS.get(kid)
  if (known !== undefined) return known
  if (KIDS.size < 256) KIDS.set(kid, kid)
  return kid
}
const KIDS = new Map<string, string>()

// What every token of one member or app shares is built once and shared by their records (which
// nothing mutates): a live token then keeps only what is its own, so collections that copy the
// tokens minted since the last one copy less (docs/benchmarks.md, the server's p99).
const TOKEN_USERS = new WeakMap<Member, TokenRecord['user']>()
const TOKEN_DESCRIPTIONS = new WeakMap<App, string>()
const DEFAULT_SCOPES = new WeakMap<App, string[]>()

function tokenUser(member: Member): TokenRecord['user'] {
  let user = TOKEN_USERS.get(member)
  if (user === undefined) {
    user = Object.freeze({ uuid: member.uuid, email: member.email, name: member.name })
    TOKEN_USERS.set(member, user)
  }
  return user
}

function tokenDescription(app: App): string {
  let description = TOKEN_DESCRIPTIONS.get(app)
  if (description === undefined) {
    description = `Token exchange: ${app.name}`
    TOKEN_DESCRIPTIONS.set(app, description)
  }
  return description
}

function defaultScopes(app: App): string[] {
  let scopes = DEFAULT_SCOPES.get(app)
  if (scopes === undefined) {
    scopes = Object.freeze([...app.defaultScopes]) as string[]
    DEFAULT_SCOPES.set(app, scopes)
  }
  return scopes
}

function findMember(org: Organization, subject: string, byEmail: boolean): Member | undefined {
  const wanted = subject.toLowerCase()
  const member = org.members.find((m) => (byEmail ? m.email.toLowerCase() === wanted : m.uuid === wanted))
  // docs/token-exchange.md §3: an active member; by email, a verified email.
  if (member === undefined || !member.active || (byEmail && !member.verified)) return undefined
  return member
}

function grantedScopes(param: string | undefined, app: App): string[] {
  if (param === undefined) {
    // docs/token-exchange.md §3: omitted scope means the app's default scopes; an error if it has none.
    if (app.defaultScopes.length === 0) throw new OAuthError('invalid_scope', 'No scope requested and the application has no default scopes')
    return defaultScopes(app)
  }
  const requested = parseScopeParam(param)
  if (requested === undefined) throw new OAuthError('invalid_scope', 'Requested scope is malformed', `scope ${JSON.stringify(param.slice(0, 200))}`)
  const outside = requested.filter((s) => !app.grantableScopes.includes(s) || !KNOWN_SCOPES.has(s))
  if (outside.length > 0) throw new OAuthError('invalid_scope', DESCRIPTIONS.scopeExceeds, `not grantable: ${outside.join(' ').slice(0, 200)}`)
  return requested
}

function requestedTtl(param: string | undefined, app: App): number {
  if (param === undefined) return app.maxTtl
  // docs/token-exchange.md §5 [bktx]: malformed expires_in is invalid_request; a positive whole number only.
  if (!/^[1-9][0-9]*$/.test(param))
    throw invalidRequest('`expires_in` must be a positive whole number of seconds', `expires_in ${JSON.stringify(param.slice(0, 40))}`)
  return Math.min(Number(param), app.maxTtl)
}

/**
 * RFC 8693 §2.1 parameters this endpoint cannot honour are refused, not ignored (docs/token-exchange.md §3
 * [bktx]): a client asking for delegation, for another token type or for a resource server
 * would otherwise get a token other than the one it asked for. RFC 8693 §2.2.2: `invalid_target`
 * for `resource`, `invalid_request` for the others.
 */
function unsupportedParameters(form: Map<string, string>): void {
  if (form.has('actor_token') || form.has('actor_token_type')) {
    const sent = ['actor_token', 'actor_token_type'].filter((name) => form.has(name)).join(' and ')
    throw invalidRequest('Delegation is not supported: do not send `actor_token` or `actor_token_type`', `${sent} sent`)
  }
  const requested = form.get('requested_token_type')
  if (requested !== undefined && requested !== ISSUED_TOKEN_TYPE_ACCESS_TOKEN) {
    throw invalidRequest(
      `Only access tokens are issued: \`requested_token_type\` must be ${ISSUED_TOKEN_TYPE_ACCESS_TOKEN} or absent`,
      `requested_token_type ${JSON.stringify(requested.slice(0, 100))}`,
    )
  }
  const resource = form.get('resource')
  if (resource !== undefined) {
    throw new OAuthError(
      'invalid_target',
      'The `resource` parameter is not supported; name the organization in `audience`',
      `resource ${JSON.stringify(resource.slice(0, 100))}`,
    )
  }
}

function rateLimited(decision: RateDecision, org: string): OAuthError {
  // docs/token-exchange.md §6 [bktx]: an OAuth error code as well, since OAuth clients decide on
  // `error` (without it Authlib reads the body as a token); RFC 6749 defines no rate-limit code,
  // and `temporarily_unavailable` is its one "try again later".
  return new OAuthError(
    'temporarily_unavailable',
    'Too many token exchange requests for this organization; retry after the time in Retry-After',
    `organisation ${org}: ${decision.current} of ${decision.limit} per minute`,
    {
      status: 429,
      headers: { ...rateLimitHeaders(decision), 'Retry-After': String(decision.reset) },
      // docs/token-exchange.md §6: the 429 body shape of Buildkite's REST rate limits, plus error and error_description.
      body: {
        message: 'You have exceeded the token exchange rate limit for this organization. Please wait before retrying.',
        scope: 'token_exchange',
        limit: decision.limit,
        current: decision.current,
        reset: decision.reset,
      },
    },
  )
}
