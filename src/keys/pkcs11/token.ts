// Talking to a PKCS#11 token: find the token and key an RFC 7512 URI names, log in, read the
// public key, sign inside the token, generate a key pair inside it. Only the miss path and the
// key commands load this module (and through it the native binding); a cache hit never does.
import { createHash, createPublicKey, randomBytes, type KeyObject } from 'node:crypto'
import { statSync, type Stats } from 'node:fs'
import { isAbsolute } from 'node:path'
import { Pkcs11ModuleError, Pkcs11PinError, Pkcs11TokenError, SettingInvalidError, type BktxErrorOptions } from '../../errors.js'
import { untrustedDir, untrustedFile } from '../../fs/trust.js'
import { errnoText } from '../../fs/atomic.js'
import type { Pkcs11Uri } from '../pkcs11-uri.js'
import type { SigningAlg } from '../policy.js'
import { derToRaw } from '../signature.js'
import { loadBinding, type Attribute, type Handle, type Pkcs11Module, type TokenInfo } from './binding.js'

// PKCS#11 v2.40 constants (pkcs11t.h); fixed by the standard, so spelled out here rather than
// read from the optional binding.
const CKA_CLASS = 0x0
const CKA_TOKEN = 0x1
const CKA_PRIVATE = 0x2
const CKA_LABEL = 0x3
const CKA_KEY_TYPE = 0x100
const CKA_ID = 0x102
const CKA_SENSITIVE = 0x103
const CKA_SIGN = 0x108
const CKA_VERIFY = 0x10a
const CKA_MODULUS = 0x120
const CKA_MODULUS_BITS = 0x121
const CKA_PUBLIC_EXPONENT = 0x122
const CKA_EXTRACTABLE = 0x162
const CKA_EC_PARAMS = 0x180
const CKA_EC_POINT = 0x181
const CKO_PUBLIC_KEY = 2
const CKO_PRIVATE_KEY = 3
const CKK_RSA = 0
const CKK_EC = 3
const CKM_RSA_PKCS_KEY_PAIR_GEN = 0x0
const CKM_SHA256_RSA_PKCS = 0x40
const CKM_EC_KEY_PAIR_GEN = 0x1040
const CKM_ECDSA = 0x1041
const CKU_USER = 1
const CKF_RW_SESSION = 0x2
const CKF_SERIAL_SESSION = 0x4
const CKF_LOGIN_REQUIRED = 0x4
const CKF_USER_PIN_INITIALIZED = 0x8
const CKF_PROTECTED_AUTHENTICATION_PATH = 0x100
const CKF_TOKEN_INITIALIZED = 0x400
const CKF_USER_PIN_FINAL_TRY = 0x20000
const CKF_USER_PIN_LOCKED = 0x40000

const CKR: Record<number, string> = {
  0x05: 'CKR_GENERAL_ERROR',
  0x06: 'CKR_FUNCTION_FAILED',
  0x30: 'CKR_DEVICE_ERROR',
  0x31: 'CKR_DEVICE_MEMORY',
  0x32: 'CKR_DEVICE_REMOVED',
  0x50: 'CKR_FUNCTION_CANCELED',
  0x63: 'CKR_KEY_TYPE_INCONSISTENT',
  0x68: 'CKR_KEY_FUNCTION_NOT_PERMITTED',
  0x70: 'CKR_MECHANISM_INVALID',
  0xa0: 'CKR_PIN_INCORRECT',
  0xa1: 'CKR_PIN_INVALID',
  0xa2: 'CKR_PIN_LEN_RANGE',
  0xa3: 'CKR_PIN_EXPIRED',
  0xa4: 'CKR_PIN_LOCKED',
  0xb5: 'CKR_SESSION_READ_ONLY',
  0xe0: 'CKR_TOKEN_NOT_PRESENT',
  0xe1: 'CKR_TOKEN_NOT_RECOGNIZED',
  0xe2: 'CKR_TOKEN_WRITE_PROTECTED',
  0x100: 'CKR_USER_ALREADY_LOGGED_IN',
  0x101: 'CKR_USER_NOT_LOGGED_IN',
  0x102: 'CKR_USER_PIN_NOT_INITIALIZED',
  0x191: 'CKR_CRYPTOKI_ALREADY_INITIALIZED',
}

