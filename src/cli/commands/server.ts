import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { NetworkError, UsageError } from '../../errors.js'
import { required } from '../../config/resolve.js'
import { errnoText } from '../../fs/atomic.js'
import { ConfigError } from '../../errors.js'
import type { ServerConfig } from '../../server/config.js'
import type { Context } from '../context.js'
import { collect, durationArg, portArg } from '../options.js'
import { action, type ProgramDeps } from '../command.js'

export interface ServerOptions {
  host: string
  port: number
  stateDir?: string
  org?: string
  member?: string[]
  clientId?: string
  jwks?: string
  jwksUri?: string
  grantable: string
  defaultScopes: string
  maxTtl: number
  exchangeIps?: string
  tokenIps?: string
  requireJti?: boolean
  rateLimit?: number
  allowHttpJwks?: boolean
  aud?: string[]
}

const QUICK_FLAGS = ['org', 'member', 'clientId', 'jwks', 'jwksUri', 'exchangeIps', 'tokenIps', 'requireJti', 'rateLimit'] as const

export function registerServer(program: Command, deps: ProgramDeps): void {
  const cmd = program
    .command('server')
    .description("run the reference token exchange server (Buildkite's semantics) for local testing")
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port (0 picks a free one)', portArg, 8787)
    .option('--state-dir <dir>', 'keep tokens, revocations, used jtis and audit.jsonl here (default: in memory)')
    .option('--org <slug>', 'organisation slug (default: the profile org, else "acme")')
    .option('--member <email>', 'organisation member, verified and active (repeatable; default: the profile subject)', collect)
    .option('--client-id <id>', 'client ID of the token exchange app (default: generated)')
    .option('--jwks <file>', "the app's keys: a JWKS, JWK or PEM file (default: the profile key)")
    .option('--jwks-uri <url>', "the app's JWKS URI (https; http to loopback with --allow-http-jwks)")
    .option('--grantable <scopes>', 'grantable scopes', 'read_builds read_pipelines read_user')
    .option('--default-scopes <scopes>', 'scopes granted when a request names none', 'read_builds')
    .option('--max-ttl <duration>', 'maximum token lifetime, 30s to 24h', durationArg, 3600)
    .option('--exchange-ips <cidrs>', 'addresses allowed to exchange (comma separated; default any)')
    .option('--token-ips <cidrs>', 'addresses allowed to use minted tokens (comma separated; default any)')
    .option('--require-jti', 'reject assertions without a jti')
    .option('--rate-limit <n>', 'exchanges per minute for the organisation', (v) => positiveInt(v, '--rate-limit'))
    .option('--allow-http-jwks', 'allow http:// JWKS URIs to loopback hosts')
    .option('--aud <url>', 'also accept this assertion audience (repeatable)', collect)
    .addHelpText(
      'after',
      '\nThe global --config FILE given to this command names the server configuration (JSON:\norganizations and apps); the quick flags describe a one-app setup without one.\nEndpoints: POST /oauth/token and /v2/oauth/token; GET|DELETE /v2/access-token;\nGET /v2/organizations/ORG/pipelines (read_pipelines) and /builds (read_builds).',
    )
  action<ServerOptions>(cmd, deps, (ctx, opts) => runServer(ctx, opts, cmd))
}

function positiveInt(value: string, flag: string): number {
  if (!/^[1-9][0-9]{0,6}$/.test(value)) throw new UsageError(`${flag} must be a positive whole number`)
  return Number(value)
}

export async function runServer(ctx: Context, opts: ServerOptions, cmd: Command): Promise<void> {
  const { createTokenServer } = await import('../../server/app.js')
  const { listen } = await import('../../http/listen.js')
  const program = cmd.parent as Command
  // `bktx server --config FILE`: here the global --config names the server configuration.
  const serverConfigPath = program.getOptionValueSource('config') === 'cli' ? ctx.configPath : undefined
  const config = serverConfigPath !== undefined ? await loadServerConfigFile(serverConfigPath, opts) : await quickConfig(ctx, opts)
  if (opts.aud !== undefined) config.audiences.push(...opts.aud)

  const server = await createTokenServer(config, {
    clock: ctx.deps.clock,
    fetch: ctx.deps.fetch,
    stateDir: opts.stateDir === undefined ? undefined : ctx.absolute(opts.stateDir),
    log: batchedLines((text) => ctx.out.info(text)),
  })
  let listening
  try {
    listening = await listen(server.handler, { host: opts.host, port: opts.port })
  } catch (cause) {
    server.close()
    throw new NetworkError(`cannot listen on ${opts.host}:${opts.port}: ${(cause as Error).message}`, { cause })
  }
  const app = config.apps[0]
  if (ctx.out.json) {
    ctx.out.document({
      url: listening.url,
      token_url: `${listening.url}/oauth/token`,
      api_url: listening.url,
      organizations: config.organizations.map((o) => o.slug),
      client_ids: config.apps.map((a) => a.clientId),
    })
  }
  for (const a of config.apps) {
    ctx.out.info(`app "${a.name}": client id ${a.clientId}, org ${a.org}, keys ${a.jwksUri ?? `inline (${a.jwks?.keys.length} key${a.jwks?.keys.length === 1 ? '' : 's'})`}, scopes ${a.grantableScopes.join(' ')}, max ttl ${a.maxTtl}s`)
  }
  if (app !== undefined) ctx.out.info(`token URL ${listening.url}/oauth/token (set BKTX_TOKEN_URL and BKTX_API_URL=${listening.url})`)
  if (opts.stateDir !== undefined) ctx.out.info(`state and audit log in ${ctx.absolute(opts.stateDir)}`)
  ctx.out.info(`listening on ${listening.url}`)

  await new Promise<void>((resolve) => {
    const offs = [ctx.deps.signals.on('SIGINT', stop), ctx.deps.signals.on('SIGTERM', stop)]
    function stop(): void {
      for (const off of offs) off()
      resolve()
    }
  })
  ctx.out.info('shutting down')
  await listening.close()
  server.close()
}

