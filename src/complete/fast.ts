import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs'
import type { Env } from '../env.js'
import { configFileFor, PROFILE_NAME } from '../config/paths.js'
import { resolvePaths } from '../paths.js'
import { answer, formatAnswer } from './answer.js'
import type { CompletionTable } from './types.js'

// `bktx complete -- WORDS`, which the completion scripts run on each TAB: answered from the
// completion table, so nothing of the full CLI (commander, the commands, chalk) is loaded.
// src/complete/main.ts (dist/complete.cjs) runs it with the table built into it; the `complete`
// command of the full CLI runs it with the table of the live program.

export interface CompleteDeps {
  table: CompletionTable
  env: Env
  home: string
  cwd: string
  write(text: string): void
}

/** Answers one request; `argv` is what follows `complete` (`--` first, as the scripts call it). */
export function runComplete(argv: readonly string[], deps: CompleteDeps): void {
  const words = argv[0] === '--' ? argv.slice(1) : argv
  deps.write(formatAnswer(answer(deps.table, words, { profiles: () => profileNames(deps) })))
}

// Larger is no configuration file bktx reads (src/config/file.ts).
const MAX_CONFIG_BYTES = 1024 * 1024

/**
 * The profile names of the configuration file ($BKTX_CONFIG, else the XDG one): `default`
 * first, as bktx always has it. Only names are read; the file is neither validated nor
 * trusted further, since nothing here acts on it. A file that is missing gives `default`; one
 * that cannot be read or parsed gives no names rather than a failed completion.
 */
export function profileNames(deps: Pick<CompleteDeps, 'env' | 'home' | 'cwd'>): string[] {
  const path = configFileFor(undefined, resolvePaths(deps.env, deps.home), deps.cwd)
  let text: string
  try {
    // Non-blocking and a regular file only: a FIFO named by BKTX_CONFIG must not hang a TAB.
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK)
    try {
      const info = fstatSync(fd)
      if (!info.isFile() || info.size > MAX_CONFIG_BYTES) return []
      text = readFileSync(fd, 'utf8')
    } finally {
      closeSync(fd)
    }
  } catch (cause) {
    return (cause as NodeJS.ErrnoException).code === 'ENOENT' ? ['default'] : []
  }
  try {
    const profiles = (JSON.parse(text) as { profiles?: unknown }).profiles ?? {}
    if (typeof profiles !== 'object' || profiles === null || Array.isArray(profiles)) return []
    return ['default', ...Object.keys(profiles).filter((name) => name !== 'default' && PROFILE_NAME.test(name))]
  } catch {
    return []
  }
}