// DER of the P-256 OID 1.2.840.10045.3.1.7 (RFC 5480 §2.1.1.1): CKA_EC_PARAMS of an ES256 key.
const P256_PARAMS = Buffer.from('06082a8648ce3d030107', 'hex')

/** Where a key is and how to reach it. `source` is the URI as configured, for messages. */
export interface TokenTarget {
  uri: Pkcs11Uri
  source: string
  modulePath: string
  /** Reads the PIN when the token wants one; undefined when none is configured. */
  pin: () => string | undefined
  /** Where the PIN is read, for messages: `pin-source env:HSM_PIN`, `BKTX_PKCS11_PIN`. */
  pinFrom: string
  /** For tests: another binding package. */
  binding?: string
  /** The user running bktx: a module file another user owns or can write is not loaded (undefined: Windows, not checked). */
  uid?: number | undefined
}

/** The CK_RV of a binding error, when it carries one. */
export function returnValue(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'number' && code !== 0 ? code : undefined
}

/** The CKR name of a binding error (`CKR_PIN_INCORRECT`), else its message. */
export function rvName(error: unknown): string {
  const rv = returnValue(error)
  if (rv === undefined) return error instanceof Error ? error.message : String(error)
  return CKR[rv] ?? `CKR 0x${rv.toString(16)}`
}

/** The typed error of a failed call, by its CK_RV. The PIN never appears: only CKR names do. */
export function tokenError(error: unknown, doing: string, target: Pick<TokenTarget, 'source' | 'pinFrom'>, flags = 0): Error {
  const rv = returnValue(error)
  const name = rvName(error)
  const options: BktxErrorOptions = { cause: error, detail: { setting: 'key', reason: name } }
  const where = `${target.source}: ${doing} failed (${name})`
  switch (rv) {
    case 0xa0:
    case 0xa1:
    case 0xa2:
      return new Pkcs11PinError(
        `${where}: the token refused the PIN from ${target.pinFrom}${flags & CKF_USER_PIN_FINAL_TRY ? '; one more wrong PIN locks it' : ''}`,
        {
          ...options,
          detail: { setting: 'pin-source', reason: 'wrong-pin' },
          advice: ['check that PIN before trying again: a token locks itself after a few wrong ones'],
        },
      )
    case 0xa3:
      return new Pkcs11PinError(`${where}: the PIN has expired`, {
        ...options,
        detail: { setting: 'pin-source', reason: 'pin-expired' },
        advice: ["set a new PIN with the token's own tools"],
      })
    case 0xa4:
      return new Pkcs11PinError(`${where}: the PIN is locked after too many wrong tries`, {
        ...options,
        detail: { setting: 'pin-source', reason: 'pin-locked' },
        advice: ["unlock it with the security officer PIN or PUK, using the token's own tools"],
      })
    case 0x102:
      return new Pkcs11PinError(`${where}: the token's user PIN was never set`, {
        ...options,
        detail: { setting: 'pin-source', reason: 'pin-not-initialised' },
        advice: ["initialise the token's user PIN with its own tools (softhsm2-util or pkcs11-tool)"],
      })
    case 0xe0:
    case 0x32:
      return new Pkcs11TokenError(`${where}: the token is not present`, {
        ...options,
        advice: ['plug the token in, or check the token attributes of ', { setting: 'key' }],
      })
    case 0x70:
    case 0x63:
    case 0x68:
      return new Pkcs11TokenError(`${where}: the token cannot sign with this key`, options)
    default:
      return new Pkcs11TokenError(where, options)
  }
}

/**
 * Runs `task` with a session on the one token the URI names: module loaded and initialised,
 * slot chosen, session open; everything closed again afterwards, whatever happens. The calls
 * are synchronous: a token that waits for a touch blocks until it is touched.
 */
