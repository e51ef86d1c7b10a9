// The entry of dist/fast-token.cjs, which bin/bktx.js (CommonJS, so no ES module loader is
// started) requires first for `bktx token`. It serves a clean cache hit and returns true, or
// returns false and the full CLI (dist/bin.js) runs in this same process; on a clean miss it
// leaves the request it resolved under HANDOVER for src/bin.ts to take, so the settings are
// resolved and the key opened once. It touches `process` and `globalThis` because it is an
// entry point, like src/bin.ts.
import { connect as netConnect } from 'node:net'
import { homedir } from 'node:os'
import { EXIT, signalOutcome } from '../exit-codes.js'
import { terminateIfKeychainStuck } from '../secrets/exit.js'
import type { BusConnect } from '../secrets/dbus.js'
import { lazyKeyringStore } from '../secrets/lazy.js'
import { linuxParentName } from '../term/parent.js'
import { describeWriteError, endBySignal, pipeSocketConnector, writeFdSync } from '../term/process.js'
import { systemClock } from '../time/clock.js'
import { HANDOVER, type TokenHandover } from '../token/handover.js'
import { observe } from './observe.js'
import { hitBundle, rememberHit } from './remember.js'
import { cachedEnv, cachedToken } from './token.js'

/** `bktx token ARGV` from the cache: true when served (the process ends as it says), false for the full CLI. */
export async function serveCachedToken(argv: readonly string[]): Promise<boolean> {
  return serveCached(['token', ...argv])
}

/** `bktx token ARGS` or `bktx env ARGS` (`argv` with its command first), as {@link serveCachedToken}. */
export async function serveCached(argv: readonly string[]): Promise<boolean> {
  const [command, ...args] = argv
  if (command !== 'token' && command !== 'env') return false
  // What this run reads is observed, for the hit memo a clean hit leaves (./memo.ts).
  const started = Date.now()
  const observing = observe()
  const copy = { ...process.env }
  const env = observing.env(copy)
  const uid = process.getuid?.()
  // The keychain's lock probe opens the bus socket over Node's pipe handle, as status does
  // (src/term/process.ts): node:net and the stream code it compiles cost a keychain hit about a
  // fifth of `node -e 0`. Looked up at the first connection, which a file-cache hit never makes.
  let pipe: BusConnect | false | undefined
  const connect: BusConnect = (path) => {
    pipe ??= pipeSocketConnector() ?? false
    return pipe === false ? netConnect(path) : pipe(path)
  }
  const keyring = lazyKeyringStore({ env, uid, platform: process.platform, arch: process.arch, connect })
  // What a memo can stand for of the keychain (./memo.ts): whether it is unlocked (asked by
  // `auto` and `keychain` before any read; a file entry is served the same either way, and a
  // keychain entry's memo reads the lock again with the item) and the one item read, which the
  // memo's hit reads again. Any other call, or a second item, leaves no memo.
  const itemsRead: string[] = []
  const secrets: typeof keyring = {
    get: (account) => (itemsRead.push(account), keyring.get(account)),
    set: (account, secret) => (observing.spoil('keychain'), keyring.set(account, secret)),
    delete: (account) => (observing.spoil('keychain'), keyring.delete(account)),
    accounts: () => (observing.spoil('keychain'), keyring.accounts()),
    status: () => keyring.status(),
    stuckCalls: () => keyring.stuckCalls(),
  }
  const handOver = (handover: TokenHandover) => {
    ;(globalThis as Record<symbol, unknown>)[HANDOVER] = handover
  }
  // os.homedir() is $HOME when set (libuv's uv_os_homedir); reading it here spares a hit
  // loading node:os, which this bundle loads only when called (scripts/build.mjs, LAZY).
  const homeVariable = process.platform !== 'win32' ? process.env['HOME'] : undefined
  const home = homeVariable ?? homedir()
  const cwd = process.cwd()
  const out = await (command === 'env' ? cachedEnv : cachedToken)(
    args,
    {
      env,
      // Asked only when a notice or an error line is to be coloured (src/fast/token.ts).
      stderrIsTTY: () => process.stderr.isTTY === true,
      // The shell that reads `bktx env`'s output; the full CLI asks `ps` where there is no /proc.
      parentName: () => (process.platform === 'linux' ? observing.parent(() => linuxParentName(process.ppid)) : null),
      home,
      uid,
      cwd,
      clock: systemClock,
      secrets,
    },
    handOver,
  )
  const observation = observing.stop()
  const stuck = secrets.stuckCalls()
  if (out === undefined && stuck.length === 0) return false
  let code: number = out === undefined ? EXIT.KEYCHAIN : EXIT.OK
  if (out !== undefined) {
    // As the full CLI does (src/main.ts): a token that could not be written is exit 9, with
    // one line on stderr when stderr works and the reader did not just close the pipe. Written
    // straight to the descriptors: a hit never builds process.stdout (src/term/process.ts).
    const stderrFailure = out.stderr === '' ? undefined : writeFdSync(2, out.stderr)
    const failed = writeFdSync(1, out.stdout) ?? stderrFailure
    if (failed !== undefined) {
      code = EXIT.OUTPUT
      if (stderrFailure === undefined && failed.code !== 'EPIPE') {
        writeFdSync(2, `${out.colour ? '\u001b[31merror:\u001b[39m' : 'error:'} cannot write to stdout: ${describeWriteError(failed)}\n`)
      }
    }
  }
  process.exitCode = code
  // The memo is named by $HOME (the hit reads no other home) and the uid (its files are checked against it).
  if (code === EXIT.OK && out?.memo !== undefined && homeVariable !== undefined && uid !== undefined && stuck.length === 0) {
    rememberHit({
      observation,
      facts: out.memo,
      invocation: {
        bundle: hitBundle(__filename),
        argv,
        cwd,
        home: homeVariable,
        uid,
        platform: process.platform,
        parent: command === 'env' && process.platform === 'linux' ? (linuxParentName(process.ppid) ?? '') : null,
      },
      env: copy,
      keychainItems: itemsRead,
      started,
      pid: process.pid,
      bundles: [__filename, hitBundle(__filename)],
    })
  }
  // A keychain call stuck on an unlock prompt would keep Node from exiting; see src/bin.ts.
  terminateIfKeychainStuck(stuck, code, {
    writeErr: (line) => void writeFdSync(2, line),
    terminate: () => endBySignal('SIGTERM', signalOutcome('SIGTERM').code),
  })
  return true
}
