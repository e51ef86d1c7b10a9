import { Argument, type Command, type Option as CommanderOption } from 'commander'
import type { Command as TabCommand, RootCommand } from '@bomb.sh/tab'
import { SETTING_NAMES, CACHE_MODES } from '../../config/settings.js'
import { KNOWN_SCOPES } from '../../server/scopes.js'
import { SHELLS } from '../../shell/quote.js'
import { action, type ProgramDeps } from '../command.js'
import type { Context } from '../context.js'

// Shell completions through @bomb.sh/tab, a maintained completion library with a commander
// adapter (read in its dist/commander.mjs): it writes the bash, zsh, fish and PowerShell
// scripts, and matches what has been typed. The scripts call `bktx complete -- WORDS`, which
// answers from the commander definition itself (every command, built), plus the values bktx
// knows: profile names from the config file, setting names, shells, algorithms, cache modes and
// scopes. The adapter itself is not used because it adds its commands to the program while the
// program is being parsed; the tree is mapped here the same way.

export const COMPLETION_SHELLS = ['bash', 'zsh', 'fish', 'powershell'] as const

export function registerCompletion(self: Command, deps: ProgramDeps): void {
  const cmd = self
    .description('print a shell completion script: bash, zsh, fish or powershell')
    .addArgument(new Argument('<shell>', 'the shell to complete in').choices(COMPLETION_SHELLS))
    .addHelpText(
      'after',
      '\n  source <(bktx completion bash)         bash (needs the bash-completion package)\n  source <(bktx completion zsh)          zsh (after compinit)\n  bktx completion fish | source          fish\n  bktx completion powershell | Out-String | Invoke-Expression',
    )
  action(cmd, deps, async (ctx, _opts, args) => runCompletionScript(ctx, args[0] as string, cmd))
}

/** The hidden command the scripts call: `bktx complete -- WORDS...` (the last word may be ''). */
export function registerComplete(self: Command, deps: ProgramDeps): void {
  const cmd = self.description('answer a completion request (called by the completion scripts)').argument('[words...]').allowUnknownOption()
  action(cmd, deps, async (ctx, _opts, args) => runComplete(ctx, (args[0] as string[] | undefined) ?? [], cmd))
}

async function runCompletionScript(ctx: Context, shell: string, cmd: Command): Promise<void> {
  const tab = await completionTree(ctx, rootOf(cmd))
  printing(ctx, () => tab.setup('bktx', 'bktx', shell))
}

async function runComplete(ctx: Context, words: string[], cmd: Command): Promise<void> {
  const tab = await completionTree(ctx, rootOf(cmd))
  printing(ctx, () => tab.parse(words))
}

/**
 * Runs one synchronous call of the library, whose only output is `console.log`, with that
 * output going to the injected stdout (so tests and the CLI see it like every other output).
 */
function printing(ctx: Context, call: () => void): void {
  const log = console.log
  console.log = (...parts: unknown[]) => ctx.out.data(parts.map(String).join(' '))
  try {
    call()
  } finally {
    console.log = log
  }
}

function rootOf(cmd: Command): Command {
  let root = cmd
  while (root.parent !== null) root = root.parent
  return root
}

/** Values to offer for an option or argument, by its name. */
async function valuesFor(ctx: Context): Promise<Record<string, () => readonly string[]>> {
  // The config file is read once, and only for completions that need it; a broken file means
  // no profile names rather than a broken completion.
  const profiles = await ctx.config().then(
    (config) => ['default', ...Object.keys(config.profiles).filter((name) => name !== 'default')],
    () => [] as string[],
  )
  return {
    profile: () => profiles,
    cache: () => CACHE_MODES,
    shell: () => SHELLS,
    alg: () => ['ES256', 'RS256'],
    scope: () => [...KNOWN_SCOPES],
    'subject-type': () => ['email', 'uuid'],
    key: () => [],
    setting: () => SETTING_NAMES,
  }
}

async function completionTree(ctx: Context, program: Command): Promise<RootCommand> {
  const { RootCommand } = await import('@bomb.sh/tab')
  const values = await valuesFor(ctx)
  const tab = new RootCommand()
  const offer = (names: readonly string[]) => (complete: (value: string, description: string) => void) => {
    for (const name of names) complete(name, '')
  }
  const addOptions = (target: TabCommand, cmd: Command) => {
    for (const option of [...visibleOptions(cmd), ...(cmd.parent === null ? [] : visibleOptions(rootOf(cmd)))]) {
      const long = option.long?.slice(2)
      if (long === undefined) continue
      const short = option.short?.slice(1)
      const takesValue = option.required || option.optional
      if (!takesValue) {
        if (short === undefined) target.option(long, option.description)
        else target.option(long, option.description, short)
        continue
      }
      const handler = offer(option.argChoices ?? values[long]?.() ?? [])
      if (short === undefined) target.option(long, option.description, handler)
      else target.option(long, option.description, handler, short)
    }
  }
  const addArguments = (target: TabCommand, cmd: Command) => {
    for (const argument of cmd.registeredArguments) {
      // `config get/set/unset KEY`: the setting names.
      const choices = argument.argChoices ?? (argument.name() === 'key' && cmd.parent?.name() === 'config' ? values['setting']?.() : undefined)
      target.argument(argument.name(), choices === undefined ? undefined : offer(choices), argument.variadic)
    }
  }
  addOptions(tab, program)
  const walk = (cmd: Command, path: string) => {
    for (const sub of cmd.createHelp().visibleCommands(cmd)) {
      if (sub.name() === 'help' && cmd === program) continue
      const name = path === '' ? sub.name() : `${path} ${sub.name()}`
      const target = tab.command(name, sub.description())
      addOptions(target, sub)
      addArguments(target, sub)
      walk(sub, name)
    }
  }
  walk(program, '')
  return tab
}

function visibleOptions(cmd: Command): readonly CommanderOption[] {
  return cmd.createHelp().visibleOptions(cmd)
}