export async function withSession<T>(target: TokenTarget, options: { write?: boolean }, task: (s: Session) => T): Promise<T> {
  const binding = loadBinding(target.binding)
  checkModuleFile(target)
  const module = new binding.PKCS11()
  try {
    module.load(target.modulePath)
  } catch (cause) {
    throw moduleError(target, `the PKCS#11 module ${target.modulePath} does not load (not a PKCS#11 library for this platform?)`, cause)
  }
  try {
    try {
      module.C_Initialize()
    } catch (cause) {
      // Another user of the module in this process (none in bktx) would have initialised it.
      if (returnValue(cause) !== 0x191) throw moduleError(target, `the PKCS#11 module ${target.modulePath} failed to initialise (${rvName(cause)})`, cause)
    }
    const slot = findSlot(module, target)
    const tokenInfo = module.C_GetTokenInfo(slot)
    if ((tokenInfo.flags & CKF_TOKEN_INITIALIZED) === 0) {
      throw new Pkcs11TokenError(`${target.source}: the token is not initialised`, { detail: { setting: 'key', reason: 'token-not-initialised' } })
    }
    let session: Handle
    try {
      session = module.C_OpenSession(slot, CKF_SERIAL_SESSION | (options.write === true ? CKF_RW_SESSION : 0))
    } catch (cause) {
      throw tokenError(cause, 'opening a session', target)
    }
    try {
      return task(new Session(module, session, tokenInfo, target))
    } finally {
      try {
        module.C_CloseSession(session)
      } catch {
        // Closing is best effort: C_Finalize below ends every session anyway.
      }
    }
  } finally {
    try {
      module.C_Finalize()
    } catch {
      // Nothing to do: the process is about to go on without the module.
    }
    try {
      module.close()
    } catch {
      // As above.
    }
  }
}

/**
 * Loading a module runs its constructors as this user before any PKCS#11 call, so the module is
 * trusted only as a configuration file is (src/fs/trust.ts): an absolute path to a regular file
 * that belongs to the user or root and that nobody else can write or replace. A bare name
 * (`opensc-pkcs11.so`) goes to the system loader unchanged: dlopen(3) searches only the
 * library paths for a name without a slash, never the working directory; statting it here would
 * look in the working directory instead. A relative path with a slash never gets here (the
 * setting refuses it, the URI's module-path must be absolute); refused again in case it does.
 */
export function checkModuleFile(target: Pick<TokenTarget, 'modulePath' | 'uid'>): void {
  const path = target.modulePath
  if (!isAbsolute(path)) {
    if (!/[\\/]/.test(path)) return
    throw new SettingInvalidError(
      'pkcs11-module',
      'must be an absolute path (or a bare library name such as opensc-pkcs11.so for the system loader), not a path relative to the working directory',
    )
  }
  let info: Stats
  try {
    info = statSync(path)
    if (!info.isFile()) throw new Error('not a regular file')
  } catch (cause) {
    throw moduleError(target, `the PKCS#11 module ${path} cannot be used: ${errnoText(cause)}`, cause)
  }
  const untrusted = untrustedFile(path, info, target.uid) ?? untrustedDir(path, target.uid)
  if (untrusted !== undefined) {
    throw new Pkcs11ModuleError(`the PKCS#11 module ${path} ${untrusted.text}; bktx does not load a library another user can change`, {
      detail: { setting: 'pkcs11-module', file: path, reason: untrusted.reason },
      advice: [untrusted.fix],
    })
  }
}

export function moduleError(target: Pick<TokenTarget, 'modulePath'>, message: string, cause: unknown): Pkcs11ModuleError {
  return new Pkcs11ModuleError(message, {
    cause,
    detail: { setting: 'pkcs11-module', file: target.modulePath, reason: 'module-unusable' },
    advice: ['check ', { setting: 'pkcs11-module' }, ' or the module-path of ', { setting: 'key' }],
  })
}

