// How a run ends once its command has run or failed: errors become one message and an exit
// code, and a failed write of the output makes a success exit 9. src/main.ts ends every run of
// the full CLI here, and the token mint of src/fast/mint.ts ends its runs here too, so both
// print the same bytes and exit alike. No commander here: the mint does not load it.
import { describeCause, InterruptedError, isBktxError, OutputError, type BktxError, UsageError } from '../errors.js'
import { EXIT, exitCodeFor, signalOutcome, type Outcome } from '../exit-codes.js'
import type { Deps, OutStream } from '../deps.js'
import { describeError } from '../term/describe.js'
import { describeWriteError } from '../term/process.js'
import { Output } from './output.js'

export function fallbackOutput(deps: Pick<Deps, 'stdout' | 'stderr' | 'env'>): Output {
  return new Output(deps.stdout, deps.stderr, { json: false, verbose: false, color: true, env: deps.env })
}

/**
 * Once the output is flushed: a write that failed (`bktx token >/dev/full`, a closed stdout)
 * makes a run that would have succeeded fail with exit 9, so a token that never reached its
 * reader is not a success. A run that failed already keeps its own code (the message that
 * could not be written was about that failure). One line says so on stderr when stderr still
 * works, none for a closed pipe: the reader left on purpose (`bktx jwks | head -1`), as a
 * program killed by SIGPIPE says nothing.
 */
export async function afterOutput(outcome: Outcome, deps: Pick<Deps, 'stdout' | 'stderr'>, out: Output): Promise<Outcome> {
  await flush(deps.stdout, deps.stderr)
  const failed = deps.stdout.failure ?? deps.stderr.failure
  if (failed === undefined || outcome.code !== EXIT.OK || outcome.signal !== undefined) return outcome
  if (deps.stderr.failure === undefined && failed.code !== 'EPIPE') {
    out.error(describeError(new OutputError(`cannot write to stdout: ${describeWriteError(failed)}`, { cause: failed })))
    await flush(deps.stderr)
  }
  return { code: exitCodeFor('BKTX_OUTPUT') }
}

async function flush(...streams: OutStream[]): Promise<void> {
  await Promise.all(streams.map((s) => s.flush?.()))
}

export function report(error: unknown, out: Output, profile: string | undefined): Outcome {
  const interrupted = error instanceof InterruptedError && error.signal !== undefined ? signalOutcome(error.signal as NodeJS.Signals) : undefined
  if (out.json) {
    // --json: the failure is one JSON document on stderr; stdout stays empty.
    const exit = interrupted?.code ?? (isBktxError(error) ? exitCodeFor(error.code) : EXIT.INTERNAL)
    out.errorDocument({
      code: isBktxError(error) ? error.code : 'BKTX_INTERNAL',
      message: isBktxError(error) ? describeError(error, { profile }) : `internal error: ${describeCause(error)}`,
      exit,
      ...(isBktxError(error) && Object.keys(error.detail).length > 0 ? { detail: error.detail } : {}),
    })
    return interrupted ?? { code: exit }
  }
  if (isBktxError(error)) {
    out.error(describeError(error, { profile }))
    if (error instanceof UsageError && typeof error.usage === 'string') out.log(error.usage)
    if (out.verbose) verboseChain(out, error)
    return interrupted ?? { code: exitCodeFor(error.code) }
  }
  out.error(`internal error: ${describeCause(error)}`)
  out.log('This is a bug in bktx. Run again with --verbose and report it.')
  if (out.verbose && error instanceof Error && error.stack !== undefined) out.debug(error.stack)
  return { code: EXIT.INTERNAL }
}

function verboseChain(out: Output, error: BktxError): void {
  out.debug(`code ${error.code}`)
  let cause: unknown = error.cause
  for (let depth = 0; cause !== undefined && depth < 8; depth++) {
    out.debug(`caused by ${describeCause(cause)}`)
    cause = cause instanceof Error ? cause.cause : undefined
  }
}
