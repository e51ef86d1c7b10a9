import type { CommandEntry, CompletionTable, OptionEntry, ValueKind } from './types.js'

// The answer to one completion request (`bktx complete -- WORDS`), from the completion table.
// The matching is that of @bomb.sh/tab's RootCommand.parse (0.0.22, read in its dist/index.mjs),
// which wrote these answers before and whose shell scripts read them: one line per candidate,
// `value<TAB>description`, then `:DIRECTIVE`. What differs is the directive: the library always
// answers "no file completion"; here a value that is a path lets the shell complete file names.

/**
 * The directives of the completion protocol (cobra's, which @bomb.sh/tab's scripts speak): the
 * same numbers as the library's ShellCompDirective (test/unit/complete/answer.test.ts checks
 * it), here so a TAB does not load the library.
 */
export const DIRECTIVE = {
  ERROR: 1,
  NO_SPACE: 2,
  NO_FILE_COMP: 4,
  FILTER_FILE_EXT: 8,
  FILTER_DIRS: 16,
  KEEP_ORDER: 32,
  /** The shell's default: file names when there is no candidate. */
  DEFAULT: 0,
  /**
   * bktx's own: the words after the first `--` are a command line of their own (exec's
   * command), which the shell completes as if typed alone. Far above the library's bits, so
   * a script that does not know it (fish, PowerShell) sees DEFAULT: file names.
   */
  COMMAND_LINE: 1 << 10,
} as const

export interface Candidate {
  value: string
  description: string
}

export interface Answer {
  candidates: Candidate[]
  directive: number
}

/** Where dynamic values come from: read only when the request needs them. */
export interface DynamicValues {
  profiles(): readonly string[]
}

interface Found {
  entry: CommandEntry | undefined
  options: readonly OptionEntry[]
}

export function answer(table: CompletionTable, request: readonly string[], dynamic: DynamicValues): Answer {
  const words = [...request]
  const trailingSpace = words[words.length - 1] === ''
  if (trailingSpace) words.pop()
  let current = words[words.length - 1] ?? ''
  const previous = words.slice(0, -1)
  if (trailingSpace) {
    if (current !== '') previous.push(current)
    current = ''
  }

  // exec's command and its arguments: after `--`, the shell completes them as a command line.
  const dashes = previous.indexOf('--')
  if (dashes !== -1 && match(table, previous.slice(0, dashes)).entry?.path === 'exec') return { candidates: [], directive: DIRECTIVE.COMMAND_LINE }

  const found = match(table, previous)
  const last = previous[previous.length - 1]
  const candidates: Candidate[] = []
  let directive: number = DIRECTIVE.NO_FILE_COMP
  const offer = (kind: ValueKind): void => {
    switch (kind.kind) {
      case 'choices':
        for (const value of kind.values) candidates.push({ value, description: '' })
        return
      case 'profiles':
        for (const value of dynamic.profiles()) candidates.push({ value, description: '' })
        return
      case 'files':
        directive = DIRECTIVE.DEFAULT
        return
      case 'dirs':
        directive = DIRECTIVE.FILTER_DIRS
        return
      case 'command':
        // Reached only before any `--` (after one, the answer above is given): the command
        // comes after `--`, so that its own options are not taken for bktx's.
        candidates.push({ value: '--', description: 'then the command and its arguments' })
        return
      case 'none':
        return
    }
  }

  if (completesFlags(table, last, current)) {
    // The value of an option (`--profile x`, `--profile=x`), or the option names.
    let flag: string | undefined
    if (current.includes('=')) flag = current.split('=')[0]
    else if (last?.startsWith('-')) {
      const option = findOption(found.options, last)
      if (option?.value !== undefined) flag = last
    }
    if (flag !== undefined) {
      const value = findOption(found.options, flag)?.value
      if (value !== undefined) offer(value)
    } else if (current.startsWith('-')) {
      const short = !current.startsWith('--')
      const typed = current.replace(/^-+/, '')
      for (const option of found.options) {
        if (short && option.short !== undefined && `-${option.short}`.startsWith(current))
          candidates.push({ value: `-${option.short}`, description: option.description })
        else if (!short && option.long.startsWith(typed)) candidates.push({ value: `--${option.long}`, description: option.description })
      }
    }
  } else {
    const positionals = stripOptions(table, previous)
    if (!current.startsWith('-')) {
      // The subcommands that continue the words typed so far.
      for (const command of table.commands) {
        const parts = command.path.split(' ')
        const next = parts[positionals.length]
        if (next?.startsWith(current) && positionals.every((word, i) => parts[i] === word)) {
          candidates.push({ value: next, description: command.description })
        }
      }
    }
    const args = found.entry?.arguments ?? []
    if (found.entry !== undefined && args.length > 0) {
      // The library counts the root's path as one word too: `''.split(' ')` is `['']`.
      const index = Math.max(0, positionals.length - found.entry.path.split(' ').length)
      const argument = index < args.length ? args[index] : args[args.length - 1]?.variadic === true ? args[args.length - 1] : undefined
      if (argument !== undefined) offer(argument.value)
    }
  }

  // Each value once, and only those that continue what is typed (after `=` for `--flag=`).
  const typed = current.includes('=') ? (current.split('=')[1] ?? '') : current
  const seen = new Set<string>()
  const offered = candidates.filter((c) => {
    if (seen.has(c.value)) return false
    seen.add(c.value)
    return c.value.startsWith(typed)
  })
  return { candidates: offered, directive: offered.length > 0 ? DIRECTIVE.NO_FILE_COMP : directive }
}

