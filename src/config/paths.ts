import { isAbsolute, resolve } from 'node:path'
import type { Env } from '../deps.js'

import type { Paths } from '../paths.js'

export { resolvePaths, type Paths } from '../paths.js'

/** The config file in use: --config (relative to the working directory), else paths.configFile. */
export function configFileFor(flag: string | undefined, paths: Paths, cwd: string): string {
  if (flag === undefined) return paths.configFile
  return isAbsolute(flag) ? flag : resolve(cwd, flag)
}

/** The profile named explicitly: --profile, else a non-empty $BKTX_PROFILE; else undefined ("default"). */
export function explicitProfileFor(flag: string | undefined, env: Env): string | undefined {
  const fromEnv = env['BKTX_PROFILE']
  return flag ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined)
}
