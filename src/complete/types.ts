// The completion table: what `bktx complete` needs to know of the commander program, as plain
// data. Generated from the program at build time (scripts/build-complete.mjs) and baked into
// dist/complete.cjs, so that each TAB answers without loading commander or any command.

/** What the value of an option or a positional argument completes to. */
export type ValueKind =
  /** These words, in this order. */
  | { readonly kind: 'choices'; readonly values: readonly string[] }
  /** The profile names of the configuration file, read when asked. */
  | { readonly kind: 'profiles' }
  /** A path: the shell completes file names. */
  | { readonly kind: 'files' }
  /** A directory: the shell completes directory names. */
  | { readonly kind: 'dirs' }
  /** A command line of its own (exec's command, after `--`): the shell completes it as if typed alone. */
  | { readonly kind: 'command' }
  /** Free text (a URL, a duration, a kid): nothing to offer, and no file names either. */
  | { readonly kind: 'none' }

export interface OptionEntry {
  /** The long name without dashes: `profile`. */
  readonly long: string
  /** The short name without its dash: `v`. */
  readonly short?: string
  readonly description: string
  /** Undefined for a flag that takes no value. */
  readonly value?: ValueKind
}

export interface ArgumentEntry {
  readonly name: string
  readonly variadic: boolean
  readonly value: ValueKind
}

export interface CommandEntry {
  /** The command path: `key rotate`. */
  readonly path: string
  readonly description: string
  /** Its own options, then the global ones (accepted after the command name too). */
  readonly options: readonly OptionEntry[]
  readonly arguments: readonly ArgumentEntry[]
}

export interface CompletionTable {
  /** The global options. */
  readonly options: readonly OptionEntry[]
  /** Every visible command, parents before their subcommands. */
  readonly commands: readonly CommandEntry[]
}
