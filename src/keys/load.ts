import { createPrivateKey, createPublicKey, type JsonWebKeyInput, type KeyObject } from 'node:crypto'
import { stat } from 'node:fs/promises'
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose'
import { KeyError, UnsupportedKeyError } from '../errors.js'
import { errnoText } from '../fs/atomic.js'
import { platform } from 'node:os'
import { InputFileError, readInputFile } from '../fs/input.js'
import { checkJwkMembers, checkKeyPair } from './pair.js'
import { NO_KID, splitPemLabel } from './pem.js'
import { algorithmFor, isSigningAlg, type SigningAlg } from './policy.js'

/** A signing key as bktx uses it: its algorithm, kid and public JWK, and the private half when known. */
export interface LoadedKey {
  kid: string
  alg: SigningAlg
  publicKey: KeyObject
  privateKey: KeyObject | undefined
  /** The public JWK as published: kty, kid, use, alg, then the key members. */
  publicJwk: JWK
  /** Where it came from, for messages. */
  source: string
}

const MAX_KEY_FILE_BYTES = 256 * 1024

/**
 * Reads a key file: PKCS#8/SEC1/PKCS#1/SPKI PEM (with the kid label `bktx keygen --kid`
 * writes, see ./pem.ts), a JWK, or a JWKS (every key in it). A file that holds private key
 * material must not be readable or writable by group or others, as ssh refuses such keys: a
 * key anyone on the machine can read is no longer a secret, and one they can write is no
 * longer yours.
 */
export async function loadKeyFile(path: string, options: { kid?: string | undefined } = {}): Promise<LoadedKey[]> {
  const text = readKeyText(path)
  const keys = await parseKeys(text, path, options)
  const mode = (await stat(path)).mode
  // Windows has no such mode bits (stat reports 0666 for every file): nothing to check there.
  if ((mode & 0o077) !== 0 && platform() !== 'win32' && keys.some((key) => key.privateKey !== undefined)) {
    const octal = (mode & 0o777).toString(8).padStart(4, '0')
    throw new KeyError(`private key file ${path} has mode ${octal}: other users can ${(mode & 0o022) !== 0 ? 'change' : 'read'} it, so bktx will not use it`, {
      detail: { file: path, reason: 'loose-mode' },
      advice: [`run \`chmod 600 ${path}\` (and consider a new key: \`bktx keygen\`, if others may have copied this one)`],
    })
  }
  return keys
}

/**
 * The text of a key file: a regular file of at most 256 KiB, counted while reading, so a FIFO
 * or /dev/zero given as a key fails at once (src/fs/input.ts). KeyError otherwise.
 */
export function readKeyText(path: string): string {
  try {
    return readInputFile(path, MAX_KEY_FILE_BYTES)
  } catch (cause) {
    if (!(cause instanceof InputFileError)) throw cause
    if (cause.problem === 'unreadable')
      throw new KeyError(`cannot read key file ${path}: ${errnoText(cause.cause)}`, { cause, detail: { file: path, reason: 'unreadable' } })
    throw new KeyError(`key file ${path} ${cause.text}${cause.problem === 'too-large' ? '; not a key' : ''}`, {
      cause,
      detail: { file: path, reason: cause.problem },
    })
  }
}

/**
 * Parses key text. The parsing itself is Node's (OpenSSL); this adds the checks that matter
 * for token exchange: only RS256/ES256 keys, a JWK's own `alg` and `use` consistent with that
 * (docs/token-exchange.md §9), a kid on every key. Error messages never quote the key text.
 */
