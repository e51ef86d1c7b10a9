import { Command } from 'commander'
import type { Deps } from '../deps.js'
import { UsageError } from '../errors.js'
import { registerCache } from './commands/cache.js'
import { registerConfig } from './commands/config.js'
import { registerEnv } from './commands/env.js'
import { registerExec } from './commands/exec.js'
import { registerInspect } from './commands/inspect.js'
import { registerJwks } from './commands/jwks.js'
import { registerKeygen } from './commands/keygen.js'
import { registerLogout } from './commands/logout.js'
import { registerServer } from './commands/server.js'
import { registerSign } from './commands/sign.js'
import { registerToken } from './commands/token.js'
import { registerWhoami } from './commands/whoami.js'
import { Context, type GlobalOptions } from './context.js'
import { EXIT_CODES_HELP } from './exit-codes.js'

export interface ProgramDeps extends Deps {
  /** The real stderr stream when it is a terminal, so ora can draw a spinner on it. */
  spinnerStream?: NodeJS.WritableStream
}

// The exit code a command asked for without failing (bktx exec: the child's code), per program.
const requestedExit = new WeakMap<Command, number>()

/** The exit code a command requested with `ctx.exit(code)`, if any. */
export function requestedExitCode(program: Command): number | undefined {
  return requestedExit.get(program)
}

/** Help topics beyond the commands: `bktx help <topic>`. */
const TOPICS: Record<string, string> = {
  'exit-codes': EXIT_CODES_HELP,
}

/**
 * Builds a fresh program per call (no state survives between runs, so tests can drive the
 * whole CLI in-process). Output goes through the injected streams; commander never exits the
 * process (exitOverride): src/main.ts turns its errors into exit codes.
 */
export function makeProgram(deps: ProgramDeps, argv?: readonly string[]): Command {
  const program = new Command('bktx')
    .description('Mint short-lived Buildkite API tokens with OAuth 2.0 Token Exchange')
    .version(deps.version, '-V, --version', 'print the bktx version')
    .option('--profile <name>', 'configuration profile to use (env BKTX_PROFILE; default "default")')
    .option('--config <path>', 'configuration file (env BKTX_CONFIG; default $XDG_CONFIG_HOME/bktx/config.json)')
    .option('--json', 'print one JSON document on stdout instead of text')
    .option('-v, --verbose', 'explain what bktx does and where each setting came from, on stderr')
    .option('--no-color', 'no colour on stderr (NO_COLOR is honoured too)')
    .helpCommand(false)
    .configureOutput({
      writeOut: (text) => deps.stdout.write(text),
      writeErr: (text) => deps.stderr.write(text),
    })
    .exitOverride()
    .addHelpText('after', '\nRun `bktx help exit-codes` for the exit codes; `bktx help COMMAND` for a command.')

  // Building every command's options costs a few milliseconds on each run; when the command
  // line names one, only that one is built (its help and errors are the same either way).
  const named = argv === undefined ? undefined : commandName(argv)
  const only = COMMANDS.find(([name]) => name === named)
  for (const [, register] of only === undefined ? COMMANDS : [only]) register(program, deps)

  const help = program
    .command('help [topic...]')
    .description('show help for a command or a topic (exit-codes)')
  help.action((topic: string[]) => {
    const [first, ...rest] = topic
    if (first === undefined) return program.outputHelp()
    const text = TOPICS[first]
    if (text !== undefined && rest.length === 0) return deps.stdout.write(text)
    let cmd: Command | undefined = program
    for (const name of topic) cmd = cmd?.commands.find((c) => c.name() === name || c.aliases().includes(name))
    if (cmd === undefined) {
      const error = new UsageError(`no help for "${topic.join(' ')}"; topics: ${Object.keys(TOPICS).join(', ')}, or a command name`)
      error.usage = usageLine(help)
      throw error
    }
    return cmd.outputHelp()
  })

  setUsageAfterErrors(program)
  return program
}

const COMMANDS: ReadonlyArray<readonly [string, (program: Command, deps: ProgramDeps) => void]> = [
  ['token', registerToken],
  ['env', registerEnv],
  ['exec', registerExec],
  ['whoami', registerWhoami],
  ['cache', registerCache],
  ['logout', registerLogout],
  ['keygen', registerKeygen],
  ['jwks', registerJwks],
  ['sign', registerSign],
  ['inspect', registerInspect],
  ['config', registerConfig],
  ['server', registerServer],
]

// The global options that take a value (see makeProgram).
const GLOBAL_VALUE_OPTIONS = new Set(['--profile', '--config'])

/** The command a command line names: its first argument that is not a global option. */
export function commandName(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (!arg.startsWith('-')) return arg
    if (GLOBAL_VALUE_OPTIONS.has(arg)) i++
  }
  return undefined
}

/** "Usage: bktx jwks serve [options]" for a command. */
export function usageLine(cmd: Command): string {
  const names: string[] = []
  for (let c: Command | null = cmd; c !== null; c = c.parent) names.unshift(c.name())
  return `Usage: ${names.join(' ')} ${cmd.usage()}`
}

// After commander's own parse errors (unknown option, missing argument) print the usage line.
function setUsageAfterErrors(cmd: Command): void {
  cmd.showHelpAfterError(usageLine(cmd))
  for (const sub of cmd.commands) setUsageAfterErrors(sub)
}

/**
 * Wires a command's action: builds its Context from the global options, hands it the command's
 * own options and arguments, and attaches the usage line to usage errors it throws.
 */
export function action<O>(
  cmd: Command,
  deps: ProgramDeps,
  run: (ctx: Context, opts: O, args: unknown[]) => Promise<void>,
): Command {
  return cmd.action(async (...received: unknown[]) => {
    const command = received[received.length - 1] as Command
    let root = command
    while (root.parent !== null) root = root.parent
    const ctx = new Context(deps, command.optsWithGlobals<GlobalOptions>(), deps.spinnerStream, (code) => requestedExit.set(root, code))
    try {
      await run(ctx, command.opts() as O, command.processedArgs)
    } catch (error) {
      if (error instanceof UsageError) error.usage ??= usageLine(command)
      throw error
    }
  })
}
