import type { Command } from 'commander'
import { tokenDocument } from '../../token/document.js'
import { action, type ProgramDeps } from '../command.js'
import type { Context } from '../context.js'
import { addTokenOptions, obtainToken, type TokenOptions } from '../token-options.js'

export function registerToken(self: Command, deps: ProgramDeps): void {
  const cmd = self
    .description('print a Buildkite API token for the subject, from the cache or a fresh exchange')
    // The --json fields are listed from their table (src/token/document.ts) with the examples.
    .addHelpText('after', '\nOnly the token and a newline go to stdout, so `$(bktx token)` is safe in scripts.')
  addTokenOptions(cmd)
  action<TokenOptions>(cmd, deps, (ctx, opts) => runToken(ctx, opts))
}

export async function runToken(ctx: Context, opts: TokenOptions): Promise<void> {
  const { result } = await obtainToken(ctx, opts)
  if (ctx.out.json) ctx.out.document(tokenDocument(result))
  else ctx.out.data(result.accessToken)
}
