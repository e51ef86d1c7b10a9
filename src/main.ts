import { CommanderError } from 'commander'
import { describeCause, isBktxError, type BktxError, UsageError } from './errors.js'
import { EXIT, exitCodeFor } from './cli/exit-codes.js'
import { makeProgram, requestedExitCode, type ProgramDeps } from './cli/program.js'
import { Output } from './cli/output.js'

/**
 * Runs bktx with `argv` (without node and script) and returns the exit code. The one place
 * where errors become exit codes and messages; nothing is written to stdout on failure.
 */
export async function main(argv: readonly string[], deps: ProgramDeps): Promise<number> {
  const program = makeProgram(deps, argv)
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return requestedExitCode(program) ?? EXIT.OK
  } catch (error) {
    return report(error, deps, argv)
  }
}

function report(error: unknown, deps: ProgramDeps, argv: readonly string[]): number {
  if (error instanceof CommanderError) {
    // Commander has already printed its message and the usage line.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') {
      return EXIT.OK
    }
    return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE
  }
  const verbose = argv.includes('--verbose') || argv.includes('-v')
  const out = new Output(deps.stdout, deps.stderr, {
    json: false,
    verbose,
    color: !argv.includes('--no-color'),
    env: deps.env,
  })
  if (isBktxError(error)) {
    out.error(error.message)
    if (error instanceof UsageError && error.usage !== undefined) out.info(error.usage)
    if (verbose) verboseChain(out, error)
    return exitCodeFor(error.code)
  }
  out.error(`internal error: ${describeCause(error)}`)
  out.info('This is a bug in bktx. Run again with --verbose and report it.')
  if (verbose && error instanceof Error && error.stack !== undefined) out.debug(error.stack)
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
