import { Option, type Command } from 'commander'
import type { Check } from '../../checks/check.js'
import type { FetchLike } from '../../deps.js'
import { UsageError } from '../../errors.js'
import type { PublicJWKS } from '../../jwks/build.js'
import { RSA_BITS, type SigningAlg } from '../../keys/policy.js'
import type { ListedKey } from '../../rotation/list.js'
import type { Progress, RotationScope } from '../../rotation/rotate.js'
import { isoSeconds } from '../../time/duration.js'
import { printable } from '../../http/body.js'
import type { Context } from '../context.js'
import { action, type ProgramDeps } from '../command.js'
import { checksDocument, checksText, throwIfFailed, withFetch } from '../checks.js'
import { keyLine } from './status.js'
import type { JsonFields } from '../json-fields.js'

export interface KeyRotateOptions {
  status?: boolean
  finish?: boolean
  cancel?: boolean
  force?: boolean
  out?: string
  alg?: SigningAlg
  bits?: number
  kid?: string
  newKey?: string
  allowHttpJwks?: boolean
  caFile?: string
}

export function registerKey(self: Command, deps: ProgramDeps): void {
  const key = self.description('list keys and rotate the profile key without breaking exchanges (Buildkite caches a JWKS URI for up to 1 hour)')
  action(key.command('list').description('every key: kid, algorithm, the profiles that sign with it, its part in a rotation'), deps, (ctx) => runKeyList(ctx))
  const rotate = key
    .command('rotate')
    .description('start a rotation: a new key, and the JWKS of old and new to publish; then --status, --finish (or --cancel)')
    .option('--status', 'check the published JWKS and show when the rotation can finish')
    .option('--finish', 'switch the profile to the new key once the JWKS URI has served it for 1 hour; publish it alone')
    .option('--cancel', 'drop the pending rotation and publish the old key alone again')
    .option('--force', 'with --finish: switch now, without the checks and the wait')
    .option('--out <file>', 'publish the JWKS here (atomically, mode 0644) instead of printing it; remembered for --finish')
    .addOption(new Option('--alg <alg>', 'new key algorithm (default: that of the current key)').choices(['ES256', 'RS256']))
    .addOption(new Option('--bits <bits>', 'RSA modulus length (RS256 only)').choices(RSA_BITS.map(String)).argParser(Number))
    .option('--kid <kid>', 'kid of the new key (default: its RFC 7638 thumbprint)')
    .option('--new-key <path>', 'private key file for the new key (default: $XDG_CONFIG_HOME/bktx/keys/<kid>.pem)')
    .option('--allow-http-jwks', 'accept an http:// JWKS URI to a loopback host (as the reference server can)')
    .option('--ca-file <pem>', 'also trust these CA certificates for the JWKS URI')
    .addHelpText(
      'after',
      '\nThe JWKS URI is the jwks-uri setting; without one (a JWKS registered inline) the wait is not\nenforced. --finish exits 11 while the hour is not over or the JWKS lacks a key.',
    )
  action<KeyRotateOptions>(rotate, deps, (ctx, opts) => runKeyRotate(ctx, opts))
}

async function scopeOf(ctx: Context, opts: KeyRotateOptions): Promise<RotationScope> {
  const config = await ctx.config()
  const { name } = await ctx.profile()
  return {
    configPath: ctx.configPath,
    config,
    profile: name,
    settings: await ctx.settings({}),
    keysDir: ctx.paths.keysDir,
    uid: ctx.deps.uid,
    allowHttpJwks: opts.allowHttpJwks === true,
  }
}

