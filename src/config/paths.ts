import { isAbsolute, join, resolve } from 'node:path'
import type { Env } from '../deps.js'
import { SettingInvalidError } from '../errors.js'

/** Where bktx keeps its files, following the XDG base directory spec. */
export interface Paths {
  configDir: string
  /** $BKTX_CONFIG, else <configDir>/config.json; a --config flag overrides both. */
  configFile: string
  keysDir: string
  cacheDir: string
  /** $XDG_RUNTIME_DIR/bktx when set (a per-user tmpfs); undefined otherwise. */
  runtimeDir: string | undefined
}

// The XDG spec says relative paths in these variables are invalid and must be ignored.
function xdg(env: Env, name: string): string | undefined {
  const value = env[name]
  return value !== undefined && value !== '' && isAbsolute(value) ? value : undefined
}

export function resolvePaths(env: Env, home: string): Paths {
  const configDir = join(xdg(env, 'XDG_CONFIG_HOME') ?? join(home, '.config'), 'bktx')
  const explicit = env['BKTX_CONFIG']
  const runtime = xdg(env, 'XDG_RUNTIME_DIR')
  return {
    configDir,
    configFile: explicit !== undefined && explicit !== '' ? explicit : join(configDir, 'config.json'),
    keysDir: join(configDir, 'keys'),
    cacheDir: join(xdg(env, 'XDG_CACHE_HOME') ?? join(home, '.cache'), 'bktx'),
    runtimeDir: runtime === undefined ? undefined : join(runtime, 'bktx'),
  }
}

/** The config file in use: --config (relative to the working directory), else paths.configFile. */
export function configFileFor(flag: string | undefined, paths: Paths, cwd: string): string {
  if (flag === undefined) return paths.configFile
  return isAbsolute(flag) ? flag : resolve(cwd, flag)
}

/** What a profile name may be (the configuration file's rule, src/config/file.ts). */
export const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

/**
 * The profile named explicitly: --profile, else a non-empty $BKTX_PROFILE; else undefined
 * ("default"). Validated before anything looks it up: `__proto__`, `constructor` or
 * `toString` looked up in a plain object find Object.prototype's members, so an unchecked name
 * could read or write through the prototype instead of a profile.
 */
export function explicitProfileFor(flag: string | undefined, env: Env): string | undefined {
  const fromEnv = env['BKTX_PROFILE']
  const name = flag ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined)
  if (name !== undefined && !PROFILE_NAME.test(name)) {
    throw new SettingInvalidError('profile', `"${name.length > 80 ? `${name.slice(0, 80)}…` : name}" is not a valid profile name (letters, digits, ".", "_", "-"; at most 64 characters)`, {
      source: flag === undefined ? 'env:BKTX_PROFILE' : 'flag',
    })
  }
  return name
}
