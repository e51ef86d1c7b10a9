// What the commands that obtain a token do with their options, without commander: the flags
// themselves are defined in ./token-options.ts, and the token mint (src/mint/main.ts) runs
// `bktx token` and `bktx env` through this module without loading commander at all.
import type { ResolvedSettings } from '../config/resolve.js'
import type { CacheMode, SettingName } from '../config/settings.js'
import { InterruptedError } from '../errors.js'
import type { ExchangeParams } from '../exchange/types.js'
import type { TokenInput, TokenRequest } from '../token/request.js'
import { createTokenService, type NetworkOptions, type Obtained, type TokenService } from '../token/service.js'
import { TOKEN_SETTINGS } from '../token/settings.js'
import type { Context } from './context.js'
import { settingFlags } from './setting-flags.js'

/** The options commander parses for commands that obtain a token (besides the settings' own flags). */
export interface TokenOptions extends Record<string, unknown> {
  /** `--cache MODE`, or false for `--no-cache`. */
  cache?: string | false
  refresh?: boolean
  /** Undefined when not given: the default applies, capped silently. */
  minTtl?: number
  timeout: number
  caFile?: string
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
    cwd: ctx.deps.cwd,
    // The cache lock records this pid and takes over a lock only when its holder is gone.
    ...(ctx.deps.processInfo === undefined ? {} : { lock: { process: ctx.deps.processInfo } }),
    ...(ctx.deps.sleep === undefined ? {} : { sleep: ctx.deps.sleep }),
  })
}

/**
 * What a token command line gives the token service: its flags as setting values, the global
 * --profile and --config, and the request the fast path resolved for this same input, if it
 * did (src/fast/main.ts hands it over on a cache miss; src/bin.ts passes it in).
 */
export function tokenInput(ctx: Context, opts: TokenOptions, extra: readonly SettingName[] = []): TokenInput {
  const settings = tokenSettingFlags(opts, extra)
  const handover = ctx.handover
  const same =
    handover !== undefined &&
    handover.profile === ctx.globals.profile &&
    handover.config === ctx.globals.config &&
    JSON.stringify(Object.entries(handover.settings).sort()) === JSON.stringify(Object.entries(settings).sort())
  return { settings, profile: ctx.globals.profile, config: ctx.globals.config, ...(same ? { resolved: handover.request } : {}) }
}

/** The settings and exchange parameters of a token command line (resolved by the token service). */
export async function tokenRequest(ctx: Context, opts: TokenOptions, extra: readonly SettingName[] = []): Promise<TokenRequest> {
  return tokenService(ctx).resolve(tokenInput(ctx, opts, extra), { onDebug: (line) => ctx.out.debug(line) })
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

/**
 * How long an interrupted task may take to unwind (close its sockets, release its cache lock)
 * before bktx stops waiting for it: a keychain call cannot be cancelled (it is bounded to 3 s,
 * docs/cache-and-ci.md, "Keychain failures") and Ctrl-C must end bktx within a second.
 */
const UNWIND_MS = 250

/**
 * Runs `task` with an AbortSignal that SIGINT and SIGTERM abort. It then fails with an
 * InterruptedError naming the signal, which src/main.ts turns into death by that signal
 * (status 130 or 143): as soon as the task has unwound, or after UNWIND_MS, or at once on a
 * second signal, whatever it is still waiting for.
 */
export async function interruptible<T>(ctx: Context, task: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController()
  let giveUp: (error: InterruptedError) => void = () => undefined
  const abandoned = new Promise<never>((_, reject) => (giveUp = reject))
  let timer: ReturnType<typeof setTimeout> | undefined
  const interrupt = (signal: 'SIGINT' | 'SIGTERM') => () => {
    const error = new InterruptedError(`interrupted by ${signal}`, { signal })
    if (controller.signal.aborted) return giveUp(error)
    controller.abort(error)
    timer = setTimeout(() => giveUp(error), UNWIND_MS)
  }
  const offs = [ctx.deps.signals.on('SIGINT', interrupt('SIGINT')), ctx.deps.signals.on('SIGTERM', interrupt('SIGTERM'))]
  const running = task(controller.signal).catch((error: unknown) => {
    // Whatever the task failed with once aborted (the exchange's own InterruptedError, a
    // closed socket), the signal is the reason.
    const reason = controller.signal.reason as unknown
    if (controller.signal.aborted && reason instanceof InterruptedError) {
      throw new InterruptedError(error instanceof InterruptedError ? error.message : reason.message, { signal: reason.signal, cause: error })
    }
    throw error
  })
  try {
    return await Promise.race([running, abandoned])
  } finally {
    clearTimeout(timer)
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
 * Notices (a keychain fallback) go to stderr. SIGINT/SIGTERM abort the exchange (bktx then
 * dies of that signal). `override.cache` replaces the cache setting (exec --revoke-on-exit).
 */
export async function obtainToken(
  ctx: Context,
  opts: TokenOptions,
  extra: readonly SettingName[] = [],
  override: { cache?: CacheMode } = {},
): Promise<ObtainedToken> {
  const service = tokenService(ctx)
  const obtained = await interruptible(ctx, (signal) =>
    service.obtain({
      ...tokenInput(ctx, opts, extra),
      ...networkOptions(ctx, opts, signal),
      cache: override.cache,
      minTtl: opts.minTtl,
      refresh: opts.refresh === true,
      during: (task) => ctx.out.spin('exchanging assertion for a token', task),
      onNotice: (notice) => ctx.notice(notice),
    }),
  )
  for (const notice of obtained.result.notices) ctx.notice(notice)
  return { ...obtained, params: obtained.request.params, settings: obtained.request.settings, service }
}