export async function runKeyRotate(ctx: Context, opts: KeyRotateOptions): Promise<void> {
  const modes = (['status', 'finish', 'cancel'] as const).filter((m) => opts[m] === true)
  if (modes.length > 1) throw new UsageError(`give one of --${modes.join(', --')}`)
  const mode: 'start' | 'status' | 'finish' | 'cancel' = modes.length === 0 ? 'start' : (modes[0] as 'status' | 'finish' | 'cancel')
  const startOnly = (['alg', 'bits', 'kid', 'newKey'] as const).filter((o) => opts[o] !== undefined)
  if (mode !== 'start' && startOnly.length > 0) throw new UsageError(`--${startOnly.map(kebab).join(', --')} only apply when starting a rotation`)
  if (opts.force === true && mode !== 'finish') throw new UsageError('--force only applies to --finish')
  if (mode === 'status' && opts.out !== undefined) throw new UsageError('--out applies when starting, finishing or cancelling a rotation')
  const scope = await scopeOf(ctx, opts)
  const rotate = await import('../../rotation/rotate.js')
  const out = opts.out === undefined ? undefined : ctx.absolute(opts.out)
  const deps = (fetch: FetchLike) => ({ clock: ctx.deps.clock, fetch })
  switch (mode) {
    case 'start': {
      const started = await withFetch(ctx, opts.caFile, (fetch) =>
        ctx.out.spin('generating the next key', () =>
          rotate.startRotation(
            scope,
            { alg: opts.alg, bits: opts.bits, kid: opts.kid, newKeyPath: opts.newKey === undefined ? undefined : ctx.absolute(opts.newKey), out },
            deps(fetch),
          ),
        ),
      )
      const { rotation } = started
      if (ctx.out.json) ctx.out.document({ ...rotationDocument(scope.profile, started, ctx), jwks: started.jwks })
      else if (out === undefined) ctx.out.data(JSON.stringify(started.jwks, null, 2))
      ctx.out.success(`wrote ${rotation.next.alg} private key ${rotation.next.path} (mode 0600, kid ${rotation.next.kid})`)
      if (out !== undefined) ctx.out.success(`published the old and the new key to ${out} (${rotation.old.kid}, ${rotation.next.kid})`)
      ctx.out.info(`rotation of profile "${scope.profile}" started: it signs with ${rotation.old.kid} until the rotation finishes`)
      if (started.checks.length > 0) ctx.out.info(checksText(started.checks, ctx))
      nextSteps(ctx, scope, started, out)
      return
    }
    case 'status': {
      const progress = await withFetch(ctx, opts.caFile, (fetch) => rotate.rotationStatus(scope, deps(fetch)))
      report(ctx, scope, progress)
      throwIfFailed(progress.checks, 'the rotation')
      return
    }
    case 'finish': {
      const finished = await withFetch(ctx, opts.caFile, (fetch) => rotate.finishRotation(scope, { force: opts.force === true, out }, deps(fetch)))
      if (!finished.finished) {
        report(ctx, scope, finished)
        throwIfFailed(finished.checks.some((c) => c.status === 'fail') ? finished.checks : [...finished.checks, notReady()], 'the rotation cannot finish yet')
        return
      }
      const { rotation } = finished
      const overridden = finished.checks.filter((c) => c.status === 'fail')
      // A profile on the new key already is not forced onto it: finishing only publishes and ends.
      const forced = !finished.switched && (overridden.length > 0 || !finished.ready)
      if (ctx.out.json)
        ctx.out.document({
          ...rotationDocument(scope.profile, finished, ctx),
          finished: true,
          forced,
          still_using_old: finished.stillUsingOld,
          jwks: finished.jwks,
        })
      else if (rotation.out === null) ctx.out.data(JSON.stringify(finished.jwks, null, 2))
      if (finished.checks.some((c) => c.status !== 'pass')) ctx.out.info(checksText(finished.checks, ctx))
      if (forced) {
        ctx.out.warn('forced: the profile switched although the checks above did not pass; exchanges fail until Buildkite has the new key')
      }
      ctx.out.success(`profile "${scope.profile}" now signs with ${rotation.next.kid} (${rotation.next.path})`)
      published(ctx, finished.jwks, rotation.out, 'the JWKS on stdout: register it in place of the old one')
      for (const other of finished.stillUsingOld)
        ctx.out.warn(`profile "${other}" still signs with the old key ${rotation.old.kid}, so it stays in the JWKS; rotate that profile too`)
      ctx.out.info(
        `The old key file ${rotation.old.path} is no longer used by profile "${scope.profile}"; delete it when nothing else needs it. Tokens it minted stay valid until they expire but are no longer served from the cache.`,
      )
      return
    }
    case 'cancel': {
      const cancelled = await rotate.cancelRotation(scope, { out })
      const { rotation } = cancelled
      if (ctx.out.json)
        ctx.out.document({ profile: scope.profile, cancelled: true, old: rotation.old, next: rotation.next, out: rotation.out, jwks: cancelled.jwks })
      else if (rotation.out === null) ctx.out.data(JSON.stringify(cancelled.jwks, null, 2))
      ctx.out.success(`dropped the rotation of profile "${scope.profile}": it keeps signing with ${rotation.old.kid}`)
      published(ctx, cancelled.jwks, rotation.out, 'the JWKS on stdout holds the old key alone: register it again')
      ctx.out.info(`The new key file ${rotation.next.path} is not used; delete it.`)
    }
  }
}

function notReady(): Check {
  return {
    id: 'wait',
    status: 'fail',
    message: 'the JWKS URI has not been seen serving the new key yet',
    fix: ['publish the JWKS of both keys where the jwks-uri setting points'],
  }
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}

function published(ctx: Context, jwks: PublicJWKS | undefined, out: string | null, printed: string): void {
  if (jwks === undefined) return
  const kids = jwks.keys.map((k) => k.kid).join(', ')
  if (out !== null) ctx.out.success(`published ${jwks.keys.length} key${jwks.keys.length === 1 ? '' : 's'} to ${out} (${kids})`)
  else if (!ctx.out.json) ctx.out.info(printed)
}

function rotationDocument(profile: string, progress: Progress, ctx: Context): Record<string, unknown> {
  const { rotation } = progress
  return {
    profile,
    old: rotation.old,
    next: rotation.next,
    started_at: rotation.startedAt,
    out: rotation.out,
    jwks_uri: rotation.servedBy,
    served_since: rotation.servedSince,
    ready_at: progress.readyAt?.toISOString() ?? null,
    ready: progress.ready,
    switched: progress.switched,
    checks: checksDocument(progress.checks, ctx),
  }
}

