import { nodeFetch } from '../../src/http/node-fetch.js'
import { runCli, type CliResult, type RunOptions } from './cli.js'

/**
 * The whole CLI in-process, wired as src/bin.ts wires the binary where it matters to the
 * security tests: direct requests through src/http/node-fetch.ts (not the global fetch), and
 * the home directory the environment names. What only a process can show (signals, exit by
 * itself with a socket still open, real stdin, peak RSS, other uids, the start-up fast path)
 * stays on the built binary.
 */
export function runBktx(args: string[], options: RunOptions = {}): Promise<CliResult> {
  const home = options.home ?? options.env?.['HOME']
  return runCli(args, { fetch: nodeFetch, ...options, ...(home === undefined ? {} : { home }) })
}
