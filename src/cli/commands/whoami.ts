import type { Command } from 'commander'
import { required } from '../../config/resolve.js'
import { escapeControls as clean } from '../../text/sanitize.js'
import { formatDuration } from '../../time/duration.js'
import type { Context } from '../context.js'
import { action, type ProgramDeps } from '../command.js'
import { addTokenOptions, interruptible, networkOptions, obtainToken, type TokenOptions } from '../token-options.js'

export function registerWhoami(self: Command, deps: ProgramDeps): void {
  const cmd = self.description('show who the token acts as: GET /v2/access-token with the (cached) token')
  addTokenOptions(cmd, ['api-url'])
  action<TokenOptions>(cmd, deps, (ctx, opts) => runWhoami(ctx, opts))
}

export async function runWhoami(ctx: Context, opts: TokenOptions): Promise<void> {
  const { result, settings, service } = await obtainToken(ctx, opts, ['api-url'])
  const info = await interruptible(ctx, (signal) =>
    ctx.out.spin('asking the API about the token', () => service.whoami(required(settings, 'api-url'), result.accessToken, networkOptions(ctx, opts, signal))),
  )
  if (ctx.out.json) {
    ctx.out.document({
      uuid: info.uuid,
      user: info.user,
      scopes: info.scopes,
      description: info.description,
      created_at: info.createdAt.toISOString(),
      expires_at: info.expiresAt?.toISOString() ?? null,
      cached: result.cached,
      cache: result.cache,
    })
    return
  }
  const left =
    info.expiresAt === null
      ? 'does not expire'
      : `expires ${info.expiresAt.toISOString()} (in ${formatDuration((info.expiresAt.getTime() - ctx.deps.clock.now().getTime()) / 1000)})`
  // Every field is the API's text: one line each, control characters escaped.
  ctx.out.data(
    [
      `user     ${clean(info.user.name)} <${clean(info.user.email)}>`,
      `scopes   ${info.scopes.map((s) => clean(s)).join(' ')}`,
      `token    ${clean(info.uuid)}, ${left}`,
      `source   ${result.cached ? `${result.cache} cache` : 'new exchange'}`,
    ].join('\n'),
  )
}
