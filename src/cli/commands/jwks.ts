import type { Command } from 'commander'
import type { SettingName } from '../../config/settings.js'
import { UsageError } from '../../errors.js'
import { writeFileAtomic } from '../../fs/atomic.js'
import type { JwksSource } from '../../jwks/check.js'
import { JWKS_MAX_BYTES } from '../../jwks/limits.js'
import type { KeyFileRef } from '../../jwks/serve.js'
import type { LoadedKey } from '../../keys/load.js'
import { NO_KID } from '../../keys/pem.js'
import { hasKeyScheme } from '../../keys/source.js'
import type { Context } from '../context.js'
import { checksDocument, checksText, throwIfFailed, withFetch } from '../checks.js'
import { addSettingOptions, collect, portArg, settingFlags } from '../options.js'
import { action, type ProgramDeps } from '../command.js'
import { buildJwks, serializeJwks } from '../../jwks/build.js'
import { keySpecOf } from '../../config/key-spec.js'
import type { JsonFields } from '../json-fields.js'

export interface JwksOptions extends Record<string, unknown> {
  key?: string[]
  out?: string
}

// How to reach the public half of a token or signer key (the --key of this command is repeatable, so not a setting flag).
const KEY_SETTINGS: readonly SettingName[] = ['public-key', 'pkcs11-module', 'pin-source']
export interface JwksCheckOptions {
  kid?: string
  allowHttpJwks?: boolean
  caFile?: string
}

export interface JwksServeOptions {
  key?: string[]
  host: string
  port: number
}

export function registerJwks(self: Command, deps: ProgramDeps): void {
  const jwks = self
    .description('print, publish or serve the public JWKS of your keys (no private member ever appears)')
    .addHelpText(
      'after',
      '\nRotation: publish old and new keys together (--key old.pem --key new.pem) for at least an hour\nbefore signing with the new one; Buildkite caches a JWKS URI for up to 1 hour.',
    )
  // `bktx jwks --key K` is `bktx jwks print --key K`: the flags belong to the subcommand, so
  // `serve` can have its own --key.
  const print = jwks
    .command('print', { isDefault: true })
    .description('print the JWKS (the default), or publish it atomically with --out')
    .option(
      '--key <source>',
      'key file (PEM or JWK, private or public, or a JWKS), env:NAME, pkcs11: URI or exec: key (repeatable; default: the profile key)',
      collect,
    )
    .option('--out <file>', 'publish atomically to FILE (mode 0644) instead of printing')
  addSettingOptions(print, KEY_SETTINGS)
  action<JwksOptions>(print, deps, (ctx, opts) => runJwks(ctx, opts))

  const serve = jwks
    .command('serve')
    .description('serve the JWKS over HTTP at /.well-known/jwks.json and /jwks.json')
    .option('--key <path>', 'key file (repeatable; default: the profile key); re-read when it changes', collect)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port (0 picks a free one)', portArg, 8788)
  action<JwksServeOptions>(serve, deps, (ctx, opts) => runJwksServe(ctx, opts))

  const check = jwks
    .command('check')
    .description(
      'check a published JWKS as Buildkite reads it: https, 200, at most 100 KiB, JSON, every key RS256 (RSA >= 2048) or ES256, public members only, unique kids',
    )
    .argument('[source]', 'URL, file, or - for stdin (default: the jwks-uri setting)')
    .option('--kid <kid>', 'the set must hold a key with this kid')
    .option('--allow-http-jwks', 'accept http:// to a loopback host (as the reference server can)')
    .option('--ca-file <pem>', 'also trust these CA certificates')
    .addHelpText(
      'after',
      '\nExit 0 when it passes; 11 when a rule fails or the kid is missing; 5 when the URL cannot be\nfetched; 3 when the file cannot be read.',
    )
  action<JwksCheckOptions>(check, deps, (ctx, opts, args) => runJwksCheck(ctx, opts, args[0] as string | undefined))
}

/**
 * The key files `jwks serve` publishes: those given with --key, each under the kid it names
 * itself (a `bktx keygen --kid` label, a JWK's kid) or its thumbprint; else the profile's key
 * under the kid it signs with (the `kid` setting, unless `none`), so that what is served is what
 * `bktx sign` and `bktx token` send.
 */
async function keyPaths(ctx: Context, given: string[] | undefined): Promise<KeyFileRef[]> {
  if (given !== undefined && given.length > 0) {
    const sources = given.filter(hasKeyScheme)
    if (sources.length > 0)
      throw new UsageError(
        `jwks serve re-reads key files as they change; for ${sources[0]} publish the JWKS to a file with \`bktx jwks --key ${sources[0]} --out FILE\` and serve that`,
      )
    return given.map((path) => ({ path: ctx.absolute(path) }))
  }
  const settings = await ctx.settings({})
  const { key, kid } = keySpecOf(settings)
  if (hasKeyScheme(key))
    throw new UsageError(
      `jwks serve re-reads key files as they change; for the profile key ${key} publish the JWKS to a file with \`bktx jwks --out FILE\` and serve that`,
    )
  return [{ path: key, kid: kid === NO_KID ? undefined : kid }]
}

