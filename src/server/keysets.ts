import { createLocalJWKSet, createRemoteJWKSet, customFetch, type JWTVerifyGetKey } from 'jose'
import type { FetchLike } from '../deps.js'
import { isLoopbackHost, type App } from './config.js'

/** protocol.md §9: JWKS URI fetch limits. */
export const JWKS_FETCH_TIMEOUT_MS = 5_000
export const JWKS_MAX_BYTES = 100 * 1024
/** protocol.md §1: a fetched JWKS is cached for up to an hour. */
export const JWKS_CACHE_MAX_AGE_MS = 60 * 60 * 1000
/** protocol.md §9: an unknown kid triggers at most one refetch per 30 s. */
export const JWKS_COOLDOWN_MS = 30_000

export interface KeySetOptions {
  fetch: FetchLike
  allowHttpJwks: boolean
  /** Tests shorten the refetch cooldown; the default is protocol.md's 30 s. */
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
      [customFetch]: (url, init) => cappedFetch(this.#options, url, init),
    })
  }
}

/**
 * Fetches a JWKS within protocol.md §9's limits: https (or loopback http behind a flag), no
 * redirects followed (jose asks for redirect: "manual" and accepts only 200), body capped.
 */
async function cappedFetch(options: KeySetOptions, href: string, init: RequestInit & { signal: AbortSignal }): Promise<Response> {
  const url = new URL(href)
  const httpOk = url.protocol === 'http:' && options.allowHttpJwks && isLoopbackHost(url.hostname)
  if (url.protocol !== 'https:' && !httpOk) throw new Error(`refusing to fetch JWKS over ${url.protocol}`)
  const response = await options.fetch(url, { ...init, redirect: 'manual' })
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined)
    throw new Error(`JWKS URI answered HTTP ${response.status}`)
  }
  const declared = Number(response.headers.get('content-length') ?? '0')
  if (declared > JWKS_MAX_BYTES) {
    await response.body?.cancel().catch(() => undefined)
    throw new Error(`JWKS larger than ${JWKS_MAX_BYTES} bytes`)
  }
  const chunks: Uint8Array[] = []
  let size = 0
  const reader = response.body?.getReader()
  if (reader !== undefined) {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > JWKS_MAX_BYTES) {
        await reader.cancel().catch(() => undefined)
        throw new Error(`JWKS larger than ${JWKS_MAX_BYTES} bytes`)
      }
      chunks.push(value)
    }
  }
  return new Response(withoutForgeableKeys(Buffer.concat(chunks)), { status: 200, headers: { 'content-type': 'application/json' } })
}

/**
 * Drops RSA keys whose public exponent is even or below 3 before jose sees the set: with e = 1
 * a signature is just the padded hash, so anyone could forge one, and jose and OpenSSL import
 * such a key without complaint. Inline keys get the same check at load (src/keys/policy.ts).
 */
function withoutForgeableKeys(body: Buffer): Buffer {
  let doc: unknown
  try {
    doc = JSON.parse(body.toString('utf8'))
  } catch {
    return body
  }
  const keys = (doc as { keys?: unknown } | null)?.keys
  if (!Array.isArray(keys)) return body
  return Buffer.from(JSON.stringify({ ...(doc as object), keys: keys.filter((jwk) => !forgeableRsa(jwk)) }))
}

function forgeableRsa(jwk: unknown): boolean {
  const { kty, e } = (jwk ?? {}) as { kty?: unknown; e?: unknown }
  if (kty !== 'RSA' || typeof e !== 'string') return false
  const hex = Buffer.from(e, 'base64url').toString('hex')
  const exponent = hex === '' ? 0n : BigInt(`0x${hex}`)
  return exponent < 3n || exponent % 2n === 0n
}
