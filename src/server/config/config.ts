import { createHash } from 'node:crypto'
import type { JSONWebKeySet } from 'jose'
import { ConfigError, type Advice, type ErrorDetail } from '../../errors.js'
import { isLoopbackHost } from '../../http/url.js'
import { inspectJwks } from '../../jwks/rules.js'
import { ipEntryProblem } from '../ip.js'
import { KNOWN_SCOPES } from '../scopes.js'

export interface Member {
  email: string
  uuid: string
  name: string
  verified: boolean
  active: boolean
}

export interface Organization {
  slug: string
  uuid: string
  /** docs/token-exchange.md §5: when false, exchanges are `unsupported_grant_type`. */
  tokenExchangeEnabled: boolean
  /** docs/token-exchange.md §2: an org can make `jti` mandatory. */
  requireJti: boolean
  /** Exchanges per minute for the organisation; undefined means unlimited. */
  rateLimit: number | undefined
  members: Member[]
}

export interface App {
  clientId: string
  org: string
  name: string
  jwks: JSONWebKeySet | undefined
  jwksUri: string | undefined
  grantableScopes: string[]
  defaultScopes: string[]
  /** Seconds, 30..86400 (docs/token-exchange.md §1). */
  maxTtl: number
  /** CIDRs allowed to call the token endpoint; empty means any. */
  exchangeIps: string[]
  /** CIDRs allowed to use minted tokens; empty means any. */
  tokenIps: string[]
}

export interface ServerConfig {
  organizations: Organization[]
  apps: App[]
  /** Extra accepted `aud` values; the server's own endpoint URLs are always accepted. */
  audiences: string[]
  /** Allow http:// JWKS URIs, to loopback hosts only. */
  allowHttpJwks: boolean
  /** Refuse assertion header members other than alg, typ and kid (src/server/client-auth.ts, HeaderPolicy). */
  strictJwsHeader: boolean
}

const ORG_SLUG = /^[a-z0-9][a-z0-9-]{0,99}$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const EMAIL = /^[^\s@]+@[^\s@]+$/
export const MIN_TTL = 30
export const MAX_TTL = 86400
export const DEFAULT_MAX_TTL = 3600

type Json = Record<string, unknown>

/** Settings given beside a configuration document, which it cannot take back. */
export interface ServerConfigOverrides {
  /** Allow http:// JWKS URIs to loopback hosts even where the document does not. Default false. */
  allowHttpJwks?: boolean
  /** The strict assertion header policy even where the document does not ask for it. Default false. */
  strictJwsHeader?: boolean
}

/** Validates a server configuration document; errors name the file and the field. */
export async function parseServerConfig(data: unknown, file: string, overrides: ServerConfigOverrides = {}): Promise<ServerConfig> {
  const v = new Validator(file)
  const root = v.object(data, '')
  v.onlyKeys(root, '', ['organizations', 'apps', 'audiences', 'allow_http_jwks', 'strict_jws_header'])
  const organizations = v.array(root['organizations'], 'organizations').map((raw, i) => parseOrg(v, raw, `organizations[${i}]`))
  const slugs = new Set<string>()
  organizations.forEach((org, i) => {
    if (slugs.has(org.slug)) v.fail(`organizations[${i}].slug`, `duplicate organisation "${org.slug}"`)
    slugs.add(org.slug)
  })
  const allowHttpJwks = v.boolean(root['allow_http_jwks'], 'allow_http_jwks', false) || overrides.allowHttpJwks === true
  const apps: App[] = []
  const rawApps = v.array(root['apps'], 'apps')
  for (const [i, raw] of rawApps.entries()) apps.push(await parseApp(v, raw, `apps[${i}]`, slugs, allowHttpJwks))
  const ids = new Set<string>()
  apps.forEach((app, i) => {
    if (ids.has(app.clientId)) v.fail(`apps[${i}].client_id`, `duplicate client id "${app.clientId}"`)
    ids.add(app.clientId)
  })
  const audiences = root['audiences'] === undefined ? [] : v.array(root['audiences'], 'audiences').map((a, i) => v.url(a, `audiences[${i}]`))
  const strictJwsHeader = v.boolean(root['strict_jws_header'], 'strict_jws_header', false) || overrides.strictJwsHeader === true
  return { organizations, apps, audiences, allowHttpJwks, strictJwsHeader }
}

/**
 * Further accepted assertion audiences given beside a configuration document (`bktx server --aud`),
 * validated and normalised as the document's `audiences` are: absolute URLs, in WHATWG form. A
 * bad one is a ConfigError of `source` whose field is `audiences[i]`.
 */
export function parseAudiences(values: readonly string[], source: string): string[] {
  const v = new Validator(source)
  return values.map((value, i) => v.url(value, `audiences[${i}]`))
}