export async function parseKeys(text: string, source: string, options: { kid?: string } = {}): Promise<LoadedKey[]> {
  const trimmed = text.trim()
  if (trimmed.startsWith('{')) {
    let json: unknown
    try {
      json = JSON.parse(trimmed)
    } catch {
      throw new KeyError(`${source} is neither a PEM key nor valid JSON`)
    }
    if (isObject(json) && Array.isArray(json['keys'])) {
      const keys = json['keys'] as unknown[]
      if (keys.length === 0) throw new KeyError(`${source}: the JWKS holds no keys`)
      if (options.kid !== undefined && keys.length > 1) {
        throw new KeyError(`${source}: one kid was given for a JWKS of ${keys.length} keys`, {
          detail: { setting: 'kid', reason: 'kid-for-many-keys' },
          advice: [{ setting: 'kid' }, ' names a single key: give a key file that holds one, or no kid'],
        })
      }
      return Promise.all(keys.map((jwk, i) => fromJwk(jwk, `${source} (keys[${i}])`, options.kid)))
    }
    return [await fromJwk(json, source, options.kid)]
  }
  if (trimmed.includes('-----BEGIN')) {
    const { kid: labelled, pem } = splitPemLabel(trimmed)
    return [await fromPem(pem, source, options.kid ?? labelled)]
  }
  throw new KeyError(`${source} is not a key: expected a PEM block or a JWK/JWKS JSON document`)
}

/** A path as one shell word, for commands shown in advice. */
function shellWord(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`
}

/**
 * An encrypted private key: bktx never prompts for a passphrase (it runs in scripts and CI),
 * so the advice shows how to write a decrypted copy that stays private.
 */
function encryptedKey(source: string, kind: string): KeyError {
  const path = shellWord(source)
  return new KeyError(`${source} is ${kind}; bktx does not prompt for passphrases`, {
    detail: { file: source, reason: 'encrypted' },
    advice: [`write a decrypted copy that only you can read, \`(umask 077; openssl pkey -in ${path} -out ${shellWord(`${source}.plain`)})\`, and use that`],
  })
}

async function fromPem(pem: string, source: string, kid: string | undefined): Promise<LoadedKey> {
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(pem)) throw encryptedKey(source, 'an encrypted private key (PKCS#8)')
  // RFC 1421 headers of a traditional OpenSSL PEM: "Proc-Type: 4,ENCRYPTED" and "DEK-Info".
  if (/^Proc-Type:\s*4,ENCRYPTED/m.test(pem)) throw encryptedKey(source, 'an encrypted private key (traditional PEM, Proc-Type: 4,ENCRYPTED)')
  if (/-----BEGIN OPENSSH PRIVATE KEY-----/.test(pem)) {
    throw new KeyError(`${source} is an OpenSSH private key, a format bktx cannot read`, {
      detail: { file: source, reason: 'openssh-format' },
      advice: [
        `convert a copy to PKCS#8: \`(umask 077; cp ${shellWord(source)} ${shellWord(`${source}.pkcs8`)}; ssh-keygen -p -m PKCS8 -f ${shellWord(`${source}.pkcs8`)})\` (ssh-keygen asks for the passphrase; an empty new one writes it unencrypted)`,
      ],
    })
  }
  const isPublic = /-----BEGIN (RSA )?PUBLIC KEY-----/.test(pem)
  let privateKey: KeyObject | undefined
  let publicKey: KeyObject
  try {
    if (isPublic) {
      publicKey = createPublicKey({ key: pem, format: 'pem' })
    } else {
      privateKey = createPrivateKey({ key: pem, format: 'pem' })
      publicKey = createPublicKey(privateKey)
    }
  } catch (cause) {
    throw new KeyError(`${source} holds no readable ${isPublic ? 'public' : 'private'} key (corrupt or unsupported PEM)`, { cause })
  }
  const alg = algorithmFor(publicKey, source)
  if (privateKey !== undefined) checkKeyPair(privateKey, source)
  return describe(publicKey, privateKey, alg, kid, source)
}

