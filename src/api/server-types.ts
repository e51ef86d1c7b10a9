// The public types of `bktx/server` (see ./types.ts for why they are written out here).
import type { Clock, PublicJWKS } from './types.js'

/** A member of an organisation in the configuration document. */
export interface ServerMemberDocument {
  email: string
  /** Default: a stable UUID derived from org and email. */
  uuid?: string
  name?: string
  /** Default true. */
  verified?: boolean
  /** Default true. */
  active?: boolean
}

/** The configuration document of `bktx server --config FILE`: organisations and apps. */
export interface ServerConfigDocument {
  organizations: Array<{
    slug: string
    uuid?: string
    /** Default true; false makes exchanges `unsupported_grant_type`. */
    token_exchange_enabled?: boolean
    /** Reject assertions without a `jti`. Default false. */
    require_jti?: boolean
    /** Exchanges per minute for the organisation. Default unlimited. */
    rate_limit?: number
    members?: ServerMemberDocument[]
  }>
  apps: Array<{
    client_id: string
    org: string
    name?: string
    /** The app's public keys; give this or `jwks_uri`. */
    jwks?: PublicJWKS | { keys: Array<Record<string, unknown>> }
    /** An https URL (http to loopback with `allow_http_jwks`); give this or `jwks`. */
    jwks_uri?: string
    /** Space-separated or a list. */
    grantable_scopes: string | string[]
    default_scopes?: string | string[]
    /** Seconds, 30 to 86400. Default 3600. */
    max_ttl?: number
    /** IPs or CIDRs allowed to exchange. Default any. */
    exchange_ips?: string | string[]
    /** IPs or CIDRs allowed to use minted tokens. Default any. */
    token_ips?: string | string[]
  }>
  /** Further accepted assertion audiences (absolute URLs). */
  audiences?: string[]
  /** Allow http:// JWKS URIs to loopback hosts. Default false. */
  allow_http_jwks?: boolean
}

/** A one-organisation, one-app server, as `bktx server`'s flags describe it, with the same defaults. */
export interface QuickServerConfig {
  org: string
  /** Emails of the members, verified and active. */
  members: readonly string[]
  clientId: string
  /** Give this or `jwksUri`. */
  jwks?: PublicJWKS
  jwksUri?: string
  /** Space-separated or a list. Default `read_builds read_pipelines read_user`. */
  grantable?: string | readonly string[]
  /** Space-separated or a list. Default `read_builds`. */
  defaultScopes?: string | readonly string[]
  /** Seconds, 30 to 86400. Default 3600. */
  maxTtl?: number
  exchangeIps?: string | readonly string[]
  tokenIps?: string | readonly string[]
  requireJti?: boolean
  rateLimit?: number
  allowHttpJwks?: boolean
  audiences?: readonly string[]
}

export interface ReferenceServerOptions {
  /** The organisations and apps: a configuration document, or the quick one-app form. */
  config: ServerConfigDocument | { quick: QuickServerConfig }
  /** Default 127.0.0.1. The server speaks plain http: keep it on loopback. */
  host?: string
  /** Default 0: a free port. */
  port?: number
  /**
   * Keep tokens, revocations, used jtis and audit.jsonl here; in memory when absent. The
   * directory must belong to this process's user and not be writable by others (a missing one
   * is created 0700), and only one server may use it at a time: otherwise the start rejects with
   * a BktxError of code BKTX_FILE_IO saying why.
   */
  stateDir?: string
  /**
   * Drop damaged lines of the state directory's state.jsonl instead of rejecting the start
   * (revocations or used jtis on them are lost). Default false.
   */
  repairState?: boolean
  /** One line per request (never a token or assertion). */
  log?: (line: string) => void
  /** Add to each refused request's log line which check refused it (never a token or assertion). Default false. */
  verbose?: boolean
  /** Default: the system clock. */
  clock?: Clock
}

/** One audit record: never the token or the assertion (the token only as its SHA-256). */
export interface ServerAuditRecord {
  time: string
  type: 'token.minted' | 'token.exchange_failed' | 'token.revoked'
  org: string | null
  client_id: string | null
  user: string | null
  kid: string | null
  jti: string | null
  scopes: string[] | null
  expires_at: string | null
  ip: string | null
  token_sha256: string | null
  error: string | null
  detail: string | null
}

/** A reference server listening on loopback. */
export interface ReferenceServer {
  /** `http://127.0.0.1:PORT`: also the REST API base URL (`api-url`). */
  url: string
  /** `${url}/oauth/token` (`token-url`). */
  tokenUrl: string
  /** The client ids of the configured apps. */
  clientIds: string[]
  /** The most recent audit records (in-memory state only; with `stateDir` read audit.jsonl). */
  auditRecords(): ServerAuditRecord[]
  /** Stops listening, lets in-flight requests finish, and closes the state. */
  close(): Promise<void>
}
