import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose'
import type { FetchLike } from '../../deps.js'
import { BodyTooLargeError, readBodyText } from '../../http/body.js'
import { isLoopbackHost } from '../../http/url.js'
import type { Clock } from '../../time/clock.js'
import type { App } from '../config/config.js'

import { JWKS_CACHE_MAX_AGE_MS, JWKS_FETCH_TIMEOUT_MS, JWKS_MAX_BYTES } from '../../jwks/limits.js'

/** docs/token-exchange.md §9: JWKS URI fetch limits; §1: a fetched JWKS is used for up to an hour before it is fetched again. */
export { JWKS_CACHE_MAX_AGE_MS, JWKS_FETCH_TIMEOUT_MS, JWKS_MAX_BYTES }
/**
 * docs/token-exchange.md §9 [bktx]: while the JWKS host fails, the last good set keeps
 * serving for this long past its hour; after that the app's exchanges fail until a fetch works.
 */
export const JWKS_STALE_GRACE_MS = 60 * 60 * 1000
/** docs/token-exchange.md §9: at most one fetch per 30 s per URI, whatever the outcome. */
export const JWKS_COOLDOWN_MS = 30_000

export interface KeySetOptions {
  fetch: FetchLike
  clock: Clock
  allowHttpJwks: boolean
  /** Tests shorten the refetch cooldown; the default is docs/token-exchange.md's 30 s. */
  cooldownMs?: number
}

/**
 * One key resolver per app, created once, so jose imports each JWK once per JWKS version
 * (local sets cache imports per JWK). Apps sharing a JWKS URI share its remote set, so the
 * fetch bound holds per URI.
 */
export class AppKeySets {
  readonly #local = new Map<string, JWTVerifyGetKey>()
  readonly #remote = new Map<string, RemoteKeySet>()
  readonly #options: KeySetOptions

  constructor(options: KeySetOptions) {
    this.#options = options
  }

