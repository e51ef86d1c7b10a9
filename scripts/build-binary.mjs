// `npm run build:binary`: dist/bin/bktx-linux-x64, one executable with Node inside, for agents
// and CI images without Node. Node 20's single executable application support
// (https://nodejs.org/api/single-executable-applications.html): the CLI bundled by esbuild into
// one CommonJS file (SEA on Node 20 runs one CommonJS script whose require() reaches only
// built-in modules, so no chunks and no ES modules), a preparation blob made by
// `node --experimental-sea-config`, and postject (1.0.0-alpha.6, run with npx: the version
// docs/dependencies.md found to work here) injecting it into a copy of this `node` binary.
// The native bindings (@napi-rs/keyring, pkcs11js) cannot be embedded: the executable caches
// tokens in files (or not at all) and refuses pkcs11: keys, and `--version` says so.
// Options: --out FILE (default dist/bin/bktx-linux-x64).
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { builtinImports, wrapEntry } from './cjs-plugins.mjs'
import { thirdPartyNotices } from './notices.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const at = process.argv.indexOf('--out')
const out = resolve(ROOT, at === -1 ? `dist/bin/bktx-${process.platform}-${process.arch}` : process.argv[at + 1])
const POSTJECT = 'postject@1.0.0-alpha.6'
// The fuse Node's SEA loader looks for (documented with the feature, fixed across Node versions).
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'
// The preparation blob's options (besides its paths); part of the kept executable's name, below.
const SEA_OPTIONS = { disableExperimentalSEAWarning: true, useCodeCache: true }
const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'))

// The top-level await of src/bin.ts and its dynamic imports of built-in modules, as for dist/cli.cjs:
// the SEA code cache (useCodeCache, which halves the start-up) compiles the script without a
// dynamic import callback (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING).

const work = await mkdtemp(join(tmpdir(), 'bktx-sea-'))
try {
  const main = join(work, 'bktx.cjs')
  const bundled = await build({
    absWorkingDir: ROOT,
    metafile: true,
    // bin/bktx.js's order: a `bktx token` cache hit is answered by src/fast/main.ts alone; the
    // full CLI (src/bin.ts) is imported only when it is not (a dynamic import becomes a lazily
    // initialised module in the bundle, so its modules do not run on a hit).
    stdin: {
      contents: [
        "import { serveCachedToken } from './src/fast/main.ts'",
        'const argv = process.argv.slice(2)',
        "const fastPath = argv[0] === 'token' && !argv.some((a) => a === '--no-cache' || a === '--refresh' || a.startsWith('--no-cache=') || a.startsWith('--refresh='))",
        ";(fastPath ? serveCachedToken(argv.slice(1)) : Promise.resolve(false)).then((done) => (done ? undefined : import('./src/bin.ts')))",
      ].join('\n'),
      resolveDir: ROOT,
      sourcefile: 'standalone-entry.ts',
      loader: 'ts',
    },
    outfile: main,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    plugins: [wrapEntry, builtinImports],
    // The bindings are loaded with createRequire(import.meta.url)(name) at run time. In the
    // executable that URL is a place without node_modules, so they fail to load (as when the
    // optional packages are not installed) even where a node_modules happens to sit beside it.
    define: {
      BKTX_VERSION: JSON.stringify(pkg.version),
      BKTX_BUILD_NOTE: JSON.stringify('standalone executable: no OS keychain or PKCS#11 support; tokens are cached in files'),
      'import.meta.url': JSON.stringify('file:///dev/null/bktx-standalone/bktx.cjs'),
    },
    // bin/bktx.js's first line, for the same reason: Node answers SIGUSR1 by opening an
    // inspector on 127.0.0.1:9229 unless a listener replaces that handler.
    banner: { js: "process.on('SIGUSR1', () => {});" },
    legalComments: 'none',
    logLevel: 'warning',
  })
  await mkdir(dirname(out), { recursive: true })
  await rm(out, { force: true })
  // The executable is what this script, this node binary, the blob's options and postject make
  // of them: the same four make the same program. The last one made is kept under
  // node_modules/.cache, named by a hash of all four, and a build with none of them changed
  // copies it instead of making the blob and injecting it into 100 MB again (about 7
  // CPU-seconds; test/ci/binary.test.ts builds one on every run).
  const node = await stat(process.execPath)
  const key = createHash('sha256')
    .update(await readFile(main))
    .update(JSON.stringify([process.execPath, process.version, node.size, node.mtimeMs, node.ino, POSTJECT, FUSE, SEA_OPTIONS]))
    .digest('hex')
  const kept = join(ROOT, 'node_modules', '.cache', 'bktx', 'sea', key)
  if (existsSync(kept)) {
    await copyFile(kept, out)
  } else {
    const blob = join(work, 'sea-prep.blob')
    await writeFile(join(work, 'sea-config.json'), JSON.stringify({ main, output: blob, ...SEA_OPTIONS }))
    execFileSync(process.execPath, ['--experimental-sea-config', join(work, 'sea-config.json')], { stdio: 'inherit' })
    await copyFile(process.execPath, out)
    await chmod(out, 0o755)
    // postject prints a harmless "Can't find string offset for section name" warning here.
    execFileSync('npx', ['--yes', POSTJECT, out, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', FUSE], { stdio: ['ignore', 'ignore', 'inherit'] })
    // Kept under a temporary name first: a build killed while copying leaves no half executable under the key.
    await rm(dirname(kept), { recursive: true, force: true })
    await mkdir(dirname(kept), { recursive: true })
    await copyFile(out, `${kept}.partial`)
    await rename(`${kept}.partial`, kept)
  }
  await chmod(out, 0o755)
  await copyFile(join(ROOT, 'LICENSE'), join(dirname(out), 'LICENSE'))
  // The rest of the executable is Node itself, under its own licence.
  await writeFile(
    join(dirname(out), 'THIRD-PARTY-NOTICES.txt'),
    `${await thirdPartyNotices(ROOT, bundled.metafile, 'bktx-linux-x64')}\n${'-'.repeat(72)}\n\nNode.js ${process.version} (MIT and others): https://github.com/nodejs/node/blob/${process.version}/LICENSE\n`,
  )
  console.log(out)
} finally {
  await rm(work, { recursive: true, force: true })
}
