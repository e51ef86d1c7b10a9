import type { AssertionKey } from '../keys/signer.js'

/** The token endpoint, for messages: its URL is the `token-url` setting. */
export const TOKEN_ENDPOINT = { name: 'token endpoint', setting: 'token-url' } as const

/**
 * The longest lifetime bktx believes, in seconds: Buildkite's largest maximum TTL
 * (docs/token-exchange.md §1, §4). A larger `expires_in` is capped, not refused, so that a
 * bad endpoint or a TLS-intercepting proxy cannot plant a token the cache serves for years.
 */
export const MAX_TOKEN_LIFETIME = 86_400

/** The subject token types of docs/token-exchange.md §3. */
export const SUBJECT_TOKEN_TYPES = {
  email: 'urn:buildkite:params:oauth:token-type:user-email',
  uuid: 'urn:buildkite:params:oauth:token-type:user-uuid',
} as const

export type SubjectType = keyof typeof SUBJECT_TOKEN_TYPES

export const GRANT_TYPE_TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
export const CLIENT_ASSERTION_TYPE_JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
export const ISSUED_TOKEN_TYPE_ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token'

/** Everything that decides which token an exchange yields (and so the cache key). */
export interface ExchangeParams {
  tokenUrl: string
  /**
   * The assertion's `aud` claim. Default: `https://buildkite.com/oauth/token` for Buildkite's
   * token URLs, else the token URL (docs/token-exchange.md §2; src/config/settings.ts).
   */
  audience?: string | undefined
  clientId: string
  key: AssertionKey
  /** Organisation slug: the `audience` form field. */
  org: string
  subject: string
  subjectType: SubjectType
  /** Requested scopes, sorted and unique; empty means "the app's default scopes". */
  scopes: readonly string[]
  /** Requested lifetime in seconds (`expires_in`); undefined means the app's maximum. */
  ttl: number | undefined
}

/** A validated token response (docs/token-exchange.md §4), with the expiry computed at receipt. */
export interface TokenResult {
  accessToken: string
  tokenType: 'Bearer'
  issuedTokenType: string | undefined
  /** Seconds, as the server said but at most {@link MAX_TOKEN_LIFETIME}. */
  expiresIn: number
  /** Granted scopes, sorted and unique (compare as sets, docs/token-exchange.md §4). */
  scopes: string[]
  /** The injected clock's time when the response arrived. */
  receivedAt: Date
  /** receivedAt + expiresIn (docs/token-exchange.md §4: never from a server timestamp). */
  expiresAt: Date
}

/** Performs one exchange. The cache is a decorator around one of these. */
export type Exchanger = (params: ExchangeParams) => Promise<TokenResult>