async function fromJwk(value: unknown, source: string, kidOverride: string | undefined): Promise<LoadedKey> {
  if (!isObject(value) || typeof value['kty'] !== 'string') {
    throw new KeyError(`${source} is not a JWK (no "kty" member)`)
  }
  const jwk = value as JWK
  if (jwk.use !== undefined && jwk.use !== 'sig') {
    throw new KeyError(`${source}: JWK "use" is "${shown(jwk.use)}"; a signing key needs "sig" or no "use"`)
  }
  if (jwk.kid !== undefined && (typeof jwk.kid !== 'string' || jwk.kid === '')) {
    throw new KeyError(`${source}: JWK "kid" must be a non-empty string`)
  }
  checkJwkMembers(value, source)
  const hasPrivate = jwk.d !== undefined
  let privateKey: KeyObject | undefined
  let publicKey: KeyObject
  try {
    const input = { key: jwk, format: 'jwk' } as JsonWebKeyInput
    if (hasPrivate) {
      privateKey = createPrivateKey(input)
      publicKey = createPublicKey(privateKey)
    } else {
      publicKey = createPublicKey(input)
    }
  } catch (cause) {
    throw new KeyError(`${source} is not a usable ${jwk.kty} JWK (missing or invalid members)`, { cause })
  }
  const alg = algorithmFor(publicKey, source)
  if (privateKey !== undefined) checkKeyPair(privateKey, source)
  if (jwk.alg !== undefined) {
    // A JWK's own alg must agree with its key type (docs/token-exchange.md §9, RFC 8725 §3.1).
    if (!isSigningAlg(jwk.alg)) {
      throw new UnsupportedKeyError(`${source}: JWK "alg" is "${shown(jwk.alg)}"; Buildkite accepts only RS256 and ES256`)
    }
    if (jwk.alg !== alg) throw new KeyError(`${source}: JWK "alg" ${jwk.alg} does not match its ${alg} key`)
  }
  return describe(publicKey, privateKey, alg, kidOverride ?? jwk.kid, source)
}

async function describe(publicKey: KeyObject, privateKey: KeyObject | undefined, alg: SigningAlg, kid: string | undefined, source: string): Promise<LoadedKey> {
  const members = await exportJWK(publicKey)
  const resolvedKid = kid ?? (await calculateJwkThumbprint(members, 'sha256'))
  return { kid: resolvedKid, alg, publicKey, privateKey, publicJwk: publicJwk(members, resolvedKid, alg), source }
}

/**
 * The JWK as it is published: identifying members first, then only the public members of the
 * key type (RFC 7517 §4, RFC 7518 §6.2.1 and §6.3.1), whatever the input held.
 */
export function publicJwk(members: JWK, kid: string, alg: SigningAlg): JWK {
  const head = { kty: members.kty, kid, use: 'sig', alg }
  if (members.kty === 'EC') return { ...head, crv: members.crv, x: members.x, y: members.y }
  return { ...head, n: members.n, e: members.e }
}

// String() throws on a JSON object whose "toString" member is not a function ({"toString": 1}).
function shown(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? typeof value)
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * The one private key that signs assertions: the file must hold exactly one key, with its
 * private half. `kid` (the setting: flag, env or profile) replaces the key's own kid in the JWS
 * header; `none` sends no kid (`headerKid` undefined) and leaves `kid`, the published one, alone.
 */
export async function loadSigningKey(path: string, kid?: string): Promise<LoadedKey & { privateKey: KeyObject; headerKid: string | undefined }> {
  const keys = await loadKeyFile(path, kid === undefined || kid === NO_KID ? {} : { kid })
  if (keys.length !== 1) throw new KeyError(`${path} holds ${keys.length} keys; signing needs a file with exactly one private key`)
  const key = keys[0] as LoadedKey
  if (key.privateKey === undefined) {
    throw new KeyError(`${path} holds a public key; signing needs the private key (the PEM written by \`bktx keygen\`)`)
  }
  return { ...key, privateKey: key.privateKey, headerKid: kid === NO_KID ? undefined : key.kid }
}

/** As {@link loadSigningKey}, for key text that is not in a file (an `env:NAME` key). */
export async function parseSigningKey(text: string, source: string, kid?: string): Promise<LoadedKey & { privateKey: KeyObject }> {
  const keys = await parseKeys(text, source, kid === undefined ? {} : { kid })
  if (keys.length !== 1) throw new KeyError(`${source} holds ${keys.length} keys; signing needs exactly one private key`)
  const key = keys[0] as LoadedKey
  if (key.privateKey === undefined) throw new KeyError(`${source} holds a public key; signing needs the private key`)
  return { ...key, privateKey: key.privateKey }
}
