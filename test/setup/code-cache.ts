import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The code cache directory the spawned bktx processes of a run share (test/helpers/code-cache.ts). */
    codeCache: string
  }
}

/**
 * One V8 code cache directory for the whole run. Each test starts bktx in a home of its own, so
 * each start would compile the CLI from source and write a cache no later start reads: some 700
 * starts, each about 25 ms of CPU dearer than one from a warm cache. mkdtemp makes it 0700, as
 * bin/bktx.js requires of a cache it uses; removed at the end of the run.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'bktx-code-cache-'))
  project.provide('codeCache', dir)
  return () => rm(dir, { recursive: true, force: true })
}
