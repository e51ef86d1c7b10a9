import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { CODE_CACHE } from './code-cache.js'

export const BIN = fileURLToPath(new URL('../../bin/bktx.js', import.meta.url))

export interface SpawnResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/**
 * Runs `file` with exactly `options.env` (nothing inherited) and collects its output. The kill
 * timer is not a bound: with the CPUs saturated (load 16 on two cores) one bktx start took over
 * 15 s. When it fires, stderr says so, so a failure reads as a hung run.
 */
export function runProcess(
  file: string,
  args: string[],
  options: { env: Record<string, string | undefined>; input?: string; cwd?: string; timeoutMs?: number },
): Promise<SpawnResult> {
  const child = spawn(file, args, { env: options.env, cwd: options.cwd })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  child.stderr.on('data', (chunk) => (stderr += chunk))
  // A child that exits before reading its input (most never read it) closes the pipe; the
  // write then fails with EPIPE, which without a listener is an uncaught error in the test
  // process. What the child did is in its exit code and output, not in this write.
  child.stdin.on('error', () => {})
  child.stdin.end(options.input ?? '')
  const killAfter = options.timeoutMs ?? 50_000
  let killed = false
  const timer = setTimeout(() => {
    killed = true
    child.kill('SIGKILL')
  }, killAfter)
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr: killed ? `${stderr}\n[test kill timer: killed after ${killAfter} ms]` : stderr })
    })
  })
}

/**
 * Runs the built binary (npm test builds it first). `shell` runs `sh -c` with "$BKTX" set to
 * `node bin/bktx.js`, for ulimit and pipes. The run's shared code cache unless `env` says otherwise.
 */
export function runBin(
  args: string[],
  options: { env?: Record<string, string | undefined>; input?: string; cwd?: string; shell?: string; timeoutMs?: number } = {},
): Promise<SpawnResult> {
  const env = { PATH: process.env['PATH'], ...CODE_CACHE, ...options.env, BKTX: `${process.execPath} ${BIN}` }
  const { input, cwd, timeoutMs } = options
  return options.shell !== undefined
    ? runProcess('sh', ['-c', options.shell], { env, input, cwd, timeoutMs })
    : runProcess(process.execPath, [BIN, ...args], { env, input, cwd, timeoutMs })
}
