#!/usr/bin/env node
// `npm test`: lint, then the type-check beside the build and the tests. The suite is CPU-bound
// on two cores but not every second of it: the type-check (about 15 CPU-seconds) fills gaps the
// tests leave (waits on servers, timers, spawned processes) instead of running first, alone.
// Its report is printed when it ends; the exit code is non-zero when any step failed.
// Arguments are passed to vitest (`npm test -- test/e2e/token.test.ts`).
import { spawn } from 'node:child_process'

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

/** Runs a command; `buffer` keeps its output to print at the end, as one block. */
function run(command, args, { buffer = false } = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: buffer ? ['ignore', 'pipe', 'pipe'] : 'inherit' })
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