function parseOrg(v: Validator, raw: unknown, at: string): Organization {
  const o = v.object(raw, at)
  v.onlyKeys(o, at, ['slug', 'uuid', 'token_exchange_enabled', 'require_jti', 'rate_limit', 'members'])
  const slug = v.string(o['slug'], `${at}.slug`)
  if (!ORG_SLUG.test(slug)) v.fail(`${at}.slug`, 'must be a slug: lowercase letters, digits and dashes')
  const members = v.array(o['members'] ?? [], `${at}.members`).map((m, j) => parseMember(v, m, `${at}.members[${j}]`, slug))
  // Subjects match by email case-insensitively (docs/token-exchange.md §3) and tokens by uuid: two
  // members one of them could mean would make the first listed win, so an active `Dev@` would
  // keep a deactivated `dev@` exchangeable.
  const emails = new Map<string, number>()
  const uuids = new Map<string, number>()
  members.forEach((member, j) => {
    const email = member.email.toLowerCase()
    const sameEmail = emails.get(email)
    if (sameEmail !== undefined)
      v.fail(`${at}.members[${j}].email`, `duplicate member: "${member.email}" is members[${sameEmail}] (emails compare case-insensitively)`)
    emails.set(email, j)
    const sameUuid = uuids.get(member.uuid)
    if (sameUuid !== undefined) v.fail(`${at}.members[${j}].uuid`, `duplicate uuid: members[${sameUuid}] has it`)
    uuids.set(member.uuid, j)
  })
  const rateLimit = o['rate_limit'] === undefined ? undefined : v.integer(o['rate_limit'], `${at}.rate_limit`, 1, 1_000_000)
  return {
    slug,
    uuid: o['uuid'] === undefined ? stableUuid(`org:${slug}`) : v.uuid(o['uuid'], `${at}.uuid`),
    tokenExchangeEnabled: v.boolean(o['token_exchange_enabled'], `${at}.token_exchange_enabled`, true),
    requireJti: v.boolean(o['require_jti'], `${at}.require_jti`, false),
    rateLimit,
    members,
  }
}

function parseMember(v: Validator, raw: unknown, at: string, org: string): Member {
  const m = v.object(raw, at)
  v.onlyKeys(m, at, ['email', 'uuid', 'name', 'verified', 'active'])
  const email = v.string(m['email'], `${at}.email`)
  if (!EMAIL.test(email)) v.fail(`${at}.email`, 'must be an email address')
  return {
    email,
    uuid: m['uuid'] === undefined ? stableUuid(`user:${org}:${email.toLowerCase()}`) : v.uuid(m['uuid'], `${at}.uuid`),
    name: m['name'] === undefined ? (email.split('@')[0] ?? email) : v.string(m['name'], `${at}.name`),
    verified: v.boolean(m['verified'], `${at}.verified`, true),
    active: v.boolean(m['active'], `${at}.active`, true),
  }
}

async function parseApp(v: Validator, raw: unknown, at: string, orgs: Set<string>, allowHttpJwks: boolean): Promise<App> {
  const a = v.object(raw, at)
  v.onlyKeys(a, at, ['client_id', 'org', 'name', 'jwks', 'jwks_uri', 'grantable_scopes', 'default_scopes', 'max_ttl', 'exchange_ips', 'token_ips'])
  const clientId = v.string(a['client_id'], `${at}.client_id`)
  if (clientId.length > 255 || !/^[\x21-\x7E]+$/.test(clientId)) v.fail(`${at}.client_id`, 'must be 1 to 255 printable characters')
  const org = v.string(a['org'], `${at}.org`)
  if (!orgs.has(org)) v.fail(`${at}.org`, `no organisation "${org}" in organizations`)
  if ((a['jwks'] === undefined) === (a['jwks_uri'] === undefined)) v.fail(at, 'needs exactly one of "jwks" and "jwks_uri"')
  const jwks = a['jwks'] === undefined ? undefined : await validateJwks(v, a['jwks'], `${at}.jwks`)
  const jwksUri = a['jwks_uri'] === undefined ? undefined : validateJwksUri(v, a['jwks_uri'], `${at}.jwks_uri`, allowHttpJwks)
  const grantable = v.scopes(a['grantable_scopes'], `${at}.grantable_scopes`)
  const defaults = a['default_scopes'] === undefined ? [] : v.scopes(a['default_scopes'], `${at}.default_scopes`)
  const outside = defaults.filter((s) => !grantable.includes(s))
  if (outside.length > 0) v.fail(`${at}.default_scopes`, `must be a subset of grantable_scopes (not: ${outside.join(' ')})`)
  return {
    clientId,
    org,
    name: a['name'] === undefined ? clientId : v.string(a['name'], `${at}.name`),
    jwks,
    jwksUri,
    grantableScopes: grantable,
    defaultScopes: defaults,
    maxTtl: a['max_ttl'] === undefined ? DEFAULT_MAX_TTL : v.integer(a['max_ttl'], `${at}.max_ttl`, MIN_TTL, MAX_TTL),
    exchangeIps: v.cidrs(a['exchange_ips'], `${at}.exchange_ips`),
    tokenIps: v.cidrs(a['token_ips'], `${at}.token_ips`),
  }
}

