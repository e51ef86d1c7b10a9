import type { Argument, Command, Option } from 'commander'
import { CACHE_MODES, SETTING_NAMES } from '../config/settings.js'
import { KNOWN_SCOPES } from '../server/scopes.js'
import { SHELLS } from '../shell/quote.js'
import type { ArgumentEntry, CommandEntry, CompletionTable, OptionEntry, ValueKind } from '../complete/types.js'

// The completion table of a commander program (src/complete/types.ts): every visible command
// with its options and arguments, and what each value completes to: for dist/complete.cjs at
// build time (src/cli/completion-program.ts), and for the `complete` command of the full CLI
// on the live program.

/** Values by option name, for options that name no choices of their own. */
const VALUES_BY_OPTION: Readonly<Record<string, ValueKind>> = {
  profile: { kind: 'profiles' },
  cache: { kind: 'choices', values: CACHE_MODES },
  shell: { kind: 'choices', values: SHELLS },
  scope: { kind: 'choices', values: [...KNOWN_SCOPES] },
  'subject-type': { kind: 'choices', values: ['email', 'uuid'] },
}

/**
 * Values that are paths: by placeholder (`--out <file>`; `file|url` takes either, and a URL is
 * typed in full anyway), and by name for the options whose placeholder says less: `--key
 * <source>`, `--public-key <public_key>` and `--pkcs11-module <pkcs11_module>` are files (a key
 * may also be an env:, pkcs11: or exec: source, typed in full). test/unit/complete/table.test.ts
 * checks every option that mentions a file.
 */
const FILE_PLACEHOLDERS: ReadonlySet<string> = new Set(['path', 'file', 'pem', 'file|url'])
const FILE_OPTIONS: ReadonlySet<string> = new Set(['key', 'public-key', 'pkcs11-module'])
const DIR_PLACEHOLDERS: ReadonlySet<string> = new Set(['dir'])
/** Not a path whatever the option's name: `keygen --key <pkcs11-uri>`. */
const NOT_PATH_PLACEHOLDERS: ReadonlySet<string> = new Set(['pkcs11-uri'])

export function completionTable(program: Command): CompletionTable {
  const globals = visibleOptions(program).flatMap(optionEntry)
  const commands: CommandEntry[] = []
  const walk = (cmd: Command, path: string): void => {
    for (const sub of cmd.createHelp().visibleCommands(cmd)) {
      // `help` is the root's own command, listed by its help but not a command to complete.
      if (sub.name() === 'help' && cmd === program) continue
      const name = path === '' ? sub.name() : `${path} ${sub.name()}`
      // `bktx jwks --key K` is `bktx jwks print --key K` (commander's default subcommand): the
      // command offers what its default subcommand takes too.
      const fallback = defaultSubcommand(sub)
      const own = [...visibleOptions(sub).flatMap(optionEntry)]
      if (fallback !== undefined)
        own.push(
          ...visibleOptions(fallback)
            .flatMap(optionEntry)
            .filter((o) => !own.some((mine) => mine.long === o.long)),
        )
      commands.push({
        path: name,
        description: sub.description(),
        options: [...own, ...globals.filter((o) => !own.some((mine) => mine.long === o.long))],
        arguments: sub.registeredArguments.map((argument) => argumentEntry(argument, name)),
      })
      walk(sub, name)
    }
  }
  walk(program, '')
  return { options: globals, commands }
}

/** The subcommand commander runs when none is named (`.command(name, { isDefault: true })`). */
function defaultSubcommand(cmd: Command): Command | undefined {
  // Commander keeps it in a field of its own, without an accessor (commander 14).
  const name = (cmd as Command & { _defaultCommandName?: string | null })._defaultCommandName
  return name === undefined || name === null ? undefined : cmd.commands.find((c) => c.name() === name)
}

function visibleOptions(cmd: Command): readonly Option[] {
  return cmd.createHelp().visibleOptions(cmd)
}

function optionEntry(option: Option): OptionEntry[] {
  const long = option.long?.slice(2)
  if (long === undefined) return []
  const short = option.short?.slice(1)
  const entry: OptionEntry = { long, ...(short === undefined ? {} : { short }), description: option.description }
  if (!option.required && !option.optional) return [entry]
  return [{ ...entry, value: optionValue(option, long) }]
}

function optionValue(option: Option, long: string): ValueKind {
  if (option.argChoices !== undefined) return { kind: 'choices', values: option.argChoices }
  const byName = VALUES_BY_OPTION[long]
  if (byName !== undefined) return byName
  const placeholder = /<([^>]+)>|\[([^\]]+)\]/.exec(option.flags)
  const name = placeholder?.[1] ?? placeholder?.[2] ?? ''
  if (NOT_PATH_PLACEHOLDERS.has(name)) return { kind: 'none' }
  if (FILE_PLACEHOLDERS.has(name) || FILE_OPTIONS.has(long)) return { kind: 'files' }
  if (DIR_PLACEHOLDERS.has(name)) return { kind: 'dirs' }
  return { kind: 'none' }
}

function argumentEntry(argument: Argument, path: string): ArgumentEntry {
  return { name: argument.name(), variadic: argument.variadic, value: argumentValue(argument, path) }
}

function argumentValue(argument: Argument, path: string): ValueKind {
  if (argument.argChoices !== undefined) return { kind: 'choices', values: argument.argChoices }
  // `config get/set/unset KEY`: the setting names.
  if (argument.name() === 'key' && path.startsWith('config ')) return { kind: 'choices', values: SETTING_NAMES }
  if (path === 'exec') return { kind: 'command' }
  // `jwks check [source]`: "URL, file, or - for stdin".
  if (/\bfile\b/i.test(argument.description)) return { kind: 'files' }
  return { kind: 'none' }
}
