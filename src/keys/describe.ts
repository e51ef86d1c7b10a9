import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { isBktxError, type BktxError } from '../errors.js'
import { keyTextDigest, type KeyIdentity } from './identity.js'
import { NO_KID, PLAIN_PRIVATE_PEM, splitPemLabel } from './pem.js'
import { algorithmFor, type SigningAlg } from './policy.js'
import { jwkThumbprint, keyFingerprint } from './thumbprint.js'

// What `bktx status`, `doctor` and `key list` say about a signing key. The usual key (a PEM
// file `bktx keygen` wrote) is read with node:crypto alone, so that status stays fast; anything
// else, and every failure, goes through ./load.ts, which words the errors the token commands
// give (a 0644 key is refused there with the chmod fix).

/**
 * Where a signing key comes from (the kinds of keys/source.ts), with `text`, the `key` setting's
 * value as shown. Files are described here; the other kinds by ./describe-source.ts.
 */
export type KeySource =
  | { kind: 'file'; path: string; text: string }
  | { kind: 'env'; name: string; text: string }
  | { kind: 'pkcs11'; text: string }
  | { kind: 'exec'; command: string; text: string }

/**
 * Where the kid a key signs with comes from: the `kid` setting, the `bktx-kid:` label of a PEM
 * file (./pem.ts), a JWK's own `kid`, or the RFC 7638 thumbprint of the public key.
 */
export type KidOrigin = 'setting' | 'label' | 'jwk' | 'thumbprint'

export interface KeyFileFacts {
  /** Permission bits (`0o600`). */
  mode: number
  uid: number
  /** No permission for group or others (the rule key loading enforces). */
  private: boolean
}

export interface Described {
  source: KeySource
  /** Undefined when the file cannot be stat'ed (absent, no permission on a directory). */
  file: KeyFileFacts | undefined
}

export interface LoadedKeyDescription extends Described {
  loads: true
  alg: SigningAlg
  /** The kid the key is published under (what `bktx jwks` writes for it). */
  kid: string
  kidOrigin: KidOrigin
  /** The kid of the JWS header; undefined with the `kid` setting `none` (no kid header). */
  headerKid: string | undefined
  /** SHA-256 of the SPKI DER, base64url (the cache key's key identity). */
  fingerprint: string
  publicKey: KeyObject
}

export interface FailedKeyDescription extends Described {
  loads: false
  /** Why it does not load, as the token commands would report it (KeyError, UnsupportedKeyError). */
  error: BktxError
}

export type SigningKeyDescription = LoadedKeyDescription | FailedKeyDescription

const MAX_KEY_FILE_BYTES = 256 * 1024

/**
 * Describes the signing key in `path` as `bktx token` would use it with this `kid` setting:
 * whether it loads, its algorithm, kid (and where that comes from) and file mode. Never throws
 * for a key that does not load: the description carries the error.
 */
export async function describeSigningKey(path: string, kidSetting?: string, identities?: KeyIdentityReader): Promise<SigningKeyDescription> {
  const source: KeySource = { kind: 'file', path, text: path }
  let file: KeyFileFacts | undefined
  try {
    const info = statSync(path)
    file = { mode: info.mode & 0o7777, uid: info.uid, private: (info.mode & 0o077) === 0 }
  } catch {
    // The loader below reports it.
  }
  let loaded: { privateKey: KeyObject; fileKid: string | undefined; origin: Exclude<KidOrigin, 'setting'> } | Remembered
  try {
    loaded = await loadPrivate(path, identities)
  } catch (error) {
    if (!isBktxError(error)) throw error
    return { source, file, loads: false, error }
  }
  if ('identity' in loaded) return rememberedDescription(source, file, loaded, kidSetting)
  const publicKey = createPublicKey(loaded.privateKey)
  let alg: SigningAlg
  try {
    alg = algorithmFor(publicKey, path)
  } catch (error) {
    if (!isBktxError(error)) throw error
    return { source, file, loads: false, error }
  }
  const ownKid = loaded.fileKid ?? jwkThumbprint(publicKey)
  const fromSetting = kidSetting !== undefined && kidSetting !== NO_KID
  return {
    source,
    file,
    loads: true,
    alg,
    kid: fromSetting ? kidSetting : ownKid,
    kidOrigin: fromSetting ? 'setting' : loaded.origin,
    headerKid: kidSetting === NO_KID ? undefined : fromSetting ? kidSetting : ownKid,
    fingerprint: keyFingerprint(publicKey),
    publicKey,
  }
}

/** What {@link describeSigningKey} may take a key file's identity from: src/cache/key-identities.ts (`bktx status`). */
export interface KeyIdentityReader {
  get(digest: string): KeyIdentity | undefined
}