/** The protocol's text: one `value<TAB>description` line per candidate, then `:DIRECTIVE`. */
export function formatAnswer({ candidates, directive }: Answer): string {
  return `${candidates.map((c) => `${c.value}\t${c.description}\n`).join('')}:${directive}\n`
}

/** The deepest command the positional words name, and the options valid there. */
function match(table: CompletionTable, previous: readonly string[]): Found {
  const positionals = stripOptions(table, previous)
  let entry: CommandEntry | undefined
  for (let i = 0; i < positionals.length; i++) {
    const path = positionals.slice(0, i + 1).join(' ')
    const next = table.commands.find((c) => c.path === path)
    if (next === undefined) break
    entry = next
  }
  return { entry, options: entry?.options ?? table.options }
}

/** The words that are not options or option values (an unknown option is taken to have a value). */
function stripOptions(table: CompletionTable, words: readonly string[]): string[] {
  const out: string[] = []
  let i = 0
  while (i < words.length) {
    const word = words[i] as string
    i++
    if (!word.startsWith('-')) {
      out.push(word)
      continue
    }
    const option = anyOption(table, word)
    const takesValue = option === undefined || option.value !== undefined
    if (takesValue && i < words.length && !(words[i] as string).startsWith('-')) i++
  }
  return out
}

/** Whether the current word is an option name, or the value of the option before it. */
function completesFlags(table: CompletionTable, last: string | undefined, current: string): boolean {
  if (current.startsWith('-')) return true
  if (last?.startsWith('-') !== true) return false
  const option = anyOption(table, last)
  return option === undefined || option.value !== undefined
}

/** The option a word names among the global ones, else in the first command that has it. */
function anyOption(table: CompletionTable, word: string): OptionEntry | undefined {
  const global = findOption(table.options, word)
  if (global !== undefined) return global
  for (const command of table.commands) {
    const option = findOption(command.options, word)
    if (option !== undefined) return option
  }
  return undefined
}

function findOption(options: readonly OptionEntry[], word: string): OptionEntry | undefined {
  const long = word.replace(/^-+/, '')
  return options.find((o) => o.long === word || o.long === long) ?? options.find((o) => o.short !== undefined && `-${o.short}` === word)
}
