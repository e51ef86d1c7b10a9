import type { Command } from 'commander'
import { action, type ProgramDeps } from '../command.js'
import type { Context } from '../context.js'
import type { CacheListing } from '../../cache/cache.js'
import { defaultApiUrl } from '../../config/settings.js'
import { describeError } from '../../term/describe.js'
import { exitCodeFor } from '../exit-codes.js'
import type { LogoutAllOutcome } from '../../token/service.js'
import { addTokenOptions, interruptible, networkOptions, tokenInput, tokenService, tokenSettingFlags, type TokenOptions } from '../token-options.js'

export interface LogoutOptions extends TokenOptions {
  revoke: boolean
  all?: boolean
}

export function registerLogout(self: Command, deps: ProgramDeps): void {
  const cmd = self
    .description('revoke every cached token these settings reach (DELETE /v2/access-token) and remove them from the cache')
    .option('--no-revoke', 'only remove them from the cache')
    .option('--all', 'every cached token, of every profile and scope set: revoke each live one, then forget it')
  addTokenOptions(cmd, ['api-url'])
  cmd.addHelpText(
    'after',
    '\nWhich tokens: those of the profile (its token URL, org, client ID and subject, from wherever\n' +
      'they are set) minted with any scopes, TTL and key, unless --scope, --ttl or --key (or\n' +
      'BKTX_SCOPE, BKTX_TTL, BKTX_KEY) narrow them: `bktx logout --scope read_builds` revokes every\n' +
      'cached read_builds token of the profile (scopes as asked or as granted), whatever its TTL.\n' +
      "A profile's own scope, ttl and key do not narrow. To revoke a token you hold, whether\n" +
      'cached or not: `bktx revoke`.\n\n' +
      'Each token is named (last four characters, scopes, expiry). A token that could not be\n' +
      'revoked stays cached and makes the exit code non-zero (that of its error).\n' +
      '--json prints {"revoked", "already_invalid", "expired", "forgotten", "failed"}: lists of\n' +
      '{"org", "subject", "scopes", "token_url", "token_hint", "expires_at"}; failed ones add\n' +
      '"error": {"code", "message"}.',
  )
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
  report(ctx, outcome, false)
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
  report(ctx, outcome, true)
}

/** What logout did, entry by entry: a line each (or --json), a summary, and the exit code of the first failure. */
function report(ctx: Context, outcome: LogoutAllOutcome, all: boolean): void {
  for (const notice of outcome.notices) ctx.notice(notice)
  const brief = (entry: CacheListing) => ({
    org: entry.org,
    subject: entry.subject,
    scopes: entry.scopes,
    token_url: entry.tokenUrl,
    token_hint: entry.tokenHint ?? null,
    expires_at: entry.expiresAt.toISOString(),
  })
  const total = outcome.revoked.length + outcome.alreadyInvalid.length + outcome.expired.length + outcome.forgotten.length
  if (ctx.out.json) {
    ctx.out.document({
      revoked: outcome.revoked.map(brief),
      already_invalid: outcome.alreadyInvalid.map(brief),
      expired: outcome.expired.map(brief),
      forgotten: outcome.forgotten.map(brief),
      failed: outcome.failed.map(({ entry, error }) => ({ ...brief(entry), error: { code: error.code, message: describeError(error) } })),
    })
  } else if (total + outcome.failed.length === 0) {
    ctx.out.info(all ? 'no cached token; nothing to revoke' : 'no cached token for these settings; nothing to revoke')
  } else {
    // The token's last four characters, what it may do, until when: enough to tell it apart.
    const line = (entry: CacheListing) =>
      `token …${entry.tokenHint ?? ''} ${entry.org} ${entry.subject} ${entry.scopes.join(' ') || '(default scopes)'}, expires ${entry.expiresAt.toISOString()}`
    for (const entry of outcome.revoked) ctx.out.success(`revoked and forgot ${line(entry)}`)
    for (const entry of outcome.alreadyInvalid) ctx.out.info(`forgot ${line(entry)} (already invalid: revoked or expired)`)
    for (const entry of outcome.expired) ctx.out.info(`forgot ${line(entry)} (expired)`)
    for (const entry of outcome.forgotten) ctx.out.info(`forgot ${line(entry)} (not revoked: --no-revoke)`)
    for (const { entry, error } of outcome.failed) ctx.out.warn(`kept ${line(entry)}: ${describeError(error)}`)
    ctx.out.info(`${outcome.revoked.length} revoked, ${total} forgotten, ${outcome.failed.length} could not be revoked`)
  }
  const [first] = outcome.failed
  if (first !== undefined) {
    // The exit code of the first failure, once everything that could be done was done.
    ctx.exit({ code: exitCodeFor(first.error.code) })
  }
}
