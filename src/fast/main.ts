// The entry of dist/fast-token.cjs, which bin/bktx.js (CommonJS, so no ES module loader is
// started) requires first for `bktx token`. It serves a clean cache hit and returns true, or
// returns false and the full CLI (dist/bin.js) runs from the start. It touches `process`
// because it is an entry point, like src/bin.ts.
import { homedir } from 'node:os'
import { terminateIfKeychainStuck } from '../secrets/exit.js'
import { lazyKeyringStore } from '../secrets/lazy.js'
import { systemClock } from '../time/clock.js'
import { cachedToken } from './token.js'

export async function serveCachedToken(argv: readonly string[]): Promise<boolean> {
  const env = { ...process.env }
  const uid = process.getuid?.()
  const secrets = lazyKeyringStore({ env, uid, platform: process.platform })
  const out = await cachedToken(argv, { env, stderrIsTTY: process.stderr.isTTY === true, home: homedir(), uid, cwd: process.cwd(), clock: systemClock, secrets })
  const stuck = secrets.stuckCalls()
  if (out === undefined && stuck.length === 0) return false
  if (out !== undefined) {
    // `bktx token | true`: a reader that goes away is the end of the output, not a crash.
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(0)
      throw error
    })
    process.stderr.write(out.stderr)
    process.stdout.write(out.stdout)
  }
  // A keychain call stuck on an unlock prompt would keep Node from exiting; see src/bin.ts.
  process.stdout.write('', () =>
    terminateIfKeychainStuck(stuck, out === undefined ? 8 : 0, {
      writeErr: (line) => void process.stderr.write(line),
      terminate: () => {
        process.removeAllListeners('SIGTERM')
        process.kill(process.pid, 'SIGTERM')
      },
    }),
  )
  return true
}
