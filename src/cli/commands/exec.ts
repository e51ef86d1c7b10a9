import type { ChildProcess, spawn as spawnType } from 'node:child_process'
import type { Command } from 'commander'
import { required } from '../../config/resolve.js'
import type { SignalName } from '../../deps.js'
import { CommandNotExecutableError, CommandNotFoundError, UsageError } from '../../errors.js'
import type { Context } from '../context.js'
import { action, type ProgramDeps } from '../command.js'
import { signalOutcome } from '../exit-codes.js'
import { addTokenOptions, networkOptions, obtainToken, type TokenOptions } from '../token-options.js'
import { tokenVariables } from './env.js'
import { keySpecOf } from '../../config/key-spec.js'
import { secretVariables } from '../../keys/open.js'

export interface ExecOptions extends TokenOptions {
  revokeOnExit?: boolean
  allowNested?: boolean
}

/** Set in the child's environment; a nested `bktx exec` refuses to run unless asked. */
export const NESTED_MARKER = 'BKTX_EXEC'

/** Signals passed on to the command: whoever sends them to bktx means the command. */
const FORWARDED: readonly SignalName[] = ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2']

/** The signals a terminal sends to its whole foreground process group when a key is typed (Ctrl-C, Ctrl-\). */
const TERMINAL_KEYS: ReadonlySet<SignalName> = new Set(['SIGINT', 'SIGQUIT'])

export function registerExec(self: Command, deps: ProgramDeps): void {
  const cmd = self
    .description('run a command with BUILDKITE_API_TOKEN and BUILDKITE_ORGANIZATION_SLUG set; exit with its code')
    .argument('<command...>', 'the command and its arguments, after --')
    .option('--revoke-on-exit', "use a token of this run's own (never cached) and revoke it (DELETE /v2/access-token) when the command ends")
    .option('--allow-nested', `run even inside another bktx exec (${NESTED_MARKER} is set)`)
    .addHelpText(
      'after',
      '\nThe command runs as if started directly: Ctrl-C from the terminal reaches it once, and\n' +
        'SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 sent to bktx are passed on to it.\n' +
        'bktx exits with its exit code; when it dies of a signal, bktx dies of the same one.\n' +
        '127: the command was not found; 126: it cannot be executed.\n\n' +
        "An env: key and the PIN variables are removed from the command's environment, but bktx\n" +
        'keeps them in its own, which any process of the same user reads in /proc/<pid>/environ\n' +
        '(the command: /proc/$PPID/environ). To keep a command from minting more tokens, use a\n' +
        'key file or a signer, or mint in a step of its own.',
    )
  addTokenOptions(cmd, ['api-url'])
  hintDashDash(cmd)
  action<ExecOptions>(cmd, deps, (ctx, opts, args) => runExec(ctx, opts, args[0] as string[]))
}

/**
 * `bktx exec ls -la`: commander reads `-la` as an option of bktx exec. When a command word came
 * before the unknown option, its error says how to pass the option on: `--` before the command.
 * An unknown option before any command word is a mistyped option of exec's own: commander's
 * message (and its "did you mean") stays.
 */
function hintDashDash(cmd: Command): void {
  const own = cmd as unknown as { unknownOption(flag: string): void }
  const unknownOption = own.unknownOption.bind(cmd)
  own.unknownOption = (flag: string) => {
    const words = cmd.args
    if (words.length === 0 || (words[0] as string).startsWith('-')) return unknownOption(flag)
    cmd.error(`error: unknown option '${flag}'; put \`--\` before the command: bktx exec -- ${words.map(shellWord).join(' ')}`, {
      code: 'commander.unknownOption',
    })
  }
}

