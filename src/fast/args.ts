// The fast path's own scan of `bktx token` arguments. It exists for start-up time (commander
// and the command table cost more than the cache lookup itself); a test checks this table
// against commander's definition of `bktx token` and the global options, so the two cannot
// drift. Anything it does not fully understand goes to the full CLI.
import type { SettingName } from '../config/settings.js'
import { DEFAULT_TIMEOUT, TOKEN_SETTINGS } from '../token/settings.js'
import { parseDuration } from '../time/duration.js'
import { parseShell, type ShellKind } from '../shell/quote.js'

/** The global flags (src/cli/program.ts) and whether each takes a value. */
export const GLOBAL_FLAGS = {
  '--profile': 'value',
  '--config': 'value',
  '--json': 'boolean',
  '--verbose': 'boolean',
  '-v': 'boolean',
  '--quiet': 'boolean',
  '-q': 'boolean',
  '--no-color': 'boolean',
} as const

/** The flags of `bktx token` that are not settings (src/cli/token-options.ts). */
export const TOKEN_FLAGS = {
  '--no-cache': 'boolean',
  '--refresh': 'boolean',
  '--min-ttl': 'value',
  '--timeout': 'value',
  '--ca-file': 'value',
} as const

/** Every setting flag of `bktx token`, with its setting name. */
const SETTING_FLAGS: ReadonlyMap<string, SettingName> = new Map(TOKEN_SETTINGS.map((name) => [`--${name}`, name]))

/** The flag `bktx env` has beyond those of `bktx token` (src/cli/commands/env.ts). */
export const ENV_FLAGS = { '--shell': 'value' } as const

/** Every flag the fast path recognises for `bktx token` and whether it takes a value. */
export const FAST_FLAGS: ReadonlyMap<string, 'value' | 'boolean'> = new Map<string, 'value' | 'boolean'>([
  ...Object.entries(GLOBAL_FLAGS),
  ...Object.entries(TOKEN_FLAGS),
  ...[...SETTING_FLAGS.keys()].map((flag): [string, 'value'] => [flag, 'value']),
])

/** Every flag the fast path recognises for `bktx env`. */
export const FAST_ENV_FLAGS: ReadonlyMap<string, 'value' | 'boolean'> = new Map<string, 'value' | 'boolean'>([...FAST_FLAGS, ...Object.entries(ENV_FLAGS)])

// These change what a run does beyond serving a cached token: the full CLI handles them.
const FULL_CLI_ONLY = new Set(['--no-cache', '--refresh', '--verbose', '-v'])
// Of those, what the token mint takes: it always makes an exchange.
const MINT_FLAGS = new Set(['--no-cache', '--refresh'])

export interface FastArgs {
  settings: Partial<Record<SettingName, string>>
  /** Undefined when not given (the default applies, capped silently). */
  minTtl: number | undefined
  json: boolean
  profile: string | undefined
  config: string | undefined
  color: boolean
  /** --quiet or -q: notices are not printed. */
  quiet: boolean
  /** `bktx env --shell`: the output syntax. */
  shell: ShellKind | undefined
}

/** `bktx token` (or `bktx env`) arguments the fast path can serve, or undefined. */
export function parseFastTokenArgs(argv: readonly string[], command: 'token' | 'env' = 'token'): FastArgs | undefined {
  return scan(argv, command, false)?.args
}

/**
 * `bktx token` or `bktx env` arguments as commander would parse them, for the token mint
 * (src/mint/main.ts), or undefined for the full CLI. Unlike the cache-hit path it takes
 * --no-cache and --refresh; --verbose, and anything else it does not fully understand, stay the
 * full CLI's. `options` are the command's options as commander gives them to its action
 * (src/cli/token-options.ts, TokenOptions); test/unit/fast/mint-args.test.ts compares the two.
 */
export function parseMintArgs(argv: readonly string[], command: 'token' | 'env'): { args: FastArgs; options: MintOptions } | undefined {
  return scan(argv, command, true)
}

/** The options of `bktx token` (src/cli/token-options.ts, TokenOptions) and `bktx env` as commander's action receives them. */
export interface MintOptions extends Record<string, unknown> {
  cache?: string | false
  refresh?: boolean
  minTtl?: number
  timeout: number
  caFile?: string
  shell?: ShellKind
}

function scan(argv: readonly string[], command: 'token' | 'env', mint: boolean): { args: FastArgs; options: MintOptions } | undefined {
  const flags = command === 'env' ? FAST_ENV_FLAGS : FAST_FLAGS
  const out: FastArgs = {
    settings: {},
    minTtl: undefined,
    json: false,
    profile: undefined,
    config: undefined,
    color: true,
    quiet: false,
    shell: undefined,
  }
  const options: MintOptions = { timeout: DEFAULT_TIMEOUT }
  const scopes: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1
    const flag = eq === -1 ? arg : arg.slice(0, eq)
    const arity = flags.get(flag)
    if (arity === undefined || (FULL_CLI_ONLY.has(flag) && !(mint && MINT_FLAGS.has(flag)))) return undefined
    let value: string | undefined
    if (arity === 'value') {
      value = eq === -1 ? argv[++i] : arg.slice(eq + 1)
      // A missing value, or one that looks like a flag: let commander word the error.
      if (value === undefined || (eq === -1 && value.startsWith('-'))) return undefined
    } else if (eq !== -1) {
      return undefined
    }
    const setting = SETTING_FLAGS.get(flag)
    if (setting === 'scope') scopes.push(value as string)
    else if (setting !== undefined) out.settings[setting] = value as string
    else if (flag === '--profile') out.profile = value
    else if (flag === '--config') out.config = value
    else if (flag === '--json') out.json = true
    else if (flag === '--no-color') out.color = false
    else if (flag === '--quiet' || flag === '-q') out.quiet = true
    else if (flag === '--shell') {
      // A syntax commander would refuse (its choices): commander words the error.
      out.shell = parseShell(value as string)
      if (out.shell === undefined) return undefined
      options.shell = out.shell
    } else if (flag === '--min-ttl' || flag === '--timeout') {
      const seconds = parseDuration(value as string)
      // `--timeout 0` is a usage error of the full CLI (src/cli/options.ts timeoutArg).
      if (seconds === undefined || (flag === '--timeout' && seconds <= 0)) return undefined
      if (flag === '--min-ttl') out.minTtl = options.minTtl = seconds
      else options.timeout = seconds
    } else if (flag === '--no-cache') options.cache = false
    else if (flag === '--refresh') options.refresh = true
    // --ca-file matters only to an exchange: nothing to do on a hit.
    else if (flag === '--ca-file') options.caFile = value
    // `--cache MODE` and `--no-cache` set one option, as in commander: the last one given wins.
    if (setting === 'cache') options.cache = value
    else if (setting !== undefined && setting !== 'scope') options[camel(setting)] = value
  }
  if (scopes.length > 0) {
    out.settings.scope = scopes.join(' ')
    options['scope'] = scopes
  }
  return { args: out, options }
}

/** The options object's key of a setting flag, as commander names it (`--token-url`: tokenUrl). */
function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
}