function report(ctx: Context, scope: RotationScope, progress: Progress): void {
  if (ctx.out.json) {
    ctx.out.document(rotationDocument(scope.profile, progress, ctx))
    return
  }
  const { rotation } = progress
  const lines = [
    `rotation of profile "${scope.profile}", started ${isoSeconds(new Date(rotation.startedAt))}: ${rotation.old.kid} (signing) → ${rotation.next.kid} (next)`,
    checksText(progress.checks, ctx),
  ]
  if (progress.switched) lines.push('switched already: `bktx key rotate --finish` publishes the new key and ends the rotation')
  else if (progress.ready) lines.push('ready: `bktx key rotate --finish` switches to the new key')
  else if (progress.readyAt !== undefined) lines.push(`not before ${isoSeconds(progress.readyAt)}`)
  ctx.out.data(lines.join('\n'))
}

function nextSteps(ctx: Context, scope: RotationScope, progress: Progress, out: string | undefined): void {
  const uri = scope.settings['jwks-uri']?.value
  const profile = ctx.explicitProfile === undefined ? '' : ` --profile ${ctx.explicitProfile}`
  const { servedSince } = progress.rotation
  const steps: string[] = []
  if (uri === undefined) {
    steps.push(
      out === undefined
        ? 'register the JWKS on stdout (the old and the new key) with the application'
        : `register ${out} (the old and the new key) with the application`,
    )
    steps.push(`once the application holds both keys, \`bktx key rotate --finish${profile}\` switches to the new one and publishes it alone`)
    steps.push('(a JWKS URI is cached by Buildkite for up to an hour: with one, set jwks-uri, and bktx checks it and enforces the wait)')
  } else {
    if (servedSince === null) {
      steps.push(out === undefined ? `publish the JWKS on stdout (the old and the new key) at ${uri}` : `make ${uri} serve ${out}`)
      steps.push(
        `once it is served, run \`bktx key rotate --status${profile}\`: the hour Buildkite may cache the old JWKS counts from when bktx first sees the new kid served`,
      )
    } else {
      steps.push(`${uri} serves both keys already (seen ${isoSeconds(new Date(servedSince))}); \`bktx key rotate --status${profile}\` shows the wait`)
    }
    steps.push(
      `an hour after that${progress.readyAt === undefined ? '' : ` (${isoSeconds(progress.readyAt)})`}, \`bktx key rotate --finish${profile}\` switches to the new key and publishes it alone`,
    )
  }
  ctx.out.info(['Next:', ...steps.map((step, i) => `  ${i + 1}. ${step}`)].join('\n'))
}

export async function runKeyList(ctx: Context): Promise<void> {
  const { listKeys } = await import('../../rotation/list.js')
  const keys = await listKeys({ configPath: ctx.configPath, config: await ctx.config(), keysDir: ctx.paths.keysDir, uid: ctx.deps.uid })
  if (ctx.out.json) {
    ctx.out.document(keys.map((k) => keyDocument(k)))
    return
  }
  if (keys.length === 0) {
    ctx.out.info('no keys: make one with `bktx keygen`')
    return
  }
  ctx.out.data(
    keys
      .map((k) => {
        const lines = [k.key.loads ? `${printable(k.key.kid, 200)}  ${k.key.alg}  ${k.path}` : k.path, `  ${keyLine(k.key, ctx)}`]
        lines.push(
          `  used by: ${k.usedBy.length === 0 ? 'no profile' : k.usedBy.map((u) => `${u.profile}${u.kid === undefined ? '' : ` (kid ${printable(u.kid, 100)})`}`).join(', ')}`,
        )
        for (const r of k.rotations) {
          const served = r.servedSince === null ? 'not yet seen published' : `published since ${isoSeconds(new Date(r.servedSince))}`
          lines.push(
            `  rotation of ${r.profile}: ${r.role === 'old' ? 'the key being replaced' : 'the next key'} (started ${isoSeconds(new Date(r.startedAt))}, ${served})`,
          )
        }
        return lines.join('\n')
      })
      .join('\n'),
  )
}

function keyDocument(k: ListedKey): JsonFields<'key list'> {
  const { key } = k
  return {
    path: k.path,
    loads: key.loads,
    alg: key.loads ? key.alg : null,
    kid: key.loads ? key.kid : null,
    kid_origin: key.loads ? key.kidOrigin : null,
    fingerprint: key.loads ? key.fingerprint : null,
    mode: key.file === undefined ? null : (key.file.mode & 0o777).toString(8).padStart(4, '0'),
    error: key.loads ? null : { code: key.error.code, message: key.error.message },
    used_by: k.usedBy.map((u) => ({ profile: u.profile, kid: u.kid ?? null })),
    rotations: k.rotations.map((r) => ({ profile: r.profile, role: r.role, started_at: r.startedAt, served_since: r.servedSince })),
  }
}
