import { Option, type Command } from 'commander'
import { SHELLS } from '../../shell/quote.js'
import { action, type ProgramDeps } from '../command.js'
import { runEnv, type EnvOptions } from '../token-commands.js'
import { addTokenOptions } from '../token-options.js'

// Where they are defined: the cache-hit path prints `bktx env` too (src/fast/token.ts).
export { defaultShell, shellKindOf, tokenVariables } from '../../token/variables.js'

export function registerEnv(self: Command, deps: ProgramDeps): void {
  const cmd = self
    .description('print shell commands exporting BUILDKITE_API_TOKEN, BUILDKITE_ORGANIZATION_SLUG and BKTX_TOKEN_EXPIRES_AT')
    .addOption(new Option('--shell <shell>', 'output syntax (default: that of the shell running bktx, else of $SHELL, else sh)').choices(SHELLS))
    .addHelpText(
      'after',
      '\nWithout --shell the syntax is that of the shell that started bktx (the parent process,\n' +
        'which is the shell that reads the output), where the OS tells (Linux); else that of\n' +
        '$SHELL, your login shell; else sh.\n' +
        'On failure nothing is printed on stdout and the exit code is non-zero, so eval does nothing.',
    )
  addTokenOptions(cmd)
  action<EnvOptions>(cmd, deps, (ctx, opts) => runEnv(ctx, opts))
}
