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

export interface CacheListOptions extends TokenOptions {
  allScopes?: boolean
}

export function registerCache(self: Command, deps: ProgramDeps): void {
  const cache = self.description('list or clear cached tokens')
  const list = cache
    .command('list')
    .description('cached tokens of this home (or CI job): metadata only (no token, no keychain access)')
    .option('--cache <mode>', 'auto, keychain, file or none (env BKTX_CACHE)')
    .option('--all-scopes', "also the tokens of this user's other homes and CI jobs on this host")
    .addHelpText(
      'after',
      `\nEach line: profile, token host, subject, org, scopes (granted), ttl asked, key (kid and fingerprint),
expiry, backend, the token's last four characters.`,
    )
  action<CacheListOptions>(list, deps, (ctx, opts) => runCacheList(ctx, opts))
  const clear = cache
    .command('clear')
    .description('remove the cached token of the current settings, or every one of this home (or CI job) with --all')
    .option('--all', 'remove every cached token of this home or CI job (and its orphaned bktx keychain items)')
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

export async function runCacheList(ctx: Context, opts: CacheListOptions): Promise<void> {
  const cache = await openForHousekeeping(ctx, opts.cache)
  const entries = opts.allScopes === true ? await cache.listAll() : await cache.list()
  const now = ctx.deps.clock.now().getTime()
  if (ctx.out.json) {
    ctx.out.document(
      entries.map(
        (e): JsonFields<'cache list'> => ({
          key: e.key,
          scope: e.scope,
          profile: e.profile ?? null,
          token_host: e.tokenHost,
          token_url: e.tokenUrl,
          subject: e.subject,
          subject_type: e.subjectType,
          org: e.org,
          client_id: e.clientId,
          scopes: e.scopes,
          requested_scopes: e.requestedScopes,
          requested_ttl: e.requestedTtl,
          kid: e.kid ?? null,
          key_fingerprint: e.keyFingerprint,
          received_at: e.receivedAt.toISOString(),
          expires_at: e.expiresAt.toISOString(),
          expired: e.expired,
          cache: e.backend,
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
        const ttl = e.requestedTtl === null ? 'ttl max' : `ttl ${formatDuration(e.requestedTtl)}`
        // The kid alone may be reused by another key: the fingerprint's start tells them apart.
        const key = `key ${e.kid ?? '-'}:${e.keyFingerprint.slice(0, 8)}`
        const scopes = e.scopes.join(' ') || '(default scopes)'
        const fields = [e.profile ?? '-', e.tokenHost, e.subject, e.org, scopes, ttl, key, left, e.backend, `…${e.tokenHint ?? '????'}`]
        if (opts.allScopes === true) fields.unshift(e.scope === cache.scope ? `${e.scope}*` : e.scope)
        // Metadata files are read back from disk: their strings are shown escaped.
        return fields.map((f) => clean(f)).join('  ')
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
