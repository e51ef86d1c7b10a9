import type { CommandEntry, CompletionTable, OptionEntry } from './types.js'

// The table as built into dist/complete.cjs: every distinct option once, and commands naming
// theirs by index. The global and token options recur in most commands, and a TAB parses the
// whole table: packed it is about a fifth of the size.

export interface PackedTable {
  readonly pool: readonly OptionEntry[]
  readonly options: readonly number[]
  readonly commands: ReadonlyArray<Omit<CommandEntry, 'options'> & { readonly options: readonly number[] }>
}

export function packTable(table: CompletionTable): PackedTable {
  const pool: OptionEntry[] = []
  const index = new Map<string, number>()
  const ref = (option: OptionEntry): number => {
    const key = JSON.stringify(option)
    let at = index.get(key)
    if (at === undefined) {
      at = pool.push(option) - 1
      index.set(key, at)
    }
    return at
  }
  return {
    pool,
    options: table.options.map(ref),
    commands: table.commands.map((command) => ({ ...command, options: command.options.map(ref) })),
  }
}

export function unpackTable(packed: PackedTable): CompletionTable {
  const at = (i: number): OptionEntry => packed.pool[i] as OptionEntry
  return { options: packed.options.map(at), commands: packed.commands.map((command) => ({ ...command, options: command.options.map(at) })) }
}
