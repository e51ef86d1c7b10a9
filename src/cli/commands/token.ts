import type { Command } from 'commander'
import { action, type ProgramDeps } from '../command.js'
import { runToken } from '../token-commands.js'
import { addTokenOptions, type TokenOptions } from '../token-options.js'

export function registerToken(self: Command, deps: ProgramDeps): void {
  const cmd = self
    .description('print a Buildkite API token for the subject, from the cache or a fresh exchange')
    // The --json fields are listed from their table (src/token/document.ts) with the examples.
    .addHelpText('after', '\nOnly the token and a newline go to stdout, so `$(bktx token)` is safe in scripts.')
  addTokenOptions(cmd)
  action<TokenOptions>(cmd, deps, (ctx, opts) => runToken(ctx, opts))
}
