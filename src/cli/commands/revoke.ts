import type { Command } from 'commander'
import { required } from '../../config/resolve.js'
import { SettingInvalidError, UsageError } from '../../errors.js'
import { sameDigest, tokenSha256 } from '../../token/held.js'
import { cacheModeOf, DEFAULT_TIMEOUT } from '../../token/settings.js'
import { action, type ProgramDeps } from '../command.js'
import type { Context } from '../context.js'
import { givenToken, HOW_TO_PASS, TOKEN_VARIABLE, type GivenTokenOptions } from '../given-token.js'
import { addSettingOptions, settingFlags, timeoutArg } from '../options.js'
import { interruptible, tokenService } from '../token-options.js'

export interface RevokeOptions extends GivenTokenOptions, Record<string, unknown> {
  expectSha256?: string
  timeout: number
  caFile?: string
}

const SETTINGS = ['token-url', 'api-url', 'cache'] as const

export function registerRevoke(self: Command, deps: ProgramDeps): void {
  const cmd = self
    .description(`revoke one token you hold (DELETE /v2/access-token) and forget it if the cache holds it; the token comes from $${TOKEN_VARIABLE}`)
    .argument('[-]', 'read the token from standard input instead (one trailing newline is dropped)')
    .option('--token-env <name>', `read the token from this environment variable instead of $${TOKEN_VARIABLE}`)
    .option('--expect-sha256 <hex>', 'revoke only if the token is this one: the hex SHA-256 of the token (sha256sum); else exit 2 and send nothing')
  addSettingOptions(cmd, [...SETTINGS])
    .option('--timeout <duration>', 'bound on the whole request, retries included', timeoutArg, DEFAULT_TIMEOUT)
    .option('--ca-file <pem>', 'also trust these CA certificates (a TLS-intercepting proxy, a private CA)')
    .addHelpText(
      'after',
      '\nNever give the token as an argument: other users see it in ps. Refused (exit 2) without echoing it.\n' +
        '  bktx revoke                              the token in $BUILDKITE_API_TOKEN\n' +
        '  bktx revoke --token-env MY_TOKEN         the token in $MY_TOKEN\n' +
        '  printf \'%s\\n\' "$T" | bktx revoke -      the token on standard input\n' +
        '  bktx revoke --expect-sha256 "$(printf %s "$T" | sha256sum | cut -d" " -f1)"\n\n' +
        'Exit 0 when the API revoked the token (HTTP 204) and when it no longer knew it (HTTP 401:\n' +
        'already revoked or expired). Network failures and 5xx are retried within --timeout (exit 5).\n' +
        'The cache entry holding the token, if any, is removed once the API has answered.\n\n' +
        '--json prints {"revoked", "already_invalid", "token_hint", "removed_from_cache"}:\n' +
        'revoked is true for 204, already_invalid for 401; token_hint is the last four characters\n' +
        '(null for a token under 20 characters).',
    )
  action<RevokeOptions>(cmd, deps, (ctx, opts, args) => runRevoke(ctx, opts, args[0] as string | undefined))
}

export async function runRevoke(ctx: Context, opts: RevokeOptions, arg: string | undefined): Promise<void> {
  // The expected hash is checked for shape before anything is read.
  const expected = opts.expectSha256
  if (expected !== undefined && !/^[0-9a-fA-F]{64}$/.test(expected)) {
    throw new SettingInvalidError('expect-sha256', 'must be 64 hexadecimal digits: the SHA-256 of the token (sha256sum prints it)', { source: 'flag' })
  }
  const given = await givenToken(ctx, 'revoke', opts, arg)
  if (given === undefined) throw new UsageError(`no token to revoke: $${TOKEN_VARIABLE} is not set; ${HOW_TO_PASS.replace('COMMAND', 'revoke')}`)
  // A swapped variable (another job's token, a production token) must never be revoked: the
  // check comes before any request, and names neither token.
  if (expected !== undefined && !sameDigest(tokenSha256(given.token), expected)) {
    throw new SettingInvalidError('expect-sha256', `the token from ${given.source} is not the one expected (its SHA-256 differs); nothing was sent`, {
      source: 'flag',
      detail: { reason: 'token-mismatch' },
    })
  }
  const settings = await ctx.settings(settingFlags(opts, SETTINGS))
  const service = tokenService(ctx)
  const outcome = await interruptible(ctx, (signal) =>
    ctx.out.spin('revoking the token', () =>
      service.revokeGiven({
        token: given.token,
        apiUrl: required(settings, 'api-url'),
        cache: cacheModeOf(settings),
        timeoutMs: opts.timeout * 1000,
        caFile: opts.caFile === undefined ? undefined : ctx.absolute(opts.caFile),
        signal,
        onDebug: (line) => ctx.out.debug(line),
      }),
    ),
  )
  for (const notice of outcome.notices) ctx.notice(notice)
  if (ctx.out.json) {
    ctx.out.document({
      revoked: outcome.revoked,
      already_invalid: outcome.alreadyInvalid,
      token_hint: outcome.hint,
      removed_from_cache: outcome.removedFromCache,
    })
  }
  const name = outcome.hint === null ? 'token' : `token …${outcome.hint}`
  if (outcome.revoked) ctx.out.success(`${name} revoked`)
  else ctx.out.info(`${name} already invalid (revoked or expired)`)
  if (outcome.removedFromCache) ctx.out.info('removed it from the cache')
}
