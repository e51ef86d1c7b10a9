import type { JSONWebKeySet } from 'jose'
import { ConfigError } from '../../errors.js'
import { parseServerConfig, type ServerConfig } from './config.js'
import { QUICK_SERVER_DEFAULTS } from './quick-defaults.js'

export { QUICK_SERVER_DEFAULTS }

/**
 * A one-organisation, one-app reference server, as `bktx server`'s quick options describe it.
 * Scopes and lifetime default as {@link QUICK_SERVER_DEFAULTS}; the rest is taken as given:
 * defaults from a profile or a generated client id are the caller's (src/setup/server-config.ts).
 */
export interface QuickServerOptions {
  /** Organisation slug. */
  org: string
  /** Emails of the organisation's members, verified and active. */
  members: readonly string[]
  /** Client id of the token exchange app. */
  clientId: string
  /** The app's public keys; give this or `jwksUri`. */
  jwks?: JSONWebKeySet | undefined
  /** The app's JWKS URI (https, or http to loopback with `allowHttpJwks`); give this or `jwks`. */
  jwksUri?: string | undefined
  /** Scopes the app may grant: a list, or one space-separated string. Default `read_builds read_pipelines read_user`. */
  grantable?: string | readonly string[] | undefined
  /** Scopes granted when a request names none: a list, or one space-separated string. Default `read_builds`. */
  defaultScopes?: string | readonly string[] | undefined
  /** Largest token lifetime in seconds, 30 to 86400. Default 3600. */
  maxTtl?: number | undefined
  /** Addresses allowed to exchange: CIDRs or IPs, a list or one comma-separated string. Default any. */
  exchangeIps?: string | readonly string[] | undefined
  /** Addresses allowed to use minted tokens, as `exchangeIps`. Default any. */
  tokenIps?: string | readonly string[] | undefined
  /** Reject assertions without a jti. Default false. */
  requireJti?: boolean | undefined
  /** Exchanges per minute for the organisation. Default unlimited. */
  rateLimit?: number | undefined
  /** Allow an http:// JWKS URI to a loopback host. Default false. */
  allowHttpJwks?: boolean | undefined
  /** Further accepted assertion audiences (absolute URLs). */
  audiences?: readonly string[] | undefined
  /** Refuse assertion header members other than alg, typ and kid. Default false. */
  strictJwsHeader?: boolean | undefined
}

/** What {@link quickServerConfig}'s ConfigError names as its file. */
export const QUICK_CONFIG_SOURCE = 'quick server options'

/** The server configuration document (src/server/config/config.ts's schema) the quick options stand for. */
export function quickConfigDocument(options: QuickServerOptions): Record<string, unknown> {
  return {
    organizations: [
      {
        slug: options.org,
        require_jti: options.requireJti === true,
        ...(options.rateLimit === undefined ? {} : { rate_limit: options.rateLimit }),
        members: options.members.map((email) => ({ email })),
      },
    ],
    apps: [
      {
        client_id: options.clientId,
        org: options.org,
        name: 'bktx reference app',
        ...(options.jwks !== undefined ? { jwks: options.jwks } : {}),
        ...(options.jwksUri !== undefined ? { jwks_uri: options.jwksUri } : {}),
        grantable_scopes: options.grantable ?? QUICK_SERVER_DEFAULTS.grantable,
        default_scopes: options.defaultScopes ?? QUICK_SERVER_DEFAULTS.defaultScopes,
        max_ttl: options.maxTtl ?? QUICK_SERVER_DEFAULTS.maxTtl,
        exchange_ips: options.exchangeIps ?? [],
        token_ips: options.tokenIps ?? [],
      },
    ],
    audiences: options.audiences ?? [],
    allow_http_jwks: options.allowHttpJwks === true,
    ...(options.strictJwsHeader === true ? { strict_jws_header: true } : {}),
  }
}

/**
 * The validated configuration of the quick options. A bad value is a ConfigError whose `field`
 * is the document field it went to (`apps[0].exchange_ips[1]`), so a caller can name its own
 * option for it.
 */
export function quickServerConfig(options: QuickServerOptions): Promise<ServerConfig> {
  return parseServerConfig(quickConfigDocument(options), QUICK_CONFIG_SOURCE)
}

/**
 * The option behind each field of the quick configuration document, by the field's first name
 * inside an organisation or app (`apps[0].jwks.keys[0]` → jwks), or its top-level name.
 */
const OPTION_FOR_FIELD: Readonly<Record<string, keyof QuickServerOptions>> = {
  slug: 'org',
  org: 'org',
  members: 'members',
  require_jti: 'requireJti',
  rate_limit: 'rateLimit',
  client_id: 'clientId',
  jwks: 'jwks',
  jwks_uri: 'jwksUri',
  grantable_scopes: 'grantable',
  default_scopes: 'defaultScopes',
  max_ttl: 'maxTtl',
  exchange_ips: 'exchangeIps',
  token_ips: 'tokenIps',
  audiences: 'audiences',
  allow_http_jwks: 'allowHttpJwks',
  strict_jws_header: 'strictJwsHeader',
}

/** The quick option a ConfigError of {@link quickServerConfig} is about, or undefined when no one option is. */
export function quickOptionOf(error: ConfigError): keyof QuickServerOptions | undefined {
  const names = (error.field ?? '').split('.').map((part) => part.replace(/\[\d+\]/g, ''))
  const field = names[1] ?? names[0] ?? ''
  return Object.hasOwn(OPTION_FOR_FIELD, field) ? OPTION_FOR_FIELD[field] : undefined
}

/**
 * A ConfigError of {@link quickServerConfig} in the words of the options rather than of the
 * document they went to: `config.quick.maxTtl: must be an integer from 30 to 86400`, for a
 * library caller who never saw the document. Same code (BKTX_CONFIG_INVALID) and problem.
 */
export function asQuickOptionError(error: ConfigError, prefix: string): ConfigError {
  const option = quickOptionOf(error)
  let problem = error.problem
  for (const [field, name] of Object.entries(OPTION_FOR_FIELD)) {
    if (field.includes('_')) problem = problem.replace(new RegExp(`\\b${field}\\b`, 'g'), name)
  }
  const named = `${prefix}${option === undefined ? '' : `.${option}`}`
  return new QuickOptionError(error.file, named, problem, {
    cause: error,
    detail: { ...error.detail, field: named },
    ...(error.advice === undefined ? {} : { advice: error.advice }),
  })
}

class QuickOptionError extends ConfigError {
  constructor(...args: ConstructorParameters<typeof ConfigError>) {
    super(...args)
    // Options given in code, not a file: the message names the option alone.
    this.message = `${this.field}: ${this.problem}`
  }
}
