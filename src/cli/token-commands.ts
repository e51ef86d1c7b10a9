// What `bktx token` and `bktx env` do once their options are parsed, apart from their commander
// definitions (./commands/token.ts, ./commands/env.ts): the token mint (src/mint/main.ts) runs
// these very functions without loading commander.
import { renderEnv, type ShellKind } from '../shell/quote.js'
import { tokenDocument } from '../token/document.js'
import { defaultShell, tokenVariables } from '../token/variables.js'
import type { Context } from './context.js'
import { obtainToken, type TokenOptions } from './obtain.js'

export interface EnvOptions extends TokenOptions {
  shell?: ShellKind
}

export async function runToken(ctx: Context, opts: TokenOptions): Promise<void> {
  const { result } = await obtainToken(ctx, opts)
  if (ctx.out.json) ctx.out.document(tokenDocument(result))
  else ctx.out.data(result.accessToken)
}

export async function runEnv(ctx: Context, opts: EnvOptions): Promise<void> {
  const shell: ShellKind = ctx.out.json ? 'json' : (opts.shell ?? defaultShell(ctx.deps.processInfo?.parentName(), ctx.deps.env['SHELL']))
  const { result, params } = await obtainToken(ctx, opts)
  // Rendered in full before anything is written: a value that cannot be quoted safely for
  // this shell fails with nothing on stdout.
  ctx.out.data(renderEnv(shell, tokenVariables(result, params.org)))
}
