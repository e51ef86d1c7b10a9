// The real dependencies of a run, built from `process`, and how the process ends, for the two
// entry points that run commands: the full CLI (src/bin.ts) and the token mint
// (src/fast/mint.ts). One function builds both, so a token minted by either sees the same
// streams, signals, fetch and secret store, and ends the same way.
import { fstatSync } from 'node:fs'
import { homedir } from 'node:os'
import { isatty } from 'node:tty'
import { signalOutcome, type Outcome } from './exit-codes.js'
import { readInputStream, stdinProblem } from './fs/input.js'
import { nodeFetch } from './http/node-fetch.js'
import type { Signals } from './deps.js'
import type { ProgramDeps } from './cli/command.js'
import { terminateIfKeychainStuck } from './secrets/exit.js'
import { lazyKeyringStore } from './secrets/lazy.js'
import { setChildGroupGuard } from './keys/exec-guard.js'
import { endBySignal, guardChildGroup, guardStream, type GuardedStream } from './term/process.js'
import { systemProcessInfo } from './term/process-info.js'
import { systemClock } from './time/clock.js'
import type { TokenHandover } from './token/handover.js'

declare const BKTX_VERSION: string | undefined

export interface ProcessRun {
  deps: ProgramDeps
  /** Ends the process as `outcome` says, once the command's output is flushed. */
  end(outcome: Outcome): void
}

/** The dependencies of this process's run; `handover` is what the fast path resolved before a cache miss. */
export function processDeps(handover: TokenHandover | undefined): ProcessRun {
  // Write errors (a full disk, a closed pipe or descriptor) are recorded, not thrown: src/cli/report.ts
  // turns them into exit 9 (docs/daily-use.md, "Write failures").
  const stdout: GuardedStream = guardStream(process.stdout)
  const stderr: GuardedStream = guardStream(process.stderr)

  // An exec: signer ends with bktx, whatever signal ends it (src/keys/exec.ts).
  setChildGroupGuard(guardChildGroup)

  const env = { ...process.env }
  const uid = process.getuid?.()
  const secrets = lazyKeyringStore({ env, uid, platform: process.platform, arch: process.arch })
  const signals: Signals = {
    on(signal, listener) {
      process.on(signal, listener)
      return () => process.off(signal, listener)
    },
  }
  const deps: ProgramDeps = {
    stdout,
    stderr,
    ...(process.stderr.isTTY ? { spinnerStream: process.stderr } : {}),
    // What process.stdin.isTTY says, without building the stdin stream (a few milliseconds) for
    // the commands that never read it.
    stdinIsTTY: isatty(0),
    readStdin: async (maxBytes) => {
      const problem = stdinProblem(fstatSync(0))
      if (problem !== undefined) throw problem
      return readInputStream(process.stdin, maxBytes)
    },
    env,
    clock: systemClock,
    signals,
    processInfo: systemProcessInfo(),
    // Loaded when the server asks: node:v8 and node:perf_hooks are nothing any other command needs.
    boundYoungGeneration: async (maxBytes) =>
      (await import('./term/young-generation.js')).boundYoungGeneration(maxBytes, [...process.execArgv, ...(env['NODE_OPTIONS'] ?? '').split(/\s+/)]),
    fetch: nodeFetch,
    secrets,
    platform: process.platform,
    cwd: process.cwd(),
    uid,
    home: homedir(),
    version: typeof BKTX_VERSION === 'string' ? BKTX_VERSION : '0.0.0-dev',
    handover,
  }
  return {
    deps,
    end(outcome) {
      // The output is flushed. Interrupted by a signal, or exec's command died of one: end
      // by that signal, so the shell sees it (src/exit-codes.ts, signalOutcome).
      if (outcome.signal !== undefined) return endBySignal(outcome.signal, outcome.code)
      process.exitCode = outcome.code
      // A keychain call blocked on an unlock prompt keeps Node from exiting at all: end the
      // process with SIGTERM and say which code was meant (docs/cache-and-ci.md, "Keychain failures").
      terminateIfKeychainStuck(secrets.stuckCalls(), outcome.code, {
        writeErr: (line) => stderr.write(line),
        terminate: () => endBySignal('SIGTERM', signalOutcome('SIGTERM').code),
      })
    },
  }
}
