import { fakeSignals, runCli, type CliResult, type RunOptions } from './cli.js'

export interface CliServer {
  /** http://127.0.0.1:PORT */
  url: string
  /** Everything `bktx server` wrote on stderr so far (its request log). */
  stderr(): string
  /** Stops the server (SIGTERM) and resolves with its run. */
  stop(): Promise<CliResult>
}

/**
 * Runs `bktx server --port 0 ARGS` in-process, as the CLI does, until stopped: the same
 * command and request log as the built binary's, without starting a process (the spawned
 * server is proven in test/e2e).
 */
export async function cliServer(
  args: string[],
  env: Record<string, string | undefined>,
  options: Pick<RunOptions, 'boundYoungGeneration'> = {},
): Promise<CliServer> {
  const signals = fakeSignals()
  let announce: (url: string) => void = () => undefined
  const listening = new Promise<string>((resolve) => (announce = resolve))
  let stderr = ''
  const running = runCli(['server', '--port', '0', ...args], {
    ...options,
    env,
    signals,
    onStderr: (chunk) => {
      stderr += chunk
      const match = /listening on (\S+)/.exec(stderr)
      if (match?.[1] !== undefined) announce(match[1])
    },
  })
  const url = await Promise.race([listening, running.then((r) => Promise.reject(new Error(`bktx server exited ${r.code}: ${r.stderr}`)))])
  return {
    url,
    stderr: () => stderr,
    stop: () => {
      signals.emit('SIGTERM')
      return running
    },
  }
}
