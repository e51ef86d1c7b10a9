import { createLocalJWKSet, createRemoteJWKSet, customFetch, type JWTVerifyGetKey } from 'jose'
import { joseFetch } from '../http/jose-fetch.js'
import type { FetchLike } from '../deps.js'
import { isLoopbackHost } from '../http/url.js'
import type { App } from './config.js'

import { JWKS_CACHE_MAX_AGE_MS, JWKS_FETCH_TIMEOUT_MS, JWKS_MAX_BYTES } from '../jwks/limits.js'

/** docs/buildkite-protocol.md §9: JWKS URI fetch limits; §1: a fetched JWKS is cached for up to an hour. */
export { JWKS_CACHE_MAX_AGE_MS, JWKS_FETCH_TIMEOUT_MS, JWKS_MAX_BYTES }
/** docs/buildkite-protocol.md §9: an unknown kid triggers at most one refetch per 30 s. */
export const JWKS_COOLDOWN_MS = 30_000

export interface KeySetOptions {
  fetch: FetchLike
  allowHttpJwks: boolean
  /** Tests shorten the refetch cooldown; the default is docs/buildkite-protocol.md's 30 s. */
  cooldownMs?: number
}

/**
 * One key resolver per app, created once, so jose imports each JWK once per JWKS version
 * (local sets cache imports per JWK; remote sets keep the fetched set and its imports until
 * it changes). jose's remote set does one fetch at a time, honours the cooldown and max age.
 */
export class AppKeySets {
  readonly #sets = new Map<string, JWTVerifyGetKey>()
  readonly #options: KeySetOptions

  constructor(options: KeySetOptions) {
    this.#options = options
  }

  for(app: App): JWTVerifyGetKey {
    let set = this.#sets.get(app.clientId)
    if (set === undefined) {
      set = app.jwks !== undefined ? createLocalJWKSet(app.jwks) : this.#remote(app.jwksUri as string)
      this.#sets.set(app.clientId, set)
    }
    return set
  }

  #remote(uri: string): JWTVerifyGetKey {
    return createRemoteJWKSet(new URL(uri), {
      timeoutDuration: JWKS_FETCH_TIMEOUT_MS,
      cooldownDuration: this.#options.cooldownMs ?? JWKS_COOLDOWN_MS,
      cacheMaxAge: JWKS_CACHE_MAX_AGE_MS,
      // docs/buildkite-protocol.md §9: https (or loopback http behind a flag), no redirects, body capped.
      [customFetch]: joseFetch(this.#options.fetch, {
        maxBytes: JWKS_MAX_BYTES,
        check: (url) => {
          const httpOk = url.protocol === 'http:' && this.#options.allowHttpJwks && isLoopbackHost(url.hostname)
          if (url.protocol !== 'https:' && !httpOk) throw new Error(`refusing to fetch JWKS over ${url.protocol}`)
        },
        transform: withoutForgeableKeys,
      }),
    })
  }
}

/**
 * Drops RSA keys whose public exponent is even or below 3 before jose sees the set: with e = 1
 * a signature is just the padded hash, so anyone could forge one, and jose and OpenSSL import
 * such a key without complaint. Inline keys get the same check at load (src/keys/policy.ts).
 */
function withoutForgeableKeys(body: string): string {
  let doc: unknown
  try {
    doc = JSON.parse(body)
  } catch {
    return body
  }
  const keys = (doc as { keys?: unknown } | null)?.keys
  if (!Array.isArray(keys)) return body
  return JSON.stringify({ ...(doc as object), keys: keys.filter((jwk) => !forgeableRsa(jwk)) })
}

function forgeableRsa(jwk: unknown): boolean {
  const { kty, e } = (jwk ?? {}) as { kty?: unknown; e?: unknown }
  if (kty !== 'RSA' || typeof e !== 'string') return false
  const hex = Buffer.from(e, 'base64url').toString('hex')
  const exponent = hex === '' ? 0n : BigInt(`0x${hex}`)
  return exponent < 3n || exponent % 2n === 0n
}
