import { constants, KeyObject, verify as verifyBytes, type webcrypto } from 'node:crypto'
import { errors, type CryptoKey, type CompactJWSHeaderParameters, type JWTVerifyGetKey } from 'jose'
import type { App } from '../config/config.js'
import { jsonProblem } from './json-strict.js'
import { DESCRIPTIONS, invalidClient, type OAuthError, unverified } from './oauth-error.js'

/** docs/token-exchange.md §5 [bktx]: clock tolerance on exp, iat and nbf. */
export const CLOCK_TOLERANCE_S = 15
/** docs/token-exchange.md §2: exp at most 300 s after iat. */
export const MAX_ASSERTION_LIFETIME_S = 300
/** docs/token-exchange.md §2: jti up to 255 bytes. */
export const MAX_JTI_BYTES = 255
/** No legitimate assertion comes near this (an RS256/4096 one is about 1.5 KiB). */
export const MAX_ASSERTION_BYTES = 8 * 1024
const ALGORITHMS = ['RS256', 'ES256']
// RFC 8725 §3.10 / docs/token-exchange.md §9: key references carried in the token are never
// followed (keys come only from the app's registration); the strict policy refuses them too.
const KEY_REFERENCES = ['jku', 'x5u', 'x5c', 'jwk', 'x5t', 'x5t#S256']
/**
 * Members that only a JWE has (RFC 7516 §4.1): a header with them declares an encrypted or
 * compressed object, which a client assertion is not, and a library that honoured `zip` on a JWS
 * would verify claims from bytes other than those signed. No JWS producer sets them: refused
 * under either policy.
 */
const JWE_MEMBERS = ['enc', 'zip', 'epk', 'apu', 'apv', 'iv', 'tag', 'p2s', 'p2c']
/** The strict policy's only header members: what an assertion needs. */
const HEADER_MEMBERS = new Set(['alg', 'typ', 'kid'])

/**
 * Which JWS header members an assertion may carry (docs/token-exchange.md §2 [bktx]):
 * - `lenient` (the server's default, what Buildkite is likely to accept): RFC 7515 §4 says
 *   members a verifier does not understand are ignored unless `crit` names them; so key
 *   references (`x5t` from certificate tooling, `jku`, `x5u`, `jwk`, `x5c`) and private members
 *   are ignored, never read nor followed.
 * - `strict` (`bktx server --strict-jws-header`): only `alg`, `typ` and `kid`, so an assertion
 *   that passes here carries nothing another verifier might act on.
 * Both refuse `crit` (no extension is understood, RFC 7515 §4.1.11), `b64` (RFC 7797: another
 * signing input) and the JWE-only members.
 */
export type HeaderPolicy = 'lenient' | 'strict'
/**
 * RFC 8725 §3.11 explicit typing: a plain JWT (RFC 7519 §5.1), or the client-authentication
 * type of draft-ietf-oauth-rfc7523bis; media types compare case-insensitively and may omit
 * their `application/` prefix (RFC 7515 §4.1.9).
 */
const TYPES = new Set(['jwt', 'client-authentication+jwt'])

export interface VerifiedAssertion {
  app: App
  kid: string | undefined
  jti: string | undefined
  exp: number
}

export interface ClientAuthContext {
  /** The app registered under a client id. */
  findApp(clientId: string): App | undefined
  /** Called once the app is known, before any key is fetched: the exchange IP allow-list (throws `unverified`). */
  checkApp(app: App): void
  keys(app: App): JWTVerifyGetKey
  /** The `client_id` form parameter, when the request has one (RFC 7521 §4.2). */
  formClientId?: string | undefined
  /** Accepted `aud` values: the server's own endpoint URLs and the configured audiences. */
  audiences: ReadonlySet<string>
  /** Seconds since the epoch, from the injected clock. */
  now: number
  requireJti(app: App): boolean
  isReplay(clientId: string, jti: string): boolean
  /** Default `strict` (the server passes its configured policy, `lenient` unless asked). */
  headerPolicy?: HeaderPolicy | undefined
}

