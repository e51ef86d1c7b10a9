import type { Command } from 'commander'
import { SETTING_NAMES } from '../../config/settings.js'
import { errorCheck, type Check } from '../../checks/check.js'
import type { DoctorReport } from '../../doctor/doctor.js'
import { isBktxError } from '../../errors.js'
import type { Context } from '../context.js'
import { action, type ProgramDeps } from '../command.js'
import { checksDocument, checksSummary, checksText, throwIfFailed, withFetch } from '../checks.js'
import { addSettingOptions, durationArg, settingFlags } from '../options.js'
import { statusDocument } from './status.js'
import type { JsonFields } from '../json-fields.js'

export interface DoctorOptions extends Record<string, unknown> {
  jwks?: string
  allowHttpJwks?: boolean
  caFile?: string
  timeout: number
}

export function registerDoctor(self: Command, deps: ProgramDeps): void {
  const cmd = self.description(
    "check the setup against what Buildkite will see: status's checks, then the token endpoint, clock skew and the published JWKS (never mints)",
  )
  addSettingOptions(cmd, SETTING_NAMES)
    .option('--jwks <file>', 'the JWKS registered inline with the application, saved to a file (default: fetch the jwks-uri setting)')
    .option('--allow-http-jwks', 'accept an http:// JWKS URI to a loopback host (as the reference server can)')
    .option('--ca-file <pem>', 'also trust these CA certificates (as the token commands do)')
    .option('--timeout <duration>', 'bound on each request', durationArg, 10)
    .addHelpText(
      'after',
      '\nEach check prints PASS, WARN or FAIL, with the fix for anything not PASS. Exit 0 when nothing\nfailed (warnings allowed), 11 when a check failed. The token endpoint gets a token exchange\nrequest without a client assertion, which it must refuse: nothing is minted or signed.',
    )
  action<DoctorOptions>(cmd, deps, (ctx, opts) => runDoctor(ctx, opts))
}

export async function runDoctor(ctx: Context, opts: DoctorOptions): Promise<void> {
  let report: DoctorReport | undefined
  let checks: Check[]
  try {
    const settings = await ctx.settings(settingFlags(opts, SETTING_NAMES))
    const { name } = await ctx.profile()
    const doctor = await import('../../doctor/doctor.js')
    report = await ctx.out.spin('checking', () =>
      withFetch(ctx, opts.caFile, (fetch) =>
        doctor.runDoctor(
          {
            configPath: ctx.configPath,
            profile: name,
            explicitProfile: ctx.explicitProfile !== undefined,
            settings,
            jwksFile: opts.jwks === undefined ? undefined : ctx.absolute(opts.jwks),
            allowHttpJwks: opts.allowHttpJwks === true,
            caFile: opts.caFile === undefined ? undefined : ctx.absolute(opts.caFile),
            timeoutMs: opts.timeout * 1000,
          },
          {
            env: ctx.deps.env,
            home: ctx.deps.home,
            uid: ctx.deps.uid,
            clock: ctx.deps.clock,
            secrets: ctx.deps.secrets,
            fetch,
            pkcs11Binding: ctx.deps.pkcs11Binding,
          },
        ),
      ),
    )
    checks = report.checks
  } catch (error) {
    // A configuration file or setting that cannot be read is the first finding, not a crash.
    if (!isBktxError(error) || !['BKTX_CONFIG_INVALID', 'BKTX_SETTING_INVALID'].includes(error.code)) throw error
    checks = [errorCheck(error.code === 'BKTX_CONFIG_INVALID' ? 'config' : 'settings', error, ['fix it, then run this again'])]
  }
  if (ctx.out.json) {
    const count = (s: Check['status']) => checks.filter((c) => c.status === s).length
    ctx.out.document({
      ok: count('fail') === 0,
      summary: { pass: count('pass'), warn: count('warn'), fail: count('fail') },
      checks: checksDocument(checks, ctx),
      status: report === undefined ? null : statusDocument(report.status, ctx),
    } satisfies JsonFields<'doctor'>)
  } else {
    ctx.out.data(`${checksText(checks, ctx)}\n${checksSummary(checks)}`)
  }
  throwIfFailed(checks, 'doctor')
}
