import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { TestProject } from 'vitest/node'

const run = promisify(execFile)
const ROOT = new URL('../..', import.meta.url).pathname

/** What the e2e files that use the package as a user gets it share: one pack, one install. */
export interface Packed {
  /** The tarball `npm pack` wrote. */
  tarball: string
  /** The paths packed, as `npm pack --json` lists them. */
  files: string[]
  /** node_modules of a scratch project that installed the tarball (plus @types/node and msw, a consumer's own tools). */
  nodeModules: string
}

declare module 'vitest' {
  export interface ProvidedContext {
    packed: Packed
  }
}

/**
 * The e2e project's global setup. Packing and installing once for the three files that need the
 * tarball (library, consumer, package) instead of once each: each pack and install is a few
 * CPU-seconds, and the suite is CPU-bound on two cores.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'bktx-packed-'))
  // dist/ is built by npm test first; --ignore-scripts keeps prepack from rebuilding it.
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT })
  const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>
  const tarball = join(dir, packed?.filename ?? '')
  const installed = join(dir, 'installed')
  await mkdir(installed)
  await writeFile(join(installed, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
  // From npm's cache, no network. --ignore-scripts: pkcs11js is not built, which no library case
  // needs (nor package.test.ts's global install).
  await run('npm', ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', tarball], { cwd: installed })
  const nodeModules = join(installed, 'node_modules')
  await mkdir(join(nodeModules, '@types'), { recursive: true })
  await symlink(join(ROOT, 'node_modules', '@types', 'node'), join(nodeModules, '@types', 'node'))
  await symlink(join(ROOT, 'node_modules', 'msw'), join(nodeModules, 'msw'))
  project.provide('packed', { tarball, files: (packed?.files ?? []).map((f) => f.path), nodeModules })
  return () => rm(dir, { recursive: true, force: true })
}

/** A fresh consumer project using the shared install: its own directory, home and files. */
export async function consumerProject(packed: Packed, prefix: string): Promise<{ dir: string; project: string }> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  const project = join(dir, 'consumer')
  await mkdir(join(project, 'home', 'run'), { recursive: true, mode: 0o700 })
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
  await symlink(packed.nodeModules, join(project, 'node_modules'))
  return { dir, project }
}
