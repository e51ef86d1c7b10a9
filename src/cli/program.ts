import { Command, Help } from 'commander'
import { UsageError } from '../errors.js'
import { registerCache } from './commands/cache.js'
import { registerComplete, registerCompletion } from './commands/completion.js'
import { registerConfig } from './commands/config.js'
import { registerDoctor } from './commands/doctor.js'
import { registerEnv } from './commands/env.js'
import { registerExec } from './commands/exec.js'
import { registerInspect } from './commands/inspect.js'
import { registerJwks } from './commands/jwks.js'
import { registerKey } from './commands/key.js'
import { registerKeygen } from './commands/keygen.js'
import { registerLogout } from './commands/logout.js'
import { registerRevoke } from './commands/revoke.js'
import { registerServer } from './commands/server.js'
import { registerSign } from './commands/sign.js'
import { registerStatus } from './commands/status.js'
import { registerToken } from './commands/token.js'
import { registerWhoami } from './commands/whoami.js'
import { initProgram, usageLine, type ProgramDeps, type Runner } from './command.js'
import { EXIT, EXIT_CODES_HELP, exitCodeTable } from './exit-codes.js'
import { addHelpExtras } from './help-examples.js'

// Defined only in the standalone executable's build (scripts/build-binary.mjs).
declare const BKTX_BUILD_NOTE: string | undefined

export type { ProgramDeps } from './command.js'

export interface MakeProgramOptions {
  /** Replacement runners by command path, for tests that check parsing alone (see src/cli/command.ts). */
  run?: Readonly<Record<string, Runner>>
}

/** Help topics beyond the commands: `bktx help <topic>`. */
const TOPICS: Record<string, string> = {
  'exit-codes': EXIT_CODES_HELP,
}

/** Builds every declared command now (for tests that inspect the whole definition). */
export function buildAllCommands(program: Command): Command {
  program.createHelp().visibleCommands(program)
  return program
}

/**
 * Builds a fresh program per call (no state survives between runs, so tests can drive the
 * whole CLI in-process). Output goes through the injected streams; commander never exits the
 * process (exitOverride): src/main.ts turns its errors into exit codes.
 */