/** A plain PEM file whose text a token command parsed and checked before (src/keys/signer.ts), known by its remembered identity. */
interface Remembered {
  identity: KeyIdentity & { thumbprint: string }
  pem: string
  fileKid: string | undefined
}

async function loadPrivate(
  path: string,
  identities: KeyIdentityReader | undefined,
): Promise<{ privateKey: KeyObject; fileKid: string | undefined; origin: Exclude<KidOrigin, 'setting'> } | Remembered> {
  let text: string | undefined
  try {
    const info = statSync(path)
    if (info.isFile() && info.size <= MAX_KEY_FILE_BYTES && (info.mode & 0o077) === 0) {
      text = readFileSync(path, 'utf8')
      const { kid, pem } = splitPemLabel(text.trim())
      if (PLAIN_PRIVATE_PEM.test(pem) && pem.split('-----BEGIN ').length === 2) {
        // Keyed by the very text read here (the digest src/keys/signer.ts remembers it under),
        // so no other key's identity can be found for it: status then needs no node:crypto.
        const identity = identities?.get(keyTextDigest(text.trim()))
        if (identity?.thumbprint !== undefined) return { identity: { ...identity, thumbprint: identity.thumbprint }, pem, fileKid: kid }
        return { privateKey: createPrivateKey({ key: pem, format: 'pem' }), fileKid: kid, origin: kid === undefined ? 'thumbprint' : 'label' }
      }
    }
  } catch {
    // Fall through: ./load.ts reads the file again and reports the problem properly.
  }
  const { loadSigningKey } = await import('./load.js')
  const key = await loadSigningKey(path)
  return { privateKey: key.privateKey, fileKid: key.kid, origin: kidOrigin(text ?? readFileSync(path, 'utf8'), key.kid) }
}

/**
 * The description of a key file from its remembered identity: what the parse would give (the
 * identity was derived from this very text when a token command parsed and checked it, against
 * at least what this file's checks ask), the public key parsed only when asked for (`bktx
 * doctor` verifies with it; status never does).
 */
function rememberedDescription(
  source: KeySource,
  file: KeyFileFacts | undefined,
  remembered: Remembered,
  kidSetting: string | undefined,
): SigningKeyDescription {
  const { identity, pem, fileKid } = remembered
  const ownKid = fileKid ?? identity.thumbprint
  const fromSetting = kidSetting !== undefined && kidSetting !== NO_KID
  let publicKey: KeyObject | undefined
  return {
    source,
    file,
    loads: true,
    alg: identity.alg,
    kid: fromSetting ? kidSetting : ownKid,
    kidOrigin: fromSetting ? 'setting' : fileKid === undefined ? 'thumbprint' : 'label',
    headerKid: kidSetting === NO_KID ? undefined : fromSetting ? kidSetting : ownKid,
    fingerprint: identity.fingerprint,
    get publicKey() {
      publicKey ??= createPublicKey(createPrivateKey({ key: pem, format: 'pem' }))
      return publicKey
    },
  }
}

/**
 * The description of a loaded public key: alg, the kid it is published and signed under and
 * where that comes from (the `kid` setting, else `ownKid` from the source, else the thumbprint).
 */
export function describePublicKey(
  described: Described,
  publicKey: KeyObject,
  kidSetting: string | undefined,
  own: { kid: string; origin: Exclude<KidOrigin, 'setting'> } | undefined,
): SigningKeyDescription {
  let alg: SigningAlg
  try {
    alg = algorithmFor(publicKey, described.source.text)
  } catch (error) {
    if (!isBktxError(error)) throw error
    return { ...described, loads: false, error }
  }
  const ownKid = own?.kid ?? jwkThumbprint(publicKey)
  const fromSetting = kidSetting !== undefined && kidSetting !== NO_KID
  return {
    ...described,
    loads: true,
    alg,
    kid: fromSetting ? kidSetting : ownKid,
    kidOrigin: fromSetting ? 'setting' : (own?.origin ?? 'thumbprint'),
    headerKid: kidSetting === NO_KID ? undefined : fromSetting ? kidSetting : ownKid,
    fingerprint: keyFingerprint(publicKey),
    publicKey,
  }
}

/** Where the kid ./load.ts found in this key text came from. */
export function kidOrigin(text: string, kid: string): Exclude<KidOrigin, 'setting'> {
  const trimmed = text.trim()
  if (trimmed.startsWith('{')) {
    try {
      const json = JSON.parse(trimmed) as { kid?: unknown; keys?: Array<{ kid?: unknown }> }
      const own = Array.isArray(json.keys) ? json.keys[0]?.kid : json.kid
      if (own === kid) return 'jwk'
    } catch {
      // Not JSON after all: the loader accepted it, so it has no kid of its own.
    }
    return 'thumbprint'
  }
  return splitPemLabel(trimmed).kid === kid ? 'label' : 'thumbprint'
}
