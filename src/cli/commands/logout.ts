import type { Command } from 'commander'
import { required } from '../../config/resolve.js'
import { cacheModeOf } from '../../token/settings.js'
import { action, type ProgramDeps } from '../command.js'
import type { Context } from '../context.js'
import { addTokenOptions, interruptible, networkOptions, tokenRequest, tokenService, type TokenOptions } from '../token-options.js'

export interface LogoutOptions extends TokenOptions {
  revoke: boolean
}

export function registerLogout(self: Command, deps: ProgramDeps): void {
  const cmd = self
    .description('revoke the cached token of the current settings (DELETE /v2/access-token) and remove it from the cache')
    .option('--no-revoke', 'only remove it from the cache')
  addTokenOptions(cmd, ['api-url'])
  action<LogoutOptions>(cmd, deps, (ctx, opts) => runLogout(ctx, opts))
}

export async function runLogout(ctx: Context, opts: LogoutOptions): Promise<void> {
  const { settings, params } = await tokenRequest(ctx, opts, ['api-url'])
  const outcome = await interruptible(ctx, (signal) =>
    tokenService(ctx).logout(params, {
      ...networkOptions(ctx, opts, signal),
      cache: cacheModeOf(settings),
      revoke: opts.revoke,
      apiUrl: required(settings, 'api-url'),
    }),
  )
  for (const notice of outcome.notices) ctx.notice(notice)
  if (!outcome.found) {
    ctx.out.info('no cached token for these settings; nothing to revoke')
    return
  }
  if (outcome.revocation === 'revoked') ctx.out.success('token revoked')
  if (outcome.revocation === 'already-invalid') ctx.out.info('the server no longer knows this token (already revoked or expired)')
  ctx.out.success('removed it from the cache')
}
