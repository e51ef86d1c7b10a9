import type { ServerState } from './state/state.js'
import type { TokenRecord } from './state/store.js'

export interface ApiRequest {
  method: string
  path: string
  authorization: string | undefined
  ip: string | undefined
}

export interface ApiResult {
  status: number
  headers?: Record<string, string>
  body?: unknown
  /** Set when the request revoked a token (for the audit log). */
  revoked?: TokenRecord
  /** Why the request was refused, for the verbose log only (never the token). */
  detail?: string
}

/**
 * RFC 6750 §3.1: a request without a Bearer token gets a bare challenge; one whose token is not
 * (or no longer) valid gets `error="invalid_token"` with a description, so a client can tell a
 * token to replace from credentials it never sent.
 */
const unauthorized = (detail: string, tokenSent: boolean): ApiResult => ({
  status: 401,
  headers: { 'WWW-Authenticate': tokenSent ? INVALID_TOKEN_CHALLENGE : 'Bearer realm="buildkite"' },
  body: { message: 'Authentication required. Please supply a valid, unexpired and unrevoked API access token.' },
  detail,
})

export const INVALID_TOKEN_CHALLENGE =
  'Bearer realm="buildkite", error="invalid_token", error_description="The access token is unknown, expired, revoked or no longer allowed"'

/** The scope each sample endpoint needs. */
const ORG_ENDPOINTS: Record<string, { scope: string; sample: (org: string) => unknown }> = {
  pipelines: {
    scope: 'read_pipelines',
    sample: (org) => [{ slug: 'demo', name: 'Demo', url: `https://api.buildkite.com/v2/organizations/${org}/pipelines/demo` }],
  },
  builds: {
    scope: 'read_builds',
    sample: () => [{ number: 1, state: 'passed', pipeline: { slug: 'demo' } }],
  },
}

/**
 * A sample of the REST API for minted tokens (docs/token-exchange.md §6): the access-token endpoints and
 * two organisation endpoints that check scopes and the app's token-use IP list. Every use
 * re-checks the token against the configuration now (ServerState.standing). 401 for an
 * unknown, expired or revoked token, and for one whose app, organisation or user no longer
 * allows it; 403 for a missing scope or a disallowed address.
 */
export function apiRequest(req: ApiRequest, state: ServerState): ApiResult | undefined {
  const route = matchRoute(req.path)
  if (route === undefined) return undefined
  const match = /^Bearer ([\x21-\x7E]+)$/i.exec(req.authorization ?? '')
  if (match?.[1] === undefined) return unauthorized(req.authorization === undefined ? 'no Authorization header' : 'Authorization is not a Bearer token', false)
  const record = state.store.find(match[1], state.now())
  if (record === undefined) return unauthorized('unknown, expired or revoked token', true)
  const standing = state.standing(record)
  if ('refused' in standing) return unauthorized(`token ${record.uuid} no longer valid: ${standing.refused}`, true)
  if (!state.tokenIps(standing.app).allows(req.ip)) {
    return {
      status: 403,
      body: { message: 'Access to this API from your IP address is not allowed for this token' },
      detail: `${req.ip ?? 'unknown address'} is outside the app's token-use IP list`,
    }
  }

  if (route.kind === 'access-token') {
    if (req.method === 'GET') return { status: 200, body: describe(record, standing.scopes) }
    if (req.method === 'DELETE') return { status: 204, revoked: record }
    return { status: 405, headers: { Allow: 'GET, DELETE' }, body: { message: 'Method not allowed' } }
  }
  if (req.method !== 'GET') return { status: 405, headers: { Allow: 'GET' }, body: { message: 'Method not allowed' } }
  if (route.org !== record.org) return { status: 404, body: { message: 'No organization found' } }
  const endpoint = ORG_ENDPOINTS[route.resource] as (typeof ORG_ENDPOINTS)[string]
  if (!standing.scopes.includes(endpoint.scope)) {
    const narrowed = record.scopes.includes(endpoint.scope) ? ' (minted with it; the app no longer grants it)' : ''
    return { status: 403, body: { message: `Your access token does not have the ${endpoint.scope} scope` }, detail: `token lacks ${endpoint.scope}${narrowed}` }
  }
  return { status: 200, body: endpoint.sample(record.org) }
}

type Route = { kind: 'access-token' } | { kind: 'org'; org: string; resource: string }

function matchRoute(path: string): Route | undefined {
  if (path === '/v2/access-token') return { kind: 'access-token' }
  const org = /^\/v2\/organizations\/([a-z0-9][a-z0-9-]{0,99})\/(pipelines|builds)$/.exec(path)
  if (org !== null) return { kind: 'org', org: org[1] as string, resource: org[2] as string }
  return undefined
}

/** GET /v2/access-token's shape, with Buildkite's timestamp format and the scopes in effect. */
function describe(record: TokenRecord, scopes: string[]): unknown {
  return {
    uuid: record.uuid,
    scopes,
    description: record.description,
    created_at: buildkiteTime(record.createdAt),
    expires_at: buildkiteTime(record.expiresAt),
    user: { name: record.user.name, email: record.user.email },
  }
}

// "2025-07-16 06:07:42 UTC", as docs/token-exchange.md §6 shows.
function buildkiteTime(seconds: number): string {
  return `${new Date(seconds * 1000).toISOString().slice(0, 19).replace('T', ' ')} UTC`
}
