import type { Command } from 'commander'
import { ConfigError, NetworkError, UsageError } from '../../errors.js'
import type { ServerConfig } from '../../server/config/config.js'
import type { Context } from '../context.js'
import { collect, durationArg, portArg } from '../options.js'
import { action, type ProgramDeps } from '../command.js'
import { QUICK_SERVER_DEFAULTS } from '../../server/config/quick-defaults.js'
import type { JsonFields } from '../json-fields.js'

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
  strictJwsHeader?: boolean
  aud?: string[]
  repairState?: boolean
}

const QUICK_FLAGS = ['org', 'member', 'clientId', 'jwks', 'jwksUri', 'exchangeIps', 'tokenIps', 'requireJti', 'rateLimit'] as const

export function registerServer(self: Command, deps: ProgramDeps): void {
  const cmd = self
    .description("run the reference token exchange server (Buildkite's semantics) for local testing")
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--port <port>', 'port (0 picks a free one)', portArg, 8787)
    .option('--state-dir <dir>', 'keep tokens, revocations, used jtis and audit.jsonl here (default: in memory)')
    .option('--repair-state', 'drop damaged lines of state.jsonl instead of refusing to start (revocations or used jtis on them are lost)')
    .option('--org <slug>', 'organisation slug (default: the profile org, else "acme")')
    .option('--member <email>', 'organisation member, verified and active (repeatable; default: the profile subject)', collect)
    .option('--client-id <id>', 'client ID of the token exchange app (default: generated)')
    .option('--jwks <file>', "the app's keys: a JWKS, JWK or PEM file (default: the profile key)")
    .option('--jwks-uri <url>', "the app's JWKS URI (https; http to loopback with --allow-http-jwks)")
    .option('--grantable <scopes>', 'grantable scopes', QUICK_SERVER_DEFAULTS.grantable)
    .option('--default-scopes <scopes>', 'scopes granted when a request names none', QUICK_SERVER_DEFAULTS.defaultScopes)
    .option('--max-ttl <duration>', 'maximum token lifetime, 30s to 24h', durationArg, QUICK_SERVER_DEFAULTS.maxTtl)
    .option('--exchange-ips <cidrs>', 'addresses allowed to exchange (comma separated; default any)')
    .option('--token-ips <cidrs>', 'addresses allowed to use minted tokens (comma separated; default any)')
    .option('--require-jti', 'reject assertions without a jti')
    .option('--rate-limit <n>', 'exchanges per minute for the organisation', (v) => positiveInt(v, '--rate-limit'))
    .option('--allow-http-jwks', 'allow http:// JWKS URIs to loopback hosts')
    .option('--strict-jws-header', 'refuse assertion header members other than alg, typ and kid (default: ignore them, as RFC 7515 §4 says)')
    .option('--aud <url>', 'also accept this assertion audience (repeatable)', collect)
    .addHelpText(
      'after',
      "\nThe global --config FILE given to this command names the server configuration (JSON:\norganizations and apps); the quick flags describe a one-app setup without one.\nEndpoints: POST /oauth/token and /v2/oauth/token; GET|DELETE /v2/access-token;\nGET /v2/organizations/ORG/pipelines (read_pipelines) and /builds (read_builds).\nWith --verbose, each refused request's log line says which check refused it.",
    )
  action<ServerOptions>(cmd, deps, (ctx, opts) => runServer(ctx, opts, cmd))
}

function positiveInt(value: string, flag: string): number {
  if (!/^[1-9][0-9]{0,6}$/.test(value)) throw new UsageError(`${flag} must be a positive whole number`)
  return Number(value)
}

