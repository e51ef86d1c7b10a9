import { isAbsolute, resolve } from 'node:path'
import type { Env } from '../deps.js'
import { SettingInvalidError } from '../errors.js'

import type { Paths } from '../paths.js'

export { resolvePaths, type Paths } from '../paths.js'

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
    throw new SettingInvalidError(
      'profile',
      `"${name.length > 80 ? `${name.slice(0, 80)}…` : name}" is not a valid profile name (letters, digits, ".", "_", "-"; at most 64 characters)`,
      {
        source: flag === undefined ? 'env:BKTX_PROFILE' : 'flag',
      },
    )
  }
  return name
}
