// Bundles the GitHub Action (action/src/) into action/dist/: bktx-action.cjs, one CommonJS file
// with bktx's library inside, and main.cjs and post.cjs, the two steps, which require it. Since the runner checks the action out and runs
// `node action/dist/main.cjs` with no node_modules. The output is committed (the runner uses
// it as it is) and a test checks that it is what this script builds: the build is
// deterministic (no timestamps, no absolute paths, sorted inputs are esbuild's own).
// `--outdir DIR` builds elsewhere (that test).
import { build } from 'esbuild'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { thirdPartyNotices } from './notices.mjs'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const at = process.argv.indexOf('--outdir')
const outdir = at === -1 ? 'action/dist' : process.argv[at + 1]
const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'))
await rm(outdir, { recursive: true, force: true })
await mkdir(outdir, { recursive: true })
const result = await build({
  absWorkingDir: ROOT,
  metafile: true,
  entryPoints: { 'bktx-action': 'action/src/index.ts' },
  outdir,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  // GitHub runs it on node24 (action.yml); node20 code runs on both.
  target: 'node20',
  // The native bindings are never reached: the cache is off (no keychain) and pkcs11: keys are
  // refused before bktx opens them. Kept external so a change that reached them fails loudly.
  external: ['@napi-rs/keyring', 'pkcs11js'],
  // import.meta.url only feeds createRequire of those bindings; CommonJS has __filename.
  define: { BKTX_VERSION: JSON.stringify(pkg.version), 'import.meta.url': '__bktxImportMetaUrl' },
  banner: { js: "const __bktxImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  legalComments: 'none',
  logLevel: 'warning',
})
for (const [step, run] of [
  ['main', 'runMain'],
  ['post', 'runPost'],
]) {
  await writeFile(
    join(outdir, `${step}.cjs`),
    `// The ${step} step of action.yml (scripts/build-action.mjs writes this file).\nrequire('./bktx-action.cjs').${run}()\n`,
  )
}
await writeFile(join(outdir, 'THIRD-PARTY-NOTICES.txt'), await thirdPartyNotices(ROOT, result.metafile, 'action/dist/bktx-action.cjs'))