const trim = (s: string): string => s.replace(/[\s\0]+$/, '')

function slotNumber(slot: Handle): bigint {
  return slot.length >= 8 ? slot.readBigUInt64LE(0) : BigInt(slot.readUInt32LE(0))
}

/** The one slot whose token (and slot and library) match every attribute of the URI (RFC 7512 §3). */
function findSlot(module: Pkcs11Module, target: TokenTarget): Handle {
  const a = target.uri.attributes
  const library = module.C_GetInfo()
  const libraryMatches =
    (a['library-manufacturer'] === undefined || trim(library.manufacturerID) === a['library-manufacturer']) &&
    (a['library-description'] === undefined || trim(library.libraryDescription) === a['library-description']) &&
    (a['library-version'] === undefined || versionMatches(a['library-version'], library.libraryVersion))
  let slots: Handle[]
  try {
    // Only initialised tokens: SoftHSM and others keep an empty slot ready for the next one.
    slots = (libraryMatches ? module.C_GetSlotList(true) : []).filter((slot) => {
      try {
        return (module.C_GetTokenInfo(slot).flags & CKF_TOKEN_INITIALIZED) !== 0
      } catch {
        return false
      }
    })
  } catch (cause) {
    throw tokenError(cause, 'listing slots', target)
  }
  const matches = slots.filter((slot) => {
    if (a['slot-id'] !== undefined && slotNumber(slot) !== BigInt(a['slot-id'])) return false
    if (a['slot-description'] !== undefined || a['slot-manufacturer'] !== undefined) {
      const info = module.C_GetSlotInfo(slot)
      if (a['slot-description'] !== undefined && trim(info.slotDescription) !== a['slot-description']) return false
      if (a['slot-manufacturer'] !== undefined && trim(info.manufacturerID) !== a['slot-manufacturer']) return false
    }
    let info: TokenInfo
    try {
      info = module.C_GetTokenInfo(slot)
    } catch {
      return false
    }
    return (
      (a.token === undefined || trim(info.label) === a.token) &&
      (a.manufacturer === undefined || trim(info.manufacturerID) === a.manufacturer) &&
      (a.model === undefined || trim(info.model) === a.model) &&
      (a.serial === undefined || trim(info.serialNumber) === a.serial)
    )
  })
  if (matches.length === 1) return matches[0] as Handle
  if (matches.length === 0) {
    const labels = slots.map((slot) => {
      try {
        return `"${trim(module.C_GetTokenInfo(slot).label)}"`
      } catch {
        return '(unreadable)'
      }
    })
    throw new Pkcs11TokenError(
      `${target.source}: no token matches${labels.length > 0 ? ` (tokens present: ${labels.join(', ')})` : ' (no token is present)'}`,
      {
        detail: { setting: 'key', reason: 'no-such-token' },
        advice: ['check the token, serial or slot-id attributes of ', { setting: 'key' }],
      },
    )
  }
  throw new Pkcs11TokenError(`${target.source}: ${matches.length} tokens match; name one with a token=, serial= or slot-id= attribute`, {
    detail: { setting: 'key', reason: 'several-tokens' },
  })
}

function versionMatches(wanted: string, version: { major: number; minor: number }): boolean {
  const [major, minor] = wanted.split('.')
  return Number(major) === version.major && (minor === undefined || Number(minor) === version.minor)
}

/** An open session on the token the URI names. */
export class Session {
  private loggedIn = false
  constructor(
    private readonly module: Pkcs11Module,
    private readonly handle: Handle,
    readonly tokenInfo: TokenInfo,
    private readonly target: TokenTarget,
  ) {}