async function loadServerConfigFile(path: string, opts: ServerOptions): Promise<ServerConfig> {
  const given = QUICK_FLAGS.filter((flag) => opts[flag] !== undefined)
  if (given.length > 0) throw new UsageError(`--config describes the organisations and apps; do not combine it with --${given.map(kebab).join(', --')}`)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    throw new ConfigError(path, undefined, `cannot be read: ${errnoText(cause)}`, { cause })
  }
  const { parseServerConfig } = await import('../../server/config.js')
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (cause) {
    throw new ConfigError(path, undefined, `is not valid JSON (${(cause as Error).message})`, { cause })
  }
  const config = await parseServerConfig(data, path)
  if (opts.allowHttpJwks === true && !config.allowHttpJwks) {
    return parseServerConfig({ ...(data as object), allow_http_jwks: true }, path)
  }
  return config
}

/** A one-org, one-app configuration from the quick flags, defaulting from the bktx profile. */
async function quickConfig(ctx: Context, opts: ServerOptions): Promise<ServerConfig> {
  if (opts.jwks !== undefined && opts.jwksUri !== undefined) throw new UsageError('give --jwks or --jwks-uri, not both')
  const { parseServerConfig } = await import('../../server/config.js')
  const { buildJwks } = await import('../../jwks/build.js')
  const { loadKeyFile } = await import('../../keys/load.js')
  const settings = await ctx.settings({})
  const org = opts.org ?? settings.org?.value ?? 'acme'
  const members = opts.member ?? (settings.subject !== undefined && settings['subject-type']?.value !== 'uuid' ? [settings.subject.value] : undefined)
  if (members === undefined || members.length === 0) throw new UsageError('name at least one organisation member: --member EMAIL (or set the profile subject)')
  let jwks: unknown
  if (opts.jwksUri === undefined) {
    const path = opts.jwks !== undefined ? ctx.absolute(opts.jwks) : required(settings, 'key')
    jwks = buildJwks(await loadKeyFile(path, settings.kid !== undefined && opts.jwks === undefined ? { kid: settings.kid.value } : {}))
  }
  try {
    return await parseServerConfig(
    {
      organizations: [{ slug: org, require_jti: opts.requireJti === true, ...(opts.rateLimit === undefined ? {} : { rate_limit: opts.rateLimit }), members: members.map((email) => ({ email })) }],
      apps: [
        {
          client_id: opts.clientId ?? settings['client-id']?.value ?? randomBytes(10).toString('hex'),
          org,
          name: 'bktx reference app',
          ...(jwks === undefined ? { jwks_uri: opts.jwksUri } : { jwks }),
          grantable_scopes: opts.grantable,
          default_scopes: opts.defaultScopes,
          max_ttl: opts.maxTtl,
          exchange_ips: opts.exchangeIps ?? [],
          token_ips: opts.tokenIps ?? [],
        },
      ],
        allow_http_jwks: opts.allowHttpJwks === true,
      },
      'server flags',
    )
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    // Name the flag, not the config field the flags were turned into.
    const field = error.field ?? ''
    const flag = Object.entries(FLAG_FOR_FIELD).find(([pattern]) => field.includes(pattern))?.[1] ?? 'a server flag'
    throw new UsageError(`${flag}: ${error.message.replace(/^config file server flags: [^:]*: /, '')}`)
  }
}

const FLAG_FOR_FIELD: Record<string, string> = {
  grantable_scopes: '--grantable',
  default_scopes: '--default-scopes',
  exchange_ips: '--exchange-ips',
  token_ips: '--token-ips',
  members: '--member',
  slug: '--org',
  client_id: '--client-id',
  jwks_uri: '--jwks-uri',
  jwks: '--jwks',
  max_ttl: '--max-ttl',
}

/**
 * A log sink that writes the lines of one event-loop turn together: one write per batch
 * instead of one per request, which matters under load (stderr to a file or pipe is a
 * synchronous write in Node).
 */
function batchedLines(write: (text: string) => void): (line: string) => void {
  let pending: string[] = []
  return (line) => {
    pending.push(line)
    if (pending.length > 1) return
    setImmediate(() => {
      const lines = pending
      pending = []
      write(lines.join('\n'))
    })
  }
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}
