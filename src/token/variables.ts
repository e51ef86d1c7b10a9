// What `bktx env` prints, shared by the command (src/cli/commands/env.ts), `bktx exec` and the
// cache-hit path (src/fast/token.ts), which must print exactly what the full CLI would.
import { basename } from 'node:path'
import type { CachedTokenResult } from '../cache/with-cache.js'
import type { EnvVar, ShellKind } from '../shell/quote.js'

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
    // Not /\.exe$/i: the i flag costs `bktx env` a Unicode case table on its first match.
    .replace(/\.[Ee][Xx][Ee]$/, '')
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
