#!/usr/bin/env node
// `npm test`: lint, then the type-check beside the build and the tests. The suite is CPU-bound
// on two cores but not every second of it: the type-check (about 15 CPU-seconds) fills gaps the
// tests leave (waits on servers, timers, spawned processes) instead of running first, alone.
// Its report is printed when it ends; the exit code is non-zero when any step failed.
// Arguments are passed to vitest (`npm test -- test/e2e/token.test.ts`).
import { spawn } from 'node:child_process'

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

// Node reads the file NODE_EXTRA_CA_CERTS names at every start: for a system bundle about 28 ms
// of CPU (measured: 77 against 105 ms for `node -e 0`), and the suite starts some 1,000 Node
// processes. It reaches no TLS server but its own, whose CA the tests that use it name
// themselves (test/exchange/network.test.ts, test/unit/http/fetch.test.ts), and npm installs
// from its cache, so the suite runs without it.
const env = { ...process.env }
delete env.NODE_EXTRA_CA_CERTS

/** Runs a command; `buffer` keeps its output to print at the end, as one block. */
function run(command, args, { buffer = false } = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: buffer ? ['ignore', 'pipe', 'pipe'] : 'inherit' })
    let output = ''
    if (buffer) {
      child.stdout.on('data', (chunk) => (output += chunk))
      child.stderr.on('data', (chunk) => (output += chunk))
    }
    child.on('error', (error) => resolve({ code: 1, output: `${command}: ${error.message}\n` }))
    child.on('close', (code, signal) => resolve({ code: code ?? (signal === null ? 1 : 128), output }))
  })
}

const lint = await run(npm, ['run', '-s', 'lint'])
if (lint.code !== 0) process.exit(lint.code)

const typecheck = run(npm, ['run', '-s', 'typecheck'], { buffer: true })
const tests = (async () => {
  const build = await run(npm, ['run', '-s', 'build'])
  if (build.code !== 0) return build
  return run(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...process.argv.slice(2)])
})()

const [checked, tested] = await Promise.all([typecheck, tests])
if (checked.code !== 0) process.stderr.write(`\nnpm run typecheck failed:\n${checked.output}`)
else process.stderr.write('typecheck: no errors\n')
process.exit(tested.code !== 0 ? tested.code : checked.code)
