import type { StuckCall } from './keyring.js'

export interface StuckExitIO {
  /** Writes one line to stderr. */
  writeErr(line: string): void
  /**
   * Ends the process with a signal whose default action terminates it. Production:
   * `endBySignal('SIGTERM', 143)` (src/term/process.ts).
   */
  terminate(): void
}

/** The exit status a shell reports for a process ended by SIGTERM (128 + 15). */
export const STUCK_EXIT_STATUS = 143

/**
 * For the entry point, once `main()` has returned `exitCode` and stdout/stderr are flushed:
 * when a keychain call is still blocked in native code (an unlock prompt nobody answers),
 * Node can neither finish nor `process.exit()`: at exit it joins its worker threads, and one
 * of them never returns (docs/dependencies.md). Only a signal's default action ends the process,
 * so the exit status becomes 143 (SIGTERM) whatever `exitCode` was: this says so on stderr,
 * names the code bktx meant, and terminates. Returns false, doing nothing, when no call is
 * stuck.
 */
export function terminateIfKeychainStuck(stuck: readonly StuckCall[], exitCode: number, io: StuckExitIO): boolean {
  if (stuck.length === 0) return false
  const ops = [...new Set(stuck.map((s) => s.op))].join(', ')
  io.writeErr(
    `bktx: a keychain call (${ops}) is still blocked, probably on an unlock prompt; ending the process with SIGTERM, so the exit status is ${STUCK_EXIT_STATUS} instead of ${exitCode}\n`,
  )
  io.terminate()
  return true
}
