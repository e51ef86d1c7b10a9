// The parent process's name, as the OS tells it without a child process (kept apart from
// ./process-info.ts, which needs node:child_process where there is no /proc).
import { readFileSync } from 'node:fs'

/**
 * The parent process's command name from Linux's /proc (`bash`, `zsh`; a login shell's leading
 * `-` dropped), undefined when it cannot be read. src/term/process-info.ts asks here on Linux,
 * and the cache-hit path of `bktx env` (which leaves other systems to the full CLI).
 */
export function linuxParentName(ppid: number): string | undefined {
  try {
    return commandBase(readFileSync(`/proc/${ppid}/comm`, 'utf8'))
  } catch {
    return undefined
  }
}

/** A command name as the OS gives it (macOS ps: a path, `-bash` for a login shell), reduced to its base. */
export function commandBase(name: string): string | undefined {
  const base = name.trim().split('/').pop()?.replace(/^-/, '') ?? ''
  return base === '' ? undefined : base
}
