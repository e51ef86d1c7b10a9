// Where bktx keeps its files (XDG base directories): below config/, since the cache directory
// and the PKCS#11 key records are found here too, and neither cache/ nor keys/ may import the
// settings layer.
import { isAbsolute, join } from 'node:path'
import type { Env } from './env.js'

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
