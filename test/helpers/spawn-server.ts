import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { CODE_CACHE } from './code-cache.js'
import { BIN } from './spawn.js'

export interface ServerProcess {
  child: ChildProcessWithoutNullStreams
  url: string
  stderr(): string
  stdout(): string
  /** Sends a signal and resolves with the exit code or signal. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/**
 * Starts `bktx server ARGS --port 0` from the built binary and waits for "listening on". With the
 * run's code cache, as runBin's processes (`env` may name another): a server in a fresh home
 * otherwise compiles the full CLI from source and writes a cache no other start reads.
 */
export function spawnServer(args: string[], env: Record<string, string | undefined>): Promise<ServerProcess> {
  const child = spawn(process.execPath, [BIN, 'server', '--port', '0', ...args], { env: { PATH: process.env['PATH'], ...CODE_CACHE, ...env } })
  let stderr = ''
  let stdout = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  return new Promise((resolve, reject) => {
    // A kill timer, not a measure: it starts in well under a second on a quiet machine, and
    // took over 10 s with the CPUs saturated.
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`server did not start:\n${stderr}`))
    }, 45_000)
    child.stderr.on('data', (chunk) => {
      stderr += chunk
      const match = /listening on (\S+)/.exec(stderr)
      if (match?.[1] !== undefined) {
        clearTimeout(timer)
        resolve({
          child,
          url: match[1],
          stderr: () => stderr,
          stdout: () => stdout,
          stop: (signal = 'SIGTERM') => {
            child.kill(signal)
            return exited
          },
        })
      }
    })
    void exited.then(({ code }) => {
      clearTimeout(timer)
      reject(new Error(`server exited with ${code}:\n${stderr}`))
    })
  })
}
