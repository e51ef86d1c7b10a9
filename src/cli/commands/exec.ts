import { spawn, type ChildProcess } from 'node:child_process'
import { constants } from 'node:os'
import type { Command } from 'commander'
import { required } from '../../config/resolve.js'
import { UsageError } from '../../errors.js'
import type { Context } from '../context.js'
import { action, type ProgramDeps } from '../command.js'
import { addTokenOptions, networkOptions, obtainToken, type TokenOptions } from '../token-options.js'
import { tokenVariables } from './env.js'
import { cacheKey } from '../../cache/key.js'
import { keySettingsOf, secretVariables } from '../../signers/open.js'

export interface ExecOptions extends TokenOptions {
  revokeOnExit?: boolean
  allowNested?: boolean
}

/** Set in the child's environment; a nested `bktx exec` refuses to run unless asked. */
export const NESTED_MARKER = 'BKTX_EXEC'

export function registerExec(self: Command, deps: ProgramDeps): void {
  const cmd = self
    .description('run a command with BUILDKITE_API_TOKEN and BUILDKITE_ORGANIZATION_SLUG set; exit with its code')
    .argument('<command...>', 'the command and its arguments, after --')
    .option('--revoke-on-exit', 'revoke the token (DELETE /v2/access-token) and drop it from the cache when the command ends')
    .option('--allow-nested', `run even inside another bktx exec (${NESTED_MARKER} is set)`)
    .addHelpText('after', '\n  bktx exec --scope read_builds -- bk build list\n\nSignals (SIGINT, SIGTERM, SIGHUP) are forwarded to the command. A command killed by a signal\nmakes bktx exit with 128 + the signal number, as shells report it.')
  addTokenOptions(cmd, ['api-url'])
  action<ExecOptions>(cmd, deps, (ctx, opts, args) => runExec(ctx, opts, args[0] as string[]))
}

export async function runExec(ctx: Context, opts: ExecOptions, argv: string[]): Promise<void> {
  const [command, ...args] = argv
  if (command === undefined) throw new UsageError('name the command to run after --')
  const marker = ctx.deps.env[NESTED_MARKER]
  if (marker !== undefined && marker !== '' && opts.allowNested !== true) {
    throw new UsageError(`already inside bktx exec (${NESTED_MARKER} is set); the token is in BUILDKITE_API_TOKEN. Pass --allow-nested to run another`)
  }
  const { result, params, settings, cache, service } = await obtainToken(ctx, opts, ['api-url'])
  const env: Record<string, string | undefined> = { ...ctx.deps.env, [NESTED_MARKER]: '1' }
  // The command gets the token, not the means to mint more: no key text, no PIN.
  for (const name of secretVariables(keySettingsOf(settings))) delete env[name]
  for (const { name, value } of tokenVariables(result, params.org)) env[name] = value

  const code = await new Promise<number>((resolve, reject) => {
    // Forward what we receive; the child decides how to stop. The handlers are installed before
    // the spawn: the command can start (and be signalled through us) before spawn() returns, and
    // a signal in that window would otherwise kill bktx and orphan the command. Handlers run on
    // a later turn of the event loop, when `child` is set.
    let child: ChildProcess | undefined
    const offs = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((signal) => ctx.deps.signals.on(signal, () => child?.kill(signal)))
    child = spawn(command, args, { stdio: 'inherit', env, cwd: ctx.deps.cwd })
    child.once('error', (cause) => {
      for (const off of offs) off()
      const reason = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'command not found' : cause.message
      reject(new UsageError(`cannot run ${command}: ${reason}`, { cause }))
    })
    child.once('exit', (exitCode, signal) => {
      for (const off of offs) off()
      resolve(exitCode ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0)))
    })
  })

  if (opts.revokeOnExit === true) {
    try {
      await service.revoke(required(settings, 'api-url'), result.accessToken, networkOptions(ctx, opts))
      await cache.clear(cacheKey(params))
      ctx.out.info('token revoked')
    } catch (error) {
      // The command's own exit code matters more; say what went wrong and keep it.
      ctx.out.warn(`could not revoke the token: ${(error as Error).message}`)
    }
  }
  ctx.exit(code)
}
