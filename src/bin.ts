import { homedir } from 'node:os'
import { main } from './main.js'
import type { ProgramDeps } from './cli/program.js'
import type { Signals } from './deps.js'
import { systemClock } from './time/clock.js'

declare const BKTX_VERSION: string | undefined

// The only module that touches `process`: it builds the real dependencies once and sets the
// exit code. Everything else receives them.
const signals: Signals = {
  on(signal, listener) {
    process.on(signal, listener)
    return () => process.off(signal, listener)
  },
}

const deps: ProgramDeps = {
  stdout: { write: (chunk) => void process.stdout.write(chunk), isTTY: process.stdout.isTTY === true },
  stderr: { write: (chunk) => void process.stderr.write(chunk), isTTY: process.stderr.isTTY === true },
  ...(process.stderr.isTTY ? { spinnerStream: process.stderr } : {}),
  stdinIsTTY: process.stdin.isTTY === true,
  readStdin: async () => {
    const chunks: Buffer[] = []
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks).toString('utf8')
  },
  env: { ...process.env },
  clock: systemClock,
  signals,
  fetch: (input, init) => fetch(input, init),
  cwd: process.cwd(),
  uid: process.getuid?.(),
  home: homedir(),
  version: typeof BKTX_VERSION === 'string' ? BKTX_VERSION : '0.0.0-dev',
}

process.exitCode = await main(process.argv.slice(2), deps)
