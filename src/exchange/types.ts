import type { KeyObject } from 'node:crypto'
import type { SigningAlg } from '../keys/policy.js'

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

/**
 * The key that signs the client assertion, wherever it lives: a file or variable (signed here
 * with node:crypto), a PKCS#11 token or an external signer. Everything but `sign` comes from
 * the public key alone, so a cache hit never opens a token or runs a signer.
 */
export interface AssertionKey {
  alg: SigningAlg
  /** The kid put in the JWS header; undefined for none (the `kid` setting `none`). */
  kid: string | undefined
  /** The public half: assertions are verified with it before they are sent. */
  publicKey: KeyObject
  /** SHA-256 of the public key (SPKI DER), base64url: identifies the key in cache keys. */
  fingerprint: string
  /** Where the key lives, for messages: a path, `env:NAME`, a `pkcs11:` URI, `exec:COMMAND`. */
  source: string
  /**
   * The JWS signature over `signingInput` (RFC 7515 §5.1): PKCS#1 v1.5 with SHA-256 for RS256,
   * raw r‖s with SHA-256 for ES256 (RFC 7518 §3.3, §3.4). `signal` bounds a slow signer.
   */
  sign(signingInput: Uint8Array, options?: SignOptions): Promise<Uint8Array>
}

export interface SignOptions {
  /** Aborts signing (the time budget ran out, or SIGINT): the signer stops and sign() rejects. */
  signal?: AbortSignal | undefined
}

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
