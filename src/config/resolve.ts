import type { Env } from '../deps.js'
import { ConfigError, SettingInvalidError, SettingMissingError } from '../errors.js'
import { parentOf, type ConfigFile, type Profile } from './file.js'
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
  /** The profile in use, then the ones it inherits from, nearest first (see {@link profileChain}). */
  profiles: readonly { name: string; profile: Profile }[]
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
  // Own properties only, results on a null prototype: a library caller's host application may
  // have polluted Object.prototype (`Object.prototype.key = "exec:…"`), and an inherited value
  // must never be read as a flag, a variable or a profile's setting.
  const out: ResolvedSettings = Object.create(null)
  for (const name of SETTING_NAMES) {
    const spec = SETTINGS[name]
    const flag = ownValue(input.flags, name)
    const env = ownValue(input.env, spec.env)
    const inherited = input.profiles.find((p) => ownValue(p.profile, name) !== undefined)
    let found: ResolvedSetting | undefined
    if (flag !== undefined) {
      found = { value: validated(name, flag, 'flag'), source: 'flag' }
      found.value = spec.resolvePath?.(found.value, input.cwd) ?? found.value
    } else if (env !== undefined && env !== '') {
      found = { value: validated(name, env, `env:${spec.env}`), source: `env:${spec.env}` }
      found.value = spec.resolvePath?.(found.value, input.cwd) ?? found.value
    } else if (inherited !== undefined) {
      found = { value: inherited.profile[name] as string, source: `profile:${inherited.name}` }
      found.value = spec.resolvePath?.(found.value, input.configDir) ?? found.value
    } else if (spec.default !== undefined) {
      found = { value: spec.default, source: 'default' }
    }
    if (found !== undefined) out[name] = found
  }
  // Defaults that follow other settings (aud and api-url follow the token URL).
  for (const name of SETTING_NAMES) {
    const derived = out[name] === undefined ? SETTINGS[name].derive?.((other) => out[other]?.value) : undefined
    if (derived !== undefined) out[name] = { value: derived, source: 'default' }
  }
  return out
}

function ownValue<T>(record: Partial<Record<string, T>>, name: string): T | undefined {
  return Object.hasOwn(record, name) ? record[name] : undefined
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
 * A profile and the ones it inherits from, nearest first: each profile's `extends`, and for
 * every profile but `default` (when it names none) `default` itself, so that a `ci` profile
 * holding only subject and scope takes client id, org and key from `default`. A cycle or a
 * missing parent is a ConfigError naming the field.
 */
export function profileChain(config: ConfigFile, configFile: string, name: string): { name: string; profile: Profile }[] {
  const chain: { name: string; profile: Profile }[] = []
  for (let current: string | undefined = name; current !== undefined; ) {
    if (chain.some((p) => p.name === current)) {
      throw new ConfigError(
        configFile,
        `profiles.${chain[chain.length - 1]?.name}.extends`,
        `makes a cycle (${[...chain.map((p) => p.name), current].join(' → ')})`,
      )
    }
    const profile: Profile | undefined = config.profiles[current]
    if (profile === undefined && chain.length > 0 && current !== 'default') {
      throw new ConfigError(configFile, `profiles.${chain[chain.length - 1]?.name}.extends`, `names no profile "${current}"`)
    }
    chain.push({ name: current, profile: profile ?? {} })
    current = parentOf(current, profile)
  }
  return chain
}

/**
 * Picks the profile: --profile, else $BKTX_PROFILE, else "default". A profile named explicitly
 * that the file does not hold is an error (a typo must not silently mean "no settings").
 */
export function selectProfile(
  config: ConfigFile,
  configFile: string,
  explicit: string | undefined,
): { name: string; profile: Profile; chain: { name: string; profile: Profile }[] } {
  const name = explicit ?? 'default'
  const profile = config.profiles[name]
  if (profile !== undefined) return { name, profile, chain: profileChain(config, configFile, name) }
  if (explicit !== undefined && explicit !== 'default') {
    const known = Object.keys(config.profiles)
    throw new ConfigError(configFile, `profiles.${name}`, `no such profile${known.length > 0 ? ` (profiles: ${known.join(', ')})` : ''}`, {
      detail: { reason: 'no-such-profile' },
      advice: ['create it with ', { command: 'config set KEY VALUE', profile: name }],
    })
  }
  const empty: Profile = Object.create(null)
  return { name, profile: empty, chain: [{ name, profile: empty }] }
}
