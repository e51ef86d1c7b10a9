import { Option, type Command } from 'commander'
import { basename } from 'node:path'
import type { CachedTokenResult } from '../../cache/with-cache.js'
import { renderEnv, SHELLS, type EnvVar, type ShellKind } from '../../shell/quote.js'
import type { Context } from '../context.js'
import { action, type ProgramDeps } from '../command.js'
import { addTokenOptions, obtainToken, type TokenOptions } from '../token-options.js'

export interface EnvOptions extends TokenOptions {
  shell?: ShellKind
}

export function registerEnv(self: Command, deps: ProgramDeps): void {
  const cmd = self
    .description('print shell commands exporting BUILDKITE_API_TOKEN, BUILDKITE_ORGANIZATION_SLUG and BKTX_TOKEN_EXPIRES_AT')
    .addOption(new Option('--shell <shell>', 'output syntax (default: fish when $SHELL is fish, else sh)').choices(SHELLS))
    .addHelpText('after', '\n  eval "$(bktx env)"            sh, bash, zsh\n  bktx env --shell fish | source\n  bktx env --shell powershell | Invoke-Expression\n\nOn failure nothing is printed on stdout and the exit code is non-zero, so eval does nothing.')
  addTokenOptions(cmd)
  action<EnvOptions>(cmd, deps, (ctx, opts) => runEnv(ctx, opts))
}

/** The variables `bktx env` and `bktx exec` set (docs/buildkite-protocol.md §8: what `bk` reads). */
export function tokenVariables(result: CachedTokenResult, org: string): EnvVar[] {
  return [
    { name: 'BUILDKITE_API_TOKEN', value: result.accessToken },
    { name: 'BUILDKITE_ORGANIZATION_SLUG', value: org },
    { name: 'BKTX_TOKEN_EXPIRES_AT', value: result.expiresAt.toISOString() },
  ]
}

export async function runEnv(ctx: Context, opts: EnvOptions): Promise<void> {
  const shell: ShellKind = ctx.out.json ? 'json' : (opts.shell ?? (basename(ctx.deps.env['SHELL'] ?? '') === 'fish' ? 'fish' : 'sh'))
  const { result, params } = await obtainToken(ctx, opts)
  // Rendered in full before anything is written: a value that cannot be quoted safely for
  // this shell fails with nothing on stdout.
  ctx.out.data(renderEnv(shell, tokenVariables(result, params.org)))
}