  /** Logs in as the user when the token asks for it (CKF_LOGIN_REQUIRED). */
  login(): void {
    if (this.loggedIn || (this.tokenInfo.flags & CKF_LOGIN_REQUIRED) === 0) return
    const flags = this.tokenInfo.flags
    if ((flags & CKF_USER_PIN_LOCKED) !== 0) throw tokenError({ code: 0xa4 }, 'logging in', this.target)
    if ((flags & CKF_USER_PIN_INITIALIZED) === 0) throw tokenError({ code: 0x102 }, 'logging in', this.target)
    // A PIN pad or biometric reader takes the PIN itself (PKCS#11 v2.40 §5.6, C_Login with no PIN).
    const pin = (flags & CKF_PROTECTED_AUTHENTICATION_PATH) !== 0 ? undefined : this.target.pin()
    if (pin === undefined && (flags & CKF_PROTECTED_AUTHENTICATION_PATH) === 0) {
      throw new Pkcs11PinError(`${this.target.source}: the token needs a PIN and none is configured`, {
        detail: { setting: 'pin-source', reason: 'pin-missing' },
        advice: [{ set: 'pin-source', value: 'env:NAME' }, ', or set BKTX_PKCS11_PIN (never pass a PIN on the command line)'],
      })
    }
    try {
      this.module.C_Login(this.handle, CKU_USER, pin)
    } catch (cause) {
      if (returnValue(cause) !== 0x100) throw tokenError(cause, 'logging in', this.target, flags)
    }
    this.loggedIn = true
  }

  find(template: Attribute[]): Handle[] {
    try {
      this.module.C_FindObjectsInit(this.handle, template)
      try {
        return this.module.C_FindObjects(this.handle, 16)
      } finally {
        this.module.C_FindObjectsFinal(this.handle)
      }
    } catch (cause) {
      throw tokenError(cause, 'searching for the key', this.target)
    }
  }

  /** The objects of a class that the URI's object (CKA_LABEL) and id (CKA_ID) select. */
  objects(cls: number): Handle[] {
    const template: Attribute[] = [{ type: CKA_CLASS, value: cls }]
    const { uri } = this.target
    if (uri.attributes.object !== undefined) template.push({ type: CKA_LABEL, value: uri.attributes.object })
    if (uri.id !== undefined) template.push({ type: CKA_ID, value: Buffer.from(uri.id) })
    return this.find(template)
  }

  attributes(object: Handle, types: number[]): Buffer[] {
    try {
      return this.module
        .C_GetAttributeValue(
          this.handle,
          object,
          types.map((type) => ({ type })),
        )
        .map((a) => a.value as Buffer)
    } catch (cause) {
      throw tokenError(cause, 'reading key attributes', this.target)
    }
  }

  /** The one private key the URI names (logging in first when the token wants it). */
  privateKey(): Handle {
    const type = this.target.uri.attributes.type
    if (type !== undefined && type !== 'private') {
      throw new Pkcs11TokenError(`${this.target.source}: type=${type} names no private key; signing needs type=private (or no type)`, {
        detail: { setting: 'key', reason: 'not-a-private-key' },
      })
    }
    this.login()
    return this.one(this.objects(CKO_PRIVATE_KEY), 'private key')
  }

  /** The public key object the URI names, or undefined when the token holds none. */
  publicKeyObject(): Handle | undefined {
    let found = this.objects(CKO_PUBLIC_KEY)
    if (found.length === 0 && !this.loggedIn && (this.tokenInfo.flags & CKF_LOGIN_REQUIRED) !== 0 && this.pinAvailable()) {
      // Some tokens hide public objects until login (public keys with CKA_PRIVATE set).
      this.login()
      found = this.objects(CKO_PUBLIC_KEY)
    }
    return found.length === 0 ? undefined : this.one(found, 'public key')
  }

  private pinAvailable(): boolean {
    try {
      return this.target.pin() !== undefined
    } catch {
      return false
    }
  }

  private one(found: Handle[], what: string): Handle {
    if (found.length === 1) return found[0] as Handle
    if (found.length === 0) {
      throw new Pkcs11TokenError(`${this.target.source}: the token "${trim(this.tokenInfo.label)}" holds no ${what} with this object/id`, {
        detail: { setting: 'key', reason: 'no-such-key' },
        advice: ['check the object= (label) and id= attributes of ', { setting: 'key' }, " against the token's objects (pkcs11-tool lists them)"],
      })
    }
    throw new Pkcs11TokenError(`${this.target.source}: ${found.length} ${what}s match; name one with object= and id=`, {
      detail: { setting: 'key', reason: 'several-keys' },
    })
  }

