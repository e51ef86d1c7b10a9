import { setFlagsFromString } from 'node:v8'
import { fstatSync } from 'node:fs'
import { homedir } from 'node:os'
import { signalOutcome } from './exit-codes.js'
import { readInputStream, stdinProblem } from './fs/input.js'
import { nodeFetch } from './http/node-fetch.js'
import { main } from './main.js'
import type { Signals } from './deps.js'
import { terminateIfKeychainStuck } from './secrets/exit.js'
import { lazyKeyringStore } from './secrets/lazy.js'
import { setChildGroupGuard } from './keys/exec-guard.js'
import { endBySignal, guardChildGroup, guardStream } from './term/process.js'
import { systemProcessInfo } from './term/process-info.js'
import { systemClock } from './time/clock.js'
import { HANDOVER, type TokenHandover } from './token/handover.js'

declare const BKTX_VERSION: string | undefined

// The entry of the full CLI (bin/bktx.js imports it unless dist/fast-token.cjs served a
// cached token). With src/fast/main.ts the only module that touches `process` (through
// src/term/process.ts for what both share): it builds the real dependencies once and ends the
// process as main() says. Everything else receives them.

// After its first HTTP request Node waits 150-250 ms at exit while V8 tiers up the llhttp
// WebAssembly parser; the baseline compiler alone is plenty for a CLI (docs/dependencies.md).
setFlagsFromString('--liftoff-only')

// Write errors (a full disk, a closed pipe or descriptor) are recorded, not thrown: src/main.ts
// turns them into exit 9 (docs/daily-use.md, "Write failures").
const stdout = guardStream(process.stdout)
const stderr = guardStream(process.stderr)

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

// What the fast path resolved before a cache miss sent the run here (src/fast/main.ts): taken
// once, and used by the token commands only for the very input it was resolved from.
const handover = (globalThis as Record<symbol, unknown>)[HANDOVER] as TokenHandover | undefined
delete (globalThis as Record<symbol, unknown>)[HANDOVER]

const outcome = await main(process.argv.slice(2), {
  stdout,
  stderr,
  ...(process.stderr.isTTY ? { spinnerStream: process.stderr } : {}),
  stdinIsTTY: process.stdin.isTTY === true,
  readStdin: async (maxBytes) => {
    const problem = stdinProblem(fstatSync(0))
    if (problem !== undefined) throw problem
    return readInputStream(process.stdin, maxBytes)
  },
  env,
  clock: systemClock,
  signals,
  processInfo: systemProcessInfo(),
  fetch: nodeFetch,
  secrets,
  platform: process.platform,
  cwd: process.cwd(),
  uid,
  home: homedir(),
  version: typeof BKTX_VERSION === 'string' ? BKTX_VERSION : '0.0.0-dev',
  handover,
})
// main() has flushed the output. Interrupted by a signal, or exec's command died of one: end
// by that signal, so the shell sees it (src/exit-codes.ts, signalOutcome).
if (outcome.signal !== undefined) endBySignal(outcome.signal, outcome.code)
else {
  process.exitCode = outcome.code
  // A keychain call blocked on an unlock prompt keeps Node from exiting at all: end the
  // process with SIGTERM and say which code was meant (docs/cache-and-ci.md, "Keychain failures").
  terminateIfKeychainStuck(secrets.stuckCalls(), outcome.code, {
    writeErr: (line) => stderr.write(line),
    terminate: () => endBySignal('SIGTERM', signalOutcome('SIGTERM').code),
  })
}