export function makeProgram(deps: ProgramDeps, options: MakeProgramOptions = {}): Command {
  // After a parse error written as JSON (--json), commander's usage line is not written.
  let errorWrittenAsJSON = false
  const program: Command = new Command('bktx')
    .description('Mint short-lived Buildkite API tokens with OAuth 2.0 Token Exchange')
    .usage('[options] [command]')
    .option('-V, --version', 'print the bktx version (with --json: {"version": ...})')
    .option('--profile <name>', 'configuration profile to use (env BKTX_PROFILE; default "default")')
    .option('--config <path>', 'configuration file (env BKTX_CONFIG; default $XDG_CONFIG_HOME/bktx/config.json)')
    .option('--json', 'print one JSON document on stdout instead of text')
    .option('-v, --verbose', 'explain what bktx does and where each setting came from, on stderr')
    .option('-q, --quiet', 'no notes or warnings on stderr, only errors (env BKTX_QUIET=1)')
    .option('--no-color', 'no colour on stderr (NO_COLOR is honoured too)')
    .helpCommand(false)
    .configureOutput({
      writeOut: (text) => deps.stdout.write(text),
      writeErr: (text) => {
        if (!errorWrittenAsJSON) deps.stderr.write(text)
      },
      // Commander's own parse errors (unknown option, missing argument) as one JSON document
      // under --json, like every other error (src/main.ts).
      outputError: (text, write) => {
        if (program.opts<{ json?: boolean }>().json !== true) return write(text)
        deps.stderr.write(`${JSON.stringify({ error: { code: 'BKTX_USAGE', message: text.trim().replace(/^error: /, ''), exit: EXIT.USAGE } })}\n`)
        errorWrittenAsJSON = true
      },
    })
    .exitOverride()
    .addHelpText('after', '\nRun `bktx help exit-codes` for the exit codes; `bktx help COMMAND` for a command.')
  // Runs only when no command was named: --version, else the help (commander's own behaviour
  // for a bare program). A word that names no command is commander's "unknown command".
  program.argument('[command]').action(function (this: Command, command: string | undefined) {
    if (command !== undefined) return (this as Command & { unknownCommand(): never }).unknownCommand()
    const globals = this.opts<{ version?: boolean; json?: boolean }>()
    if (globals.version === true) {
      // The standalone executable (scripts/build-binary.mjs) says what it leaves out.
      const build = typeof BKTX_BUILD_NOTE === 'string' ? BKTX_BUILD_NOTE : undefined
      const json = JSON.stringify(build === undefined ? { version: deps.version } : { version: deps.version, build })
      deps.stdout.write(globals.json === true ? `${json}\n` : build === undefined ? `${deps.version}\n` : `${deps.version} (${build})\n`)
      return
    }
    this.help({ error: true })
  })

  initProgram(program, options.run)
  // Every command is declared by name, and built (options, subcommands, action) only when
  // commander dispatches to it or help lists it: building all of them costs a few milliseconds
  // on each run, and help and errors are the same either way. Commander parses argv once.
  const builders = new Map<Command, () => void>()
  const build = (cmd: Command): void => {
    const builder = builders.get(cmd)
    if (builder === undefined) return
    builders.delete(cmd)
    builder()
    setUsageAfterErrors(cmd)
    withHelpExtras(cmd)
  }
  for (const [name, register] of COMMANDS) {
    const cmd = program.command(name, { hidden: HIDDEN.has(name) })
    builders.set(cmd, () => register(cmd, deps))
  }
  program.hook('preSubcommand', (_root, sub) => build(sub))
  program.configureHelp({
    // The root's help lists every command with its description and arguments.
    visibleCommands(cmd) {
      for (const sub of cmd.commands) build(sub)
      return Help.prototype.visibleCommands.call(this, cmd)
    },
  })

  const help = program.command('help [topic...]').description('show help for a command or a topic (exit-codes)')
  help.action((topic: string[]) => {
    const [first, ...rest] = topic
    if (first === undefined) return program.outputHelp()
    if (first === 'exit-codes' && rest.length === 0 && program.opts<{ json?: boolean }>().json === true) {
      return deps.stdout.write(`${JSON.stringify({ exit_codes: exitCodeTable() }, null, 2)}\n`)
    }
    const text = TOPICS[first]
    if (text !== undefined && rest.length === 0) return deps.stdout.write(text)
    let cmd: Command | undefined = program
    for (const name of topic) {
      cmd = cmd?.commands.find((c) => c.name() === name || c.aliases().includes(name))
      if (cmd !== undefined) build(cmd)
    }
    if (cmd === undefined) {
      const error = new UsageError(`no help for "${topic.join(' ')}"; topics: ${Object.keys(TOPICS).join(', ')}, or a command name`)
      error.usage = usageLine(help)
      throw error
    }
    return cmd.outputHelp()
  })

  setUsageAfterErrors(program)
  addHelpExtras(program)
  addHelpExtras(help)
  return program
}

/** Every command by name, with the function that builds it into the Command commander made for it. */
const COMMANDS: ReadonlyArray<readonly [string, (self: Command, deps: ProgramDeps) => void]> = [
  ['token', registerToken],
  ['env', registerEnv],
  ['exec', registerExec],
  ['whoami', registerWhoami],
  ['cache', registerCache],
  ['logout', registerLogout],
  ['revoke', registerRevoke],
  ['status', registerStatus],
  ['doctor', registerDoctor],
  ['keygen', registerKeygen],
  ['key', registerKey],
  ['jwks', registerJwks],
  ['sign', registerSign],
  ['inspect', registerInspect],
  ['config', registerConfig],
  ['server', registerServer],
  ['completion', registerCompletion],
  ['complete', registerComplete],
]

/** Commands that exist for machines, not people: not listed in help. */
const HIDDEN = new Set(['complete'])

// The examples, --json fields and learn-more line of each command, from one table
// (src/cli/help-examples.ts): hooked here once, not in each command's file.
function withHelpExtras(cmd: Command): void {
  addHelpExtras(cmd)
  for (const sub of cmd.commands) withHelpExtras(sub)
}

// After commander's own parse errors (unknown option, missing argument) print the usage line.
function setUsageAfterErrors(cmd: Command): void {
  cmd.showHelpAfterError(usageLine(cmd))
  for (const sub of cmd.commands) setUsageAfterErrors(sub)
}
