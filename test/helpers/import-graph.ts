import { fileURLToPath } from 'node:url'
import { build, type Metafile } from 'esbuild'

/**
 * Bundles `entry` as src/bin.ts is bundled (ESM, code split) and walks the static imports of
 * its entry chunk: `statics` are the inputs loaded with it, `dynamics` those only a dynamic
 * import() loads.
 */
export async function staticInputs(entry: string): Promise<{ statics: string[]; dynamics: string[] }> {
  const result = await build({
    entryPoints: [entry],
    absWorkingDir: fileURLToPath(new URL('../..', import.meta.url)),
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    write: false,
    outdir: '/tmp/bktx-import-graph',
    metafile: true,
    logLevel: 'silent',
  })
  const outputs = (result.metafile as Metafile).outputs
  const entryOut = Object.keys(outputs).find((path) => outputs[path]?.entryPoint === entry)
  if (entryOut === undefined) throw new Error(`no output for ${entry}`)
  const seen = new Set<string>()
  const queue = [entryOut]
  while (queue.length > 0) {
    const path = queue.pop() as string
    if (seen.has(path)) continue
    seen.add(path)
    for (const imp of outputs[path]?.imports ?? []) if (imp.kind === 'import-statement' && imp.path in outputs) queue.push(imp.path)
  }
  const statics = [...seen].flatMap((path) => Object.keys(outputs[path]?.inputs ?? {}))
  const dynamics = Object.keys(outputs)
    .filter((path) => !seen.has(path))
    .flatMap((path) => Object.keys(outputs[path]?.inputs ?? {}))
  return { statics, dynamics }
}