/** The public keys of --key sources (files, env:, pkcs11:, exec:), or of the profile key. */
async function loadAll(ctx: Context, opts: JwksOptions): Promise<LoadedKey[]> {
  const { loadPublicKeys } = await import('../../keys/public.js')
  const settings = await ctx.settings(settingFlags(opts, KEY_SETTINGS))
  if (opts.key === undefined || opts.key.length === 0) return loadPublicKeys(keySpecOf(settings), ctx.keyDeps())
  const common = { publicKey: settings['public-key']?.value, pkcs11Module: settings['pkcs11-module']?.value, pinSource: settings['pin-source']?.value }
  const keys = await Promise.all(opts.key.map((key) => loadPublicKeys({ ...common, key: hasKeyScheme(key) ? key : ctx.absolute(key) }, ctx.keyDeps())))
  return keys.flat()
}

export async function runJwks(ctx: Context, opts: JwksOptions): Promise<void> {
  const jwks = buildJwks(await loadAll(ctx, opts))
  const text = serializeJwks(jwks)
  if (opts.out === undefined) {
    ctx.out.data(text)
    return
  }
  const path = ctx.absolute(opts.out)
  // A JWKS is public: 0644 so a web server can read it; atomic so it never serves half a file.
  await writeFileAtomic(path, text, { mode: 0o644, dirMode: 0o755, overwrite: true })
  if (ctx.out.json) ctx.out.document({ path, kids: jwks.keys.map((k) => k.kid) })
  ctx.out.success(`published ${jwks.keys.length} key${jwks.keys.length === 1 ? '' : 's'} to ${path} (${jwks.keys.map((k) => k.kid).join(', ')})`)
}

export async function runJwksServe(ctx: Context, opts: JwksServeOptions): Promise<void> {
  const { serveJwks } = await import('../../jwks/serve.js')
  const serving = await serveJwks(
    { keyPaths: await keyPaths(ctx, opts.key), host: opts.host, port: opts.port },
    {
      clock: ctx.deps.clock,
      // The request log is what the server produces, not a note: --quiet keeps it.
      log: (line) => ctx.out.log(line),
      onChange: (kids) => ctx.out.info(`key files changed: serving the new JWKS (${kids.join(', ')})`),
    },
  )
  ctx.out.log(`serving JWKS at ${serving.urls[0]} (and ${serving.urls[1]}, kids ${serving.kids.join(', ')}); Ctrl-C stops`)
  await new Promise<void>((resolve) => {
    const offs = [ctx.deps.signals.on('SIGINT', stop), ctx.deps.signals.on('SIGTERM', stop)]
    function stop(): void {
      for (const off of offs) off()
      resolve()
    }
  })
  await serving.close()
  ctx.out.info('stopped')
}

/** The JWKS named on the command line (URL, file or `-`), else the jwks-uri setting. */
export async function jwksSource(ctx: Context, given: string | undefined): Promise<JwksSource> {
  if (given === undefined) {
    const uri = (await ctx.settings({}))['jwks-uri']?.value
    if (uri === undefined) throw new UsageError('name the JWKS to check: a URL, a file or - (or set jwks-uri: `bktx config set jwks-uri URL`)')
    return { kind: 'url', url: uri }
  }
  if (given === '-') return { kind: 'text', name: 'stdin', text: await ctx.deps.readStdin(JWKS_MAX_BYTES) }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(given)) return { kind: 'url', url: given }
  return { kind: 'file', path: ctx.absolute(given) }
}

export async function runJwksCheck(ctx: Context, opts: JwksCheckOptions, given: string | undefined): Promise<void> {
  const source = await jwksSource(ctx, given)
  const [{ checkJwks }, { jwksChecks, sourceName }] = await Promise.all([import('../../jwks/check.js'), import('../../checks/jwks.js')])
  const report = await withFetch(ctx, opts.caFile, (fetch) => checkJwks(source, { kid: opts.kid, allowHttp: opts.allowHttpJwks === true }, { fetch }))
  const checks = jwksChecks(report, { what: 'the one asked for' })
  if (ctx.out.json) {
    ctx.out.document({
      source: sourceName(source),
      ok: report.ok,
      http: report.http === undefined ? null : { status: report.http.status, content_type: report.http.contentType, cache_control: report.http.cacheControl },
      bytes: report.bytes ?? null,
      keys: report.keys.map((k) => ({ index: k.index, kid: k.kid, alg: k.alg })),
      problems: report.problems,
      kid: report.wanted === undefined ? null : { kid: report.wanted.kid ?? null, found: report.wanted.found },
      checks: checksDocument(checks, ctx),
    } satisfies JsonFields<'jwks check'>)
  } else {
    ctx.out.data(checksText(checks, ctx))
  }
  throwIfFailed(checks, `the JWKS ${sourceName(source)}`)
}
