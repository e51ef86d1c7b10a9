import { ConfigError } from '../errors.js'
import { errnoCode, writeFileAtomic } from '../fs/atomic.js'
import { InputFileError, readInputFile } from '../fs/input.js'
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

export const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
const MAX_CONFIG_BYTES = 1024 * 1024

/**
 * Loads and validates the file. A missing file is an empty configuration; anything else that
 * is wrong (unreadable, not JSON, unknown field, bad value) is a ConfigError naming the file and
 * the field, never silently ignored.
 */
export async function loadConfigFile(path: string): Promise<ConfigFile> {
  let text: string
  try {
    // A regular file of at most 1 MiB, counted while reading: a FIFO or /dev/zero named by
    // BKTX_CONFIG must not hang bktx or fill its memory (src/fs/input.ts).
    text = readInputFile(path, MAX_CONFIG_BYTES)
  } catch (cause) {
    if (!(cause instanceof InputFileError)) throw cause
    if (cause.problem === 'unreadable' && errnoCode(cause.cause) === 'ENOENT') return { profiles: {} }
    throw new ConfigError(path, undefined, cause.text, { cause, detail: { reason: cause.problem } })
  }
  return parseConfig(text, path)
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
    const profile: Profile = {}
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
