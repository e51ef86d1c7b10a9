import type { Command } from 'commander'
import { InputError, UsageError } from '../../errors.js'
import { InputFileError } from '../../fs/input.js'
import type { DecodedJWT } from '../../jwt/inspect.js'
import { escapeControls as clean } from '../../text/sanitize.js'
import { formatDuration } from '../../time/duration.js'
import type { Context } from '../context.js'
import { action, type ProgramDeps } from '../command.js'
import { timeoutArg } from '../options.js'
import { interruptible } from '../token-options.js'
import { DEFAULT_TIMEOUT } from '../../token/settings.js'
import { makeFetch } from '../../http/fetch.js'
import { fetchJWKS } from '../../jwks/fetch.js'

export interface InspectOptions {
  jwks?: string
  /** Seconds: bound on fetching a --jwks URL, retries included. */
  timeout: number
  caFile?: string
}

const TIME_CLAIMS = ['iat', 'nbf', 'exp']
const MAX_INPUT = 1024 * 1024

export function registerInspect(self: Command, deps: ProgramDeps): void {
  const cmd = self
    .description('decode a JWT and show its header and claims; verify it with --jwks')
    .argument('[jwt]', 'the JWT, or - (the default) to read it from stdin')
    .option('--jwks <file|url>', 'verify the signature and time claims with this JWKS (file or URL)')
    .option('--timeout <duration>', 'bound on fetching a --jwks URL, retries included', timeoutArg, DEFAULT_TIMEOUT)
    .option('--ca-file <pem>', 'also trust these CA certificates for a --jwks URL')
  action<InspectOptions>(cmd, deps, (ctx, opts, args) => runInspect(ctx, opts, args[0] as string | undefined))
}

export async function runInspect(ctx: Context, opts: InspectOptions, arg: string | undefined): Promise<void> {
  let input = arg
  if (input === undefined || input === '-') {
    if (ctx.deps.stdinIsTTY) throw new UsageError('give the JWT as an argument, or pipe it on stdin')
    input = await readStdin(ctx)
  }
  const { decodeCompactJWT, verifyCompactJWT } = await import('../../jwt/inspect.js')
  if (input.length > MAX_INPUT) throw new InputError('input is larger than 1 MiB; not a client assertion')
  let decoded: DecodedJWT = decodeCompactJWT(input)
  let verified = false
  if (opts.jwks !== undefined) {
    const { loadJWKSFile } = await import('../../jwt/inspect.js')
    const jwks = /^https?:\/\//i.test(opts.jwks) ? await fetchJWKSFor(ctx, opts, opts.jwks) : await loadJWKSFile(ctx.absolute(opts.jwks))
    decoded = await verifyCompactJWT(input, jwks, ctx.deps)
    verified = true
  }
  if (ctx.out.json) {
    ctx.out.document({ header: decoded.header, payload: decoded.payload, ...(verified ? { verified } : {}) })
  } else {
    ctx.out.data(render(decoded, ctx.deps.clock.now(), ctx.out.stdoutIsTTY))
  }
  if (verified) ctx.out.success(`signature and time claims verified (kid ${show(decoded.header.kid ?? '-')})`)
}

/**
 * The JWK Set at a --jwks URL, fetched like every other call (proxy, --ca-file, retries, the
 * --timeout budget, SIGINT); its failures are typed errors (exit 5 or 6), never a bug report.
 */
async function fetchJWKSFor(ctx: Context, opts: InspectOptions, href: string) {
  let url: URL
  try {
    url = new URL(href)
  } catch {
    throw new UsageError(`--jwks: ${href} is not a valid URL`)
  }
  const fetch = makeFetch({
    env: ctx.deps.env,
    caFile: opts.caFile === undefined ? undefined : ctx.absolute(opts.caFile),
    userAgent: `bktx/${ctx.deps.version}`,
    fetch: ctx.deps.fetch,
  })
  try {
    return await interruptible(ctx, (signal) => fetchJWKS(url, { fetch, clock: ctx.deps.clock }, { timeoutMs: opts.timeout * 1000, signal }))
  } finally {
    await fetch.close()
  }
}

/** stdin, capped at 1 MiB while it is read: `yes | bktx inspect -` or `< /dev/zero` ends at once (exit 3). */
async function readStdin(ctx: Context): Promise<string> {
  try {
    return await ctx.deps.readStdin(MAX_INPUT)
  } catch (cause) {
    if (!(cause instanceof InputFileError)) throw cause
    const text = cause.problem === 'too-large' ? `${cause.text}; not a client assertion` : cause.text
    throw new InputError(`stdin ${text}`, { cause, detail: { reason: cause.problem } })
  }
}

/**
 * Header and claims as aligned text; NumericDate claims with their date, and on a TTY how long
 * ago or until. Names and values are the JWT's, unverified: each is one line with its control
 * characters escaped, so a claim cannot draw lines of bktx's own (a "✓ verified" line).
 */
export function render(decoded: DecodedJWT, now: Date, relative: boolean): string {
  const lines: string[] = ['Header']
  const width = Math.max(...[...Object.keys(decoded.header), ...Object.keys(decoded.payload)].map((k) => clean(k).length))
  for (const [name, value] of Object.entries(decoded.header)) lines.push(`  ${clean(name).padEnd(width)}  ${show(value)}`)
  lines.push('Claims')
  for (const [name, value] of Object.entries(decoded.payload)) {
    let text = show(value)
    if (TIME_CLAIMS.includes(name) && typeof value === 'number' && Number.isFinite(value)) {
      text += `  (${new Date(value * 1000).toISOString()}${relative ? `, ${relativeTime(name, value - now.getTime() / 1000)}` : ''})`
    }
    lines.push(`  ${clean(name).padEnd(width)}  ${text}`)
  }
  const { iat, exp } = decoded.payload
  if (typeof iat === 'number' && typeof exp === 'number')
    lines.push(`Lifetime ${formatDuration(exp - iat)}${exp - iat > 300 ? ' (over the 300 s Buildkite accepts)' : ''}`)
  return lines.join('\n')
}

function relativeTime(claim: string, delta: number): string {
  const span = formatDuration(Math.abs(delta))
  if (claim === 'exp') return delta >= 0 ? `expires in ${span}` : `expired ${span} ago`
  return delta >= 0 ? `in ${span}` : `${span} ago`
}

function show(value: unknown): string {
  return clean(typeof value === 'string' ? value : JSON.stringify(value))
}
