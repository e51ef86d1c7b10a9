import { dirname } from 'node:path'
import type { Env } from '../deps.js'
import { loadConfigFile, type ConfigFile } from './file.js'
import { configFileFor, explicitProfileFor, resolvePaths } from './paths.js'
import { resolveSettings, selectProfile, type ResolvedSettings } from './resolve.js'
import type { SettingName } from './settings.js'

export interface LoadSettingsInput {
  /** Values given for this call (command-line flags, or a library caller's options). */
  flags: Partial<Record<SettingName, string>>
  env: Env
  home: string
  cwd: string
  /** The user running bktx (undefined on Windows): the configuration file must be safe from every other user but root (src/fs/trust.ts). */
  uid: number | undefined
  /**
   * An explicit configuration file (--config), relative to `cwd`; else $BKTX_CONFIG, else the XDG
   * default. `false`: no file at all (a library caller that passes every setting itself).
   */
  config?: string | false | undefined
  /** An explicit profile (--profile); else $BKTX_PROFILE, else "default". */
  profile?: string | undefined
}

export interface LoadedSettings {
  settings: ResolvedSettings
  configPath: string
  config: ConfigFile
  /** The profile in use. */
  profile: string
  /** The profile named explicitly (flag or BKTX_PROFILE); undefined when "default" was implied. */
  explicitProfile: string | undefined
}

/**
 * The one way settings are found, for the CLI, its cache-hit fast path and the library: the
 * configuration file and profile chosen by flag > environment > default, then every setting
 * resolved flag > BKTX_* > profile > default (src/config/resolve.ts).
 */
export async function loadSettings(input: LoadSettingsInput): Promise<LoadedSettings> {
  if (input.config === false) {
    const explicitProfile = explicitProfileFor(input.profile, input.env)
    return settingsFrom({ profiles: Object.create(null) as ConfigFile['profiles'] }, { ...input, configPath: '(no configuration file)', explicitProfile })
  }
  const { configPath, explicitProfile } = locateConfig({ ...input, config: input.config })
  return settingsFrom(await loadConfigFile(configPath, input.uid), { ...input, configPath, explicitProfile })
}

/** Which configuration file and profile are in use, before reading anything. */
export function locateConfig(input: Pick<LoadSettingsInput, 'env' | 'home' | 'cwd' | 'profile'> & { config?: string | undefined }): {
  configPath: string
  explicitProfile: string | undefined
} {
  return {
    configPath: configFileFor(input.config, resolvePaths(input.env, input.home), input.cwd),
    explicitProfile: explicitProfileFor(input.profile, input.env),
  }
}

/** The settings of an already loaded configuration file (see {@link loadSettings}). */
export function settingsFrom(
  config: ConfigFile,
  input: Pick<LoadSettingsInput, 'flags' | 'env' | 'cwd'> & { configPath: string; explicitProfile: string | undefined },
): LoadedSettings {
  const { name, chain } = selectProfile(config, input.configPath, input.explicitProfile)
  const settings = resolveSettings({ flags: input.flags, env: input.env, profiles: chain, configDir: dirname(input.configPath), cwd: input.cwd })
  return { settings, configPath: input.configPath, config, profile: name, explicitProfile: input.explicitProfile }
}
