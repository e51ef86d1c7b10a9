import type { Env } from '../deps.js'

/**
 * The colour level for stderr: 0 for none. --no-color, then FORCE_COLOR, then NO_COLOR
 * (https://no-color.org: any non-empty value), then a terminal that is not `dumb`, whose level
 * `terminalLevel` tells. Shared by Output and the fast path, which must print exactly what the
 * full CLI would.
 */
export function colorLevel(options: { flag: boolean; env: Env; isTTY: boolean; terminalLevel: () => 1 | 2 | 3 }): 0 | 1 | 2 | 3 {
  if (!options.flag) return 0
  const force = options.env['FORCE_COLOR']
  if (force !== undefined && force !== '') {
    if (force === '0' || force === 'false') return 0
    const level = Number(force)
    return level === 2 || level === 3 ? level : 1
  }
  if ((options.env['NO_COLOR'] ?? '') !== '') return 0
  if (!options.isTTY || options.env['TERM'] === 'dumb') return 0
  return options.terminalLevel()
}
