import type { KeyObject } from 'node:crypto'
import type { Env } from '../../env.js'
import { Pkcs11TokenError, SettingMissingError } from '../../errors.js'
import { keyTextDigest, type KeyIdentityStore } from '../identity.js'
import { makeAssertionKey, rememberedIdentityKey } from '../signer.js'
import type { AssertionKey } from '../signer.js'
import { encodeId, type Pkcs11Uri } from '../pkcs11-uri.js'
import { readPublicKeyFile } from '../public-key.js'
import { parseKeyRecord, readKeyRecordText, writeKeyRecord } from '../record.js'
import { DEFAULT_PIN_VARIABLE, readPin } from './pin.js'
import type { TokenTarget } from './token.js'

export interface Pkcs11KeyInput {
  uri: Pkcs11Uri
  /** The URI as configured: messages, and the name of its record. */
  source: string
  kid: string | undefined
  /** The `public-key` setting: when given, the token is not asked for the public half. */
  publicKeyPath: string | undefined
  /** The `pkcs11-module` setting (the URI's module-path wins). */
  pkcs11Module: string | undefined
  /** The `pin-source` setting (wins over the URI's pin-source, then BKTX_PKCS11_PIN). */
  pinSource: string | undefined
  env: Env
  home: string
  uid: number | undefined
  /** For tests: another binding package in place of pkcs11js. */
  binding?: string | undefined
  /** Identities of records read before (../identity.ts): a record read again is not parsed again. */
  identities?: KeyIdentityStore | undefined
}

/** Where the key is: the module, the URI, and how to get the PIN when the token wants one. */
export function tokenTarget(input: Pkcs11KeyInput): TokenTarget {
  const modulePath = input.uri.modulePath ?? input.pkcs11Module
  if (modulePath === undefined) throw new SettingMissingError('pkcs11-module')
  const pinSource = input.pinSource ?? input.uri.pinSource
  let pin: { value: string | undefined } | undefined
  return {
    uri: input.uri,
    source: input.source,
    modulePath,
    // Read once, when the token first asks; never kept beyond this process or put in a message.
    pin: () => (pin ??= { value: readPin(pinSource, input.env) }).value,
    pinFrom: pinSource === undefined ? DEFAULT_PIN_VARIABLE : `pin-source ${pinSource}`,
    uid: input.uid,
    ...(input.binding === undefined ? {} : { binding: input.binding }),
  }
}

/** The token's public key, read now (loading the module), and recorded for the next runs. */
export async function readTokenPublicKey(input: Pkcs11KeyInput): Promise<KeyObject> {
  const target = tokenTarget(input)
  const { withSession } = await import('./token.js')
  const publicKey = await withSession(target, {}, (session) => session.publicKey())
  await writeKeyRecord(input.source, target.modulePath, publicKey, input)
  return publicKey
}

/**
 * A key in a PKCS#11 token. Its public half, and so its kid and fingerprint, comes from the
 * `public-key` setting, else from the record of an earlier run, else from the token (once;
 * then recorded): a cache hit does not load the module. Only sign() opens the token; it
 * checks that the token still holds the key the public half belongs to.
 */
export async function pkcs11AssertionKey(input: Pkcs11KeyInput): Promise<AssertionKey> {
  const target = tokenTarget(input)
  if (input.publicKeyPath !== undefined) {
    const { publicKey, kid: ownKid } = await readPublicKeyFile(input.publicKeyPath, input.kid)
    return tokenKey(input, target, publicKey, ownKid, false)
  }
  const text = readKeyRecordText(input.source, target.modulePath, input)
  if (text === undefined) return tokenKey(input, target, await readTokenPublicKey(input), undefined, false)
  // A record read before is known by its identity, remembered under the digest of its text as
  // a key file's is (../identity.ts), so a cache hit neither parses it nor loads node:crypto. The
  // URI and module are in the digest too: a record copied to another URI's name is another text.
  const digest = input.identities === undefined ? undefined : keyTextDigest(JSON.stringify(['bktx-pkcs11-record', input.source, target.modulePath, text]))
  const fromRecord = (): AssertionKey | undefined => {
    const recorded = parseKeyRecord(text, input.source, target.modulePath)
    return recorded === undefined ? undefined : tokenKey(input, target, recorded, undefined, true)
  }
  const known = digest === undefined ? undefined : await input.identities?.get(digest)
  if (known !== undefined) return rememberedIdentityKey(known, input.source, () => fromRecord() ?? throwUnusableRecord(input.source))
  const key = fromRecord()
  if (key === undefined) return tokenKey(input, target, await readTokenPublicKey(input), undefined, false)
  if (digest !== undefined) await input.identities?.set(digest, { fingerprint: key.fingerprint, alg: key.alg })
  return key
}

/** A remembered record that no longer parses: it was read and checked when remembered, so it was changed by hand. */
function throwUnusableRecord(source: string): never {
  throw new Pkcs11TokenError(`${source}: the public key bktx recorded for this URI cannot be read any more (changed by hand?); nothing was signed`, {
    detail: { setting: 'key', reason: 'record-unusable' },
  })
}

/** The token key with this public half; only sign() opens the token, and checks it holds that key. */
function tokenKey(input: Pkcs11KeyInput, target: TokenTarget, publicKey: KeyObject, ownKid: string | undefined, fromRecord: boolean): AssertionKey {
  const key: AssertionKey = makeAssertionKey(publicKey, input.kid ?? ownKid, input.source, async (data) => {
    const { withSession } = await import('./token.js')
    const { signature, actual } = await withSession(target, {}, (session) => {
      const object = session.publicKeyObject()
      const actualKey = object === undefined ? undefined : session.publicKey()
      if (actualKey !== undefined && !actualKey.equals(publicKey)) return { signature: undefined, actual: actualKey }
      return { signature: session.sign(key.alg, data), actual: actualKey }
    })
    if (signature !== undefined) return signature
    if (fromRecord && actual !== undefined) {
      // The token's key was replaced since bktx recorded it: remember the new one, and say so
      // rather than sign for a cache entry that belongs to the old key.
      await writeKeyRecord(input.source, target.modulePath, actual, input)
      throw new Pkcs11TokenError(`${input.source}: the token now holds another key than the one bktx recorded for this URI; the new one is recorded now`, {
        detail: { setting: 'key', reason: 'key-changed' },
        advice: ['run the command again (and register the new public key, see ', { command: 'jwks' }, ')'],
      })
    }
    throw new Pkcs11TokenError(`${input.source}: the token's key is not the one in the public-key file`, {
      detail: { setting: 'public-key', reason: 'key-mismatch' },
      advice: ['check ', { setting: 'public-key' }],
    })
  })
  return key
}

/**
 * Generates a key pair inside the token (see Session.generate) and records its public half.
 * Returns the URI that names it: the one given, with the new CKA_ID added when it had none.
 */
export async function generateTokenKey(input: Pkcs11KeyInput, alg: 'ES256' | 'RS256', bits: number): Promise<{ uri: string; publicKey: KeyObject }> {
  const target = tokenTarget(input)
  const { withSession } = await import('./token.js')
  const { id, publicKey } = await withSession(target, { write: true }, (session) => session.generate(alg, bits))
  let uri = input.source
  if (input.uri.id === undefined) {
    const q = uri.indexOf('?')
    const path = q === -1 ? uri : uri.slice(0, q)
    uri = `${path}${path.endsWith(':') ? '' : ';'}id=${encodeId(id)}${q === -1 ? '' : uri.slice(q)}`
  }
  await writeKeyRecord(uri, target.modulePath, publicKey, input)
  return { uri, publicKey }
}
