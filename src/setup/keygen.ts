// The keygen use case: generate a signing key pair, keep the private half (a 0600 file, or
// inside a PKCS#11 token), and record the key in a profile. `bktx keygen` and the library's
// `generateKey` both call it; they only parse their input and show the result.
import type { JWK } from 'jose'
import { join } from 'node:path'
import { loadConfigFile, saveConfigFile, type ConfigFile } from '../config/file.js'
import { SettingInvalidError } from '../errors.js'
import { writeFileAtomic } from '../fs/atomic.js'
import { NO_KID, withKidLabel } from '../keys/pem.js'
import { SIGNING_ALGS, type SigningAlg } from '../keys/policy.js'
import type { Pkcs11Uri } from '../keys/pkcs11-uri.js'
import type { KeyDeps } from '../keys/open.js'
import { profileToWrite } from './profile.js'

/** Runs a slow step (the CLI shows a spinner); the default just runs it. */
export type Progress = <T>(label: string, work: () => Promise<T>) => Promise<T>

const run: Progress = (_label, work) => work()

/** Where the new key is recorded. */
export interface KeyProfileTarget {
  /** The configuration file. */
  configPath: string
  /**
   * The profile named by the caller: the key is recorded there (the profile is created if
   * need be). Undefined: the default profile, which records the key only while it has none.
   */
  explicitProfile: string | undefined
  /** The invoking user: a configuration file must be theirs (or root's) to be trusted. */
  uid?: number | undefined
  /** Loads the configuration file; default: reads `configPath`. */
  loadConfig?: () => Promise<ConfigFile>
}

export interface KeygenResult {
  kid: string
  alg: SigningAlg
  /** The private key file, or the pkcs11: URI of a key generated in a token. */
  key: string
  /** The profile the key was recorded in, or the one left signing with its own key; null when no profile is involved. */
  profile: string | null
  /** True when the profile now names the new key. */
  recorded: boolean
  /** The key the profile named before (it still signs with it when `recorded` is false). */
  previousKey: string | undefined
  /** The public JWKS to register with the token exchange application. */
  jwks: { keys: [JWK] }
}

// A kid becomes a file name when no path is given: keep it to a safe alphabet.
const FILE_SAFE_KID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

/** Why `kid` cannot name a new key file (`pathGiven`: the caller named the file itself), or undefined. */
export function kidProblem(kid: string | undefined, pathGiven: boolean): 'file-name' | 'reserved' | 'space' | undefined {
  if (kid === undefined) return undefined
  if (!pathGiven && !FILE_SAFE_KID.test(kid)) return 'file-name'
  if (kid === NO_KID) return 'reserved'
  if (/\s/.test(kid)) return 'space'
  return undefined
}

export interface FileKeygenOptions {
  /** ES256 (P-256) or RS256. */
  alg: SigningAlg
  /** RSA modulus length; RS256 only. Default 2048. */
  bits?: number | undefined
  /** Key ID; default the RFC 7638 thumbprint of the public key. */
  kid?: string | undefined
  /** Absolute path of the private key file. Default `<keysDir>/<kid>.pem`. */
  out?: string | undefined
  /** Where keys go when `out` is not given ($XDG_CONFIG_HOME/bktx/keys). */
  keysDir: string
  /** Replace an existing file (the key in it is lost). Default false. */
  force?: boolean | undefined
  progress?: Progress | undefined
}

/**
 * Generates a key pair, writes the private key 0600 (atomically, never over an existing file
 * unless `force`), and records it in the target profile. Without a target no profile is
 * touched. The configuration is read before anything is written: an invalid file fails before
 * a key exists.
 */
export async function generateKeyFile(options: FileKeygenOptions, target: KeyProfileTarget | undefined): Promise<KeygenResult> {
  if (!SIGNING_ALGS.includes(options.alg)) throw new SettingInvalidError('alg', `must be one of ${SIGNING_ALGS.join(', ')}`, { source: 'flag' })
  const problem = kidProblem(options.kid, options.out !== undefined)
  if (problem !== undefined) throw new SettingInvalidError('kid', KID_PROBLEM_TEXT[problem], { source: 'flag' })
  const selected = target === undefined ? undefined : await selectTarget(target)

  // jose is loaded only where keys are generated (the cached token path never does).
  const { generateSigningKey } = await import('../keys/generate.js')
  const key = await (options.progress ?? run)(`generating ${options.alg} key`, () =>
    generateSigningKey({
      alg: options.alg,
      ...(options.bits === undefined ? {} : { bits: options.bits }),
      ...(options.kid === undefined ? {} : { kid: options.kid }),
    }),
  )
  const path = options.out ?? join(options.keysDir, `${key.kid}.pem`)
  // A custom kid travels in the file (src/keys/pem.ts), so jwks, jwks serve and sign all use it.
  await writeFileAtomic(path, options.kid === undefined ? key.privatePem : withKidLabel(key.privatePem, options.kid), {
    mode: 0o600,
    dirMode: 0o700,
    overwrite: options.force === true,
    existsAdvice: ['pass ', { option: 'force' }, ' to replace it (the key in it is then lost)'],
  })

  let recorded = false
  if (selected !== undefined && recordsKey(selected, target)) {
    const updated = { ...selected.profile, key: path }
    // The new key's kid is its own (the file names it); a `none` policy (no kid header) stays.
    if (updated.kid !== NO_KID) delete updated.kid
    await save(selected, updated)
    recorded = true
  }
  return {
    kid: key.kid,
    alg: key.alg,
    key: path,
    profile: selected?.name ?? null,
    recorded,
    previousKey: selected?.profile.key,
    jwks: { keys: [key.publicJwk] },
  }
}

