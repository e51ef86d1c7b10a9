import { Argument, type Command } from 'commander'
import { runComplete } from '../../complete/fast.js'
import { patchScript } from '../../complete/scripts.js'
import { completionTable } from '../completion-table.js'
import { action, type ProgramDeps } from '../command.js'
import type { Context } from '../context.js'

// Shell completions through @bomb.sh/tab, a maintained completion library: it writes the bash,
// zsh, fish and PowerShell scripts (with bktx's changes, src/complete/scripts.ts). The scripts
// call `bktx complete -- WORDS`, which bin/bktx.js hands to dist/complete.cjs: it answers from
// a table of this program generated at build time (src/complete/), plus the profile names of
// the config file. The command here answers the same from the table of the live program, for
// a run that reaches the full CLI (`bktx --profile x complete`, tests in-process).

export const COMPLETION_SHELLS = ['bash', 'zsh', 'fish', 'powershell'] as const

export function registerCompletion(self: Command, deps: ProgramDeps): void {
  const cmd = self
    .description('print a shell completion script: bash, zsh, fish or powershell')
    .addArgument(new Argument('<shell>', 'the shell to complete in').choices(COMPLETION_SHELLS))
  action(cmd, deps, async (ctx, _opts, args) => runCompletionScript(ctx, args[0] as string))
}

/** The hidden command the scripts call: `bktx complete -- WORDS...` (the last word may be ''). */
export function registerComplete(self: Command, deps: ProgramDeps): void {
  const cmd = self.description('answer a completion request (called by the completion scripts)').argument('[words...]').allowUnknownOption()
  action(cmd, deps, async (ctx, _opts, args) => runCompleteCommand(ctx, (args[0] as string[] | undefined) ?? [], cmd))
}

async function runCompletionScript(ctx: Context, shell: string): Promise<void> {
  const { RootCommand } = await import('@bomb.sh/tab')
  // The library prints the script with console.log; the commands themselves are not in it
  // (the script asks `bktx complete`), so an empty tree is enough.
  const lines: string[] = []
  const log = console.log
  console.log = (...parts: unknown[]) => lines.push(parts.map(String).join(' '))
  try {
    new RootCommand().setup('bktx', 'bktx', shell)
  } finally {
    console.log = log
  }
  ctx.out.data(patchScript(shell, lines.join('\n')))
}

function runCompleteCommand(ctx: Context, words: string[], cmd: Command): void {
  let root = cmd
  while (root.parent !== null) root = root.parent
  const { env, home, cwd } = ctx.deps
  runComplete(['--', ...words], { table: completionTable(root), env, home, cwd, write: (text) => ctx.out.data(text) })
}
