import { homedir } from 'node:os'
import type { Signals } from './deps.js'
import { terminateIfKeychainStuck } from './secrets/exit.js'
import { lazyKeyringStore } from './secrets/lazy.js'
import { systemClock } from './time/clock.js'

declare const BKTX_VERSION: string | undefined

// The only module that touches `process`: it builds the real dependencies once and sets the
// exit code. Everything else receives them.
const argv = process.argv.slice(2)
const env = { ...process.env }
const uid = process.getuid?.()
const home = homedir()
const cwd = process.cwd()
const secrets = lazyKeyringStore({ env, uid, platform: process.platform })

// `bktx token` served from the cache without loading the CLI (src/fast/token.ts). Anything the
// fast path does not answer runs through the full CLI below, from the start.
// It is built as its own file, dist/fast-token.js (scripts/build.mjs), hence the computed URL.
const fastPath: typeof import('./fast/token.js') | undefined =
  argv[0] === 'token' ? await import(new URL('./fast-token.js', import.meta.url).href) : undefined
const fast = await fastPath?.cachedToken(argv.slice(1), { env, home, uid, cwd, clock: systemClock, secrets })

let code = 0
if (fast !== undefined) {
  process.stdout.write(fast)
} else {
  // After its first HTTP request Node waits 150-250 ms at exit while V8 tiers up the llhttp
  // WebAssembly parser; the baseline compiler alone is plenty for a CLI (../shared/deps.md).
  ;(await import('node:v8')).setFlagsFromString('--liftoff-only')
  const { main } = await import('./main.js')
  const signals: Signals = {
    on(signal, listener) {
      process.on(signal, listener)
      return () => process.off(signal, listener)
    },
  }
  code = await main(argv, {
    stdout: { write: (chunk) => void process.stdout.write(chunk), isTTY: process.stdout.isTTY === true },
    stderr: { write: (chunk) => void process.stderr.write(chunk), isTTY: process.stderr.isTTY === true },
    ...(process.stderr.isTTY ? { spinnerStream: process.stderr } : {}),
    stdinIsTTY: process.stdin.isTTY === true,
    readStdin: async () => {
      const chunks: Buffer[] = []
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
      return Buffer.concat(chunks).toString('utf8')
    },
    env,
    clock: systemClock,
    signals,
    fetch: (input, init) => fetch(input, init),
    secrets,
    platform: process.platform,
    cwd,
    uid,
    home,
    version: typeof BKTX_VERSION === 'string' ? BKTX_VERSION : '0.0.0-dev',
  })
}
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
