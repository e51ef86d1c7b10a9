import { CommanderError } from 'commander'
import { describeCause, isBktxError, type BktxError, UsageError } from './errors.js'
import { EXIT, exitCodeFor } from './cli/exit-codes.js'
import { contextOf, requestedExitCode, type ProgramDeps } from './cli/command.js'
import { describeError } from './term/describe.js'
import { makeProgram } from './cli/program.js'
import { Output } from './cli/output.js'

/**
 * Runs bktx with `argv` (without node and script) and returns the exit code. The one place
 * where errors become exit codes and messages; nothing is written to stdout on failure.
 */
export async function main(argv: readonly string[], deps: ProgramDeps): Promise<number> {
  const program = makeProgram(deps)
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return requestedExitCode(program) ?? EXIT.OK
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has already printed its message and the usage line.
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return EXIT.OK
      return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE
    }
    // The output settings (--verbose, --no-color, --json) are those commander parsed for the
    // action that failed; arguments after `--` were the command's, never bktx's.
    const ctx = contextOf(program)
    const out = ctx?.out ?? new Output(deps.stdout, deps.stderr, { json: false, verbose: false, color: true, env: deps.env })
    return report(error, out, ctx?.explicitProfile)
  }
}

function report(error: unknown, out: Output, profile: string | undefined): number {
  if (out.json) {
    // --json: the failure is one JSON document on stderr; stdout stays empty.
    const exit = isBktxError(error) ? exitCodeFor(error.code) : EXIT.INTERNAL
    out.errorDocument({
      code: isBktxError(error) ? error.code : 'BKTX_INTERNAL',
      message: isBktxError(error) ? describeError(error, { profile }) : `internal error: ${describeCause(error)}`,
      exit,
      ...(isBktxError(error) && Object.keys(error.detail).length > 0 ? { detail: error.detail } : {}),
    })
    return exit
  }
  if (isBktxError(error)) {
    out.error(describeError(error, { profile }))
    if (error instanceof UsageError && error.usage !== undefined) out.info(error.usage)
    if (out.verbose) verboseChain(out, error)
    return exitCodeFor(error.code)
  }
  out.error(`internal error: ${describeCause(error)}`)
  out.info('This is a bug in bktx. Run again with --verbose and report it.')
  if (out.verbose && error instanceof Error && error.stack !== undefined) out.debug(error.stack)
  return EXIT.INTERNAL
}

function verboseChain(out: Output, error: BktxError): void {
  out.debug(`code ${error.code}`)
  let cause: unknown = error.cause
  for (let depth = 0; cause !== undefined && depth < 8; depth++) {
    out.debug(`caused by ${describeCause(cause)}`)
    cause = cause instanceof Error ? cause.cause : undefined
  }
}
