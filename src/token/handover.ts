// The fast path's hand-over to the full CLI on a cache miss (one process, two bundles): its own
// module so that src/bin.ts reads it without loading the resolution code on every command.
import type { SettingValues, TokenRequest } from './request.js'

/**
 * A request the fast path resolved and could not serve from the cache, handed to the full CLI
 * in the same process (src/fast/main.ts, src/bin.ts) with the input it came from: the CLI uses
 * it when its own parse of the command line gives the same input, so a miss resolves the
 * settings and opens the key once.
 */
export interface TokenHandover {
  settings: SettingValues
  profile: string | undefined
  config: string | undefined
  request: TokenRequest
}

/** The global symbol the fast path leaves a TokenHandover under, and src/bin.ts takes it from. */
export const HANDOVER = Symbol.for('bktx.token-handover')