  /** The public key as a KeyObject, from a public key object (or an RSA private key's public attributes). */
  publicKey(): KeyObject {
    const object = this.publicKeyObject()
    if (object !== undefined) return this.publicKeyOf(object)
    // RSA private key objects carry the modulus and exponent; EC ones do not carry the point.
    const key = this.privateKey()
    const [keyType] = this.attributes(key, [CKA_KEY_TYPE])
    if (keyType !== undefined && ulong(keyType) === CKK_RSA) return this.rsaPublicKey(key)
    throw new Pkcs11TokenError(`${this.target.source}: the token holds no public key object for this key, so bktx cannot read its public half`, {
      detail: { setting: 'key', reason: 'no-public-key' },
      advice: ['give the public half in ', { setting: 'public-key' }],
    })
  }

  /** The KeyObject of a public key object: RSA from CKA_MODULUS/CKA_PUBLIC_EXPONENT, EC P-256 from CKA_EC_POINT. */
  publicKeyOf(object: Handle): KeyObject {
    const [keyType] = this.attributes(object, [CKA_KEY_TYPE])
    const type = keyType === undefined ? -1 : ulong(keyType)
    if (type === CKK_RSA) return this.rsaPublicKey(object)
    if (type === CKK_EC) {
      const [params, point] = this.attributes(object, [CKA_EC_PARAMS, CKA_EC_POINT])
      if (params === undefined || !params.equals(P256_PARAMS)) {
        throw new Pkcs11TokenError(`${this.target.source}: an EC key on another curve than P-256; Buildkite accepts only ES256 (P-256) and RS256 keys`, {
          detail: { setting: 'key', reason: 'unsupported-curve' },
        })
      }
      return ecPublicKey(unwrapPoint(point ?? Buffer.alloc(0)), this.target.source)
    }
    throw new Pkcs11TokenError(`${this.target.source}: neither an RSA nor an EC key; Buildkite accepts only RS256 and ES256 keys`, {
      detail: { setting: 'key', reason: 'unsupported-key-type' },
    })
  }

  private rsaPublicKey(object: Handle): KeyObject {
    const [n, e] = this.attributes(object, [CKA_MODULUS, CKA_PUBLIC_EXPONENT])
    return createPublicKey({ key: { kty: 'RSA', n: stripZeros(n).toString('base64url'), e: stripZeros(e).toString('base64url') }, format: 'jwk' })
  }

  /**
   * Signs the JWS signing input inside the token: ES256 as CKM_ECDSA over its SHA-256 digest
   * (the token returns raw r‖s, PKCS#11 v2.40 §2.3.1), RS256 as CKM_SHA256_RSA_PKCS over the
   * input itself (the token hashes).
   */
  sign(alg: SigningAlg, input: Uint8Array): Uint8Array {
    const key = this.privateKey()
    const mechanism = alg === 'ES256' ? CKM_ECDSA : CKM_SHA256_RSA_PKCS
    const data = alg === 'ES256' ? createHash('sha256').update(input).digest() : Buffer.from(input)
    let signature: Buffer
    try {
      this.module.C_SignInit(this.handle, { mechanism }, key)
      signature = this.module.C_Sign(this.handle, data, Buffer.alloc(1024))
    } catch (cause) {
      throw tokenError(cause, `signing (${alg})`, this.target, this.tokenInfo.flags)
    }
    // A few modules answer CKM_ECDSA in DER; JWS wants r‖s.
    if (alg === 'ES256' && signature.length !== 64) return derToRaw(signature) ?? signature
    return signature
  }

