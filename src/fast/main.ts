// The entry of dist/fast-token.cjs, which bin/bktx.js (CommonJS, so no ES module loader is
// started) requires first for `bktx token`. It serves a clean cache hit and returns true, or
// returns false and the full CLI (dist/bin.js) runs in this same process; on a clean miss it
// leaves the request it resolved under HANDOVER for src/bin.ts to take, so the settings are
// resolved and the key opened once. It touches `process` and `globalThis` because it is an
// entry point, like src/bin.ts.
import { homedir } from 'node:os'
import { EXIT, signalOutcome } from '../exit-codes.js'
import { terminateIfKeychainStuck } from '../secrets/exit.js'
import { lazyKeyringStore } from '../secrets/lazy.js'
import { describeWriteError, endBySignal, guardStream } from '../term/process.js'
import { systemClock } from '../time/clock.js'
import { HANDOVER, type TokenHandover } from '../token/handover.js'
import { cachedToken } from './token.js'

export async function serveCachedToken(argv: readonly string[]): Promise<boolean> {
  const env = { ...process.env }
  const uid = process.getuid?.()
  const secrets = lazyKeyringStore({ env, uid, platform: process.platform, arch: process.arch })
  const handOver = (handover: TokenHandover) => {
    ;(globalThis as Record<symbol, unknown>)[HANDOVER] = handover
  }
  const out = await cachedToken(
    argv,
    { env, stderrIsTTY: process.stderr.isTTY === true, home: homedir(), uid, cwd: process.cwd(), clock: systemClock, secrets },
    handOver,
  )
  const stuck = secrets.stuckCalls()
  if (out === undefined && stuck.length === 0) return false
  const stderr = guardStream(process.stderr)
  let code: number = out === undefined ? EXIT.KEYCHAIN : EXIT.OK
  if (out !== undefined) {
    // As the full CLI does (src/main.ts): a token that could not be written is exit 9, with
    // one line on stderr when stderr works and the reader did not just close the pipe.
    const stdout = guardStream(process.stdout)
    stderr.write(out.stderr)
    stdout.write(out.stdout)
    await Promise.all([stdout.flush(), stderr.flush()])
    const failed = stdout.failure ?? stderr.failure
    if (failed !== undefined) {
      code = EXIT.OUTPUT
      if (stderr.failure === undefined && failed.code !== 'EPIPE') {
        stderr.write(`${out.colour ? '\u001b[31merror:\u001b[39m' : 'error:'} cannot write to stdout: ${describeWriteError(failed)}\n`)
        await stderr.flush()
      }
    }
  }
  process.exitCode = code
  // A keychain call stuck on an unlock prompt would keep Node from exiting; see src/bin.ts.
  terminateIfKeychainStuck(stuck, code, {
    writeErr: (line) => stderr.write(line),
    terminate: () => endBySignal('SIGTERM', signalOutcome('SIGTERM').code),
  })
  return true
}
