import { createECDH, type KeyObject } from 'node:crypto'
import { KeyError } from '../errors.js'

// Node (OpenSSL) imports a private key without checking that its halves belong together: a
// JWK whose `d` is another key's keeps its own `x`/`y`, so `bktx jwks` published a public key
// that nothing signs for, and signing failed deep inside jose ("DataError", exit 1). Members
// that are not base64url are decoded leniently (stray characters skipped), so a corrupted file
// can still import as some key. Both are refused at load, with a KeyError (exit 3).
//
// The pair check compares what the private half implies with the public half as stored,
// rather than signing and verifying a probe message: a probe misses RSA keys whose `d` (or one
// CRT member) is wrong, because OpenSSL verifies each CRT signature and silently recomputes it
// with `d` when it is wrong, so the key signs here and fails with other implementations. The
// comparison is exact and costs about as much as one signature: one P-256 scalar
// multiplication, or a few big-integer products for RSA.

const B64URL = /^[A-Za-z0-9_-]+$/
// A Map, not an object: `kty` is input, and {"kty": "toString"} must not find Object.prototype's.
const KEY_MEMBERS: ReadonlyMap<string, readonly string[]> = new Map([
  ['EC', ['x', 'y', 'd']],
  ['RSA', ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi']],
])
/** P-256 coordinates and private scalars are exactly 32 bytes (RFC 7518 §6.2.1.2, §6.2.2.1): 43 base64url characters. */
const P256_MEMBER_LENGTH = 43

/**
 * Refuses a JWK whose key members are not base64url (RFC 7515 §2: `A-Z a-z 0-9 - _`, no
 * padding, no whitespace), or whose P-256 members are not full length. Run before import.
 */
export function checkJwkMembers(jwk: Readonly<Record<string, unknown>>, source: string): void {
  const kty = typeof jwk['kty'] === 'string' ? jwk['kty'] : ''
  for (const name of KEY_MEMBERS.get(kty) ?? []) {
    const value = jwk[name]
    if (value === undefined) continue
    if (typeof value !== 'string' || !B64URL.test(value)) {
      throw new KeyError(`${source}: JWK member "${name}" is not base64url (RFC 7515 §2: letters, digits, "-" and "_", no padding)`, {
        detail: { file: source, field: name, reason: 'not-base64url' },
      })
    }
    if (kty === 'EC' && jwk['crv'] === 'P-256' && value.length !== P256_MEMBER_LENGTH) {
      throw new KeyError(`${source}: JWK member "${name}" is not 32 bytes, the length of a P-256 value (RFC 7518 §6.2.1.2)`, {
        detail: { file: source, field: name, reason: 'bad-length' },
      })
    }
  }
}

const big = (b64url: string | undefined): bigint => BigInt(`0x${Buffer.from(b64url ?? '', 'base64url').toString('hex') || '0'}`)

/**
 * Refuses a private key whose private half does not produce its public half: for EC, `d`·G
 * must be the stored point; for RSA, n = p·q, e·dp ≡ 1 (mod p-1), e·dq ≡ 1 (mod q-1), d ≡ dp and
 * dq modulo p-1 and q-1, and qi·q ≡ 1 (mod p) (RFC 8017 §3.2). Call after the key type and size
 * are known to be supported (src/keys/policy.ts).
 */
export function checkKeyPair(privateKey: KeyObject, source: string): void {
  const jwk = privateKey.export({ format: 'jwk' })
  const mismatch = (what: string) =>
    new KeyError(`${source}: the private key does not match its public key (${what}); the file is corrupt or was put together from two keys`, {
      detail: { file: source, reason: 'key-mismatch' },
    })
  if (jwk.kty === 'EC') {
    const ecdh = createECDH('prime256v1')
    try {
      ecdh.setPrivateKey(Buffer.from(jwk.d ?? '', 'base64url'))
    } catch {
      throw mismatch('d is not a valid P-256 private scalar')
    }
    const point = ecdh.getPublicKey()
    const stored = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x ?? '', 'base64url'), Buffer.from(jwk.y ?? '', 'base64url')])
    if (!point.equals(stored)) throw mismatch('d does not produce x and y')
    return
  }
  if (jwk.kty === 'RSA') {
    const [n, e, d, p, q, dp, dq, qi] = [jwk.n, jwk.e, jwk.d, jwk.p, jwk.q, jwk.dp, jwk.dq, jwk.qi].map(big) as [
      bigint,
      bigint,
      bigint,
      bigint,
      bigint,
      bigint,
      bigint,
      bigint,
    ]
    if (p < 3n || q < 3n || p * q !== n) throw mismatch('p and q do not multiply to n')
    const [p1, q1] = [p - 1n, q - 1n]
    if ((e * dp) % p1 !== 1n || (e * dq) % q1 !== 1n || d % p1 !== dp || d % q1 !== dq) throw mismatch('d does not invert e')
    if ((qi * q) % p !== 1n) throw mismatch('qi is not the inverse of q')
    return
  }
  throw new KeyError(`${source}: ${jwk.kty ?? 'unknown'} keys cannot be checked`)
}