  for(app: App): JWTVerifyGetKey {
    if (app.jwks !== undefined) {
      let set = this.#local.get(app.clientId)
      if (set === undefined) {
        set = createLocalJWKSet(app.jwks)
        this.#local.set(app.clientId, set)
      }
      return set
    }
    const uri = app.jwksUri as string
    let remote = this.#remote.get(uri)
    if (remote === undefined) {
      remote = new RemoteKeySet(new URL(uri), this.#options)
      this.#remote.set(uri, remote)
    }
    return remote.getKey
  }

  /** Fetch attempts per URI so far (successful or not), for tests and figures. */
  fetchCounts(): Record<string, number> {
    return Object.fromEntries([...this.#remote].map(([uri, set]) => [uri, set.attempts]))
  }
}

/**
 * A JWKS URI's key set whose fetches are bounded whatever the host does (docs/token-exchange.md §9):
 * at most one fetch per cooldown, successful or not, and one at a time; a failure is remembered
 * for the cooldown and answered from memory, so a host that answers 500, garbage or nothing
 * costs one fetch per 30 s however many requests name it. The last good set serves until it is
 * JWKS_CACHE_MAX_AGE_MS + JWKS_STALE_GRACE_MS old; an unknown kid refetches within the same bound.
 *
 * jose's createRemoteJWKSet honours its cooldown only after a successful fetch: on errors it
 * fetched again for every request, which is why this is not built on it.
 */
class RemoteKeySet {
  attempts = 0
  readonly #url: URL
  readonly #options: KeySetOptions
  #set: { verify: JWTVerifyGetKey; fetchedAt: number } | undefined
  #lastAttempt: number | undefined
  #lastError: Error | undefined
  #pending: Promise<void> | undefined

  constructor(url: URL, options: KeySetOptions) {
    this.#url = url
    this.#options = options
  }

  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    let now = this.#now()
    if (this.#set === undefined || now - this.#set.fetchedAt >= JWKS_CACHE_MAX_AGE_MS) await this.#refresh(now)
    const set = this.#usable(this.#now())
    try {
      return await set.verify(header, token)
    } catch (error) {
      // docs/token-exchange.md §9: an unknown kid may mean a rotation; refetch, within the bound.
      now = this.#now()
      if (!(error instanceof errors.JWKSNoMatchingKey) || !this.#mayFetch(now)) throw error
      await this.#refresh(now)
      return this.#usable(this.#now()).verify(header, token)
    }
  }

  #now(): number {
    return this.#options.clock.now().getTime()
  }

  #mayFetch(now: number): boolean {
    return this.#lastAttempt === undefined || now - this.#lastAttempt >= (this.#options.cooldownMs ?? JWKS_COOLDOWN_MS)
  }

  #usable(now: number): { verify: JWTVerifyGetKey } {
    if (this.#set !== undefined && now - this.#set.fetchedAt < JWKS_CACHE_MAX_AGE_MS + JWKS_STALE_GRACE_MS) return this.#set
    const reason = this.#lastError?.message ?? 'no JWKS fetched yet'
    throw new Error(this.#set === undefined ? reason : `${reason}; the last good JWKS is older than its grace period`)
  }

  /** One fetch at a time; none within the cooldown of the last attempt, whatever its outcome. */
  #refresh(now: number): Promise<void> {
    if (this.#pending !== undefined) return this.#pending
    if (!this.#mayFetch(now)) return Promise.resolve()
    this.#lastAttempt = now
    this.attempts++
    this.#pending = this.#fetch()
      .then(
        (verify) => {
          this.#set = { verify, fetchedAt: this.#now() }
          this.#lastError = undefined
        },
        (error: unknown) => {
          this.#lastError = error instanceof Error ? error : new Error(String(error))
        },
      )
      .finally(() => {
        this.#pending = undefined
      })
    return this.#pending
  }

  async #fetch(): Promise<JWTVerifyGetKey> {
    const url = this.#url
    const httpOk = url.protocol === 'http:' && this.#options.allowHttpJwks && isLoopbackHost(url.hostname)
    if (url.protocol !== 'https:' && !httpOk) throw new Error(`refusing to fetch JWKS over ${url.protocol}`)
    // docs/token-exchange.md §9: no redirects, 200 only, body capped, 5 s for the whole fetch.
    const signal = AbortSignal.timeout(JWKS_FETCH_TIMEOUT_MS)
    const failed = (error: unknown): Error => {
      if (signal.aborted) return new Error(`JWKS fetch timed out after ${JWKS_FETCH_TIMEOUT_MS} ms`)
      if (error instanceof BodyTooLargeError) return new Error(`JWKS larger than ${JWKS_MAX_BYTES} bytes`)
      const cause = (error as { cause?: { code?: unknown } } | null)?.cause
      return new Error(`JWKS fetch failed: ${(error as Error)?.message ?? String(error)}${typeof cause?.code === 'string' ? ` (${cause.code})` : ''}`)
    }
    let response
    try {
      response = await this.#options.fetch(url, { method: 'GET', headers: { accept: 'application/json' }, redirect: 'manual', signal })
    } catch (error) {
      throw failed(error)
    }
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined)
      throw new Error(`JWKS URI answered HTTP ${response.status}`)
    }
    const declared = Number(response.headers.get('content-length') ?? '0')
    if (declared > JWKS_MAX_BYTES) {
      await response.body?.cancel().catch(() => undefined)
      throw new Error(`JWKS larger than ${JWKS_MAX_BYTES} bytes`)
    }
    let text: string
    try {
      text = await readBodyText(response, JWKS_MAX_BYTES)
    } catch (error) {
      throw failed(error)
    }
    return createLocalJWKSet(parseJwks(text))
  }
}

/** A fetched JWKS document: a JSON object with a `keys` array, forgeable RSA keys dropped. */
function parseJwks(text: string): JSONWebKeySet {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    throw new Error('JWKS URI answered a body that is not JSON')
  }
  const keys = (doc as { keys?: unknown } | null)?.keys
  if (typeof doc !== 'object' || doc === null || !Array.isArray(keys)) throw new Error('JWKS URI answered JSON without a "keys" array')
  return { keys: keys.filter((jwk): jwk is JSONWebKeySet['keys'][number] => typeof jwk === 'object' && jwk !== null && !forgeableRsa(jwk)) }
}

/**
 * RSA keys whose public exponent is even or below 3 are dropped before jose sees the set: with
 * e = 1 a signature is just the padded hash, so anyone could forge one, and jose and OpenSSL
 * import such a key without complaint. Inline keys get the same check at load (src/keys/policy.ts).
 */
function forgeableRsa(jwk: unknown): boolean {
  const { kty, e } = (jwk ?? {}) as { kty?: unknown; e?: unknown }
  if (kty !== 'RSA' || typeof e !== 'string') return false
  const hex = Buffer.from(e, 'base64url').toString('hex')
  const exponent = hex === '' ? 0n : BigInt(`0x${hex}`)
  return exponent < 3n || exponent % 2n === 0n
}
