import { setFlagsFromString } from 'node:v8'
import { fstatSync } from 'node:fs'
import { homedir } from 'node:os'
import { readInputStream, stdinProblem } from './fs/input.js'
import { nodeFetch } from './http/node-fetch.js'
import { main } from './main.js'
import type { Signals } from './deps.js'
import { terminateIfKeychainStuck } from './secrets/exit.js'
import { lazyKeyringStore } from './secrets/lazy.js'
import { systemClock } from './time/clock.js'

declare const BKTX_VERSION: string | undefined

// The entry of the full CLI (bin/bktx.js imports it unless dist/fast-token.cjs served a
// cached token). The only module besides src/fast/main.ts that touches `process`: it builds
// the real dependencies once and sets the exit code. Everything else receives them.

// After its first HTTP request Node waits 150-250 ms at exit while V8 tiers up the llhttp
// WebAssembly parser; the baseline compiler alone is plenty for a CLI (docs/dependencies.md).
setFlagsFromString('--liftoff-only')

// `bktx help | head -1`: a reader that goes away is the end of the output, not a crash.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0)
  throw error
})

const env = { ...process.env }
const uid = process.getuid?.()
const secrets = lazyKeyringStore({ env, uid, platform: process.platform })
const signals: Signals = {
  on(signal, listener) {
    process.on(signal, listener)
    return () => process.off(signal, listener)
  },
}

const code = await main(process.argv.slice(2), {
  stdout: { write: (chunk) => void process.stdout.write(chunk), isTTY: process.stdout.isTTY === true },
  stderr: { write: (chunk) => void process.stderr.write(chunk), isTTY: process.stderr.isTTY === true },
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
  fetch: nodeFetch,
  secrets,
  platform: process.platform,
  cwd: process.cwd(),
  uid,
  home: homedir(),
  version: typeof BKTX_VERSION === 'string' ? BKTX_VERSION : '0.0.0-dev',
})
process.exitCode = code
// A keychain call blocked on an unlock prompt keeps Node from exiting at all; once the output
// is flushed, end the process with SIGTERM and say which code was meant (README, "The cache").
process.stdout.write('', () =>
  terminateIfKeychainStuck(secrets.stuckCalls(), code, {
    writeErr: (line) => void process.stderr.write(line),
    terminate: () => {
      process.removeAllListeners('SIGTERM')
      process.kill(process.pid, 'SIGTERM')
    },
  }),
)
