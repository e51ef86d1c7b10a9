// dist/complete.cjs: what answers `bktx complete` (each TAB of the shell completions) without
// the full CLI. The completion table is generated here from the commander program itself
// (src/cli/completion-program.ts, bundled and run once), then built into the bundle, so it is
// regenerated with every build and cannot drift from the commands; test/e2e/completion.test.ts
// compares the two. Called by scripts/build.mjs; returns the bundle's metafile.
import { build } from 'esbuild'
import { mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

export async function buildComplete() {
  const table = await generateTable()
  const result = await build({
    entryPoints: { complete: join(ROOT, 'src/complete/main.ts') },
    outdir: join(ROOT, 'dist'),
    outExtension: { '.js': '.cjs' },
    // As a JSON string: V8 parses JSON faster than the same object as code.
    define: { BKTX_COMPLETION_TABLE_JSON: JSON.stringify(JSON.stringify(table)) },
    bundle: true,
    metafile: true,
    // CommonJS, so that bin/bktx.js (CommonJS too) never starts the ES module loader for it.
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    legalComments: 'none',
    logLevel: 'warning',
  })
  // Nothing of the full CLI may come along: a TAB must not pay for it.
  const inputs = Object.keys(result.metafile.inputs)
  const stray = inputs.filter((input) => input.includes('node_modules/') || /src\/(cli|main|bin)\b/.test(input))
  if (stray.length > 0) throw new Error(`dist/complete.cjs must stay small, but bundles ${stray.join(', ')}`)
  return result.metafile
}

/** The table of the program, from src/ as it is now, packed (src/complete/pack.ts). */
export async function generateTable() {
  const dir = await mkdtemp(join(ROOT, 'dist', '.complete-table-'))
  try {
    await build({
      entryPoints: { table: join(ROOT, 'src/cli/completion-program.ts') },
      outdir: dir,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      external: ['@napi-rs/keyring', 'pkcs11js'],
      banner: { js: "import { createRequire as __bktxCreateRequire } from 'node:module'; const require = __bktxCreateRequire(import.meta.url);" },
      logLevel: 'warning',
    })
    const { packedProgramTable } = await import(pathToFileURL(join(dir, 'table.mjs')).href)
    return packedProgramTable()
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
