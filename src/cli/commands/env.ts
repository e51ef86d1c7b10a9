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
    .addOption(new Option('--shell <shell>', 'output syntax (default: that of the shell running bktx, else of $SHELL, else sh)').choices(SHELLS))
    .addHelpText(
      'after',
      '\nWithout --shell the syntax is that of the shell that started bktx (the parent process,\n' +
        'which is the shell that reads the output), where the OS tells (Linux); else that of\n' +
        '$SHELL, your login shell; else sh.\n' +
        'On failure nothing is printed on stdout and the exit code is non-zero, so eval does nothing.',
    )
  addTokenOptions(cmd)
  action<EnvOptions>(cmd, deps, (ctx, opts) => runEnv(ctx, opts))
}

/** The variables `bktx env` and `bktx exec` set (docs/token-exchange.md §8: what `bk` reads). */
export function tokenVariables(result: CachedTokenResult, org: string): EnvVar[] {
  return [
    { name: 'BUILDKITE_API_TOKEN', value: result.accessToken },
    { name: 'BUILDKITE_ORGANIZATION_SLUG', value: org },
    { name: 'BKTX_TOKEN_EXPIRES_AT', value: result.expiresAt.toISOString() },
  ]
}

/** The syntax a shell program reads, by its command name (`bash`, `-zsh`, `/usr/bin/fish`); undefined for anything else. */
export function shellKindOf(name: string): ShellKind | undefined {
  const base = basename(name)
    .replace(/^-/, '')
    .replace(/\.exe$/i, '')
    .toLowerCase()
  if (base === 'fish' || base === 'zsh' || base === 'bash' || base === 'cmd') return base
  if (base === 'pwsh' || base === 'powershell') return 'powershell'
  if (['sh', 'dash', 'ash', 'ksh', 'ksh93', 'mksh', 'lksh', 'oksh', 'pdksh', 'yash', 'posh', 'busybox'].includes(base)) return 'sh'
  return undefined
}

/**
 * The syntax `bktx env` prints without --shell: the shell that will read it is the one that
 * ran bktx (`eval "$(bktx env)"` in a bash script, `bktx env | source` in fish), which is the
 * parent process, whatever the login shell is. $SHELL names the login shell only: a bash
 * script run by a fish user would get fish syntax. It is the fallback when the parent is not
 * a shell (npx, sudo) or the OS does not tell; sh is the last resort.
 */
export function defaultShell(parent: string | undefined, loginShell: string | undefined): ShellKind {
  return (
    (parent === undefined ? undefined : shellKindOf(parent)) ?? (loginShell === undefined || loginShell === '' ? undefined : shellKindOf(loginShell)) ?? 'sh'
  )
}

export async function runEnv(ctx: Context, opts: EnvOptions): Promise<void> {
  const shell: ShellKind = ctx.out.json ? 'json' : (opts.shell ?? defaultShell(ctx.deps.processInfo?.parentName(), ctx.deps.env['SHELL']))
  const { result, params } = await obtainToken(ctx, opts)
  // Rendered in full before anything is written: a value that cannot be quoted safely for
  // this shell fails with nothing on stdout.
  ctx.out.data(renderEnv(shell, tokenVariables(result, params.org)))
}
