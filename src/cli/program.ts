import { Command } from 'commander'
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
import { initProgram, usageLine, type ProgramDeps, type Runner } from './command.js'
import { EXIT_CODES_HELP } from './exit-codes.js'

export type { ProgramDeps } from './command.js'

export interface MakeProgramOptions {
  /**
   * The command line about to be parsed: only the command it names is built (the others'
   * options cost a few milliseconds each run, and help and errors are the same either way).
   */
  argv?: readonly string[]
  /** Replacement runners by command path, for tests that check parsing alone (see src/cli/command.ts). */
  run?: Readonly<Record<string, Runner>>
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
export function makeProgram(deps: ProgramDeps, options: MakeProgramOptions = {}): Command {
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

  initProgram(program, options.run)
  const named = options.argv === undefined ? undefined : commandName(options.argv)
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

// After commander's own parse errors (unknown option, missing argument) print the usage line.
function setUsageAfterErrors(cmd: Command): void {
  cmd.showHelpAfterError(usageLine(cmd))
  for (const sub of cmd.commands) setUsageAfterErrors(sub)
}