  /**
   * Generates a key pair inside the token: the private key sensitive and never extractable
   * (CKA_SENSITIVE, CKA_EXTRACTABLE false), both on the token, labelled and identified as the
   * URI says (a random 16-byte CKA_ID when it names none). Refuses when such a key exists.
   */
  generate(alg: SigningAlg, bits: number): { id: Uint8Array; publicKey: KeyObject } {
    this.login()
    const { uri } = this.target
    if (uri.attributes.object === undefined && uri.id === undefined) {
      throw new Pkcs11TokenError(`${this.target.source}: name the new key with object= (its label) and/or id=`, {
        detail: { setting: 'key', reason: 'unnamed-key' },
      })
    }
    if (this.objects(CKO_PRIVATE_KEY).length > 0 || this.objects(CKO_PUBLIC_KEY).length > 0) {
      throw new Pkcs11TokenError(`${this.target.source}: the token already holds a key with this object/id; bktx never replaces a key in a token`, {
        detail: { setting: 'key', reason: 'key-exists' },
        advice: ["choose another object= or id=, or delete the old key with the token's own tools"],
      })
    }
    const id = uri.id ?? randomBytes(16)
    const label = uri.attributes.object
    const common: Attribute[] = [
      { type: CKA_TOKEN, value: true },
      { type: CKA_ID, value: Buffer.from(id) },
      ...(label === undefined ? [] : [{ type: CKA_LABEL, value: label }]),
    ]
    const publicTemplate: Attribute[] = [
      ...common,
      { type: CKA_CLASS, value: CKO_PUBLIC_KEY },
      { type: CKA_VERIFY, value: true },
      { type: CKA_PRIVATE, value: false },
      ...(alg === 'ES256'
        ? [
            { type: CKA_KEY_TYPE, value: CKK_EC },
            { type: CKA_EC_PARAMS, value: P256_PARAMS },
          ]
        : [
            { type: CKA_KEY_TYPE, value: CKK_RSA },
            { type: CKA_MODULUS_BITS, value: bits },
            { type: CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
          ]),
    ]
    const privateTemplate: Attribute[] = [
      ...common,
      { type: CKA_CLASS, value: CKO_PRIVATE_KEY },
      { type: CKA_KEY_TYPE, value: alg === 'ES256' ? CKK_EC : CKK_RSA },
      { type: CKA_SIGN, value: true },
      { type: CKA_PRIVATE, value: true },
      { type: CKA_SENSITIVE, value: true },
      { type: CKA_EXTRACTABLE, value: false },
    ]
    let pair: { publicKey: Handle }
    try {
      pair = this.module.C_GenerateKeyPair(
        this.handle,
        { mechanism: alg === 'ES256' ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN },
        publicTemplate,
        privateTemplate,
      )
    } catch (cause) {
      throw tokenError(cause, `generating an ${alg} key pair`, this.target)
    }
    return { id, publicKey: this.publicKeyOf(pair.publicKey) }
  }
}

function ulong(value: Buffer): number {
  return value.length >= 8 ? Number(value.readBigUInt64LE(0)) : value.readUInt32LE(0)
}

function stripZeros(value: Buffer | undefined): Buffer {
  let i = 0
  const v = value ?? Buffer.alloc(0)
  while (i < v.length - 1 && v[i] === 0) i++
  return v.subarray(i)
}

/** CKA_EC_POINT is a DER OCTET STRING around the uncompressed point (PKCS#11 v2.40 §2.3.3); some modules omit the wrapper. */
function unwrapPoint(value: Buffer): Buffer {
  if (value.length === 67 && value[0] === 0x04 && value[1] === 0x41) return value.subarray(2)
  return value
}

function ecPublicKey(point: Buffer, source: string): KeyObject {
  if (point.length !== 65 || point[0] !== 0x04) {
    throw new Pkcs11TokenError(`${source}: the token's EC point is not an uncompressed P-256 point`, { detail: { setting: 'key', reason: 'bad-ec-point' } })
  }
  return createPublicKey({
    key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') },
    format: 'jwk',
  })
}