export async function runServer(ctx: Context, opts: ServerOptions, cmd: Command): Promise<void> {
  const { createTokenServer } = await import('../../server/app.js')
  const program = cmd.parent as Command
  // `bktx server --config FILE`: here the global --config names the server configuration.
  const serverConfigPath = program.getOptionValueSource('config') === 'cli' ? ctx.configPath : undefined
  const config = serverConfigPath !== undefined ? await fileConfig(serverConfigPath, opts) : await quickConfig(ctx, opts)

  const server = await createTokenServer(config, {
    clock: ctx.deps.clock,
    fetch: ctx.deps.fetch,
    stateDir: opts.stateDir === undefined ? undefined : ctx.absolute(opts.stateDir),
    ...(ctx.deps.processInfo === undefined
      ? {}
      : { process: { pid: ctx.deps.processInfo.pid, uid: ctx.deps.uid, isAlive: (pid: number) => ctx.deps.processInfo?.isAlive(pid) ?? true } }),
    repairState: opts.repairState === true,
    // The request log is what the server produces, not a note: --quiet keeps it.
    log: batchedLines((text) => ctx.out.log(text)),
    verbose: ctx.out.verbose,
  })
  if (server.state.repaired.length > 0) {
    const lines = server.state.repaired
    ctx.out.warn(
      `dropped ${lines.length} damaged line${lines.length === 1 ? '' : 's'} of state.jsonl (line${lines.length === 1 ? '' : 's'} ${lines.slice(0, 10).join(', ')}${lines.length > 10 ? ', ...' : ''}): revocations or used jtis on them are lost`,
    )
  }
  // Loaded by the command that listens: every other command's start-up is spared node:http.
  const { listen } = await import('../../http/listen.js')
  let listening
  try {
    listening = await listen(server.handler, { host: opts.host, port: opts.port, expectations: 'handler' })
  } catch (cause) {
    server.close()
    throw new NetworkError(`cannot listen on ${opts.host}:${opts.port}: ${(cause as Error).message}`, { cause })
  }
  // A wildcard address is not one a client can reach: advertise its loopback twin.
  const url = advertisedUrl(listening.url)
  if (!isLoopbackAddress(opts.host)) {
    ctx.out.warn(
      `--host ${opts.host} is not loopback: the server speaks plain http there, so assertions and tokens cross the network unencrypted; ` +
        'the token URL clients use must be reachable from them and accepted by them (bktx sends credentials over plain http only to loopback; put TLS in front otherwise)',
    )
  }
  const app = config.apps[0]
  if (ctx.out.json) {
    ctx.out.document({
      url,
      token_url: `${url}/oauth/token`,
      api_url: url,
      organizations: config.organizations.map((o) => o.slug),
      client_ids: config.apps.map((a) => a.clientId),
    } satisfies JsonFields<'server'>)
  }
  for (const a of config.apps) {
    ctx.out.info(
      `app "${a.name}": client id ${a.clientId}, org ${a.org}, keys ${a.jwksUri ?? `inline (${a.jwks?.keys.length} key${a.jwks?.keys.length === 1 ? '' : 's'})`}, scopes ${a.grantableScopes.join(' ')}, max ttl ${a.maxTtl}s`,
    )
  }
  if (app !== undefined) ctx.out.info(`token URL ${url}/oauth/token (set BKTX_TOKEN_URL and BKTX_API_URL=${url})`)
  if (opts.stateDir !== undefined) ctx.out.info(`state and audit log in ${ctx.absolute(opts.stateDir)}`)
  // The young generation kept small while serving (src/term/young-generation.ts), V8's own
  // sizing back before the process ends.
  const unbound = await ctx.deps.boundYoungGeneration?.(SERVER_SEMI_SPACE_BYTES)
  ctx.out.log(`listening on ${listening.url}`)

  await new Promise<void>((resolve) => {
    const offs = [ctx.deps.signals.on('SIGINT', stop), ctx.deps.signals.on('SIGTERM', stop)]
    function stop(): void {
      for (const off of offs) off()
      resolve()
    }
  })
  ctx.out.info('shutting down')
  unbound?.()
  await listening.close()
  server.close()
}

/** The size of each of the two semi-spaces of V8's new space while `bktx server` serves (docs/benchmarks.md, ninth run). */
const SERVER_SEMI_SPACE_BYTES = 2 * 1024 * 1024

