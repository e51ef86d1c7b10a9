import type { Command } from 'commander'
import type { CacheListing, TokenCache } from '../../cache/cache.js'
import { required } from '../../config/resolve.js'
import { CacheError, isBktxError, NoTokenError, type AnyBktxError } from '../../errors.js'
import type { AccessTokenInfo } from '../../exchange/access-token.js'
import { describeError } from '../../term/describe.js'
import { escapeControls as clean } from '../../text/sanitize.js'
import { formatDuration } from '../../time/duration.js'
import { tokenHint } from '../../token/held.js'
import type { Context } from '../context.js'
import { action, type ProgramDeps } from '../command.js'
import { exitCodeFor } from '../exit-codes.js'
import { givenToken, TOKEN_VARIABLE, type GivenTokenOptions } from '../given-token.js'
import {
  addTokenOptions,
  interruptible,
  networkOptions,
  obtainToken,
  tokenInput,
  tokenService,
  tokenSettingFlags,
  type TokenOptions,
} from '../token-options.js'

export interface WhoamiOptions extends TokenOptions, GivenTokenOptions {
  mint?: boolean
}

export function registerWhoami(self: Command, deps: ProgramDeps): void {
  const cmd = self
    .description(
      `describe the token you hold (GET /v2/access-token): $${TOKEN_VARIABLE} when set, else the cached tokens of these settings; never mints unless --mint`,
    )
    .argument('[-]', 'read the token to describe from standard input')
    .option('--token-env <name>', `describe the token in this environment variable instead of $${TOKEN_VARIABLE}`)
    .option('--mint', 'with no token given, describe the token `bktx token` would give for these settings, minting one if none is cached')
  addTokenOptions(cmd, ['api-url'])
  cmd.addHelpText(
    'after',
    '\nWhich token: the one given (-, --token-env NAME, else $BUILDKITE_API_TOKEN); else every live\n' +
      'cached token these settings reach, as `bktx logout` reaches them (see `bktx help logout`).\n' +
      'Nothing given and nothing cached: exit 12, and nothing is minted (--mint mints).\n' +
      'A token on the command line is refused (exit 2): other users see it in ps.\n\n' +
      '--json prints the first token described as {"uuid", "user", "scopes", "description",\n' +
      '"created_at", "expires_at", "source", "token_hint", "cached", "cache"} and every one in\n' +
      '"tokens" (the same fields; "error": {"code", "message"} for one the API refused). source is\n' +
      'env:NAME, stdin, cache or exchange.',
  )
  action<WhoamiOptions>(cmd, deps, (ctx, opts, args) => runWhoami(ctx, opts, args[0] as string | undefined))
}

/** One token described, or the error describing it met. */
interface Described {
  /** Where the token came from, for --json: `env:NAME`, `stdin`, `cache`, `exchange`. */
  source: string
  /** The same for people: `from $BUILDKITE_API_TOKEN`, `from the file cache`. */
  sourceText: string
  hint: string | null
  cached: boolean
  cache: string
  info?: AccessTokenInfo
  error?: AnyBktxError
}

