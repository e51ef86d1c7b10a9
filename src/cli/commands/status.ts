import type { Command } from 'commander'
import { collectStatus, type StatusReport } from '../../doctor/status.js'
import { statusDocument as documentOf, statusOutput, type StatusView } from '../../doctor/status-view.js'
import type { Context } from '../context.js'
import { action, type ProgramDeps } from '../command.js'
import type { JsonFields } from '../json-fields.js'

export { keyLine, octal, statusText } from '../../doctor/status-view.js'

/** The `--json` document of a status report, typed with its entry in ../json-fields.ts (its fields are the table's). */
export function statusDocument(report: StatusReport, view: StatusView): JsonFields<'status'> {
  return documentOf(report, view)
}

export function registerStatus(self: Command, deps: ProgramDeps): void {
  const cmd = self
    .description('where things stand: profile, settings, key, cache and cached tokens (offline; never mints or prompts)')
    .addHelpText('after', '\nRead-only and offline: `bktx doctor` adds the checks that need the network.')
  action(cmd, deps, (ctx) => runStatus(ctx))
}

/** The status report of the context's profile. */
export async function statusOf(ctx: Context): Promise<StatusReport> {
  const settings = await ctx.settings({})
  const { name } = await ctx.profile()
  return collectStatus(
    { configPath: ctx.configPath, profile: name, explicitProfile: ctx.explicitProfile !== undefined, settings },
    { env: ctx.deps.env, home: ctx.deps.home, uid: ctx.deps.uid, clock: ctx.deps.clock, secrets: ctx.deps.secrets, pkcs11Binding: ctx.deps.pkcs11Binding },
  )
}

export async function runStatus(ctx: Context): Promise<void> {
  const report = await statusOf(ctx)
  // The same bytes as the fast path's (src/fast/status.ts): statusOutput ends with a newline, so data() adds none.
  ctx.out.data(statusOutput(report, ctx, ctx.out.json))
}