/** A word as typed into a POSIX shell: plain, or single-quoted. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
}

export async function runExec(ctx: Context, opts: ExecOptions, argv: string[]): Promise<void> {
  const [command, ...args] = argv
  if (command === undefined) throw new UsageError('name the command to run after --')
  const marker = ctx.deps.env[NESTED_MARKER]
  if (marker !== undefined && marker !== '' && opts.allowNested !== true) {
    const error = new UsageError(
      `already inside bktx exec (${NESTED_MARKER} is set), whose token is in BUILDKITE_API_TOKEN; use that token, or pass --allow-nested to run another bktx exec inside this one`,
    )
    // Nothing is wrong with the command line itself: no usage line.
    error.usage = false
    throw error
  }
  // A token to be revoked at the end must be this run's alone: the cached one is shared with
  // every other call of the same settings, which revoking it would break mid-run.
  const revoke = opts.revokeOnExit === true
  const { result, params, settings, service } = await obtainToken(ctx, opts, ['api-url'], revoke ? { cache: 'none' } : {})
  const env: Record<string, string | undefined> = { ...ctx.deps.env, [NESTED_MARKER]: '1' }
  // No key text and no PIN in the command's environment, so it does not pass them on. They stay
  // in bktx's own initial environment, which a process of the same user (the command too)
  // reads in /proc/<bktx's pid>/environ: docs/security/threat-model.md §9 says so, with the safe patterns.
  for (const name of secretVariables(keySpecOf(settings))) delete env[name]
  for (const { name, value } of tokenVariables(result, params.org)) env[name] = value

  // Loaded here, by the one command that starts a process: every other command's start-up is spared it.
  const { spawn } = await import('node:child_process')
  const ended = await run(ctx, command, args, env, spawn)

  if (revoke) {
    try {
      const revocation = await service.revoke(required(settings, 'api-url'), result.accessToken, networkOptions(ctx, opts))
      ctx.out.info(revocation === 'revoked' ? 'token revoked' : 'token already invalid (revoked or expired)')
    } catch (error) {
      // The command's own exit code matters more; say what went wrong and keep it.
      ctx.out.warn(`could not revoke the token: ${(error as Error).message}`)
    }
  }
  ctx.exit(ended.signal !== null ? signalOutcome(ended.signal) : { code: ended.code ?? 1 })
}

/**
 * Runs the command in bktx's own process group, so that it stays in the terminal's foreground
 * with bktx (it can read the terminal, and Ctrl-Z stops both), and passes signals on.
 *
 * A signal bktx receives came either from someone who meant bktx alone (`kill PID`, a
 * supervisor), who expects the command to get it, or from the terminal, which sends Ctrl-C
 * and Ctrl-\ to every process of its foreground group, the command included: forwarding those
 * would deliver them twice, and many programs take a second Ctrl-C as "quit now". POSIX tells
 * the two apart with siginfo's si_code and si_pid, which Node does not expose. So SIGINT and
 * SIGQUIT are passed on only when bktx is not in the terminal's foreground group (no terminal,
 * a background job), where the terminal cannot have sent them; in the foreground they are
 * taken to be the terminal's. The cost: `kill -INT PID` aimed at a foreground bktx alone does
 * not reach the command (send it to the command, or to the group with `kill -INT -- -PGID`).
 * The other signals are always passed on: a terminal never sends them on a key, and a second
 * SIGTERM or SIGHUP (a supervisor signalling the whole group) changes nothing for a program.
 *
 * The handlers are installed before the spawn: the command can start (and be signalled
 * through us) before spawn() returns, and a signal in that window would otherwise end bktx and
 * orphan it. Handlers run on a later turn of the event loop, when `child` is set.
 */
function run(
  ctx: Context,
  command: string,
  args: string[],
  env: Record<string, string | undefined>,
  spawn: typeof spawnType,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    let child: ChildProcess | undefined
    const forward = (signal: SignalName) => () => {
      if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
      if (TERMINAL_KEYS.has(signal) && ctx.deps.processInfo?.inForeground() === true) return
      child.kill(signal)
    }
    const offs = FORWARDED.map((signal) => ctx.deps.signals.on(signal, forward(signal)))
    child = spawn(command, args, { stdio: 'inherit', env, cwd: ctx.deps.cwd })
    child.on('error', (cause: NodeJS.ErrnoException) => {
      // After a start, an error is a failed kill() (the command had just exited): nothing to report.
      if (child?.pid !== undefined) return
      for (const off of offs) off()
      // The shells' convention (POSIX "Command Search and Execution"): 127 when the command
      // is not found, 126 when it is found but cannot be executed.
      reject(
        cause.code === 'ENOENT'
          ? new CommandNotFoundError(`cannot run ${command}: command not found`, { cause })
          : new CommandNotExecutableError(`cannot run ${command}: ${cause.code === 'EACCES' ? 'permission denied (not an executable file?)' : cause.message}`, {
              cause,
            }),
      )
    })
    child.once('exit', (code, signal) => {
      for (const off of offs) off()
      resolve({ code, signal })
    })
  })
}