export async function runWhoami(ctx: Context, opts: WhoamiOptions, arg: string | undefined): Promise<void> {
  const given = await givenToken(ctx, 'whoami', opts, arg)
  const service = tokenService(ctx)
  const ask = (apiUrl: string, token: string) =>
    interruptible(ctx, (signal) => ctx.out.spin('asking the API about the token', () => service.whoami(apiUrl, token, networkOptions(ctx, opts, signal))))

  const described: Described[] = []
  if (given !== undefined) {
    // The token held, as it is: only the API URL is a setting here.
    const settings = await ctx.settings(tokenSettingFlags(opts, ['api-url']))
    const info = await ask(required(settings, 'api-url'), given.token)
    described.push({ source: given.sourceId, sourceText: `from ${given.source}`, hint: tokenHint(given.token), cached: false, cache: 'none', info })
  } else if (opts.mint === true) {
    const { result, settings } = await obtainToken(ctx, opts, ['api-url'])
    const info = await ask(required(settings, 'api-url'), result.accessToken)
    described.push({
      source: result.cached ? 'cache' : 'exchange',
      sourceText: result.cached ? `from the ${result.cache} cache` : 'new exchange (--mint)',
      hint: tokenHint(result.accessToken),
      cached: result.cached,
      cache: result.cache,
      info,
    })
  } else {
    const held = await service.held({ ...tokenInput(ctx, opts, ['api-url']), onDebug: (line) => ctx.out.debug(line) })
    for (const notice of held.notices) ctx.notice(notice)
    // Newest first: the last one minted is the likeliest to be the one in use.
    const live = held.entries.filter((entry) => !entry.expired).reverse()
    if (live.length === 0) {
      const expired = held.entries.length
      throw new NoTokenError(
        `no token given ($${TOKEN_VARIABLE} is not set) and no live cached token for these settings${expired > 0 ? ` (${expired} expired)` : ''}; nothing was minted`,
        { advice: ['get one with ', { command: 'token' }, ', or mint one and describe it with ', { command: 'whoami', options: ['mint'] }] },
      )
    }
    const apiUrl = required(held.settings, 'api-url')
    for (const entry of live) described.push(await describeCached(held.cache, entry, (token) => ask(apiUrl, token)))
  }

  if (ctx.out.json) {
    const docs = described.map((d) => document(d))
    ctx.out.document({ ...docs[0], tokens: docs })
  } else {
    const now = ctx.deps.clock.now().getTime()
    const blocks = described.filter((d) => d.info !== undefined).map((d) => render(d, d.info as AccessTokenInfo, now))
    if (blocks.length > 0) ctx.out.data(blocks.join('\n\n'))
    for (const d of described) {
      if (d.error !== undefined) ctx.out.warn(`token …${d.hint ?? ''} ${d.sourceText}: ${describeError(d.error)}`)
    }
  }
  const failed = described.find((d) => d.error !== undefined)?.error
  // The exit code of the first failure, once every token was described.
  if (failed !== undefined) ctx.exit({ code: exitCodeFor(failed.code) })
}

/** A cached token read (its secret) and described; a failure is kept with it, not thrown. */
async function describeCached(cache: TokenCache, entry: CacheListing, ask: (token: string) => Promise<AccessTokenInfo>): Promise<Described> {
  const base = { source: 'cache', sourceText: `from the ${entry.backend} cache`, hint: entry.tokenHint ?? null, cached: true, cache: entry.backend }
  const read = await cache.read(entry.key)
  if (read.entry === undefined) {
    const why = read.notice?.message ?? 'its secret is missing or unreadable'
    return { ...base, error: new CacheError(`cannot read the cached token: ${why}`, { detail: { reason: 'unreadable' } }) }
  }
  try {
    return { ...base, info: await ask(read.entry.token.accessToken) }
  } catch (error) {
    if (isBktxError(error) && error.code !== 'BKTX_INTERRUPTED') return { ...base, error }
    throw error
  }
}

function document(d: Described): Record<string, unknown> {
  const common = { source: d.source, token_hint: d.hint, cached: d.cached, cache: d.cache }
  if (d.info === undefined) return { ...common, error: { code: d.error?.code, message: d.error === undefined ? '' : describeError(d.error) } }
  const info = d.info
  return {
    uuid: info.uuid,
    user: info.user,
    scopes: info.scopes,
    description: info.description,
    created_at: info.createdAt.toISOString(),
    expires_at: info.expiresAt?.toISOString() ?? null,
    ...common,
  }
}

function render(d: Described, info: AccessTokenInfo, now: number): string {
  const left =
    info.expiresAt === null ? 'does not expire' : `expires ${info.expiresAt.toISOString()} (in ${formatDuration((info.expiresAt.getTime() - now) / 1000)})`
  // Every field is the API's text: one line each, control characters escaped.
  return [
    `user     ${clean(info.user.name)} <${clean(info.user.email)}>`,
    `scopes   ${info.scopes.map((s) => clean(s)).join(' ')}`,
    `token    ${clean(info.uuid)}, ${left}`,
    `source   ${d.sourceText}${d.hint === null ? '' : `, …${d.hint}`}`,
  ].join('\n')
}
