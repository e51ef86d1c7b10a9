import { randomUUID } from 'node:crypto'
import type { Command } from 'commander'
import { buildAssertionClaims, DEFAULT_ASSERTION_LIFETIME, MAX_ASSERTION_LIFETIME } from '../../assertion/claims.js'
import { required } from '../../config/resolve.js'
import type { SettingName } from '../../config/settings.js'
import { epochSeconds } from '../../time/clock.js'
import type { Context } from '../context.js'
import { addSettingOptions, collect, durationArg, settingFlags } from '../options.js'
import { action, type ProgramDeps } from '../command.js'
import { UsageError } from '../../errors.js'
import { interruptible } from '../token-options.js'
import { DEFAULT_TIMEOUT } from '../../token/settings.js'
import { signAssertion } from '../../assertion/sign.js'
import { keySpecOf } from '../../config/key-spec.js'
import { openKey } from '../../keys/open.js'
import type { JsonFields } from '../json-fields.js'

const SETTINGS_USED: readonly SettingName[] = ['client-id', 'key', 'kid', 'public-key', 'pkcs11-module', 'pin-source', 'token-url', 'aud']

export interface SignOptions extends Record<string, unknown> {
  lifetime: number
  claim?: string[]
  timeout: number
}

export function registerSign(self: Command, deps: ProgramDeps): void {
  const cmd = self.description('print a signed client-assertion JWT (RFC 7523) as Buildkite requires it')
  addSettingOptions(cmd, SETTINGS_USED)
    .option('--lifetime <duration>', `seconds until exp, at most ${MAX_ASSERTION_LIFETIME}`, durationArg, DEFAULT_ASSERTION_LIFETIME)
    .option('--claim <name=value>', 'extra claim; value parsed as JSON when it is JSON (repeatable)', collect)
    .option('--timeout <duration>', 'bound on an external signer (exec: keys)', durationArg, DEFAULT_TIMEOUT)
  action<SignOptions>(cmd, deps, (ctx, opts) => runSign(ctx, opts))
}

export async function runSign(ctx: Context, opts: SignOptions): Promise<void> {
  if (opts.lifetime > MAX_ASSERTION_LIFETIME || opts.lifetime < 1) {
    throw new UsageError(`--lifetime ${opts.lifetime}s is out of range: Buildkite rejects assertions with exp more than ${MAX_ASSERTION_LIFETIME} s after iat`)
  }
  const settings = await ctx.settings(settingFlags(opts, SETTINGS_USED))
  const clientId = required(settings, 'client-id')
  const key = await openKey(keySpecOf(settings), ctx.keyDeps())
  const audience = required(settings, 'aud')
  const claims = buildAssertionClaims({
    clientId,
    audience,
    now: epochSeconds(ctx.deps.clock),
    lifetime: opts.lifetime,
    jti: randomUUID(),
    extra: parseClaimArgs(opts.claim ?? []),
  })
  const jwt = await interruptible(ctx, (signal) => signAssertion(claims, key, { signal: AbortSignal.any([signal, AbortSignal.timeout(opts.timeout * 1000)]) }))
  const header = { alg: key.alg, typ: 'JWT', ...(key.kid === undefined ? {} : { kid: key.kid }) }
  if (ctx.out.json) ctx.out.document({ assertion: jwt, header, claims } satisfies JsonFields<'sign'>)
  else ctx.out.data(jwt)
  ctx.out.debug(
    `signed with ${key.alg} key from ${key.source} (${key.kid === undefined ? 'no kid header' : `kid ${key.kid}`}); aud ${audience}; expires in ${opts.lifetime}s`,
  )
}

/** Parses `--claim k=v`; `v` is JSON when it parses as JSON (numbers, booleans), else a string. */
export function parseClaimArgs(args: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const arg of args) {
    const eq = arg.indexOf('=')
    if (eq <= 0) throw new UsageError(`--claim "${arg}" is not of the form name=value`)
    const name = arg.slice(0, eq)
    const raw = arg.slice(eq + 1)
    let value: unknown = raw
    try {
      value = JSON.parse(raw)
    } catch {
      // Not JSON: keep the text as a string claim.
    }
    out[name] = value
  }
  return out
}
