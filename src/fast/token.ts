// The cache-hit path of `bktx token`, run before the CLI is loaded at all: `$(bktx token)`
// runs in prompts and loops, and commander, chalk and the command table cost more than the
// cache lookup itself. It serves only a clean hit; anything else (a miss, a note to print, an
// option it does not handle, any error) returns undefined and the full CLI runs from the start,
// so behaviour and messages are the full CLI's. It uses the same resolution, key and cache code;
// only the argument scan is its own, checked against commander's definition by a test.
import { dirname } from 'node:path'
import { loadConfigFile } from '../config/file.js'
import { configFileFor, explicitProfileFor, resolvePaths } from '../config/paths.js'
import { resolveSettings, selectProfile } from '../config/resolve.js'
import type { SettingName } from '../config/settings.js'
import { selectCache } from '../cache/select.js'
import { cacheKey } from '../cache/key.js'
import { isServable } from '../cache/with-cache.js'
import { colorLevel } from '../cli/color.js'
import { cacheMode, DEFAULT_MIN_TTL, exchangeParams, GLOBAL_FLAGS, TOKEN_FLAGS, TOKEN_SETTING_FLAGS, tokenDocument } from '../cli/token-request.js'
import type { Env } from '../deps.js'
import type { SecretStore } from '../secrets/store.js'
import type { Clock } from '../time/clock.js'
import { parseDuration } from '../time/duration.js'

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

interface FastArgs {
  settings: Partial<Record<SettingName, string>>
  cache: string | undefined
  minTtl: number
  json: boolean
  profile: string | undefined
  config: string | undefined
  color: boolean
}

/** Every flag the fast path recognises and whether it takes a value (tested against commander's). */
export const FAST_FLAGS: ReadonlyMap<string, 'value' | 'boolean'> = new Map<string, 'value' | 'boolean'>([
  ...Object.entries(GLOBAL_FLAGS),
  ...Object.entries(TOKEN_FLAGS),
  ...[...TOKEN_SETTING_FLAGS.keys()].map((flag): [string, 'value'] => [flag, 'value']),
])
// These change what a run does beyond serving a cached token: the full CLI handles them.
const FULL_CLI_ONLY = new Set(['--no-cache', '--refresh', '--verbose', '-v'])

/** `bktx token` arguments the fast path can serve, or undefined. */
export function parseFastTokenArgs(argv: readonly string[]): FastArgs | undefined {
  const out: FastArgs = { settings: {}, cache: undefined, minTtl: DEFAULT_MIN_TTL, json: false, profile: undefined, config: undefined, color: true }
  const scopes: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1
    const flag = eq === -1 ? arg : arg.slice(0, eq)
    const arity = FAST_FLAGS.get(flag)
    if (arity === undefined || FULL_CLI_ONLY.has(flag)) return undefined
    let value: string | undefined
    if (arity === 'value') {
      value = eq === -1 ? argv[++i] : arg.slice(eq + 1)
      // A missing value, or one that looks like a flag: let commander word the error.
      if (value === undefined || (eq === -1 && value.startsWith('-'))) return undefined
    } else if (eq !== -1) {
      return undefined
    }
    const setting = TOKEN_SETTING_FLAGS.get(flag)
    if (setting === 'scope') scopes.push(value as string)
    else if (setting !== undefined) out.settings[setting] = value as string
    else if (flag === '--cache') out.cache = value
    else if (flag === '--profile') out.profile = value
    else if (flag === '--config') out.config = value
    else if (flag === '--json') out.json = true
    else if (flag === '--no-color') out.color = false
    else if (flag === '--min-ttl' || flag === '--timeout') {
      const seconds = parseDuration(value as string)
      if (seconds === undefined) return undefined
      if (flag === '--min-ttl') out.minTtl = seconds
    }
    // --ca-file matters only to an exchange: nothing to do on a hit.
  }
  if (scopes.length > 0) out.settings.scope = scopes.join(' ')
  return out
}

/** What `bktx token ARGS` prints when the cache answers. */
export interface FastAnswer {
  stdout: string
  /** The stderr lines the full CLI would print with it (a keychain fallback note). */
  stderr: string
}

/**
 * What `bktx token ARGS` prints when the cache can answer it; else undefined. A note (no usable
 * keychain, say) is served too, as the full CLI's uncoloured `warning:` line, unless it would
 * be coloured: then the full CLI prints it.
 */
export async function cachedToken(argv: readonly string[], deps: FastDeps): Promise<FastAnswer | undefined> {
  const args = parseFastTokenArgs(argv)
  if (args === undefined) return undefined
  try {
    const configPath = configFileFor(args.config, resolvePaths(deps.env, deps.home), deps.cwd)
    const { name, profile } = selectProfile(await loadConfigFile(configPath), configPath, explicitProfileFor(args.profile, deps.env))
    const settings = resolveSettings({ flags: args.settings, env: deps.env, profileName: name, profile, configDir: dirname(configPath), cwd: deps.cwd })
    const params = await exchangeParams(settings)
    const selection = await selectCache({ mode: cacheMode(args.cache, deps.env), env: deps.env, home: deps.home, uid: deps.uid, clock: deps.clock, secrets: deps.secrets })
    if (selection.cache.backend === 'none') return undefined
    const hit = await selection.cache.read(cacheKey(params), (meta) => isServable(meta, params, deps.clock.now(), args.minTtl))
    if (hit.entry === undefined) return undefined
    const notes = [selection.note, hit.note].filter((note): note is string => note !== undefined)
    if (notes.length > 0 && colorLevel({ flag: args.color, env: deps.env, isTTY: deps.stderrIsTTY, terminalLevel: () => 1 }) !== 0) return undefined
    const result = { ...hit.entry.token, cached: true, cache: hit.entry.meta.backend, notes: [] }
    return {
      stdout: args.json ? `${JSON.stringify(tokenDocument(result), null, 2)}\n` : `${result.accessToken}\n`,
      stderr: notes.map((note) => `warning: ${note}\n`).join(''),
    }
  } catch {
    // Whatever went wrong, the full CLI goes again and reports it properly.
    return undefined
  }
}