/** The server configuration file named with --config; the quick flags would contradict it. */
async function fileConfig(path: string, opts: ServerOptions): Promise<ServerConfig> {
  const given = QUICK_FLAGS.filter((flag) => opts[flag] !== undefined)
  if (given.length > 0) throw new UsageError(`--config describes the organisations and apps; do not combine it with --${given.map(kebab).join(', --')}`)
  const { loadServerConfigFile } = await import('../../server/config/config-file.js')
  const { parseAudiences } = await import('../../server/config/config.js')
  // --aud is validated and normalised as the file's `audiences` are, and named as the flag.
  let extra: string[] = []
  try {
    extra = parseAudiences(opts.aud ?? [], 'server flags')
  } catch (error) {
    if (error instanceof ConfigError) throw await asFlagError(error)
    throw error
  }
  const config = await loadServerConfigFile(path, { allowHttpJwks: opts.allowHttpJwks === true, strictJwsHeader: opts.strictJwsHeader === true })
  config.audiences.push(...extra.filter((aud) => !config.audiences.includes(aud)))
  return config
}

/** Whether a --host value is a loopback address (127.0.0.0/8, ::1, localhost). */
export function isLoopbackAddress(host: string): boolean {
  return host === '::1' || host === '[::1]' || host === 'localhost' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

/** The URL to give clients: a wildcard bind (0.0.0.0, ::) is reached through loopback. */
export function advertisedUrl(bound: string): string {
  const url = new URL(bound)
  if (url.hostname === '0.0.0.0') url.hostname = '127.0.0.1'
  else if (url.hostname === '[::]') url.hostname = '[::1]'
  return url.origin
}

/** A one-org, one-app configuration from the quick flags, defaulting from the bktx profile. */
async function quickConfig(ctx: Context, opts: ServerOptions): Promise<ServerConfig> {
  if (opts.jwks !== undefined && opts.jwksUri !== undefined) throw new UsageError('give --jwks or --jwks-uri, not both')
  const { quickServerConfigFor, NO_MEMBERS } = await import('../../setup/server-config.js')
  const settings = await ctx.settings({})
  try {
    return await quickServerConfigFor(
      {
        org: opts.org,
        members: opts.member,
        clientId: opts.clientId,
        jwksFile: opts.jwks === undefined ? undefined : ctx.absolute(opts.jwks),
        jwksUri: opts.jwksUri,
        grantable: opts.grantable,
        defaultScopes: opts.defaultScopes,
        maxTtl: opts.maxTtl,
        exchangeIps: opts.exchangeIps,
        tokenIps: opts.tokenIps,
        requireJti: opts.requireJti,
        rateLimit: opts.rateLimit,
        allowHttpJwks: opts.allowHttpJwks,
        strictJwsHeader: opts.strictJwsHeader,
        audiences: opts.aud,
      },
      settings,
      ctx.keyDeps(),
    )
  } catch (error) {
    if (error instanceof ConfigError) throw await asFlagError(error)
    if (error instanceof UsageError && error.detail.reason === NO_MEMBERS)
      throw new UsageError('name at least one organisation member: --member EMAIL (or set the profile subject)')
    throw error
  }
}

/** The flag of each quick option whose flag is not its name in kebab case. */
const FLAG_OF_OPTION: Readonly<Record<string, string>> = { members: '--member', audiences: '--aud' }

/** A ConfigError of the quick configuration, as the usage error of the flag that caused it. */
export async function asFlagError(error: ConfigError): Promise<UsageError> {
  const { quickOptionOf } = await import('../../server/config/quick-config.js')
  const option = quickOptionOf(error)
  const flag = option === undefined ? undefined : (FLAG_OF_OPTION[option] ?? `--${kebab(option)}`)
  return new UsageError(`${flag ?? 'a server flag'}: ${error.problem}`, {
    cause: error,
    detail: { ...error.detail, ...(flag === undefined ? {} : { option: flag.slice(2) }) },
    ...(error.advice === undefined ? {} : { advice: error.advice }),
  })
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
