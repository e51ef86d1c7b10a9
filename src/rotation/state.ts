import { configInputError } from '../config/file.js'
import { ConfigError } from '../errors.js'
import { errnoCode, writeFileAtomic } from '../fs/atomic.js'
import { InputFileError, readInputFile } from '../fs/input.js'
import { isSigningAlg, type SigningAlg } from '../keys/policy.js'

// Key rotations in progress, one per profile, in a small file beside the configuration file
// (`config.json` → `config.rotation.json`): the configuration file holds settings only, and a
// rotation is state that `bktx key rotate` starts and finishes.

/** A key taking part in a rotation. */
export interface RotationKey {
  path: string
  /** The kid it is published under. */
  kid: string
  alg: SigningAlg
  /** SHA-256 of its SPKI DER, base64url (src/keys/thumbprint.ts). */
  fingerprint: string
}

export interface Rotation {
  /** The key the profile signs with until the rotation finishes. */
  old: RotationKey
  /** The key it signs with afterwards. */
  next: RotationKey
  /** ISO 8601, by the injected clock. */
  startedAt: string
  /** Where the JWKS of both keys was published, if bktx wrote it (`--out`); the new key alone goes there at the end. */
  out: string | null
  /**
   * When bktx first saw `servedBy` serve the new key (kid and public key): Buildkite may keep
   * a JWKS it fetched before that for up to an hour (docs/token-exchange.md §1).
   */
  servedSince: string | null
  /** The JWKS URI that `servedSince` is about; another URI starts the hour again. */
  servedBy: string | null
}

export interface RotationFile {
  v: 1
  /** By profile name. */
  rotations: Record<string, Rotation>
}

/** The rotation state file of a configuration file. */
export function rotationStatePath(configPath: string): string {
  return configPath.endsWith('.json') ? `${configPath.slice(0, -5)}.rotation.json` : `${configPath}.rotation.json`
}

const MAX_STATE_BYTES = 1024 * 1024

/**
 * Reads the state; a missing file is no rotation. A file that is not ours is a ConfigError
 * naming it: as the configuration file, it must be safe from every user but `uid` and root
 * (src/fs/trust.ts), since it names the key file `--finish` switches the profile to.
 */
export function loadRotations(path: string, uid: number | undefined): RotationFile {
  let text: string
  try {
    text = readInputFile(path, MAX_STATE_BYTES, { trustedBy: uid })
  } catch (cause) {
    if (!(cause instanceof InputFileError)) throw cause
    if (cause.problem === 'unreadable' && errnoCode(cause.cause) === 'ENOENT') return { v: 1, rotations: Object.create(null) as Record<string, Rotation> }
    throw configInputError(path, cause)
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    throw new ConfigError(path, undefined, 'is not valid JSON', { advice: ['remove it to forget the rotations it held'] })
  }
  const file = data as Partial<RotationFile> | null
  if (file === null || typeof file !== 'object' || file.v !== 1 || typeof file.rotations !== 'object' || file.rotations === null) {
    throw new ConfigError(path, undefined, 'is not a bktx rotation state file (version 1)', { advice: ['remove it to forget the rotations it held'] })
  }
  const rotations: Record<string, Rotation> = Object.create(null)
  for (const [profile, rotation] of Object.entries(file.rotations)) {
    if (!isRotation(rotation))
      throw new ConfigError(path, `rotations.${profile}`, 'is not a rotation', { advice: ['remove it to forget the rotations it held'] })
    rotations[profile] = rotation
  }
  return { v: 1, rotations }
}

/** Writes the state atomically (mode 0600), or removes nothing: an empty state is written as such. */
export async function saveRotations(path: string, file: RotationFile): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, dirMode: 0o700, overwrite: true })
}

function isKey(value: unknown): value is RotationKey {
  const k = value as Partial<RotationKey> | null
  return (
    k !== null && typeof k === 'object' && typeof k.path === 'string' && typeof k.kid === 'string' && isSigningAlg(k.alg) && typeof k.fingerprint === 'string'
  )
}

function isRotation(value: unknown): value is Rotation {
  const r = value as Partial<Rotation> | null
  const date = (v: unknown) => typeof v === 'string' && Number.isFinite(Date.parse(v))
  return (
    r !== null &&
    typeof r === 'object' &&
    isKey(r.old) &&
    isKey(r.next) &&
    date(r.startedAt) &&
    (r.out === null || typeof r.out === 'string') &&
    (r.servedSince === null || date(r.servedSince)) &&
    (r.servedBy === null || typeof r.servedBy === 'string')
  )
}
