import { verify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { SignerError } from '../errors.js'
import type { SigningAlg } from '../keys/policy.js'
import type { AssertionClaims } from './claims.js'

/** What signing needs of a key (src/exchange/types.ts AssertionKey is one). */
export interface AssertionSigner {
  alg: SigningAlg
  /** The JWS header's kid; undefined for none. */
  kid: string | undefined
  publicKey: KeyObject
  /** Where the key lives, for messages. */
  source: string
  sign(signingInput: Uint8Array, options?: { signal?: AbortSignal | undefined }): Promise<Uint8Array>
}

/**
 * Signs client assertion claims as a compact JWS with header `{alg, typ: "JWT", kid}`
 * (docs/token-exchange.md §2); without a kid the header has none. The algorithm comes from the key (keys/policy.ts), never from input.
 *
 * The key signs wherever it lives (here, in a PKCS#11 token, in an external signer); the
 * signature is verified with the key's public half before the assertion leaves this function,
 * so a signer that answers garbage, signs with another key or fails silently is caught here
 * (and a faulty RSA-CRT signature never leaks, which would reveal the key).
 */
export async function signAssertion(
  claims: AssertionClaims,
  key: AssertionSigner,
  options: { signal?: AbortSignal | undefined } = {},
): Promise<string> {
  // No kid (the `kid` setting `none`): Buildkite then tries every key of the set.
  const header = { alg: key.alg, typ: 'JWT', ...(key.kid === undefined ? {} : { kid: key.kid }) }
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`
  const data = Buffer.from(signingInput, 'ascii')
  const signature = await key.sign(data, options)
  if (!verifiesWith(key, data, signature)) {
    // An external signer answers for whatever key it reaches: the likely cause is a public-key
    // setting that names another key. Anywhere else a bad signature is a fault of the signer.
    const external = key.source.startsWith('exec:')
    throw new SignerError(`the signature from ${key.source} does not verify with its public key`, {
      detail: { setting: external ? 'public-key' : 'key', reason: 'bad-signature' },
      ...(external ? { advice: ['check that the command signs with the key whose public half ', { setting: 'public-key' }, ' names'] } : {}),
    })
  }
  return `${signingInput}.${Buffer.from(signature).toString('base64url')}`
}

/** True when `signature` is a valid JWS signature of `data` (RFC 7518 §3.3, §3.4) under the key's public half. */
export function verifiesWith(key: Pick<AssertionSigner, 'alg' | 'publicKey'>, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (key.alg === 'ES256') return signature.length === 64 && verify('sha256', data, { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, signature)
    return verify('sha256', data, key.publicKey, signature)
  } catch {
    return false
  }
}

function base64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url')
}
