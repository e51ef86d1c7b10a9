import type { Command } from 'commander'
import { escapeControls as clean } from '../../text/sanitize.js'
import { formatDuration } from '../../time/duration.js'
import type { Context } from '../context.js'
import { action, type ProgramDeps } from '../command.js'
import { addTokenOptions, tokenRequest, tokenService, type TokenOptions } from '../token-options.js'
import { cacheKey } from '../../cache/key.js'
import type { CacheMode } from '../../config/settings.js'
import type { JsonFields } from '../json-fields.js'

export interface CacheClearOptions extends TokenOptions {
  all?: boolean
}

export function registerCache(self: Command, deps: ProgramDeps): void {
  const cache = self.description('list or clear cached tokens')
  const list = cache
    .command('list')
    .description('cached tokens: metadata only (no token, no keychain access)')
    .option('--cache <mode>', 'auto, keychain, file or none (env BKTX_CACHE)')
  action<TokenOptions>(list, deps, (ctx, opts) => runCacheList(ctx, opts))
  const clear = cache
    .command('clear')
    .description('remove the cached token of the current settings, or every one with --all')
    .option('--all', 'remove every cached token (and orphaned bktx keychain items)')
  addTokenOptions(clear)
  action<CacheClearOptions>(clear, deps, (ctx, opts) => runCacheClear(ctx, opts))
}

/** The cache to list or clear: metadata files serve every backend's entries, and `file` mode can still remove keychain items. */
async function openForHousekeeping(ctx: Context, flag: string | false | undefined) {
  const mode: CacheMode = flag === 'none' ? 'none' : 'file'
  const { cache, notices } = await tokenService(ctx).openCache(mode)
  for (const notice of notices) ctx.notice(notice)
  return cache
}

export async function runCacheList(ctx: Context, opts: TokenOptions): Promise<void> {
  const cache = await openForHousekeeping(ctx, opts.cache)
  const entries = await cache.list()
  const now = ctx.deps.clock.now().getTime()
  if (ctx.out.json) {
    ctx.out.document(
      entries.map(
        (e): JsonFields<'cache list'> => ({
          key: e.key,
          cache: e.backend,
          org: e.org,
          subject: e.subject,
          subject_type: e.subjectType,
          scopes: e.scopes,
          token_url: e.tokenUrl,
          client_id: e.clientId,
          received_at: e.receivedAt.toISOString(),
          expires_at: e.expiresAt.toISOString(),
          expired: e.expired,
          token_hint: e.tokenHint ?? null,
        }),
      ),
    )
    return
  }
  if (entries.length === 0) {
    ctx.out.info('no cached tokens')
    return
  }
  ctx.out.data(
    entries
      .map((e) => {
        const left = e.expired ? 'expired' : `expires in ${formatDuration((e.expiresAt.getTime() - now) / 1000)}`
        // Metadata files are read back from disk: their strings are shown escaped.
        return `${clean(e.org)}  ${clean(e.subject)}  ${e.scopes.map((s) => clean(s)).join(' ') || '(default scopes)'}  ${left}  ${e.backend}  …${clean(e.tokenHint ?? '')}`
      })
      .join('\n'),
  )
}

export async function runCacheClear(ctx: Context, opts: CacheClearOptions): Promise<void> {
  // Clearing must work even under --no-cache or BKTX_CACHE=none: the file mode reads every
  // backend's metadata and removes keychain items when the keychain answers.
  const cache = await openForHousekeeping(ctx, 'file')
  let outcome
  if (opts.all === true) {
    outcome = await cache.clearAll()
  } else {
    const { params } = await tokenRequest(ctx, opts)
    outcome = await cache.clear(cacheKey(params))
  }
  if (outcome.keychainError !== undefined) throw outcome.keychainError
  if (ctx.out.json) ctx.out.document({ removed: outcome.removed } satisfies JsonFields<'cache clear'>)
  ctx.out.success(
    `removed ${outcome.removed} cached token${outcome.removed === 1 ? '' : 's'}${opts.all === true ? ' (not revoked: `bktx logout --all` revokes them first)' : ''}`,
  )
}
