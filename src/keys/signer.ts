import { createPrivateKey, createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto'
import { statSync } from 'node:fs'
import { KeyError } from '../errors.js'
import { readInputFile } from '../fs/input.js'
import { keyTextDigest, type KeyIdentity, type KeyIdentityStore } from './identity.js'
import { checkKeyPair } from './pair.js'
import { NO_KID, PLAIN_PRIVATE_PEM, splitPemLabel } from './pem.js'
import { algorithmFor, type SigningAlg } from './policy.js'
import { jwkThumbprint, keyFingerprint } from './thumbprint.js'

// The signing key as the rest of bktx sees it (AssertionKey, the one type the exchange, the
// assertion code and the cache receive), and the hot-path loader of key files and variables.
// The cache key includes the signing key's fingerprint, so even a cache hit loads the key.
// This module does that with node:crypto alone: ./load.ts imports jose (about 44 ms), which
// only the unusual inputs (JWK, JWKS, errors) and the cache-miss path need.

/**
 * The key that signs the client assertion, wherever it lives: a file or variable (signed here
 * with node:crypto), a PKCS#11 token or an external signer. Everything but `sign` comes from
 * the public key alone, so a cache hit never opens a token or runs a signer.
 */
export interface AssertionKey {
  alg: SigningAlg
  /** The kid put in the JWS header; undefined for none (the `kid` setting `none`). */
  kid: string | undefined
  /** The public half: assertions are verified with it before they are sent. */
  publicKey: KeyObject
  /** SHA-256 of the public key (SPKI DER), base64url: identifies the key in cache keys. */
  fingerprint: string
  /** Where the key lives, for messages: a path, `env:NAME`, a `pkcs11:` URI, `exec:COMMAND`. */
  source: string
  /**
   * The JWS signature over `signingInput` (RFC 7515 §5.1): PKCS#1 v1.5 with SHA-256 for RS256,
   * raw r‖s with SHA-256 for ES256 (RFC 7518 §3.3, §3.4). `signal` bounds a slow signer.
   */
  sign(signingInput: Uint8Array, options?: SignOptions): Promise<Uint8Array>
}

export interface SignOptions {
  /** Aborts signing (the time budget ran out, or SIGINT): the signer stops and sign() rejects. */
  signal?: AbortSignal | undefined
}

/**
 * The AssertionKey of a private key held here (a file or a variable), signing with node:crypto.
 * See {@link makeAssertionKey}.
 */
export function toAssertionKey(privateKey: KeyObject, kid: string | undefined, source: string, fileKid?: string): AssertionKey {
  const publicKey = createPublicKey(privateKey)
  return makeAssertionKey(
    publicKey,
    kid,
    source,
    async (input) =>
      // ES256 wants the raw r‖s form (RFC 7518 §3.4), not DER; RS256 is PKCS#1 v1.5, Node's default.
      publicKey.asymmetricKeyType === 'ec'
        ? cryptoSign('sha256', input, { key: privateKey, dsaEncoding: 'ieee-p1363' })
        : cryptoSign('sha256', input, privateKey),
    fileKid,
  )
}

/**
 * The AssertionKey of any key source, from its public key: `alg` from the key type (RFC 8725
 * §3.1), the fingerprint that identifies the key in cache keys (SHA-256 of the public key's SPKI
 * DER, base64url), and the kid of the JWS header: the `kid` setting when given (`none`: no kid
 * header, and Buildkite tries every key of the set), else the kid the source names (a
 * `bktx keygen --kid` label, a JWK's kid), else the RFC 7638 SHA-256 thumbprint (as `bktx
 * keygen` and `bktx jwks` name keys). Every source goes through here, so kid and fingerprint
 * mean the same for all.
 */
export function makeAssertionKey(
  publicKey: KeyObject,
  kid: string | undefined,
  source: string,
  sign: (signingInput: Uint8Array, options?: SignOptions) => Promise<Uint8Array>,
  ownKid?: string,
): AssertionKey {
  const alg = algorithmFor(publicKey, source)
  const fingerprint = keyFingerprint(publicKey)
  // The kid is only needed to sign (a cache miss): derive the thumbprint on first use.
  let resolvedKid = kid ?? ownKid
  return {
    alg,
    publicKey,
    fingerprint,
    source,
    sign,
    get kid() {
      if (resolvedKid === NO_KID) return undefined
      resolvedKid ??= jwkThumbprint(publicKey)
      return resolvedKid
    },
  }
}

export { jwkThumbprint, keyFingerprint } from './thumbprint.js'

/**
 * Loads the signing key for an exchange. A private file of ours (no permission for group or
 * others) holding one unencrypted private-key PEM block, with or without a kid label (what
 * `bktx keygen` writes), is read here directly; everything else, and every failure, goes to
 * ./load.ts, which accepts JWK and JWKS too, checks the same things and words the errors.
 * With `identities`, a text parsed and checked before is not parsed again (./identity.ts).
 */
export async function loadAssertionKey(path: string, kid?: string, identities?: KeyIdentityStore): Promise<AssertionKey> {
  try {
    // Synchronous, and only a private regular file of ours, capped while reading
    // (src/fs/input.ts): the cache-hit path reads this one small file; see fs/private-file.ts.
    if ((statSync(path).mode & 0o077) === 0) {
      const text = readInputFile(path, 256 * 1024).trim()
      const { kid: fileKid, pem } = splitPemLabel(text)
      if (PLAIN_PRIVATE_PEM.test(pem) && pem.split('-----BEGIN ').length === 2) return await plainKey(text, pem, kid, path, fileKid, identities)
    }
  } catch {
    // Fall through: keys/load.ts reads the file again and reports the problem properly.
  }
  const { loadSigningKey } = await import('./load.js')
  const loaded = await loadSigningKey(path)
  return toAssertionKey(loaded.privateKey, kid, path, loaded.kid)
}

/**
 * The signing key held as text, for `env:NAME` keys: the same reading as a file's, without
 * the file (the text is never written anywhere). `source` names the variable in messages.
 */
export async function assertionKeyFromText(text: string, kid: string | undefined, source: string, identities?: KeyIdentityStore): Promise<AssertionKey> {
  const trimmed = text.trim()
  const { kid: labelled, pem } = splitPemLabel(trimmed)
  if (PLAIN_PRIVATE_PEM.test(pem) && pem.split('-----BEGIN ').length === 2) {
    try {
      return await plainKey(trimmed, pem, kid, source, labelled, identities)
    } catch {
      // Fall through: keys/load.ts words the problem.
    }
  }
  const { parseSigningKey } = await import('./load.js')
  const loaded = await parseSigningKey(text, source)
  return toAssertionKey(loaded.privateKey, kid, source, loaded.kid)
}

/**
 * One plain private-key PEM block (`text` as read, `pem` its block): from its remembered
 * identity when this very text passed before, else parsed, checked, and its identity
 * remembered. Throws when node:crypto cannot read it or a check fails (the callers fall
 * through to ./load.ts, which words it).
 */
async function plainKey(
  text: string,
  pem: string,
  kid: string | undefined,
  source: string,
  fileKid: string | undefined,
  identities: KeyIdentityStore | undefined,
): Promise<AssertionKey> {
  const digest = identities === undefined ? undefined : keyTextDigest(text)
  const known = digest === undefined ? undefined : await identities?.get(digest)
  if (known !== undefined) return rememberedKey(known, pem, kid, source, fileKid)
  const key = parsePlainKey(pem, kid, source, fileKid)
  // The thumbprint too, for `bktx status` (the kid of a key without a label): derived here, once per key text.
  if (digest !== undefined) await identities?.set(digest, { fingerprint: key.fingerprint, alg: key.alg, thumbprint: jwkThumbprint(key.publicKey) })
  return key
}

function parsePlainKey(pem: string, kid: string | undefined, source: string, fileKid: string | undefined): AssertionKey {
  const privateKey = createPrivateKey({ key: pem, format: 'pem' })
  const key = toAssertionKey(privateKey, kid, source, fileKid)
  // A PEM can hold a public key that is not its private key's too (src/keys/pair.ts).
  checkKeyPair(privateKey, source)
  return key
}

/** The key of a PEM text whose identity was remembered, parsed from the text already read on first use (a miss signs). */
function rememberedKey(known: KeyIdentity, pem: string, kid: string | undefined, source: string, fileKid: string | undefined): AssertionKey {
  return rememberedIdentityKey(known, source, () => parsePlainKey(pem, kid, source, fileKid))
}

/**
 * A key known by its remembered identity (./identity.ts): alg and fingerprint at once, the rest
 * from `parse` on first use. Should the parse give another identity, the remembered one was not
 * this text's (the store was written by hand): nothing is signed with it.
 */
export function rememberedIdentityKey(known: KeyIdentity, source: string, parse: () => AssertionKey): AssertionKey {
  let parsed: AssertionKey | undefined
  const full = (): AssertionKey => {
    if (parsed === undefined) {
      const key = parse()
      if (key.fingerprint !== known.fingerprint || key.alg !== known.alg) {
        throw new KeyError(`${source}: the key does not match the identity remembered for it in the cache directory (changed by hand?); nothing was signed`, {
          detail: { setting: 'key', reason: 'identity-mismatch' },
        })
      }
      parsed = key
    }
    return parsed
  }
  return {
    alg: known.alg,
    fingerprint: known.fingerprint,
    source,
    get publicKey() {
      return full().publicKey
    },
    get kid() {
      return full().kid
    },
    sign: async (input, options) => full().sign(input, options),
  }
}
