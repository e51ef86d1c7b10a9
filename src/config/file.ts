import { ConfigError } from '../errors.js'
import { errnoCode, writeFileAtomic } from '../fs/atomic.js'
import { InputFileError, readInputFile } from '../fs/input.js'
import { PROFILE_NAME } from './paths.js'
import { InvalidSettingValue, isSettingName, SETTINGS, type SettingName } from './settings.js'

/**
 * A profile's own settings, and which profile it inherits from: `extends` names one, `null`
 * means none; absent, every profile but `default` inherits from `default`
 * (src/config/resolve.ts, `profileChain`).
 */
export type Profile = Partial<Record<SettingName, string>> & { extends?: string | null }

/** The configuration file: `{"profiles": {"default": {"org": "acme", ...}, ...}}`. */
export interface ConfigFile {
  profiles: Record<string, Profile>
}

export { PROFILE_NAME } from './paths.js'
const MAX_CONFIG_BYTES = 1024 * 1024

/**
 * Loads and validates the file. A missing file is an empty configuration; anything else that
 * is wrong (unreadable, not JSON, unknown field, bad value) is a ConfigError naming the file and
 * the field, never silently ignored. `uid` is the user running bktx (undefined on Windows): a
 * file that another user owns or can write, or can replace in its directory, is refused, since
 * its `key` may name a command bktx runs (src/fs/trust.ts).
 */
export async function loadConfigFile(path: string, uid: number | undefined): Promise<ConfigFile> {
  let text: string
  try {
    // A regular file of at most 1 MiB, counted while reading: a FIFO or /dev/zero named by
    // BKTX_CONFIG must not hang bktx or fill its memory (src/fs/input.ts).
    text = readInputFile(path, MAX_CONFIG_BYTES, { trustedBy: uid })
  } catch (cause) {
    if (!(cause instanceof InputFileError)) throw cause
    // No prototype: a profile named `__proto__` or `constructor` is no profile (see parseConfig).
    if (cause.problem === 'unreadable' && errnoCode(cause.cause) === 'ENOENT') return { profiles: Object.create(null) as Record<string, Profile> }
    throw configInputError(path, cause)
  }
  return parseConfig(text, path)
}

/** A ConfigError for a file src/fs/input.ts refused; an untrusted one says who owns it and how to fix it. */
export function configInputError(path: string, cause: InputFileError): ConfigError {
  const untrusted = cause.untrusted
  if (untrusted === undefined) return new ConfigError(path, undefined, cause.text, { cause, detail: { reason: cause.problem } })
  return new ConfigError(path, undefined, `${untrusted.text}, so bktx will not use it`, {
    cause,
    detail: { reason: untrusted.reason },
    advice: [`once you have checked what it holds, run \`${untrusted.fix}\``],
  })
}

export function parseConfig(text: string, path: string): ConfigFile {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (cause) {
    throw new ConfigError(path, undefined, `is not valid JSON (${(cause as Error).message})`, { cause })
  }
  if (!isPlainObject(data)) throw new ConfigError(path, undefined, 'must hold a JSON object')
  for (const key of Object.keys(data)) {
    if (key !== 'profiles') throw new ConfigError(path, key, 'is not a known field (expected "profiles")')
  }
  const profiles: Record<string, Profile> = Object.create(null)
  const raw = data['profiles'] ?? {}
  if (!isPlainObject(raw)) throw new ConfigError(path, 'profiles', 'must be an object of named profiles')
  for (const [name, value] of Object.entries(raw)) {
    const where = `profiles.${name}`
    if (!PROFILE_NAME.test(name)) {
      throw new ConfigError(path, where, 'is not a valid profile name (letters, digits, ".", "_", "-")')
    }
    if (!isPlainObject(value)) throw new ConfigError(path, where, 'must be an object of settings')
    // No prototype: a setting it does not hold is undefined, whatever Object.prototype holds.
    const profile: Profile = Object.create(null)
    for (const [key, setting] of Object.entries(value)) {
      if (key === 'extends') {
        if (setting !== null && (typeof setting !== 'string' || !PROFILE_NAME.test(setting))) {
          throw new ConfigError(path, `${where}.extends`, 'must be the name of another profile, or null for none')
        }
        profile.extends = setting
        continue
      }
      if (!isSettingName(key)) {
        throw new ConfigError(path, `${where}.${key}`, `is not a known setting (known: ${Object.keys(SETTINGS).join(', ')}, and extends)`)
      }
      // ttl may be written as a JSON number of seconds; everything else is a string.
      const asText = typeof setting === 'number' && key === 'ttl' ? String(setting) : setting
      if (typeof asText !== 'string') throw new ConfigError(path, `${where}.${key}`, 'must be a string')
      try {
        profile[key] = SETTINGS[key].validate(asText)
      } catch (cause) {
        if (!(cause instanceof InvalidSettingValue)) throw cause
        throw new ConfigError(path, `${where}.${key}`, cause.message)
      }
    }
    profiles[name] = profile
  }
  return { profiles }
}

/** The profile a profile inherits from: its `extends`, else `default` (for every profile but `default`), else none. */
export function parentOf(name: string, profile: Profile | undefined): string | undefined {
  if (profile?.extends === null) return undefined
  if (profile?.extends !== undefined) return profile.extends
  return name === 'default' ? undefined : 'default'
}

/** Writes the file atomically (mode 0600, directory 0700). */
export async function saveConfigFile(path: string, config: ConfigFile): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(config, null, 2)}\n`, {
    mode: 0o600,
    dirMode: 0o700,
    overwrite: true,
  })
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
