// The bundle's entry: action/dist/main.cjs and post.cjs (two lines each, written by
// scripts/build-action.mjs) require this one file and call runMain or runPost, so bktx's code,
// undici included for proxies, ships once (about 1.3 MB) rather than once per step.
import { main } from './main.js'
import { post, REVOKE_BUDGET_MS } from './post.js'

const write = (line: string) => {
  process.stdout.write(line)
}

/** `runs.main`: the real process, stdout and clock. */
export function runMain(): void {
  main({ env: process.env, write }).then(
    (code) => {
      process.exitCode = code
    },
    (error: unknown) => {
      write(`::error::unexpected failure: ${String(error).replace(/\r?\n/g, ' ')}\n`)
      process.exitCode = 1
    },
  )
}

/** `runs.post`: exit 0 whatever happens, since a cleanup must not fail the job. */
export function runPost(): void {
  // The revocation is bounded by its own budget; this bounds everything else (a socket that
  // never closes) so the step ends within about 12 s.
  setTimeout(() => {
    write('::warning::could not revoke the Buildkite API token in time; it stays valid until it expires\n')
    process.exit(0)
  }, REVOKE_BUDGET_MS + 1_500).unref()
  post({ env: process.env, write }).then(
    () => {
      process.exitCode = 0
    },
    (error: unknown) => {
      write(`::warning::could not revoke the Buildkite API token: ${String(error).replace(/\r?\n/g, ' ')}\n`)
      process.exitCode = 0
    },
  )
}
