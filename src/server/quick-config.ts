import type { JSONWebKeySet } from 'jose'
import { parseServerConfig, type ServerConfig } from './config.js'

/**
 * A one-organisation, one-app reference server, as `bktx server`'s quick options describe it.
 * Values are taken as given: defaults (from a profile, a generated client id) are the caller's.
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
  /** Scopes the app may grant: a list, or one space-separated string. */
  grantable: string | readonly string[]
  /** Scopes granted when a request names none: a list, or one space-separated string. */
  defaultScopes: string | readonly string[]
  /** Largest token lifetime in seconds, 30 to 86400. */
  maxTtl: number
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

/** The server configuration document (src/server/config.ts's schema) the quick options stand for. */
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
        grantable_scopes: options.grantable,
        default_scopes: options.defaultScopes,
        max_ttl: options.maxTtl,
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
