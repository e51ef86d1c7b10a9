import type { KeyObject } from 'node:crypto'
import { isBktxError } from '../errors.js'
import { parseKeys } from '../keys/load.js'
import type { SigningAlg } from '../keys/policy.js'

// What a JWKS must be for Buildkite to use it (docs/token-exchange.md §1 and §9): one set
// of rules for the reference server's configuration (src/server/config/config.ts), `bktx jwks check`,
// `bktx doctor` and key rotation, so that bktx never passes a document its own server refuses.

/** One rule a JWKS document breaks. */
export interface JwksProblem {
  /** Where, relative to the document: `` (the document), `keys`, `keys[2]`, `keys[2].kid`. */
  at: string
  /** What is wrong, without the location: `duplicate kid "k1"`. */
  problem: string
  /** Stable and machine-readable: `not-an-object`, `no-keys`, `private-members`, `no-kid`, `duplicate-kid`, `bad-key-ops`, `bad-key`. */
  reason: string
}

/** A key of the set that passed every rule. */
export interface JwksKey {
  /** Its position in `keys`. */
  index: number
  kid: string
  alg: SigningAlg
  publicKey: KeyObject
}

export interface JwksInspection {
  keys: JwksKey[]
  problems: JwksProblem[]
}

/**
 * Members that only private (or symmetric) keys have: RFC 7518 §6.2.2 (EC `d`), §6.3.2 (RSA
 * `d p q dp dq qi oth`), §6.4.1 (`k`). A published set must hold none of them.
 */
export const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const

/**
 * Checks a parsed JWKS document against Buildkite's rules: an object with a non-empty `keys`
 * array; every key an object with public members only, a non-empty string `kid` unique in the
 * set, and a key Buildkite accepts: RS256 (RSA of at least 2048 bits, odd exponent of at least
 * 3) or ES256 (P-256), its `use` absent or `sig`, its `alg`, when present, the one its key type
 * signs with (src/keys/load.ts). Every key is checked; each reports its first problem.
 */
export async function inspectJwks(doc: unknown): Promise<JwksInspection> {
  const problems: JwksProblem[] = []
  const keys: JwksKey[] = []
  if (!isObject(doc)) return { keys, problems: [{ at: '', problem: 'must be an object', reason: 'not-an-object' }] }
  const list = doc['keys']
  if (!Array.isArray(list)) return { keys, problems: [{ at: 'keys', problem: 'must be an array', reason: 'no-keys' }] }
  if (list.length === 0) return { keys, problems: [{ at: 'keys', problem: 'must hold at least one key', reason: 'no-keys' }] }
  const kids = new Set<string>()
  for (const [index, jwk] of list.entries()) {
    const at = `keys[${index}]`
    const problem = (where: string, text: string, reason: string) => problems.push({ at: where, problem: text, reason })
    if (!isObject(jwk)) {
      problem(at, 'must be an object', 'not-an-object')
      continue
    }
    const secret = PRIVATE_MEMBERS.filter((member) => jwk[member] !== undefined)
    if (secret.length > 0) {
      problem(at, `holds private key material (${secret.join(', ')}); register public keys only`, 'private-members')
      continue
    }
    const kid = jwk['kid']
    if (typeof kid !== 'string' || kid === '') {
      problem(`${at}.kid`, 'every key needs a kid', 'no-kid')
      continue
    }
    if (kids.has(kid)) {
      problem(`${at}.kid`, `duplicate kid "${kid}"`, 'duplicate-kid')
      continue
    }
    kids.add(kid)
    // RFC 7517 §4.3: a key whose key_ops leave out "verify" would be skipped by every lookup
    // (jose's key selection honours it), so no exchange could ever succeed with it.
    const ops = jwk['key_ops']
    if (ops !== undefined) {
      if (!Array.isArray(ops) || ops.some((op) => typeof op !== 'string') || new Set(ops).size !== ops.length) {
        problem(`${at}.key_ops`, 'must be an array of distinct strings (RFC 7517 §4.3)', 'bad-key-ops')
        continue
      }
      if (!ops.includes('verify')) {
        problem(`${at}.key_ops`, `is ${JSON.stringify(ops)}; a key registered to verify assertions needs "verify" in it, or no key_ops`, 'bad-key-ops')
        continue
      }
    }
    try {
      const [key] = await parseKeys(JSON.stringify(jwk), at)
      if (key !== undefined) keys.push({ index, kid, alg: key.alg, publicKey: key.publicKey })
    } catch (cause) {
      if (!isBktxError(cause)) throw cause
      // src/keys/load.ts names its source first ("keys[0]: ..." or "keys[0] is ..."): the location is `at`.
      problem(at, cause.message.replace(`${at}: `, '').replace(`${at} `, ''), 'bad-key')
    }
  }
  return { keys, problems }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
