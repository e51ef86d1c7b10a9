import type { Command } from 'commander'
import { Option } from 'commander'
import type { ResolvedSettings } from '../config/resolve.js'
import type { SettingName } from '../config/settings.js'
import type { TokenCache } from '../cache/cache.js'
import type { CachedTokenResult } from '../cache/with-cache.js'
import { InterruptedError } from '../errors.js'
import type { ExchangeParams } from '../exchange/types.js'
import type { Context } from './context.js'
import { addSettingOptions, durationArg, settingFlags } from './options.js'
import { DEFAULT_MIN_TTL, DEFAULT_TIMEOUT, cacheMode, exchangeParams, TOKEN_SETTINGS } from './token-request.js'
import { selectCache } from '../cache/select.js'
import { withCache } from '../cache/with-cache.js'
import { makeFetch } from '../http/fetch.js'

export { exchangeParams, TOKEN_SETTINGS } from './token-request.js'

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
  addSettingOptions(cmd, [...TOKEN_SETTINGS, ...extra])
  return cmd
    .addOption(new Option('--cache <mode>', 'token cache: auto, keychain, file or none (env BKTX_CACHE; default auto)'))
    .option('--no-cache', 'do not read or write the cache (same as --cache none)')
    .option('--refresh', 'mint a new token even when a cached one is still good')
    .option('--min-ttl <duration>', 'serve a cached token only with at least this long left (capped at half its lifetime)', durationArg, DEFAULT_MIN_TTL)
    .option('--timeout <duration>', 'bound on the whole exchange, retries included', durationArg, DEFAULT_TIMEOUT)
    .option('--ca-file <pem>', 'also trust these CA certificates (a TLS-intercepting proxy, a private CA)')
}

/** The cache for this invocation, its fallback note printed on stderr. */
export async function openCache(ctx: Context, opts: TokenOptions): Promise<TokenCache> {
  const selection = await selectCache({
    mode: cacheMode(opts.cache, ctx.deps.env),
    env: ctx.deps.env,
    home: ctx.deps.home,
    uid: ctx.deps.uid,
    clock: ctx.deps.clock,
    secrets: ctx.deps.secrets,
  })
  if (selection.note !== undefined) ctx.out.warn(selection.note)
  return selection.cache
}

export interface ObtainedToken {
  params: ExchangeParams
  settings: ResolvedSettings
  result: CachedTokenResult
  cache: TokenCache
}

/**
 * The daily job: a token for these settings, from the cache when it has one with enough life
 * left, else from an exchange (single flight across processes). SIGINT/SIGTERM abort the
 * exchange (exit 130).
 */
export async function obtainToken(ctx: Context, opts: TokenOptions, extraFlags: readonly SettingName[] = []): Promise<ObtainedToken> {
  const settings = await ctx.settings(settingFlags(opts, [...TOKEN_SETTINGS, ...extraFlags]))
  const params = await exchangeParams(settings)
  const cache = await openCache(ctx, opts)

  const controller = new AbortController()
  const abort = () => controller.abort(new InterruptedError('interrupted'))
  const offs = [ctx.deps.signals.on('SIGINT', abort), ctx.deps.signals.on('SIGTERM', abort)]
  try {
    const exchanger = async (p: ExchangeParams) => {
      const { makeExchanger } = await import('../exchange/exchange.js')
      const fetch = makeFetch({
        env: ctx.deps.env,
        caFile: opts.caFile === undefined ? undefined : ctx.absolute(opts.caFile),
        userAgent: `bktx/${ctx.deps.version}`,
        fetch: ctx.deps.fetch,
      })
      try {
        if (fetch.route.length > 0) ctx.out.debug(`connecting through ${fetch.route.join(' and ')}`)
        return await ctx.out.spin('exchanging assertion for a token', () =>
          makeExchanger(
            { fetch, clock: ctx.deps.clock },
            { timeoutMs: opts.timeout * 1000, signal: controller.signal, onAttempt: (n, jti) => ctx.out.debug(`exchange attempt ${n} (jti ${jti}) to ${p.tokenUrl}`) },
          )(p),
        )
      } finally {
        await fetch.close()
      }
    }
    const result = await withCache(exchanger, cache, { clock: ctx.deps.clock, minTtl: opts.minTtl, refresh: opts.refresh === true })(params)
    for (const note of result.notes) ctx.out.warn(note)
    ctx.out.debug(result.cached ? `served from the ${result.cache} cache` : `minted; cached in ${result.cache}`)
    return { params, settings, result, cache }
  } finally {
    for (const off of offs) off()
  }
}
