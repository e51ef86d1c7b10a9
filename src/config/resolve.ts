import type { Env } from '../deps.js'
import { ConfigError, SettingInvalidError, SettingMissingError } from '../errors.js'
import type { ConfigFile, Profile } from './file.js'
import { InvalidSettingValue, SETTING_NAMES, SETTINGS, type SettingName } from './settings.js'

/** Where a resolved value came from, as `bktx config list` and --verbose show it. */
export type SettingSource = 'flag' | `env:${string}` | `profile:${string}` | 'default'

export interface ResolvedSetting {
  value: string
  source: SettingSource
}

export type ResolvedSettings = Partial<Record<SettingName, ResolvedSetting>>

export interface ResolveInput {
  /** Values given as flags on this command line (already strings). */
  flags: Partial<Record<SettingName, string>>
  env: Env
  profileName: string
  profile: Profile
  /** Relative `key` paths in a profile are relative to the config file's directory. */
  configDir: string
  /** Relative paths given as flags or env are relative to the working directory. */
  cwd: string
}

/**
 * Resolves every setting: flag > environment (BKTX_*) > profile > default. The first source
 * that has a value wins; each result keeps its source. An invalid flag or environment value is
 * a SettingInvalidError that says where it came from.
 */
export function resolveSettings(input: ResolveInput): ResolvedSettings {
  const out: ResolvedSettings = {}
  for (const name of SETTING_NAMES) {
    const spec = SETTINGS[name]
    const flag = input.flags[name]
    const env = input.env[spec.env]
    const fromProfile = input.profile[name]
    let found: ResolvedSetting | undefined
    if (flag !== undefined) {
      found = { value: validated(name, flag, 'flag'), source: 'flag' }
      found.value = spec.resolvePath?.(found.value, input.cwd) ?? found.value
    } else if (env !== undefined && env !== '') {
      found = { value: validated(name, env, `env:${spec.env}`), source: `env:${spec.env}` }
      found.value = spec.resolvePath?.(found.value, input.cwd) ?? found.value
    } else if (fromProfile !== undefined) {
      found = { value: fromProfile, source: `profile:${input.profileName}` }
      found.value = spec.resolvePath?.(found.value, input.configDir) ?? found.value
    } else if (spec.default !== undefined) {
      found = { value: spec.default, source: 'default' }
    }
    if (found !== undefined) out[name] = found
  }
  return out
}

function validated(name: SettingName, value: string, source: SettingSource): string {
  try {
    return SETTINGS[name].validate(value)
  } catch (cause) {
    if (!(cause instanceof InvalidSettingValue)) throw cause
    throw new SettingInvalidError(name, cause.message, { source })
  }
}

/** The value of a setting a command cannot run without. */
export function required(settings: ResolvedSettings, name: SettingName): string {
  const found = settings[name]
  if (found === undefined) throw new SettingMissingError(name)
  return found.value
}

/**
 * Picks the profile: --profile, else $BKTX_PROFILE, else "default". A profile named explicitly
 * that the file does not hold is an error (a typo must not silently mean "no settings").
 */
export function selectProfile(
  config: ConfigFile,
  configFile: string,
  explicit: string | undefined,
): { name: string; profile: Profile } {
  const name = explicit ?? 'default'
  const profile = config.profiles[name]
  if (profile !== undefined) return { name, profile }
  if (explicit !== undefined && explicit !== 'default') {
    const known = Object.keys(config.profiles)
    throw new ConfigError(configFile, `profiles.${name}`, `no such profile${known.length > 0 ? ` (profiles: ${known.join(', ')})` : ''}`, {
      detail: { reason: 'no-such-profile' },
      advice: ['create it with ', { command: 'config set KEY VALUE', profile: name }],
    })
  }
  return { name, profile: {} }
}
