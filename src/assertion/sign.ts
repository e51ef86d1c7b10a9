import { SignerError } from '../errors.js'
import { verifiesWith } from '../keys/signature.js'
import type { AssertionKey } from '../keys/signer.js'
import type { AssertionClaims } from './claims.js'

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
  // Everything of the key but its fingerprint (a cache key's concern).
  key: Omit<AssertionKey, 'fingerprint'>,
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

function base64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url')
}
