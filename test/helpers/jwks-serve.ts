import { fakeSignals, runCli, type CliResult } from './cli.js'

export interface ServedJwks {
  /** http://127.0.0.1:PORT/.well-known/jwks.json */
  url: string
  /** Stops `bktx jwks serve` (SIGTERM) and resolves with its run. */
  stop(): Promise<CliResult>
}

/** Runs `bktx jwks serve --key ...` in-process on a free loopback port until stopped. */
export async function serveJwks(keyPaths: readonly string[], env: Record<string, string | undefined>): Promise<ServedJwks> {
  const signals = fakeSignals()
  let announce: (url: string) => void = () => undefined
  const listening = new Promise<string>((resolve) => (announce = resolve))
  let stderr = ''
  const running = runCli(['jwks', 'serve', '--port', '0', ...keyPaths.flatMap((path) => ['--key', path])], {
    env,
    signals,
    onStderr: (chunk) => {
      stderr += chunk
      const match = /serving JWKS at (\S+)/.exec(stderr)
      if (match?.[1] !== undefined) announce(match[1])
    },
  })
  const url = await Promise.race([listening, running.then((r) => Promise.reject(new Error(`jwks serve exited ${r.code}: ${r.stderr}`)))])
  return {
    url,
    stop: () => {
      signals.emit('SIGTERM')
      return running
    },
  }
}
