// The entry of dist/fast-mint.cjs: `bktx token` and `bktx env` when they make an exchange (a
// cache miss, --no-cache, --refresh), without commander and the other commands. bin/bktx.js
// requires it after the cache-hit path declined. It runs the full CLI's own token and env
// commands (src/cli/commands/) in the full CLI's Context and ends the run through the full
// CLI's report (src/cli/report.ts), over the same process dependencies (src/process-deps.ts):
// only the argument scan is its own (src/fast/args.ts, checked against commander's), so the
// output, the messages and the exit codes are the full CLI's by construction;
// test/e2e/mint.test.ts compares the two. Anything it does not take (an option it does not
// know, --verbose, stderr on a terminal, where the full CLI shows a spinner) returns undefined
// before anything is done, and the full CLI runs. An entry point: it touches `process`.
import { Context } from '../cli/context.js'
import { afterOutput, report } from '../cli/report.js'
import { runEnv, runToken } from '../cli/token-commands.js'
import { EXIT, type Outcome } from '../exit-codes.js'
import { parseMintArgs } from '../fast/args.js'
import { processDeps } from '../process-deps.js'
import { HANDOVER, type TokenHandover } from '../token/handover.js'

/**
 * Mints for `bktx ARGV` (`argv` with its command first) and resolves when the run is over (the
 * process ends as it says), or returns undefined at once, having done nothing, for the full CLI.
 */
export function mint(argv: readonly string[]): Promise<void> | undefined {
  const [command, ...args] = argv
  if (command !== 'token' && command !== 'env') return undefined
  const parsed = parseMintArgs(args, command)
  // On a terminal the full CLI draws a spinner (ora) during the exchange: that run is its own.
  if (parsed === undefined || process.stderr.isTTY) return undefined
  // What the cache-hit path resolved before the miss (src/fast/main.ts), as src/bin.ts takes it.
  const handover = (globalThis as Record<symbol, unknown>)[HANDOVER] as TokenHandover | undefined
  delete (globalThis as Record<symbol, unknown>)[HANDOVER]
  const run = processDeps(handover)
  const { args: fast, options } = parsed
  // The global options as commander's optsWithGlobals() gives them to an action (src/cli/command.ts).
  const globals = {
    ...(fast.profile === undefined ? {} : { profile: fast.profile }),
    ...(fast.config === undefined ? {} : { config: fast.config }),
    ...(fast.json ? { json: true } : {}),
    ...(fast.quiet ? { quiet: true } : {}),
    color: fast.color,
  }
  return (async () => {
    const ctx = new Context(run.deps, globals, run.deps.spinnerStream)
    let outcome: Outcome
    try {
      await (command === 'env' ? runEnv(ctx, options) : runToken(ctx, options))
      outcome = { code: EXIT.OK }
    } catch (error) {
      outcome = report(error, ctx.out, ctx.explicitProfile)
    }
    run.end(await afterOutput(outcome, run.deps, ctx.out))
  })()
}
