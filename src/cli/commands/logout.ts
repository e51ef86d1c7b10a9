import type { Command } from 'commander'
import { required } from '../../config/resolve.js'
import { APIRejectedError } from '../../errors.js'
import type { Context } from '../context.js'
import { settingFlags } from '../options.js'
import { action, type ProgramDeps } from '../command.js'
import { addTokenOptions, exchangeParams, openCache, TOKEN_SETTINGS, type TokenOptions } from '../token-source.js'
import { cacheKey } from '../../cache/key.js'
import { revoke } from '../../exchange/access-token.js'
import { makeFetch } from '../../http/fetch.js'

export interface LogoutOptions extends TokenOptions {
  revoke: boolean
}

export function registerLogout(program: Command, deps: ProgramDeps): void {
  const cmd = program
    .command('logout')
    .description('revoke the cached token of the current settings (DELETE /v2/access-token) and remove it from the cache')
    .option('--no-revoke', 'only remove it from the cache')
  addTokenOptions(cmd, ['api-url'])
  action<LogoutOptions>(cmd, deps, (ctx, opts) => runLogout(ctx, opts))
}

export async function runLogout(ctx: Context, opts: LogoutOptions): Promise<void> {
  const settings = await ctx.settings(settingFlags(opts, [...TOKEN_SETTINGS, 'api-url']))
  const params = await exchangeParams(settings)
  const cache = await openCache(ctx, opts)
  const key = cacheKey(params)
  const { entry, note } = await cache.read(key)
  if (note !== undefined) ctx.out.warn(note)
  if (entry === undefined) {
    ctx.out.info('no cached token for these settings; nothing to revoke')
    return
  }
  const expired = entry.token.expiresAt.getTime() <= ctx.deps.clock.now().getTime()
  if (opts.revoke && !expired) {
    const fetch = makeFetch({ env: ctx.deps.env, caFile: opts.caFile === undefined ? undefined : ctx.absolute(opts.caFile), userAgent: `bktx/${ctx.deps.version}`, fetch: ctx.deps.fetch })
    try {
      await revoke(required(settings, 'api-url'), entry.token.accessToken, { fetch, clock: ctx.deps.clock }, { timeoutMs: opts.timeout * 1000 })
      ctx.out.success('token revoked')
    } catch (error) {
      // 401: already revoked or unknown to the server; the cache entry goes either way.
      if (!(error instanceof APIRejectedError && error.status === 401)) throw error
      ctx.out.info('the server no longer knows this token (already revoked or expired)')
    } finally {
      await fetch.close()
    }
  }
  const outcome = await cache.clear(key)
  if (outcome.keychainError !== undefined) throw outcome.keychainError
  ctx.out.success('removed it from the cache')
}
