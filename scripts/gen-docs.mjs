// Writes the reference generated from the code: docs/reference/*.md and man/bktx.1
// (src/cli/reference.ts builds them from the commander program, the settings, exit-code and
// --json field tables). `npm run docs:gen` writes them; `--check` writes nothing and exits 1
// naming the stale files. test/cli/reference.test.ts compares them in memory.
import { build } from 'esbuild'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const check = process.argv.includes('--check')
// The generator is TypeScript over the CLI's own modules: bundle it into a temporary module,
// as scripts/build.mjs bundles the CLI, and import that.
const dir = await mkdtemp(join(tmpdir(), 'bktx-gen-docs-'))
try {
  const outfile = join(dir, 'reference.mjs')
  await build({
    entryPoints: [join(root, 'src/cli/reference.ts')],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // The native bindings stay out, as in scripts/build.mjs (nothing here loads them).
    external: ['@napi-rs/keyring', 'pkcs11js'],
    logLevel: 'warning',
    // Bundled CommonJS dependencies call require(), as in scripts/build.mjs.
    banner: { js: "import { createRequire as __bktxCreateRequire } from 'node:module'; const require = __bktxCreateRequire(import.meta.url);" },
  })
  const files = (await import(pathToFileURL(outfile).href)).generateReference()
  const stale = []
  for (const [path, text] of Object.entries(files)) {
    const target = join(root, path)
    const current = await readFile(target, 'utf8').catch(() => undefined)
    if (current === text) continue
    stale.push(path)
    if (!check) {
      await mkdir(dirname(target), { recursive: true })
      await writeFile(target, text)
    }
  }
  if (check && stale.length > 0) {
    process.stderr.write(`stale generated files (run npm run docs:gen): ${stale.join(', ')}\n`)
    process.exitCode = 1
  } else if (!check) {
    process.stdout.write(stale.length === 0 ? 'reference up to date\n' : `wrote ${stale.join(', ')}\n`)
  }
} finally {
  await rm(dir, { recursive: true, force: true })
}
