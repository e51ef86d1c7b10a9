import { CommanderError } from 'commander'
import { EXIT, type Outcome } from './exit-codes.js'
import { contextOf, requestedOutcome, type ProgramDeps } from './cli/command.js'
import { makeProgram } from './cli/program.js'
import type { Output } from './cli/output.js'
import { afterOutput, fallbackOutput, report } from './cli/report.js'

export type { Outcome } from './exit-codes.js'

/**
 * Runs bktx with `argv` (without node and script) and returns how the process must end: an
 * exit code, or a signal the entry point re-raises (src/bin.ts). Errors become exit codes and
 * messages in one place, src/cli/report.ts; nothing is written to stdout on failure.
 */
export async function main(argv: readonly string[], deps: ProgramDeps): Promise<Outcome> {
  const program = makeProgram(deps)
  let outcome: Outcome
  let out: Output | undefined
  try {
    await program.parseAsync([...argv], { from: 'user' })
    outcome = requestedOutcome(program) ?? { code: EXIT.OK }
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has already printed its message and the usage line.
      const ok = error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help' || error.exitCode === 0
      outcome = { code: ok ? EXIT.OK : EXIT.USAGE }
    } else {
      // The output settings (--verbose, --no-color, --json) are those commander parsed for the
      // action that failed; arguments after `--` were the command's, never bktx's.
      const ctx = contextOf(program)
      out = ctx?.out ?? fallbackOutput(deps)
      outcome = report(error, out, ctx?.explicitProfile)
    }
  }
  return afterOutput(outcome, deps, out ?? contextOf(program)?.out ?? fallbackOutput(deps))
}
