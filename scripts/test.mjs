#!/usr/bin/env node
// `npm test`: lint, then three things side by side: the type-check, the unit project (no build
// needed), and the build followed by the e2e project. The suite is CPU-bound on two cores but
// not every second of it: the e2e files wait on servers, timers, terminals and the processes
// they start, and the type-check and the unit files (about 2 to 5 and 21 CPU-seconds) fill those
// gaps instead of running before or after them, alone. The unit project runs in one worker of
// its own vitest (a second module graph would cost more than it gives) and its report, like the
// type-check's, is printed when it ends; the e2e project's is shown as it runs. The exit code is
// non-zero when any step failed.
// Arguments are passed to vitest (`npm test -- test/e2e/token.test.ts`): to both projects, each
// passing when none of its files match; with --project, to one vitest as given.
import { spawn } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

// Node reads the file NODE_EXTRA_CA_CERTS names at every start: for a system bundle about 28 ms
// of CPU (measured: 77 against 105 ms for `node -e 0`), and the suite starts some 1,000 Node
// processes. It reaches no TLS server but its own, whose CA the tests that use it name
// themselves (test/exchange/network.test.ts, test/unit/http/fetch.test.ts), and npm installs
// from its cache, so the suite runs without it.
const env = { ...process.env }
delete env.NODE_EXTRA_CA_CERTS

/** Runs a command; `buffer` keeps its output to print at the end, as one block. */
function run(command, args, { buffer = false, env: environment = env, cwd } = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: environment, cwd, stdio: buffer ? ['ignore', 'pipe', 'pipe'] : 'inherit' })
    let output = ''
    if (buffer) {
      child.stdout.on('data', (chunk) => (output += chunk))
      child.stderr.on('data', (chunk) => (output += chunk))
    }
    child.on('error', (error) => resolve({ code: 1, output: `${command}: ${error.message}\n` }))
    child.on('close', (code, signal) => resolve({ code: code ?? (signal === null ? 1 : 128), output }))
  })
}

/**
 * `npm run -s NAME` without npm: the package.json script, run by the shell with
 * node_modules/.bin first on PATH, as npm runs it. Each npm start costs about 0.4 s of CPU and,
 * for the lint that runs alone before the rest, 0.3 s of the suite's wall time.
 */
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
const root = fileURLToPath(new URL('..', import.meta.url))
const bin = join(root, 'node_modules', '.bin')
const script = (name, options = {}) =>
  process.platform === 'win32'
    ? run(npm, ['run', '-s', name], options)
    : run('sh', ['-c', pkg.scripts[name]], { ...options, cwd: root, env: { ...env, PATH: `${bin}${delimiter}${env.PATH ?? ''}` } })

const lint = await script('lint')
if (lint.code !== 0) process.exit(lint.code)

const typecheck = script('typecheck', { buffer: true })
const vitest = (args, { buffer = false, report } = {}) =>
  run(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...args], { buffer, env: report === undefined ? env : { ...env, BKTX_VITEST_JSON: report } })
const given = process.argv.slice(2)
// .ci/run reads one JSON report (BKTX_VITEST_JSON): each run writes its own, merged below.
const report = env.BKTX_VITEST_JSON
const reports = report === undefined ? {} : { unit: `${report}.unit`, e2e: `${report}.e2e` }
const split = !given.some((a) => a === '--project' || a.startsWith('--project='))
const unit = split ? vitest(['--project', 'unit', '--maxWorkers', '1', '--passWithNoTests', ...given], { buffer: true, report: reports.unit }) : undefined
const e2e = (async () => {
  const build = await script('build')
  if (build.code !== 0) return build
  return split ? vitest(['--project', 'e2e', '--passWithNoTests', ...given], { report: reports.e2e }) : vitest(given)
})()

const [checked, tested, unitTested] = await Promise.all([typecheck, e2e, unit])
if (unitTested !== undefined) process.stderr.write(`\nunit project (vitest --project unit):\n${unitTested.output}`)
if (checked.code !== 0) process.stderr.write(`\nnpm run typecheck failed:\n${checked.output}`)
else process.stderr.write('typecheck: no errors\n')
if (split && report !== undefined) mergeReports(report, [reports.unit, reports.e2e])
process.exit([tested, unitTested, checked].find((r) => r !== undefined && r.code !== 0)?.code ?? 0)

/** vitest's JSON reports of the two runs as one: the counts summed, the files listed together. */
function mergeReports(out, files) {
  const parts = files.map((file) => {
    try {
      return JSON.parse(readFileSync(file, 'utf8'))
    } catch {
      return undefined
    } finally {
      rmSync(file, { force: true })
    }
  })
  // A run that wrote no report (it failed to start) leaves the counts without it: .ci/run then reports a failure.
  if (parts.some((p) => p === undefined)) return
  const merged = { ...parts[1], testResults: parts.flatMap((p) => p.testResults ?? []), success: parts.every((p) => p.success) }
  for (const key of Object.keys(merged)) if (/^num[A-Z]/.test(key)) merged[key] = parts.reduce((sum, p) => sum + (p[key] ?? 0), 0)
  merged.startTime = Math.min(...parts.map((p) => p.startTime ?? Number.POSITIVE_INFINITY))
  writeFileSync(out, JSON.stringify(merged))
}
