import { packTable, type PackedTable } from '../complete/pack.js'
import type { CompletionTable } from '../complete/types.js'
import { MemorySecretStore } from '../secrets/store.js'
import { completionTable } from './completion-table.js'
import { buildAllCommands, makeProgram } from './program.js'

// The completion table of the bktx program itself: scripts/build-complete.mjs bundles this
// module and runs it when dist/ is built; the tests compare the built table with it. The
// program is only inspected, never run, so its dependencies are inert.

/** The table packed as dist/complete.cjs holds it (src/complete/pack.ts). */
export function packedProgramTable(): PackedTable {
  return packTable(programTable())
}

export function programTable(): CompletionTable {
  const unused = async (): Promise<never> => {
    throw new Error('the completion table is built without running a command')
  }
  const program = makeProgram({
    stdout: { write: () => undefined, isTTY: false },
    stderr: { write: () => undefined, isTTY: false },
    readStdin: unused,
    stdinIsTTY: false,
    env: {},
    clock: { now: () => new Date(0) },
    signals: { on: () => () => undefined },
    fetch: unused,
    secrets: new MemorySecretStore(),
    platform: 'linux',
    cwd: '/',
    uid: undefined,
    home: '/nonexistent',
    version: '0',
  })
  return completionTable(buildAllCommands(program))
}
