import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type ProtectedHeaderParameters,
} from 'jose'
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
}

/** Clock skew tolerated on `iat`, `nbf` and `exp` (docs/token-exchange.md §5, CHOICE: 15 s). */
export const CLOCK_TOLERANCE = 15

/**
 * Verifies the signature (RS256/ES256 only) with the keys of a JWK Set (a file's, from
 * {@link loadJWKSFile}, or a URL's, from src/jwks/fetch.ts), and the time claims against the
 * injected clock. Failures are JWTInvalidError with jose's reason.
 */
export async function verifyCompactJWT(jwt: string, jwks: JSONWebKeySet, deps: VerifyDeps): Promise<DecodedJWT> {
  try {
    const result = await jwtVerify(jwt.trim(), createLocalJWKSet(jwks), {
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

/** The public JWK Set of a JWKS, JWK or PEM file (src/keys/load.ts); InputError naming the option. */
export async function loadJWKSFile(path: string): Promise<JSONWebKeySet> {
  try {
    return buildJwks(await loadKeyFile(path)) as JSONWebKeySet
  } catch (cause) {
    throw new InputError(`JWKS ${path}: ${(cause as Error).message}`, { cause, detail: { option: 'jwks', file: path }, advice: ['check ', { option: 'jwks' }] })
  }
}
