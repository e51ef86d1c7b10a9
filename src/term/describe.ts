import { SettingInvalidError, type Advice, type AdvicePart, type BktxError, type Notice } from '../errors.js'
import { isSettingName, SETTINGS } from '../config/settings.js'
import { escapeControls } from '../text/sanitize.js'

// The one place where core errors and notices become the words a shell user reads: settings
// and options named as data by core code (src/errors.ts) are shown here as flags, environment
// variables and `bktx config set` lines. Shared by the two front ends, the CLI (src/cli/) and
// the cache-hit fast path (src/fast/), which must print the same lines.

export interface DescribeContext {
  /** The profile named with --profile or BKTX_PROFILE; hints that write settings name it. */
  profile?: string | undefined
}

/** The flag of a setting or option: `--token-url`. */
export function flagOf(name: string): string {
  return `--${name}`
}

/** The environment variable of a setting: `BKTX_TOKEN_URL`; undefined for names that are not settings. */
export function envOf(name: string): string | undefined {
  return isSettingName(name) ? SETTINGS[name].env : undefined
}

/** `bktx config set NAME VALUE [--profile P]`. */
export function configSetLine(name: string, ctx: DescribeContext, value = 'VALUE'): string {
  const profile = ctx.profile !== undefined && ctx.profile !== 'default' ? ` --profile ${ctx.profile}` : ''
  return `bktx config set ${name} ${value}${profile}`
}

function part(p: AdvicePart, ctx: DescribeContext): string {
  if (typeof p === 'string') return p
  if ('setting' in p) return flagOf(p.setting)
  if ('option' in p) return p.value === undefined ? flagOf(p.option) : `${flagOf(p.option)} ${p.value}`
  if ('set' in p) {
    const env = envOf(p.set)
    const flag = p.value === undefined ? flagOf(p.set) : `${flagOf(p.set)} ${p.value}`
    const variable = env === undefined ? '' : p.value === undefined ? `, set ${env},` : `, set ${env}=${p.value},`
    return `pass ${flag}${variable} or run \`${configSetLine(p.set, ctx, p.value)}\``
  }
  const options = (p.options ?? []).map((o) => ` ${flagOf(o)}`).join('')
  return `\`bktx ${p.command}${options}${p.profile === undefined || p.profile === 'default' ? '' : ` --profile ${p.profile}`}\``
}

/** Advice as CLI text. */
export function renderAdvice(advice: Advice, ctx: DescribeContext = {}): string {
  return advice.map((p) => part(p, ctx)).join('')
}

/**
 * The line `error:` is followed by: what failed, then what to do. One line, whatever it quotes
 * (server text, a file name, a JSON parser's excerpt of a file): control characters escaped.
 */
export function describeError(error: BktxError, ctx: DescribeContext = {}): string {
  const message = error instanceof SettingInvalidError && error.source === 'flag' ? `${flagOf(error.setting)}: ${error.problem}` : error.message
  if (error.advice === undefined || error.advice.length === 0) return escapeControls(message)
  return escapeControls(`${message}; ${renderAdvice(error.advice, ctx)}`)
}

/** A notice as the text of its `warning:` line, escaped like an error. */
export function describeNotice(notice: Notice, ctx: DescribeContext = {}): string {
  return escapeControls(notice.advice === undefined || notice.advice.length === 0 ? notice.message : `${notice.message}; ${renderAdvice(notice.advice, ctx)}`)
}
