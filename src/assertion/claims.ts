import { SettingInvalidError } from '../errors.js'

/** Buildkite rejects assertions whose `exp` is more than 300 s after `iat` (docs/token-exchange.md §2). */
export const MAX_ASSERTION_LIFETIME = 300
export const DEFAULT_ASSERTION_LIFETIME = 60
/** RFC 7519 §4.1.7 leaves the length open; Buildkite caps `jti` at 255 bytes (docs/token-exchange.md §2). */
export const MAX_JTI_BYTES = 255

/** Claims that bktx sets itself; extra claims may not replace them. */
export const RESERVED_CLAIMS = ['iss', 'sub', 'aud', 'iat', 'exp'] as const

export interface AssertionClaimsInput {
  clientId: string
  /** The token endpoint URL (docs/token-exchange.md §2: `aud` = the endpoint). */
  audience: string
  /** Seconds since the epoch. */
  now: number
  /** Seconds, 1..300. */
  lifetime: number
  jti: string
  /** Extra claims; may set `jti` or `nbf`, never the reserved ones. */
  extra?: Record<string, unknown>
}

export interface AssertionClaims {
  iss: string
  sub: string
  aud: string
  iat: number
  exp: number
  jti: string
  [claim: string]: unknown
}

/** The client assertion claims of RFC 7523 §3 as Buildkite requires them (docs/token-exchange.md §2). */
export function buildAssertionClaims(input: AssertionClaimsInput): AssertionClaims {
  if (!Number.isInteger(input.lifetime) || input.lifetime < 1 || input.lifetime > MAX_ASSERTION_LIFETIME) {
    throw new SettingInvalidError('lifetime', `must be 1 to ${MAX_ASSERTION_LIFETIME} seconds: Buildkite rejects exp more than 300 s after iat`)
  }
  for (const claim of Object.keys(input.extra ?? {})) {
    if ((RESERVED_CLAIMS as readonly string[]).includes(claim)) {
      throw new SettingInvalidError('claim', `cannot set "${claim}": bktx sets it`, {
        advice: ['use ', { setting: 'client-id' }, ', ', { option: 'aud' }, ' or ', { option: 'lifetime' }],
      })
    }
  }
  const claims: AssertionClaims = {
    iss: input.clientId,
    sub: input.clientId,
    aud: input.audience,
    iat: input.now,
    exp: input.now + input.lifetime,
    jti: input.jti,
    ...input.extra,
  }
  if (typeof claims.jti !== 'string' || claims.jti === '' || Buffer.byteLength(claims.jti) > MAX_JTI_BYTES) {
    throw new SettingInvalidError('claim', `jti must be a non-empty string of at most ${MAX_JTI_BYTES} bytes`)
  }
  return claims
}
