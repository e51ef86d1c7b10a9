import { Option, type Command } from 'commander'
import type { ResolvedSettings } from '../config/resolve.js'
import type { SettingName } from '../config/settings.js'
import { InterruptedError } from '../errors.js'
import type { ExchangeParams } from '../exchange/types.js'
import { createTokenService, type NetworkOptions, type Obtained, type TokenService } from '../token/service.js'
import { cacheModeOf, DEFAULT_MIN_TTL, DEFAULT_TIMEOUT, TOKEN_SETTINGS, tokenParams } from '../token/settings.js'
import type { Context } from './context.js'
import { addSettingOptions, durationArg, settingFlags, timeoutArg } from './options.js'

/** The options commander parses for commands that obtain a token (besides the settings' own flags). */
export interface TokenOptions extends Record<string, unknown> {
  /** `--cache MODE`, or false for `--no-cache`. */
  cache?: string | false
  refresh?: boolean
  minTtl: number
  timeout: number
  caFile?: string
}

/** Adds the flags of commands that obtain a token: settings, cache and network. */
export function addTokenOptions(cmd: Command, extra: readonly SettingName[] = []): Command {
  addSettingOptions(cmd, [...TOKEN_SETTINGS.filter((name) => name !== 'cache'), ...extra])
  return cmd
    .addOption(new Option('--cache <mode>', 'token cache: auto, keychain, file or none (env BKTX_CACHE; default auto)'))
    .option('--no-cache', 'do not read or write the cache (same as --cache none)')
    .option('--refresh', 'mint a new token even when a cached one is still good')
    .option('--min-ttl <duration>', 'serve a cached token only with at least this long left (capped at half its lifetime)', durationArg, DEFAULT_MIN_TTL)
    .option('--timeout <duration>', 'bound on the whole exchange, retries included', timeoutArg, DEFAULT_TIMEOUT)
    .option('--ca-file <pem>', 'also trust these CA certificates (a TLS-intercepting proxy, a private CA)')
}

/** The settings flags of a token command line, `--no-cache` included (as cache `none`). */
export function tokenSettingFlags(opts: TokenOptions, extra: readonly SettingName[] = []): Partial<Record<SettingName, string>> {
  const flags = settingFlags(opts, [...TOKEN_SETTINGS, ...extra])
  if (opts.cache === false) flags.cache = 'none'
  return flags
}

/** The token service of this invocation, over the injected dependencies. */
export function tokenService(ctx: Context): TokenService {
  return createTokenService({
    env: ctx.deps.env,
    home: ctx.deps.home,
    uid: ctx.deps.uid,
    clock: ctx.deps.clock,
    secrets: ctx.deps.secrets,
    fetch: ctx.deps.fetch,
    userAgent: `bktx/${ctx.deps.version}`,
  })
}

/** The settings and exchange parameters of a token command line. */
export async function tokenRequest(ctx: Context, opts: TokenOptions, extra: readonly SettingName[] = []): Promise<{ settings: ResolvedSettings; params: ExchangeParams }> {
  const settings = await ctx.settings(tokenSettingFlags(opts, extra))
  return { settings, params: await tokenParams(settings) }
}

/** The network options of a token command line, cancelled by SIGINT/SIGTERM through `signal`. */
export function networkOptions(ctx: Context, opts: TokenOptions, signal?: AbortSignal): NetworkOptions {
  return {
    timeoutMs: opts.timeout * 1000,
    caFile: opts.caFile === undefined ? undefined : ctx.absolute(opts.caFile),
    ...(signal === undefined ? {} : { signal }),
    onDebug: (line) => ctx.out.debug(line),
  }
}

/** Runs `task` with an AbortSignal that SIGINT and SIGTERM abort (exit 130). */
export async function interruptible<T>(ctx: Context, task: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController()
  const abort = () => controller.abort(new InterruptedError('interrupted'))
  const offs = [ctx.deps.signals.on('SIGINT', abort), ctx.deps.signals.on('SIGTERM', abort)]
  try {
    return await task(controller.signal)
  } finally {
    for (const off of offs) off()
  }
}

export interface ObtainedToken extends Obtained {
  params: ExchangeParams
  settings: ResolvedSettings
  service: TokenService
}

/**
 * The daily job: a token for these settings, from the cache when it has one with enough life
 * left, else from an exchange (single flight across processes), under a spinner on a terminal.
 * Notices (a keychain fallback) go to stderr. SIGINT/SIGTERM abort the exchange (exit 130).
 */
export async function obtainToken(ctx: Context, opts: TokenOptions, extra: readonly SettingName[] = []): Promise<ObtainedToken> {
  const { settings, params } = await tokenRequest(ctx, opts, extra)
  const service = tokenService(ctx)
  const obtained = await interruptible(ctx, (signal) =>
    service.obtain(params, {
      ...networkOptions(ctx, opts, signal),
      cache: cacheModeOf(settings),
      minTtl: opts.minTtl,
      refresh: opts.refresh === true,
      during: (task) => ctx.out.spin('exchanging assertion for a token', task),
    }),
  )
  for (const notice of obtained.result.notices) ctx.notice(notice)
  return { ...obtained, params, settings, service }
}
