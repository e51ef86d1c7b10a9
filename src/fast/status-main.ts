// The entry of dist/fast-status.cjs, which bin/bktx.js (CommonJS, so no ES module loader is
// started) requires for `bktx status`: it prints the report and returns true, or returns false
// and the full CLI runs in this same process. It touches `process` because it is an entry
// point, like src/bin.ts and src/fast/main.ts.
import { homedir } from 'node:os'
import { EXIT, signalOutcome } from '../exit-codes.js'
import { terminateIfKeychainStuck } from '../secrets/exit.js'
import { lazyKeyringStore } from '../secrets/lazy.js'
import { colorLevel } from '../term/color.js'
import { describeWriteError, endBySignal, pipeSocketConnector, writeFdSync } from '../term/process.js'
import { systemClock } from '../time/clock.js'
import { parseFastStatusArgs, statusAnswer } from './status.js'

/** `bktx status ARGV` (`argv` after the command): true when served (the process ends as it says), false for the full CLI. */
export async function serveStatus(argv: readonly string[]): Promise<boolean> {
  const args = parseFastStatusArgs(argv)
  if (args === undefined) return false
  const env = { ...process.env }
  const uid = process.getuid?.()
  // The lock probe over Node's pipe handle, without node:net (src/term/process.ts): status asks it on every run.
  const secrets = lazyKeyringStore({ env, uid, platform: process.platform, arch: process.arch, connect: pipeSocketConnector() })
  const stdout = await statusAnswer(args, {
    env,
    // os.homedir() is $HOME when set (libuv's uv_os_homedir), as in src/fast/main.ts.
    home: process.platform !== 'win32' && process.env['HOME'] !== undefined ? process.env['HOME'] : homedir(),
    uid,
    cwd: process.cwd(),
    clock: systemClock,
    secrets,
  })
  const stuck = secrets.stuckCalls()
  if (stdout === undefined && stuck.length === 0) return false
  let code: number = stdout === undefined ? EXIT.KEYCHAIN : EXIT.OK
  // As the full CLI does (src/main.ts, afterOutput): a report that could not be written is
  // exit 9, with one line on stderr unless the reader just closed the pipe. Written straight
  // to the descriptor: process.stdout would first build a stream (src/term/process.ts).
  const failed = stdout === undefined ? undefined : writeFdSync(1, stdout)
  if (failed !== undefined) {
    code = EXIT.OUTPUT
    if (failed.code !== 'EPIPE') {
      const colour = colorLevel({ flag: args.color, env, isTTY: process.stderr.isTTY === true, terminalLevel: () => 1 }) !== 0
      writeFdSync(2, `${colour ? '\u001b[31merror:\u001b[39m' : 'error:'} cannot write to stdout: ${describeWriteError(failed)}\n`)
    }
  }
  process.exitCode = code
  // A keychain call stuck on an unlock prompt would keep Node from exiting; see src/bin.ts.
  terminateIfKeychainStuck(stuck, code, {
    writeErr: (line) => void writeFdSync(2, line),
    terminate: () => endBySignal('SIGTERM', signalOutcome('SIGTERM').code),
  })
  return true
}