/** An app's inline JWKS: Buildkite's rules for a key set (src/jwks/rules.ts); the first problem fails. */
async function validateJwks(v: Validator, raw: unknown, at: string): Promise<JSONWebKeySet> {
  const [problem] = (await inspectJwks(raw)).problems
  if (problem !== undefined) v.fail(problem.at === '' ? at : `${at}.${problem.at}`, problem.problem)
  return { keys: (raw as JSONWebKeySet).keys }
}

function validateJwksUri(v: Validator, raw: unknown, at: string, allowHttp: boolean): string {
  const href = v.url(raw, at)
  const url = new URL(href)
  if (url.protocol === 'https:') return href
  // docs/token-exchange.md §9: plain http only to loopback, and only when explicitly allowed.
  if (url.protocol === 'http:' && allowHttp && isLoopbackHost(url.hostname)) return href
  if (allowHttp) v.fail(at, 'must be https:// (http:// only to a loopback host)', { reason: 'insecure-scheme' })
  v.fail(
    at,
    'must be https://',
    { reason: 'insecure-scheme' },
    url.protocol === 'http:' ? ['http:// to a loopback host needs ', { option: 'allow-http-jwks' }] : undefined,
  )
}

/** A UUID derived from a name, so a quick-flag server keeps its ids across restarts. */
export function stableUuid(name: string): string {
  const hex = createHash('sha256').update(name).digest('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${((parseInt(hex.slice(16, 17), 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}

class Validator {
  constructor(private readonly file: string) {}

  fail(field: string, problem: string, detail?: ErrorDetail, advice?: Advice): never {
    throw new ConfigError(this.file, field === '' ? undefined : field, problem, {
      ...(detail === undefined ? {} : { detail }),
      ...(advice === undefined ? {} : { advice }),
    })
  }

  object(value: unknown, at: string): Json {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(at, 'must be an object')
    return value as Json
  }

  onlyKeys(o: Json, at: string, allowed: string[]): void {
    for (const key of Object.keys(o)) {
      if (!allowed.includes(key)) this.fail(at === '' ? key : `${at}.${key}`, `is not a known field (known: ${allowed.join(', ')})`)
    }
  }

  array(value: unknown, at: string): unknown[] {
    if (!Array.isArray(value)) this.fail(at, 'must be an array')
    return value
  }

  string(value: unknown, at: string): string {
    if (typeof value !== 'string' || value === '') this.fail(at, 'must be a non-empty string')
    return value
  }

  boolean(value: unknown, at: string, fallback: boolean): boolean {
    if (value === undefined) return fallback
    if (typeof value !== 'boolean') this.fail(at, 'must be true or false')
    return value
  }

  integer(value: unknown, at: string, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) this.fail(at, `must be an integer from ${min} to ${max}`)
    return value
  }

  uuid(value: unknown, at: string): string {
    const text = this.string(value, at)
    if (!UUID.test(text)) this.fail(at, 'must be a UUID')
    return text.toLowerCase()
  }

  url(value: unknown, at: string): string {
    const text = this.string(value, at)
    try {
      return new URL(text).href
    } catch {
      this.fail(at, 'must be an absolute URL')
    }
  }

  scopes(value: unknown, at: string): string[] {
    const list = typeof value === 'string' ? value.split(/\s+/).filter((s) => s !== '') : this.array(value, at)
    const out = new Set<string>()
    for (const scope of list) {
      if (typeof scope !== 'string' || !KNOWN_SCOPES.has(scope)) this.fail(at, `"${shown(scope)}" is not a Buildkite scope`)
      out.add(scope)
    }
    if (out.size === 0) this.fail(at, 'must name at least one scope')
    return [...out].sort()
  }

  cidrs(value: unknown, at: string): string[] {
    if (value === undefined) return []
    const list = typeof value === 'string' ? value.split(/[\s,]+/).filter((s) => s !== '') : this.array(value, at)
    return list.map((entry, i) => {
      const problem = typeof entry === 'string' ? ipEntryProblem(entry) : 'is not an IP address or CIDR range'
      if (problem !== undefined) this.fail(`${at}[${i}]`, `"${shown(entry)}" ${problem}`)
      return entry as string
    })
  }
}

// String() throws on a JSON object whose "toString" member is not a function ({"toString": 1}).
function shown(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? typeof value)
}
