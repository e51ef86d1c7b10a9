import { createLocalJWKSet, createRemoteJWKSet, customFetch, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type ProtectedHeaderParameters } from 'jose'
import type { FetchLike } from '../deps.js'
import { joseFetch } from '../http/jose-fetch.js'
import { InputError, JWTInvalidError } from '../errors.js'
import { buildJwks } from '../jwks/build.js'
import { loadKeyFile } from '../keys/load.js'
import { SIGNING_ALGS } from '../keys/policy.js'
import type { Clock } from '../time/clock.js'

export interface DecodedJWT {
  header: ProtectedHeaderParameters
  payload: JWTPayload
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

/** Decodes without verifying. Anything but a compact JWS with JSON header and claims is an InputError. */
export function decodeCompactJWT(text: string): DecodedJWT {
  const jwt = text.trim()
  if (!COMPACT_JWS.test(jwt)) {
    throw new InputError('input is not a compact JWT (three base64url segments separated by dots)')
  }
  try {
    return { header: decodeProtectedHeader(jwt), payload: decodeJwt(jwt) }
  } catch (cause) {
    throw new InputError(`input is not a decodable JWT: ${(cause as Error).message}`, { cause })
  }
}

export interface VerifyDeps {
  clock: Clock
  fetch: FetchLike
}

/** Clock skew tolerated on `iat`, `nbf` and `exp` (docs/buildkite-protocol.md §5, CHOICE: 15 s). */
export const CLOCK_TOLERANCE = 15

/**
 * Verifies the signature (RS256/ES256 only) with keys from a JWKS file or URL, and the time
 * claims against the injected clock. Failures are JWTInvalidError with jose's reason.
 */
export async function verifyCompactJWT(jwt: string, jwksSource: string, deps: VerifyDeps): Promise<DecodedJWT> {
  const getKey = await keySetFor(jwksSource, deps)
  try {
    const result = await jwtVerify(jwt.trim(), getKey, {
      algorithms: [...SIGNING_ALGS],
      currentDate: deps.clock.now(),
      clockTolerance: CLOCK_TOLERANCE,
      requiredClaims: ['exp'],
    })
    return { header: result.protectedHeader, payload: result.payload }
  } catch (cause) {
    if (cause instanceof errors.JOSEError) {
      throw new JWTInvalidError(`JWT does not verify: ${reason(cause)}`, { cause })
    }
    throw cause
  }
}

function reason(error: InstanceType<typeof errors.JOSEError>): string {
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'signature verification failed'
  if (error instanceof errors.JWKSNoMatchingKey) return 'no key in the JWKS matches its kid and alg'
  if (error instanceof errors.JWTExpired) return `it expired (${error.message})`
  return error.message
}

async function keySetFor(source: string, deps: VerifyDeps) {
  if (/^https?:\/\//i.test(source)) {
    return createRemoteJWKSet(new URL(source), {
      [customFetch]: joseFetch(deps.fetch, { maxBytes: 100 * 1024 }),
    })
  }
  let keys
  try {
    keys = await loadKeyFile(source)
  } catch (cause) {
    throw new InputError(`JWKS ${source}: ${(cause as Error).message}`, { cause, detail: { option: 'jwks', file: source }, advice: ['check ', { option: 'jwks' }] })
  }
  return createLocalJWKSet(buildJwks(keys))
}
