// What a cache hit needs of a signing key held in a file or a variable, without parsing it:
// its fingerprint (the cache key holds it) and its algorithm. Parsing a private key and
// deriving its public half costs more of a hit than everything else bktx does on one
// (issue 23); so once a key's text has been parsed and has passed every check (./signer.ts),
// its identity is remembered under the SHA-256 of that very text, and a later run that reads
// the same text takes the identity from there. Keyed by content, not by file name or stat: a
// key replaced by another (in place, by rename, behind a symlink, with the old size and
// timestamps put back) has other text, so another digest, and is parsed again; nothing a file
// system reports can make two keys share an entry. The store lives in the user's private cache
// directory (src/cache/key-memo.ts), next to the tokens it would let someone pick between.
import { sha256Base64url } from '../hash/sha256.js'
import type { SigningAlg } from './policy.js'

/**
 * Bumped whenever what a key must pass changes (./policy.ts, ./pair.ts, ./pem.ts, ./signer.ts):
 * identities remembered by an older bktx are then never found, and every key is checked again.
 */
const KEY_IDENTITY_VERSION = 'bktx-key-identity-v1'

/** A checked key's identity: what makeAssertionKey derives from its public key. */
export interface KeyIdentity {
  /** SHA-256 of the public key's SPKI DER, base64url (./thumbprint.ts). */
  fingerprint: string
  alg: SigningAlg
  /**
   * The public key's RFC 7638 SHA-256 thumbprint, base64url (./thumbprint.ts): the kid of a key
   * file without a label, which `bktx status` prints. Kept for keys held as text (a file or a
   * variable); absent for PKCS#11 records and for identities remembered before it was kept.
   */
  thumbprint?: string
}

/** Where identities are remembered; failures to read or write are misses, never errors. */
export interface KeyIdentityStore {
  get(digest: string): Promise<KeyIdentity | undefined>
  set(digest: string, identity: KeyIdentity): Promise<void>
}

/** The digest a key's text is remembered under (the whole text as read: label and PEM). */
export function keyTextDigest(text: string): string {
  return sha256Base64url(`${KEY_IDENTITY_VERSION}\0${text}`)
}
