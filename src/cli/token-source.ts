import type { Command } from 'commander'
import { Option } from 'commander'
import { required, type ResolvedSettings } from '../config/resolve.js'
import { normaliseScopes, type SettingName } from '../config/settings.js'
import type { CacheMode } from '../cache/select.js'
import type { TokenCache } from '../cache/cache.js'
import type { CachedTokenResult } from '../cache/with-cache.js'
import { InterruptedError, UsageError } from '../errors.js'
import type { ExchangeParams, SubjectType } from '../exchange/types.js'
import type { Context } from './context.js'
import { addSettingOptions, durationArg, settingFlags } from './options.js'

/** The settings every token-using command resolves. */
export const TOKEN_SETTINGS: readonly SettingName[] = ['token-url', 'client-id', 'key', 'kid', 'org', 'subject', 'subject-type', 'scope', 'ttl']

export interface TokenOptions extends Record<string, unknown> {
  /** `--cache MODE`, or false for `--no-cache`. */
  cache?: string | false
  refresh?: boolean
  minTtl: number
  timeout: number
  caFile?: string
}

const DEFAULT_MIN_TTL = 300
const DEFAULT_TIMEOUT = 30

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

/** `--no-cache` > `--cache` > BKTX_CACHE > auto. */
export function cacheMode(ctx: Context, opts: TokenOptions): CacheMode {
  if (opts.cache === false) return 'none'
  const text = opts.cache ?? ctx.deps.env['BKTX_CACHE'] ?? 'auto'
  if (text === 'auto' || text === 'keychain' || text === 'file' || text === 'none') return text
  throw new UsageError(`${opts.cache === undefined ? 'BKTX_CACHE' : '--cache'} must be auto, keychain, file or none, not "${text}"`)
}

/** The exchange parameters from resolved settings; loads the signing key (without jose). */
export async function exchangeParams(settings: ResolvedSettings): Promise<ExchangeParams> {
  const { loadAssertionKey } = await import('../exchange/key.js')
  const ttl = settings.ttl?.value
  return {
    tokenUrl: required(settings, 'token-url'),
    clientId: required(settings, 'client-id'),
    key: await loadAssertionKey(required(settings, 'key'), settings.kid?.value),
    org: required(settings, 'org'),
    subject: required(settings, 'subject'),
    subjectType: required(settings, 'subject-type') as SubjectType,
    scopes: normaliseScopes(settings.scope === undefined ? [] : [settings.scope.value]),
    ttl: ttl === undefined ? undefined : Number(ttl),
  }
}

/** The cache for this invocation, its fallback note printed on stderr. */
export async function openCache(ctx: Context, opts: TokenOptions): Promise<TokenCache> {
  const { selectCache } = await import('../cache/select.js')
  const selection = await selectCache({
    mode: cacheMode(ctx, opts),
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
  const { withCache } = await import('../cache/with-cache.js')

  const controller = new AbortController()
  const abort = () => controller.abort(new InterruptedError('interrupted'))
  const offs = [ctx.deps.signals.on('SIGINT', abort), ctx.deps.signals.on('SIGTERM', abort)]
  try {
    const exchanger = async (p: ExchangeParams) => {
      const { makeExchanger } = await import('../exchange/exchange.js')
      const { makeFetch } = await import('../http/fetch.js')
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
