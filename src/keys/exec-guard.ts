// The process-group guard of external signers (./exec.ts), apart from the signer runner: the
// entry points install it on every run, and src/bin.ts would otherwise load node:child_process
// and the runner on start-up for the few runs that sign with an `exec:` key.
import { kill as killProcess } from 'node:process'

/**
 * Kills a signer's process group when bktx gets a signal that ends it, or exits, until released
 * (`end`: kill it then too). Signal dispositions belong to the process, so the entry points
 * install it (src/term/process.ts, guardChildGroup); until then (tests of this module) a signer
 * is killed only when its call ends.
 */
export type ChildGroupGuard = (pgid: number) => (end: boolean) => void
let guardChildGroup: ChildGroupGuard = (pgid) => (end) => {
  if (!end) return
  try {
    killProcess(-pgid, 'SIGKILL')
  } catch {
    // Already gone.
  }
}

/** Called once by each entry point (src/bin.ts, src/api/index.ts). */
export function setChildGroupGuard(guard: ChildGroupGuard): void {
  guardChildGroup = guard
}

/** The guard in force (./exec.ts asks when a signer starts). */
export function childGroupGuard(): ChildGroupGuard {
  return guardChildGroup
}
