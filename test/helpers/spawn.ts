import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const BIN = fileURLToPath(new URL('../../bin/bktx.js', import.meta.url))

export interface SpawnResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/**
 * Runs the built binary (npm test builds it first). `shell` runs `sh -c` with "$BKTX" set to
 * `node bin/bktx.js`, for ulimit and pipes.
 */
export function runBin(
  args: string[],
  options: { env?: Record<string, string | undefined>; input?: string; cwd?: string; shell?: string; timeoutMs?: number } = {},
): Promise<SpawnResult> {
  const env = { PATH: process.env['PATH'], ...options.env, BKTX: `${process.execPath} ${BIN}` }
  const child =
    options.shell !== undefined
      ? spawn('sh', ['-c', options.shell], { env, cwd: options.cwd })
      : spawn(process.execPath, [BIN, ...args], { env, cwd: options.cwd })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  child.stderr.on('data', (chunk) => (stderr += chunk))
  child.stdin.end(options.input ?? '')
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 15_000)
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}
