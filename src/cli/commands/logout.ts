import type { Command } from 'commander'
import { action, type ProgramDeps } from '../command.js'
import type { Context } from '../context.js'
import type { CacheListing } from '../../cache/cache.js'
import { defaultApiUrl } from '../../config/settings.js'
import { describeError } from '../../term/describe.js'
import { exitCodeFor } from '../exit-codes.js'
import { addTokenOptions, interruptible, networkOptions, tokenInput, tokenService, tokenSettingFlags, type TokenOptions } from '../token-options.js'

export interface LogoutOptions extends TokenOptions {
  revoke: boolean
  all?: boolean
}

export function registerLogout(self: Command, deps: ProgramDeps): void {
  const cmd = self
    .description('revoke the cached token of the current settings (DELETE /v2/access-token) and remove it from the cache')
    .option('--no-revoke', 'only remove it from the cache')
    .option('--all', 'every cached token, of every profile and scope set: revoke each live one, then forget it')
  addTokenOptions(cmd, ['api-url'])
  action<LogoutOptions>(cmd, deps, (ctx, opts) => runLogout(ctx, opts))
}

export async function runLogout(ctx: Context, opts: LogoutOptions): Promise<void> {
  if (opts.all === true) return runLogoutAll(ctx, opts)
  const outcome = await interruptible(ctx, (signal) =>
    tokenService(ctx).logout({
      ...tokenInput(ctx, opts, ['api-url']),
      ...networkOptions(ctx, opts, signal),
      revoke: opts.revoke,
    }),
  )
  for (const notice of outcome.notices) ctx.notice(notice)
  if (ctx.out.json) ctx.out.document(outcome.found ? { found: true, revocation: outcome.revocation } : { found: false })
  if (!outcome.found) {
    ctx.out.info('no cached token for these settings; nothing to revoke')
    return
  }
  if (outcome.revocation === 'revoked') ctx.out.success('token revoked')
  if (outcome.revocation === 'already-invalid') ctx.out.info('the server no longer knows this token (already revoked or expired)')
  ctx.out.success('removed it from the cache')
}

/**
 * `bktx logout --all`: every cached token. Each is revoked at the API of its own token URL: the
 * api-url setting when the entry's token URL is the one configured now, else that token URL's
 * default API (https://api.buildkite.com for Buildkite, the token URL's origin otherwise).
 * Tokens that could not be revoked stay cached and make the exit code non-zero.
 */
async function runLogoutAll(ctx: Context, opts: LogoutOptions): Promise<void> {
  const settings = await ctx.settings(tokenSettingFlags(opts, ['api-url']))
  const tokenUrl = settings['token-url']?.value
  const apiUrl = settings['api-url']?.value
  const outcome = await interruptible(ctx, (signal) =>
    tokenService(ctx).logoutAll({
      ...networkOptions(ctx, opts, signal),
      revoke: opts.revoke,
      apiUrlFor: (entry) => (entry.tokenUrl === tokenUrl && apiUrl !== undefined ? apiUrl : defaultApiUrl(entry.tokenUrl)),
    }),
  )
  for (const notice of outcome.notices) ctx.notice(notice)
  const brief = (entry: CacheListing) => ({
    org: entry.org,
    subject: entry.subject,
    scopes: entry.scopes,
    token_url: entry.tokenUrl,
    token_hint: entry.tokenHint ?? null,
  })
  if (ctx.out.json) {
    ctx.out.document({
      revoked: outcome.revoked.map(brief),
      already_invalid: outcome.alreadyInvalid.map(brief),
      expired: outcome.expired.map(brief),
      forgotten: outcome.forgotten.map(brief),
      failed: outcome.failed.map(({ entry, error }) => ({ ...brief(entry), error: { code: error.code, message: describeError(error) } })),
    })
  } else {
    const line = (entry: CacheListing) => `${entry.org} ${entry.subject} ${entry.scopes.join(' ') || '(default scopes)'} …${entry.tokenHint ?? ''}`
    for (const entry of outcome.revoked) ctx.out.success(`revoked and forgot ${line(entry)}`)
    for (const entry of outcome.alreadyInvalid) ctx.out.info(`forgot ${line(entry)} (the API no longer knew it)`)
    for (const entry of outcome.expired) ctx.out.info(`forgot ${line(entry)} (expired)`)
    for (const entry of outcome.forgotten) ctx.out.info(`forgot ${line(entry)} (not revoked: --no-revoke)`)
    for (const { entry, error } of outcome.failed) ctx.out.warn(`kept ${line(entry)}: ${describeError(error)}`)
    const total = outcome.revoked.length + outcome.alreadyInvalid.length + outcome.expired.length + outcome.forgotten.length
    ctx.out.info(`${outcome.revoked.length} revoked, ${total} forgotten, ${outcome.failed.length} could not be revoked`)
  }
  const [first] = outcome.failed
  if (first !== undefined) {
    // The exit code of the first failure, once everything that could be done was done.
    ctx.exit({ code: exitCodeFor(first.error.code) })
  }
}
