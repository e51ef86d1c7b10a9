import type { Env } from '../deps.js'

/**
 * BKTX_QUIET: set to anything but empty, `0`, `false` or `no`, it does what --quiet does (no
 * notes or warnings on stderr; errors stay). Shared by the CLI and the fast path.
 */
export function quietFromEnv(env: Env): boolean {
  const value = (env['BKTX_QUIET'] ?? '').trim().toLowerCase()
  return value !== '' && value !== '0' && value !== 'false' && value !== 'no'
}
