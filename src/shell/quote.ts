import { InputError, SettingInvalidError } from '../errors.js'

export const SHELLS = ['sh', 'bash', 'zsh', 'fish', 'powershell', 'cmd', 'dotenv', 'json'] as const
export type ShellKind = (typeof SHELLS)[number]

/** Shell names, as the `shell` option takes them; undefined for anything else. */
export function parseShell(text: string): ShellKind | undefined {
  return (SHELLS as readonly string[]).includes(text) ? (text as ShellKind) : undefined
}

export interface EnvVar {
  name: string
  value: string
}

// Portable environment variable names (POSIX.1-2017 §8.1, also what fish, PowerShell's
// $env: drive and cmd accept without quoting).
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
// Lone UTF-16 surrogates cannot be written as UTF-8: the value would silently change.
// String.prototype.isWellFormed (ES2024, in Node 20) says exactly that; /\p{Cs}/u would too, but
// building its Unicode set costs every `bktx token` and `bktx env` hit about 1 ms at start.
const wellFormed = (value: string): boolean => (value as string & { isWellFormed(): boolean }).isWellFormed()
// Characters every dotenv reader takes literally when unquoted (docker's env-file, compose,
// node dotenv, python-dotenv, systemd EnvironmentFile): they disagree about quotes, escapes,
// `$` and `#`, so only values that need none of them are written. Tokens, org slugs and ISO
// timestamps always fit.
const DOTENV_SAFE = /^[A-Za-z0-9_.:/+@,=~-]*$/
// cmd: printable ASCII without `%` (expanded in every context, and `%%` only escapes it in
// batch files), `!` (expanded when delayed expansion is on) and `"` (ends the quoted
// assignment). Non-ASCII is refused too: cmd reads scripts in the OEM code page.
const CMD_SAFE = /^[\x20-\x7e]*$/
const CMD_UNSAFE = /[%!"]/
// PowerShell treats these as single quotes too (its tokenizer's IsSingleQuote): each must be
// doubled inside a single-quoted string, or a value holding U+2019 would end the string.
const PWSH_SINGLE_QUOTES = /['\u2018\u2019\u201a\u201b]/g

/**
 * Single-quotes for POSIX sh, bash and zsh: everything between single quotes is literal
 * (newlines, `$`, backslashes, backticks, `!` included; POSIX.1-2017 §2.2.2); a single quote
 * is written as `'\''` (close, escaped quote, reopen).
 */
export function quotePosix(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`
}

/** fish single quotes: only `\\` and `\'` are escapes inside them (fish docs, "Quotes"). */
export function quoteFish(value: string): string {
  return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`
}

/** PowerShell verbatim string: no expansion; each single-quote character is doubled. */
export function quotePowerShell(value: string): string {
  return `'${value.replace(PWSH_SINGLE_QUOTES, (q) => q + q)}'`
}

/**
 * The chosen shell cannot carry this value: the caller's `shell` option is at fault (its
 * source is `flag`: the option given), and `instead` is a shell that can.
 */
function refuse(shell: ShellKind, name: string, why: string, instead: ShellKind): never {
  // The value itself is never quoted in the message: it may be the token.
  throw new SettingInvalidError('shell', `${shell} cannot safely express the value of ${name} (${why})`, {
    source: 'flag',
    detail: { option: 'shell', reason: 'cannot-express' },
    advice: ['use ', { option: 'shell', value: instead }],
  })
}

function check(shell: ShellKind, v: EnvVar): void {
  if (!NAME.test(v.name)) throw new InputError(`invalid environment variable name ${JSON.stringify(v.name.slice(0, 64))}`)
  // No shell and no environment block can hold NUL.
  if (v.value.includes('\0')) refuse(shell, v.name, 'it contains a NUL character', 'json')
  if (!wellFormed(v.value)) refuse(shell, v.name, 'it is not valid Unicode', 'json')
}

/**
 * The text of `bktx env` for a shell: assignments that `eval` (sh, bash, zsh), `source`
 * (fish: `bktx env ... | source`) or `Invoke-Expression` (PowerShell) turn into
 * exactly these variables, whatever the values hold. cmd and dotenv cannot express every value:
 * those are refused with a SettingInvalidError (`shell`) naming the variable (never its value)
 * and a shell that can. An invalid variable name is an InputError. Nothing is
 * returned unless every variable can be written.
 */
export function renderEnv(shell: ShellKind, vars: readonly EnvVar[]): string {
  for (const v of vars) check(shell, v)
  switch (shell) {
    case 'sh':
    case 'bash':
    case 'zsh':
      return vars.map((v) => `export ${v.name}=${quotePosix(v.value)}\n`).join('')
    case 'fish':
      return vars.map((v) => `set -gx ${v.name} ${quoteFish(v.value)}\n`).join('')
    case 'powershell':
      return vars.map((v) => `$env:${v.name} = ${quotePowerShell(v.value)}\n`).join('')
    case 'cmd':
      for (const v of vars) {
        if (!CMD_SAFE.test(v.value)) refuse(shell, v.name, 'it contains a line break, a control or a non-ASCII character', 'powershell')
        if (CMD_UNSAFE.test(v.value)) refuse(shell, v.name, 'it contains %, ! or "', 'powershell')
      }
      // The quotes around NAME=value keep & | < > ^ ( ) literal and exclude trailing spaces.
      return vars.map((v) => `set "${v.name}=${v.value}"\r\n`).join('')
    case 'dotenv':
      for (const v of vars) {
        if (!DOTENV_SAFE.test(v.value)) {
          refuse(shell, v.name, 'dotenv readers disagree on quoting characters beyond letters, digits and _.:/+@,=~-', 'json')
        }
      }
      return vars.map((v) => `${v.name}=${v.value}\n`).join('')
    case 'json': {
      const object: Record<string, string> = {}
      for (const v of vars) object[v.name] = v.value
      return `${JSON.stringify(object, null, 2)}\n`
    }
  }
}
