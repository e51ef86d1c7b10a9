// The token a person holds, given to `bktx revoke` and `bktx whoami`: from an environment
// variable ($BUILDKITE_API_TOKEN, or the one --token-env names) or from standard input (`-`),
// never from the command line. argv is visible to every user of the host (`ps`, /proc/PID/cmdline)
// and lands in shell history and CI logs, so a token there is already leaked: bktx refuses it
// without repeating it, and says how to pass it instead.
import { InputError, UsageError } from '../errors.js'
import { InputFileError } from '../fs/input.js'
import type { Context } from './context.js'

/** The variable a token is read from by default: the one `bktx env`/`exec` set and `bk` reads. */
export const TOKEN_VARIABLE = 'BUILDKITE_API_TOKEN'

/** Standard input holds a token and a newline; anything much longer is not a token. */
const MAX_STDIN = 16 * 1024

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Buildkite tokens start with a prefix such as `bktx_` or `bkua_` (docs/token-exchange.md §6); a long name could be one. */
function looksLikeToken(name: string): boolean {
  return /^bk[a-z]{2}_/i.test(name) || name.length >= 40
}

export interface GivenToken {
  token: string
  /** Where it came from, for people: `$BUILDKITE_API_TOKEN`, `standard input`. */
  source: string
  /** The same, for --json: `env:BUILDKITE_API_TOKEN`, `stdin`. */
  sourceId: string
}

export interface GivenTokenOptions {
  tokenEnv?: string
}

/** How to pass a token, for usage errors: the ways that keep it off the command line. */
export const HOW_TO_PASS = `pass it in $${TOKEN_VARIABLE}, in another variable with --token-env NAME, or on standard input with - (printf '%s\\n' "$TOKEN" | bktx COMMAND -)`

/**
 * The token given, or undefined when none was: no argument, no --token-env and no
 * $BUILDKITE_API_TOKEN (or an empty one). `arg` is the command's one positional argument:
 * `-` reads standard input, anything else is refused (UsageError, exit 2) without echoing it.
 * --token-env naming an unset or empty variable is a UsageError too: it was asked for.
 */
export async function givenToken(ctx: Context, command: string, opts: GivenTokenOptions, arg: string | undefined): Promise<GivenToken | undefined> {
  const how = HOW_TO_PASS.replace('COMMAND', command)
  if (arg !== undefined && arg !== '-') {
    // The value is never quoted: it may be the token itself.
    throw new UsageError(`bktx ${command} takes no token on the command line (other users can read it there, in ps); ${how}`)
  }
  if (arg === '-' && opts.tokenEnv !== undefined) throw new UsageError('give the token either on standard input (-) or with --token-env, not both')
  if (arg === '-') {
    if (ctx.deps.stdinIsTTY) throw new UsageError(`standard input is a terminal; pipe the token in (printf '%s\\n' "$TOKEN" | bktx ${command} -)`)
    let text: string
    try {
      text = await ctx.deps.readStdin(MAX_STDIN)
    } catch (cause) {
      if (!(cause instanceof InputFileError)) throw cause
      const why = cause.problem === 'too-large' ? `${cause.text}; not a token` : cause.text
      throw new InputError(`standard input ${why}`, { cause, detail: { reason: cause.problem } })
    }
    // One trailing newline (`echo`, `printf '%s\n'`, a here-string) is not part of the token.
    const token = text.replace(/\r?\n$/, '')
    if (token === '') throw new UsageError(`standard input held no token; ${how}`)
    return { token, source: 'standard input', sourceId: 'stdin' }
  }
  if (opts.tokenEnv !== undefined) {
    // A token given here by mistake is on the command line too: refused, never quoted.
    if (!VARIABLE_NAME.test(opts.tokenEnv) || looksLikeToken(opts.tokenEnv))
      throw new UsageError(`--token-env takes the name of an environment variable (letters, digits and _), not a token; ${how}`)
    const token = ctx.deps.env[opts.tokenEnv]
    if (token === undefined || token === '') throw new UsageError(`$${opts.tokenEnv} (--token-env) is not set or empty`)
    return { token, source: `$${opts.tokenEnv}`, sourceId: `env:${opts.tokenEnv}` }
  }
  const token = ctx.deps.env[TOKEN_VARIABLE]
  if (token === undefined || token === '') return undefined
  return { token, source: `$${TOKEN_VARIABLE}`, sourceId: `env:${TOKEN_VARIABLE}` }
}