const KID_PROBLEM_TEXT = {
  'file-name': 'names the key file; use letters, digits, ".", "_" and "-", or give the file\'s path',
  reserved: `"${NO_KID}" cannot name a key ("${NO_KID}" means no kid header when signing)`,
  space: 'cannot name a key with spaces',
} as const

export interface TokenKeygenOptions extends KeyDeps {
  /** The pkcs11: URI naming the token (and the object) to generate the pair in. */
  uri: Pkcs11Uri
  /** The URI as given. */
  source: string
  alg: SigningAlg
  /** RSA modulus length; RS256 only. Default 2048. */
  bits?: number | undefined
  kid?: string | undefined
  /** The PKCS#11 module and PIN source to use (given, or from the environment or profile). */
  pkcs11Module: string | undefined
  pinSource: string | undefined
  /** What the caller gave explicitly: recorded in the profile with the key (values from the environment stay there). */
  record?: { pkcs11Module?: string | undefined; pinSource?: string | undefined }
  progress?: Progress | undefined
}

/**
 * Generates the key pair inside a PKCS#11 token (sensitive, never extractable), records its
 * public half, and records the key's URI in the target profile.
 */
export async function generateTokenKeyPair(options: TokenKeygenOptions, target: KeyProfileTarget | undefined): Promise<KeygenResult> {
  const selected = target === undefined ? undefined : await selectTarget(target)
  const { generateTokenKey } = await import('../keys/pkcs11/key.js')
  const generated = await (options.progress ?? run)(`generating ${options.alg} key in the token`, () =>
    generateTokenKey(
      {
        uri: options.uri,
        source: options.source,
        kid: options.kid,
        publicKeyPath: undefined,
        pkcs11Module: options.pkcs11Module,
        pinSource: options.pinSource,
        env: options.env,
        home: options.home,
        uid: options.uid,
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      },
      options.alg,
      options.bits ?? 2048,
    ),
  )
  const { parseKeys } = await import('../keys/load.js')
  const [loaded] = await parseKeys(
    generated.publicKey.export({ format: 'pem', type: 'spki' }) as string,
    generated.uri,
    options.kid === undefined ? {} : { kid: options.kid },
  )
  if (loaded === undefined) throw new Error('no public key read back from the token')

  let recorded = false
  if (selected !== undefined && recordsKey(selected, target)) {
    const updated = { ...selected.profile, key: generated.uri }
    if (options.kid !== undefined) updated.kid = options.kid
    else delete updated.kid
    delete updated['public-key']
    if (options.record?.pkcs11Module !== undefined) updated['pkcs11-module'] = options.record.pkcs11Module
    if (options.record?.pinSource !== undefined) updated['pin-source'] = options.record.pinSource
    await save(selected, updated)
    recorded = true
  }
  return {
    kid: loaded.kid,
    alg: loaded.alg,
    key: generated.uri,
    profile: selected?.name ?? null,
    recorded,
    previousKey: selected?.profile.key,
    jwks: { keys: [loaded.publicJwk] },
  }
}

interface Selected {
  config: ConfigFile
  configPath: string
  name: string
  profile: ConfigFile['profiles'][string]
}

async function selectTarget(target: KeyProfileTarget): Promise<Selected> {
  const config = await (target.loadConfig ?? (() => loadConfigFile(target.configPath, target.uid)))()
  const { name, profile } = profileToWrite(config, target.configPath, target.explicitProfile)
  return { config, configPath: target.configPath, name, profile }
}

/** Record the key in the profile chosen explicitly, or in the default profile on first use. */
function recordsKey(selected: Selected, target: KeyProfileTarget | undefined): boolean {
  return target?.explicitProfile !== undefined || selected.profile.key === undefined
}

async function save(selected: Selected, updated: Selected['profile']): Promise<void> {
  selected.config.profiles[selected.name] = updated
  await saveConfigFile(selected.configPath, selected.config)
}