/**
 * Authenticates a client by its JWT assertion (RFC 7523 §3, docs/token-exchange.md §2 and §9), always in
 * this order: size and shape (canonical base64url); header (alg allow-list; no crit, b64 or
 * JWE member; under the strict policy no key reference and no other members than alg, typ,
 * kid); claims JSON (no duplicate members);
 * iss = sub, and = the `client_id` form field when one is sent; a known client id; the app's
 * exchange IP list; signature with the app's keys (alg bound to the key type by jose's key
 * selection); exp, iat, nbf; aud; jti. The jti is checked here but recorded only after every
 * other check of the exchange has passed (token-endpoint.ts). Every failure is invalid_client;
 * the private detail says which check failed.
 *
 * Public descriptions: failures the request alone decides get the terse one; failures that
 * depend on what the server knows before the signature verifies (the client id, the IP list,
 * the kid, the JWKS) all get the documented signature one, so they are no oracle; the claim
 * checks after the signature are seen only by the key's holder.
 */
export async function authenticateClient(assertion: string, ctx: ClientAuthContext): Promise<VerifiedAssertion> {
  if (assertion.length > MAX_ASSERTION_BYTES) throw invalidClient(`assertion of ${assertion.length} bytes exceeds ${MAX_ASSERTION_BYTES}`)
  const parts = assertion.split('.')
  if (parts.length !== 3) throw invalidClient(`assertion has ${parts.length} segments, not 3 (compact JWS)`)
  const [h, p, s] = parts as [string, string, string]
  if (!/^[A-Za-z0-9_-]+$/.test(h) || !/^[A-Za-z0-9_-]+$/.test(p) || !/^[A-Za-z0-9_-]+$/.test(s)) {
    throw invalidClient('assertion segment is empty or not base64url')
  }
  // RFC 4648 §3.5 / RFC 7515 §2: one encoding per value; a last character with non-zero spare
  // bits decodes to the same bytes, so two spellings of one signature would both verify.
  if (!isCanonical(h) || !isCanonical(p) || !isCanonical(s)) throw invalidClient('assertion segment is not canonical base64url (non-zero trailing bits)')
  const header = decodeSegment(h, 'header')
  const payload = decodeSegment(p, 'payload')

  const alg = header['alg']
  if (typeof alg !== 'string' || !ALGORITHMS.includes(alg)) throw invalidClient(`alg ${JSON.stringify(alg)} not allowed (RS256, ES256 only)`)
  const strict = (ctx.headerPolicy ?? 'strict') === 'strict'
  const references = KEY_REFERENCES.filter((name) => Object.hasOwn(header, name))
  if (strict && references.length > 0) throw invalidClient(`header carries ${references.join(', ')}; key references are never followed`)
  if (Object.hasOwn(header, 'crit')) throw invalidClient('header has crit; no extensions are supported (RFC 7515 §4.1.11)')
  if (Object.hasOwn(header, 'b64')) throw invalidClient('header has b64; unencoded payloads are not accepted (RFC 7797)')
  const unknown = Object.keys(header).filter((name) => !HEADER_MEMBERS.has(name))
  if (strict && unknown.length > 0)
    throw invalidClient(`header member ${unknown.map((n) => JSON.stringify(n.slice(0, 40))).join(', ')} not allowed (alg, typ, kid only)`)
  const jwe = JWE_MEMBERS.filter((name) => Object.hasOwn(header, name))
  if (jwe.length > 0) throw invalidClient(`header member ${jwe.map((n) => JSON.stringify(n)).join(', ')} not allowed (a JWE member, RFC 7516 §4.1)`)
  const typ = header['typ']
  if (typ !== undefined && (typeof typ !== 'string' || !TYPES.has(typ.toLowerCase().replace(/^application\//, '')))) {
    throw invalidClient(`typ ${JSON.stringify(typ)} is not JWT or client-authentication+jwt`)
  }
  const kid = header['kid']
  if (kid !== undefined && (typeof kid !== 'string' || kid === '' || kid.length > 255))
    throw invalidClient('kid is not a non-empty string of at most 255 characters')

  const { iss, sub } = payload
  if (typeof iss !== 'string' || typeof sub !== 'string') throw invalidClient('iss or sub missing or not a string')
  if (iss !== sub) throw invalidClient('iss differs from sub (RFC 7523 §3: both are the client id)')
  // RFC 7521 §4.2: a client_id sent beside the assertion must name the same client.
  if (ctx.formClientId !== undefined && ctx.formClientId !== iss) {
    throw invalidClient(
      `client_id ${JSON.stringify(ctx.formClientId.slice(0, 64))} differs from the assertion's ${JSON.stringify(iss.slice(0, 64))}`,
      CLIENT_ID_MISMATCH,
    )
  }
  const app = ctx.findApp(iss)
  if (app === undefined) throw unverified(`unknown client id ${JSON.stringify(iss.slice(0, 64))}`)
  ctx.checkApp(app)

  await verifySignature(ctx.keys(app), header, alg, [h, p, s], assertion)

  const { exp, iat, nbf, aud, jti } = payload
  if (!isNumericDate(exp)) throw invalidClient('exp missing or not a NumericDate')
  if (exp <= ctx.now - CLOCK_TOLERANCE_S) throw invalidClient(`exp ${exp} is in the past (now ${ctx.now})`, DESCRIPTIONS.exp)
  if (!isNumericDate(iat)) throw invalidClient('iat missing or not a NumericDate')
  if (iat > ctx.now + CLOCK_TOLERANCE_S) throw invalidClient(`iat ${iat} is in the future (now ${ctx.now})`)
  if (exp - iat > MAX_ASSERTION_LIFETIME_S) throw invalidClient(`exp - iat = ${exp - iat} s exceeds ${MAX_ASSERTION_LIFETIME_S} s`)
  if (nbf !== undefined && (!isNumericDate(nbf) || nbf > ctx.now + CLOCK_TOLERANCE_S)) throw invalidClient('nbf is not a NumericDate or is in the future')
  if (!audienceOk(aud, ctx.audiences)) throw invalidClient(`aud ${JSON.stringify(aud)?.slice(0, 200)} is not this endpoint`, DESCRIPTIONS.aud)
  if (jti === undefined) {
    if (ctx.requireJti(app)) throw invalidClient('jti missing and the organisation requires one', DESCRIPTIONS.jtiRequired)
  } else {
    if (typeof jti !== 'string' || jti === '' || Buffer.byteLength(jti) > MAX_JTI_BYTES) throw invalidClient('jti is not a string of 1 to 255 bytes')
    if (ctx.isReplay(app.clientId, jti)) throw invalidClient(`jti ${JSON.stringify(jti.slice(0, 64))} already used`, DESCRIPTIONS.replay)
  }
  return { app, kid: kid as string | undefined, jti: jti as string | undefined, exp }
}

/**
 * The signature, with the key jose's key set selects for the header (kid, alg, kty, crv, use,
 * key_ops, as a jose verify would), checked on that key as jose checks it (lib/key.js:
 * checkCryptoKey, checkModulusLength), then verified by node:crypto on the thread pool: the
 * same OpenSSL verification as WebCrypto's (Node runs both as one SignJob, ECDSA signatures in
 * IEEE P1363 form, RFC 7518 §3.4), without WebCrypto's argument normalisation and jose's second
 * parse of the header and decode of the payload, which this function's checks above already
 * did. On the event loop that is about 10 µs per request instead of 30 µs (50 concurrent
 * verifications, Node 20): the event loop is what limits the server's throughput. The segments
 * were checked above to be canonical base64url, so Buffer's decoder reads the bytes jose's would.
 */
async function verifySignature(
  getKey: JWTVerifyGetKey,
  header: Record<string, unknown>,
  alg: string,
  segments: [string, string, string],
  assertion: string,
): Promise<void> {
  const [h, p, s] = segments
  const scheme = SCHEMES[alg] as Scheme
  // RFC 7515 §5.2: the signing input is the assertion's own text up to its second dot, read as
  // it stands rather than joined again from its segments (a copy of it per exchange).
  const input = Buffer.from(assertion.slice(0, h.length + 1 + p.length), 'latin1')
  const signature = Buffer.from(s, 'base64url')
  let key: unknown
  try {
    key = await getKey(header as unknown as CompactJWSHeaderParameters, { protected: h, payload: p, signature: s })
  } catch (error) {
    // docs/token-exchange.md §2: without a kid, every key of the set is tried.
    if (error instanceof errors.JWKSMultipleMatchingKeys && header['kid'] === undefined) {
      for await (const candidate of error as unknown as AsyncIterable<CryptoKey>) {
        if (keyProblem(candidate, alg, scheme) === undefined && (await verifies(candidate, scheme, input, signature))) return
      }
      throw unverified('no key of the set verifies the signature')
    }
    throw signatureFailure(error)
  }
  const problem = keyProblem(key, alg, scheme)
  if (problem !== undefined) throw unverified(`key or JWKS problem: ${problem}`)
  if (!(await verifies(key as CryptoKey, scheme, input, signature))) throw unverified('signature does not verify')
}

interface Scheme {
  /** The WebCrypto algorithm jose imports the key for (lib/jws_algorithms.js). */
  name: string
  hash?: string
  namedCurve?: string
  /** RFC 7518 §3.3: RS256 keys of 2048 bits or more. */
  minRsaBits?: number
  /** node:crypto's options for the same signature scheme (RFC 7518 §3.3, §3.4). */
  options: { padding: number } | { dsaEncoding: 'ieee-p1363' }
}

const SCHEMES: Record<string, Scheme> = {
  RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', minRsaBits: 2048, options: { padding: constants.RSA_PKCS1_PADDING } },
  ES256: { name: 'ECDSA', namedCurve: 'P-256', options: { dsaEncoding: 'ieee-p1363' } },
}

/** What jose would refuse about a key it was given for `alg`, in jose's own words; undefined for a usable key. */
function keyProblem(key: unknown, alg: string, scheme: Scheme): string | undefined {
  if ((key as { [Symbol.toStringTag]?: unknown } | null)?.[Symbol.toStringTag] !== 'CryptoKey') return `Key for the ${alg} algorithm must be of type CryptoKey`
  const { type, usages, algorithm } = key as CryptoKey & { algorithm: { name: string; hash?: { name: string }; namedCurve?: string; modulusLength?: number } }
  if (type !== 'public') return `CryptoKey instances must be of type "public" for the ${alg} algorithm`
  if (algorithm.name !== scheme.name) return `CryptoKey does not support this operation, its algorithm.name must be ${scheme.name}`
  if (scheme.hash !== undefined && algorithm.hash?.name !== scheme.hash)
    return `CryptoKey does not support this operation, its algorithm.hash must be ${scheme.hash}`
  if (scheme.namedCurve !== undefined && algorithm.namedCurve !== scheme.namedCurve)
    return `CryptoKey does not support this operation, its algorithm.namedCurve must be ${scheme.namedCurve}`
  if (!usages.includes('verify')) return 'CryptoKey does not support this operation, its usages must include verify.'
  if (scheme.minRsaBits !== undefined && (typeof algorithm.modulusLength !== 'number' || algorithm.modulusLength < scheme.minRsaBits))
    return `${alg} requires key modulusLength to be ${scheme.minRsaBits} bits or larger`
  return undefined
}

// jose's key sets hand out the same CryptoKey for a key and alg each time: one KeyObject each,
// and one options object for node:crypto (which only reads it), made with the key's scheme.
const KEY_OPTIONS = new WeakMap<CryptoKey, { scheme: Scheme; options: { key: KeyObject } & Scheme['options'] }>()

function verifies(key: CryptoKey, scheme: Scheme, input: Buffer, signature: Buffer): Promise<boolean> {
  let known = KEY_OPTIONS.get(key)
  if (known === undefined || known.scheme !== scheme) {
    known = { scheme, options: { key: KeyObject.from(key as webcrypto.CryptoKey), ...scheme.options } }
    KEY_OPTIONS.set(key, known)
  }
  const options = known.options
  // With a callback, node:crypto verifies on the thread pool, as WebCrypto does: the event loop
  // goes on serving other requests meanwhile.
  return new Promise((resolve) => {
    try {
      verifyBytes('sha256', input, options, signature, (error, ok) => resolve(!error && ok === true))
    } catch {
      // WebCrypto answers false for a signature it cannot read; jose turned any throw into a failed verification.
      resolve(false)
    }
  })
}

// Every failure here depends on the app's keys, which a caller without the key must not learn
// about: one description for all (docs/token-exchange.md §5 [bktx]).
function signatureFailure(error: unknown): OAuthError {
  if (error instanceof errors.JWSSignatureVerificationFailed) return unverified('signature does not verify')
  if (error instanceof errors.JWKSNoMatchingKey) return unverified('no key in the JWKS matches the kid and alg')
  if (error instanceof errors.JWKSTimeout) return unverified('JWKS fetch timed out')
  if (error instanceof errors.JOSEError) return unverified(`${error.code}: ${error.message}`)
  // jose raises TypeError for keys it will not use (e.g. RSA under 2048 bits); fetch errors too.
  return unverified(`key or JWKS problem: ${(error as Error)?.message ?? String(error)}`)
}

/** [bktx]: the request alone decides this one, so it may say what is wrong. */
export const CLIENT_ID_MISMATCH = 'The `client_id` parameter does not name the client of the assertion'

export function isCanonical(segment: string): boolean {
  // Checked on the last character alone (the alphabet was checked before): of its six bits,
  // the ones past the last whole byte must be zero. Decoding and re-encoding the three segments
  // cost about 2% of the server's throughput.
  const spare = SPARE_BITS[segment.length % 4] as number
  if (spare < 0) return false
  return (BASE64URL.indexOf(segment[segment.length - 1] as string) & ((1 << spare) - 1)) === 0
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
/** By length mod 4: bits of the last character that carry no data (-1: no valid length). */
const SPARE_BITS = [0, -1, 4, 2]

// Stateless for one-shot decodes, so one instance serves every request.
const UTF8 = new TextDecoder('utf-8', { fatal: true })

function decodeSegment(segment: string, what: string): Record<string, unknown> {
  let text: string
  try {
    // Node's decoder, not jose's (atob and a loop on Node 20): the segment was already checked
    // to be canonical base64url, which is all Buffer's lenient decoder needs.
    text = UTF8.decode(Buffer.from(segment, 'base64url'))
  } catch {
    throw invalidClient(`${what} is not base64url UTF-8`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw invalidClient(`${what} is not JSON`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidClient(`${what} is not a JSON object`)
  const problem = jsonProblem(text)
  if (problem !== undefined) throw invalidClient(`${what}: ${problem}`)
  return value as Record<string, unknown>
}

function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value)
}

// docs/token-exchange.md §9: aud is a single string equal to the endpoint; a one-element array holding it
// is the same claim (RFC 7519 §4.1.3), an array with anything else is rejected.
function audienceOk(aud: unknown, accepted: ReadonlySet<string>): boolean {
  if (typeof aud === 'string') return accepted.has(aud)
  return Array.isArray(aud) && aud.length === 1 && typeof aud[0] === 'string' && accepted.has(aud[0])
}
