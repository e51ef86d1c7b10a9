import type { Command } from 'commander'
import { required } from '../../config/resolve.js'
import { writeFileAtomic } from '../../fs/atomic.js'
import type { LoadedKey } from '../../keys/load.js'
import type { Context } from '../context.js'
import { collect, portArg } from '../options.js'
import { action, type ProgramDeps } from '../command.js'

export interface JwksOptions {
  key?: string[]
  out?: string
}

export interface JwksServeOptions {
  key?: string[]
  host: string
  port: number
}

export function registerJwks(self: Command, deps: ProgramDeps): void {
  const jwks = self
    .description('print, publish or serve the public JWKS of your keys (no private member ever appears)')
    .addHelpText('after', '\nRotation: publish old and new keys together (--key old.pem --key new.pem) for at least an hour\nbefore signing with the new one; Buildkite caches a JWKS URI for up to 1 hour.')
  // `bktx jwks --key K` is `bktx jwks print --key K`: the flags belong to the subcommand, so
  // `serve` can have its own --key.
  const print = jwks
    .command('print', { isDefault: true })
    .description('print the JWKS (the default), or publish it atomically with --out')
    .option('--key <path>', 'key file: PEM or JWK, private or public, or a JWKS (repeatable; default: the profile key)', collect)
    .option('--out <file>', 'publish atomically to FILE (mode 0644) instead of printing')
  action<JwksOptions>(print, deps, (ctx, opts) => runJwks(ctx, opts))

  const serve = jwks
    .command('serve')
    .description('serve the JWKS over HTTP at /.well-known/jwks.json and /jwks.json')
    .option('--key <path>', 'key file (repeatable; default: the profile key); re-read when it changes', collect)
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port (0 picks a free one)', portArg, 8788)
  action<JwksServeOptions>(serve, deps, (ctx, opts) => runJwksServe(ctx, opts))
}

async function keyPaths(ctx: Context, given: string[] | undefined): Promise<string[]> {
  if (given !== undefined && given.length > 0) return given.map((path) => ctx.absolute(path))
  return [required(await ctx.settings({}), 'key')]
}

async function loadAll(paths: readonly string[]): Promise<LoadedKey[]> {
  const { loadKeyFile } = await import('../../keys/load.js')
  const keys = await Promise.all(paths.map((path) => loadKeyFile(path)))
  return keys.flat()
}

export async function runJwks(ctx: Context, opts: JwksOptions): Promise<void> {
  const { buildJwks, serializeJwks } = await import('../../jwks/build.js')
  const jwks = buildJwks(await loadAll(await keyPaths(ctx, opts.key)))
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
