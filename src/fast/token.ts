// The cache-hit path of `bktx token`, run before the CLI is loaded at all: `$(bktx token)`
// runs in prompts and loops, and commander, chalk and the command table cost more than the
// cache lookup itself. It serves only a clean hit; anything else (a miss, an option it does not
// handle, any error) returns undefined and the full CLI runs from the start, so behaviour and
// messages are the full CLI's. It runs the token service's own lookup (src/token/lookup.ts)
// over the same settings resolution; only the argument scan is its own (./args.ts).
import { loadSettings } from '../config/load.js'
import type { Env } from '../deps.js'
import type { SecretStore } from '../secrets/store.js'
import { colorLevel } from '../term/color.js'
import { describeNotice } from '../term/describe.js'
import { quietFromEnv } from '../term/quiet.js'
import type { Clock } from '../time/clock.js'
import { tokenDocument } from '../token/document.js'
import { lookupToken } from '../token/lookup.js'
import { cacheModeOf, tokenParams } from '../token/settings.js'
import { parseFastTokenArgs } from './args.js'

export { FAST_FLAGS, parseFastTokenArgs } from './args.js'

export interface FastDeps {
  env: Env
  /** Whether stderr is a terminal: warnings are served here only when they would be uncoloured. */
  stderrIsTTY: boolean
  home: string
  uid: number | undefined
  cwd: string
  clock: Clock
  secrets: SecretStore
}

/** What `bktx token ARGS` prints when the cache answers. */
export interface FastAnswer {
  stdout: string
  /** The stderr lines the full CLI would print with it (a keychain fallback notice). */
  stderr: string
  /** Whether the full CLI would colour an `error:` line (should stdout fail). */
  colour: boolean
}

/**
 * What `bktx token ARGS` prints when the cache can answer it; else undefined. A notice (no
 * usable keychain, say) is served too, as the full CLI's uncoloured `warning:` line, unless it
 * would be coloured: then the full CLI prints it. With --quiet (or BKTX_QUIET) notices are
 * dropped, as the full CLI drops them, so such a hit is served silently.
 */
export async function cachedToken(argv: readonly string[], deps: FastDeps): Promise<FastAnswer | undefined> {
  const args = parseFastTokenArgs(argv)
  if (args === undefined) return undefined
  try {
    const loaded = await loadSettings({ flags: args.settings, env: deps.env, home: deps.home, cwd: deps.cwd, uid: deps.uid, config: args.config, profile: args.profile })
    const mode = cacheModeOf(loaded.settings)
    if (mode === 'none') return undefined
    const params = await tokenParams(loaded.settings, { env: deps.env, home: deps.home, uid: deps.uid, cwd: deps.cwd })
    const { result, notices } = await lookupToken(params, { cache: mode, minTtl: args.minTtl }, deps)
    if (result === undefined) return undefined
    const shown = args.quiet || quietFromEnv(deps.env) ? [] : notices
    const colour = colorLevel({ flag: args.color, env: deps.env, isTTY: deps.stderrIsTTY, terminalLevel: () => 1 }) !== 0
    if (shown.length > 0 && colour) return undefined
    return {
      stdout: args.json ? `${JSON.stringify(tokenDocument(result), null, 2)}\n` : `${result.accessToken}\n`,
      stderr: shown.map((notice) => `warning: ${describeNotice(notice, { profile: loaded.explicitProfile })}\n`).join(''),
      colour,
    }
  } catch {
    // Whatever went wrong, the full CLI goes again and reports it properly.
    return undefined
  }
}
