// Bundles the CLI (src/bin.ts) and the library entries (src/api/) into dist/ (ESM, code-split
// so lazily imported modules stay out of the start-up path), then the type declarations of the
// library. The native bindings (keyring, PKCS#11) stay external: they are loaded from node_modules.
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildComplete } from './build-complete.mjs'
import { builtinImports, ENTRY, wrapEntry, wrapTopLevelAwait } from './cjs-plugins.mjs'

// BKTX_TRACE_MODULES=1: an instrumented build for scripts/token-route.mjs. Every src/ module
// records its path in globalThis.__bktxTrace when its body runs, and dist/metafile.json holds
// the import graph of the bundled inputs.
const TRACE = process.env.BKTX_TRACE_MODULES === '1'
// (`cjs`: for the CommonJS build, where src/bin.ts's top-level await is wrapped as wrapEntry does.)
const traceModules = (cjs = false) => ({
  name: 'trace-modules',
  setup(b) {
    b.onLoad({ filter: /\/src\/.*\.ts$/ }, async (args) => {
      const path = relative(fileURLToPath(new URL('..', import.meta.url)), args.path)
      const text = await readFile(args.path, 'utf8')
      return {
        contents: `;(globalThis.__bktxTrace ??= []).push(${JSON.stringify(path)});\n${cjs && ENTRY.test(args.path) ? wrapTopLevelAwait(text) : text}`,
        loader: 'ts',
      }
    })
  },
})
const trace = traceModules()
// Commander requires node:child_process when it loads, for executable subcommands, which bktx
// has none of; that module brings net and dgram with it, a few milliseconds of every command's
// start-up. Its one use, childProcess.spawn, loads it when called.
const lazyCommanderSpawn = {
  name: 'lazy-commander-spawn',
  setup(b) {
    b.onResolve({ filter: /^node:child_process$/ }, (args) =>
      args.namespace === 'file' && /node_modules\/commander\//.test(args.importer) ? { path: 'node:child_process', namespace: 'lazy-spawn' } : undefined,
    )
    b.onLoad({ filter: /.*/, namespace: 'lazy-spawn' }, () => ({
      contents: "module.exports = { spawn: (...args) => require('node:child_process').spawn(...args) }\n",
      loader: 'js',
    }))
    b.onResolve({ filter: /^node:child_process$/, namespace: 'lazy-spawn' }, () => ({ path: 'node:child_process', external: true }))
  },
}
const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'))
await rm(new URL('../dist', import.meta.url), { recursive: true, force: true })
const common = {
  outdir: 'dist',
  bundle: true,
  metafile: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['@napi-rs/keyring', 'pkcs11js'],
  define: { BKTX_VERSION: JSON.stringify(pkg.version) },
  // Bundled CommonJS dependencies call require(); give ESM chunks one (docs/dependencies.md).
  banner: { js: "import { createRequire as __bktxCreateRequire } from 'node:module'; const require = __bktxCreateRequire(import.meta.url);" },
  legalComments: 'none',
  logLevel: 'warning',
  plugins: TRACE ? [trace, lazyCommanderSpawn] : [lazyCommanderSpawn],
}
// The CLI on its own: bundled together with the library entries, esbuild splits the code they
// share into many small chunks, and each is one more module to resolve, read and compile on
// every run (the uncached token path was about 8 ms slower with 82 chunks than with 32).
const result = await build({ ...common, entryPoints: { bin: 'src/bin.ts' }, chunkNames: 'chunks/[name]-[hash]' })
// The full CLI again, as one CommonJS file (dist/cli.cjs), which bin/bktx.js requires compiled
// from a V8 code cache: no ES module loader starts, no chunk is resolved or read, and the
// compilation of what the command runs comes from the cache. dist/bin.js (ESM) stays for what
// runs the CLI directly (the build's help capture below, test/e2e/fast-paths.test.ts).
// Modules reached only by a dynamic import are evaluated when it runs, as in the ESM build:
// esbuild wraps them in lazy initialisers inside the one file, and V8 compiles a function only
// when it is first called, so what a command never reaches costs only its share of reading the file.
// undici (half the CLI's code, loaded for a proxy or --ca-file only) is a file of its own,
// required where the ESM build imports it, so that every other run neither reads nor scans it.
// dist/cli.cjs and dist/fast-mint.cjs run without the V8 flag src/bin.ts names (bin/bktx.js):
// it is set before undici loads, else Node waits at exit while V8 tiers up undici's WebAssembly
// parser. bin/bktx.js's liftoffOnly sets it, so that it keeps this run's code cache apart.
const separateUndiciFlagged = {
  name: 'separate-undici-flagged',
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, (args) => (args.kind === 'dynamic-import' ? { path: 'undici', namespace: 'separate-undici-flagged' } : undefined))
    b.onLoad({ filter: /.*/, namespace: 'separate-undici-flagged' }, () => ({
      contents: [
        "const liftoffOnly = globalThis[Symbol.for('bktx.liftoff-only')]",
        "if (typeof liftoffOnly === 'function') liftoffOnly()",
        "else require('node:v8').setFlagsFromString('--liftoff-only')",
        "module.exports = require(require('node:path').join(__dirname, 'undici.cjs'))",
      ].join('\n'),
      loader: 'js',
    }))
  },
}
const cjs = {
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  metafile: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // A third less to read on every run; the names stay (errors take their class's name).
  minify: !TRACE,
  keepNames: true,
  legalComments: 'none',
  logLevel: 'warning',
}
const cli = await build({
  ...cjs,
  entryPoints: { cli: 'src/bin.ts' },
  external: common.external,
  // import.meta.url (createRequire of the native bindings) in CommonJS terms; strict mode, as
  // the ES module build runs in.
  define: { ...common.define, 'import.meta.url': '__bktxImportMetaUrl' },
  banner: { js: "'use strict';const __bktxImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  plugins: [...(TRACE ? [traceModules(true)] : []), lazyCommanderSpawn, wrapEntry, builtinImports, separateUndiciFlagged],
})
const undici = await build({ ...cjs, entryPoints: { undici: 'node_modules/undici/index.js' } })
Object.assign(result.metafile.outputs, cli.metafile.outputs, undici.metafile.outputs)

// The library is bundled again by its users' tools, which may turn it into CommonJS (esbuild
// --format=cjs, webpack) where import.meta is empty: every chunk then crashed at load in
// createRequire(undefined). Here import.meta.url (the banner's and the source's, which only
// ever feed createRequire) falls back to __filename, which such bundles have; with neither,
// a required module fails with a message that says why. Hiding createRequire(import.meta.url)
// behind a variable also keeps webpack from bundling the native bindings it would load.
// createRequire is called as a member of the module's default export: webpack replaces a call
// of the named import whose argument it cannot evaluate with `undefined`.
const LIBRARY_BANNER = [
  "import __bktxNodeModule from 'node:module';",
  "const __bktxModuleUrl = import.meta.url ?? (typeof __filename === 'string' ? __filename : undefined);",
  'const require = __bktxModuleUrl === undefined',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: this line is code for the bundle, where the template is evaluated
  '  ? (id) => { throw new Error(`bktx cannot load ${id}: this bundle has neither import.meta.url nor __filename; bundle bktx as an ES module, or leave it out of the bundle`) }',
  '  : __bktxNodeModule.createRequire(__bktxModuleUrl);',
].join('\n')
const library = await build({
  ...common,
  banner: { js: LIBRARY_BANNER },
  define: { ...common.define, 'import.meta.url': '__bktxModuleUrl' },
  entryPoints: { lib: 'src/api/index.ts', server: 'src/api/server.ts', 'server-internal': 'src/server/internal.ts' },
  chunkNames: 'lib-chunks/[name]-[hash]',
})
Object.assign(result.metafile.outputs, library.metafile.outputs)
// The library is ESM only (package.json has no "require" condition): Node 20.19+ and 22.12+
// load it with require() too; older require() and jest's CommonJS mode cannot (docs/library.md, "Module formats").
Object.assign(result.metafile.inputs, library.metafile.inputs)

// The cache-hit path of `bktx token` as one self-contained file: bin.js loads it before
// anything else, and one file (no shared chunks, no createRequire banner) loads fastest.
// What only a miss needs (jose's key loader, the cross-process lock, the PKCS#11 session code
// and the external signer runner) is replaced by an empty module: reaching it throws, and
// bin.js falls back to the full CLI, which has the real ones.
// Matched on the resolved file, not the import as written (`./token.js` from pkcs11/key.ts).
const MISS_ONLY = [
  /\/src\/cache\/lock\.js$/,
  /\/src\/keys\/load\.js$/,
  /\/src\/keys\/pkcs11\/token\.js$/,
  /\/src\/keys\/exec\.js$/,
  /\/src\/assertion\/sign\.js$/,
]
const missOnlyOf = (modules) => ({
  name: 'miss-only',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      const target = args.path.startsWith('.') ? join(args.resolveDir, args.path) : args.path
      return modules.some((re) => re.test(target)) ? { path: target, namespace: 'miss-only' } : undefined
    })
    b.onLoad({ filter: /.*/, namespace: 'miss-only' }, () => ({ contents: 'export {}', loader: 'js' }))
  },
})
const missOnly = missOnlyOf(MISS_ONLY)
// Two built-in modules cost a hit more than the rest of it, and a hit calls neither: node:crypto
// (about 5 ms to load, a tenth of `node -e 0`; a hit hashes with src/hash/sha256.ts and never
// parses the key, src/keys/identity.ts) and node:fs/promises (it loads streams and readline;
// a hit reads synchronously). node:os is smaller, and a hit with $HOME set calls none of it
// (src/fast/main.ts). In this bundle each is loaded on the first call of one of its
// functions: each name is a getter read at call time, and the build fails below if the bundle
// uses a name not listed.
const LAZY = {
  'node:crypto': ['createECDH', 'createHash', 'createPrivateKey', 'createPublicKey', 'randomBytes', 'sign', 'verify'],
  'node:fs/promises': ['link', 'mkdir', 'open', 'readdir', 'readFile', 'rename', 'rm', 'stat', 'unlink', 'writeFile'],
  'node:os': ['constants', 'homedir', 'hostname', 'platform'],
}
// In dist/fast-token.cjs an asynchronous file call spoils the run's hit memo (src/fast/observe.ts):
// its reads are not observed, so a memo could not check them again.
const OBSERVE = fileURLToPath(new URL('../src/fast/observe.ts', import.meta.url))
// `only`: the built-in modules made lazy, when not all three.
const lazyBuiltins = (observed = false, only = Object.keys(LAZY)) => ({
  name: 'lazy-builtins',
  setup(b) {
    // The shim's own require() is of the real module.
    b.onResolve({ filter: /^(node:)?(crypto|fs\/promises|os)$/ }, (args) =>
      args.namespace === 'lazy-builtin' || !only.includes(args.path.replace(/^(node:)?/, 'node:'))
        ? { path: args.path.replace(/^(node:)?/, 'node:'), external: true }
        : { path: args.path.replace(/^(node:)?/, 'node:'), namespace: 'lazy-builtin' },
    )
    b.onResolve({ filter: /observe\.ts$/, namespace: 'lazy-builtin' }, (args) => ({ path: args.path }))
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
      contents: `let real\nconst load = () => (${observed && args.path === 'node:fs/promises' ? `require(${JSON.stringify(OBSERVE)}).observer()?.spoil('node:fs/promises'), ` : ''}real ??= require(${JSON.stringify(args.path)}))\n${LAZY[args.path].map((name) => `Object.defineProperty(exports, ${JSON.stringify(name)}, { enumerable: true, get: () => load().${name} })`).join('\n')}\n`,
      loader: 'js',
    }))
  },
})
// node:fs in dist/fast-token.cjs is src/fast/observed-fs.ts, which notes what each call saw
// for the hit memo (src/fast/memo.ts); that module alone imports the real one. A name it does
// not export is a build error (esbuild: no matching export).
const OBSERVED_FS = fileURLToPath(new URL('../src/fast/observed-fs.ts', import.meta.url))
const observedFs = {
  name: 'observed-fs',
  setup(b) {
    b.onResolve({ filter: /^(node:)?fs$/ }, (args) => (args.importer === OBSERVED_FS ? { path: 'node:fs', external: true } : { path: OBSERVED_FS }))
  },
}
// What the one-file CommonJS bundles bin/bktx.js loads before (or instead of) the full CLI share.
const oneCjsFile = {
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  metafile: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  legalComments: 'none',
  logLevel: 'warning',
}
// node:net (the D-Bus probe's connection) loaded on its first connect: without a session bus
// (SSH, containers, CI) the probe says so without one (src/secrets/probe.ts).
const lazyNet = {
  name: 'lazy-net',
  setup(b) {
    b.onResolve({ filter: /^(node:)?net$/ }, (args) =>
      args.namespace === 'lazy-net' ? { path: 'node:net', external: true } : { path: 'node:net', namespace: 'lazy-net' },
    )
    b.onLoad({ filter: /.*/, namespace: 'lazy-net' }, () => ({
      contents: "exports.connect = (...args) => require('node:net').connect(...args)\n",
      loader: 'js',
    }))
  },
}
// CommonJS, so that bin/bktx.js (CommonJS too) never starts the ES module loader on a hit.
const fast = await build({
  ...oneCjsFile,
  plugins: TRACE ? [missOnly, lazyBuiltins(true), observedFs, lazyNet, trace] : [missOnly, lazyBuiltins(true), observedFs, lazyNet],
  entryPoints: { 'fast-token': 'src/fast/main.ts' },
  // import.meta.url (createRequire of the keyring binding) in CommonJS terms, made when first
  // read: building a URL at load would cost every hit, which never reads it.
  define: { 'import.meta.url': '__bktxImportMeta.url' },
  banner: { js: "const __bktxImportMeta = { get url() { return require('node:url').pathToFileURL(__filename).href } };" },
  // Less to read and compile on every hit. Identifiers are not renamed, so the names stay (errors
  // take their class's name) without keepNames, whose 300 name-setting calls at load cost a hit
  // more than the longer text does (measured: about 1.5% fewer instructions).
  minifyWhitespace: !TRACE,
  minifySyntax: !TRACE,
})
Object.assign(result.metafile.outputs, fast.metafile.outputs)
// `bktx token` and `bktx env` when they exchange (src/mint/main.ts): the full CLI's token
// commands without commander and the other commands, one CommonJS file compiled from a code
// cache as the others are. It leaves stderr on a terminal to the full CLI, so the spinner
// (ora) is never reached here and stays out of the file; commander must stay out too.
const mintBuild = await build({
  ...cjs,
  entryPoints: { 'fast-mint': 'src/mint/main.ts' },
  external: common.external,
  // As fast-token.cjs: names kept without keepNames' name-setting calls at load.
  minify: false,
  keepNames: false,
  minifyWhitespace: !TRACE,
  minifySyntax: !TRACE,
  define: { ...common.define, 'import.meta.url': '__bktxImportMeta.url' },
  banner: { js: "'use strict';const __bktxImportMeta = { get url() { return require('node:url').pathToFileURL(__filename).href } };" },
  plugins: [
    builtinImports,
    separateUndiciFlagged,
    // An exchange without the cache (--no-cache, `--cache none`) calls no asynchronous file
    // function, and node:fs/promises (with the streams and readline it loads) cost it about 3 ms
    // of CPU, 4% of `node -e 0`: loaded on the first call, as in dist/fast-token.cjs.
    lazyBuiltins(false, ['node:fs/promises']),
    {
      name: 'no-spinner',
      setup(b) {
        b.onResolve({ filter: /^ora$/ }, () => ({ path: 'ora', namespace: 'no-spinner' }))
        b.onLoad({ filter: /.*/, namespace: 'no-spinner' }, () => ({
          contents: "throw new Error('dist/fast-mint.cjs has no spinner: src/mint/main.ts leaves a terminal to the full CLI')",
          loader: 'js',
        }))
      },
    },
  ],
})
{
  const inputs = Object.keys(mintBuild.metafile.inputs).filter((input) => /node_modules\/(commander|ora)\//.test(input))
  if (inputs.length > 0) throw new Error(`dist/fast-mint.cjs bundles ${inputs.join(', ')}: the token mint must not load the full CLI's parser or spinner`)
}
Object.assign(result.metafile.outputs, mintBuild.metafile.outputs)
// `bktx status` as one self-contained CommonJS file too (src/fast/status-main.ts), for the same
// reasons: it runs in shell prompts and scripts, and the full CLI's start costs twice the report.
// The miss-only modules are empty here as well but for the PKCS#11 session code, whose module
// checks status's PKCS#11 probe uses. The one status reaches, jose's key loader for an unusual
// key file, then throws a TypeError, which is no BktxError: collectStatus fails with it and
// bin.js runs the full CLI, which describes that key.
const STATUS_MISS_ONLY = MISS_ONLY.filter((re) => !re.test('/src/keys/pkcs11/token.js'))
const fastStatus = await build({
  ...oneCjsFile,
  plugins: TRACE ? [missOnlyOf(STATUS_MISS_ONLY), lazyBuiltins(), lazyNet, trace] : [missOnlyOf(STATUS_MISS_ONLY), lazyBuiltins(), lazyNet],
  entryPoints: { 'fast-status': 'src/fast/status-main.ts' },
  // import.meta.url is read only by createRequire (the keyring and PKCS#11 bindings), which
  // takes an absolute path as well as a file URL: status loads the keyring binding on every run
  // (its keychain line), and the first pathToFileURL of a process costs about 5% of `node -e 0`.
  define: { 'import.meta.url': '__filename' },
  minifyWhitespace: !TRACE,
  minifySyntax: !TRACE,
})
Object.assign(result.metafile.outputs, fastStatus.metafile.outputs)
// The hit memo's answer (src/fast/hit.ts), which bin/bktx.js requires before dist/fast-token.cjs:
// a few kilobytes, compiled from a code cache of its own (written after a run it served, so it
// holds every function a hit calls), with no built-in module but node:fs and node:path loaded on the way.
const fastHit = await build({
  ...oneCjsFile,
  plugins: [lazyBuiltins()],
  entryPoints: { 'fast-hit': 'src/fast/hit.ts' },
  minifyWhitespace: true,
  minifySyntax: true,
})
Object.assign(result.metafile.outputs, fastHit.metafile.outputs)
// The keychain item reader of a memo hit whose token is in the keychain (src/fast/keychain.ts):
// the D-Bus client alone, apart from dist/fast-hit.cjs so that a file hit never reads it, and
// with node:net loaded only where Node's pipe handle is missing (src/term/process.ts).
const fastKeychain = await build({
  ...oneCjsFile,
  plugins: [lazyNet],
  entryPoints: { 'fast-keychain': 'src/fast/keychain.ts' },
  minifyWhitespace: true,
  minifySyntax: true,
})
Object.assign(result.metafile.outputs, fastKeychain.metafile.outputs)
{
  const text = await readFile(new URL('../dist/fast-keychain.cjs', import.meta.url), 'utf8')
  const required = [...new Set([...text.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]))].filter(
    (id) => !['node:buffer', 'node:events', 'node:util', 'node:fs', 'node:path', 'node:net'].includes(id),
  )
  if (required.length > 0) throw new Error(`dist/fast-keychain.cjs requires ${required.join(', ')}: the keychain reader is the D-Bus client alone`)
}
{
  const text = await readFile(new URL('../dist/fast-hit.cjs', import.meta.url), 'utf8')
  const required = [...new Set([...text.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]))].filter((id) => !['node:fs', 'node:path', 'node:os'].includes(id))
  if (required.length > 0)
    throw new Error(
      `dist/fast-hit.cjs requires ${required.join(', ')}: the hit memo's answer loads node:fs and node:path only (node:os when an error needs it)`,
    )
}
// `bktx complete` (each TAB) answered from a table generated from the program (scripts/build-complete.mjs).
Object.assign(result.metafile.outputs, (await buildComplete()).outputs)

// `bktx --version` and `bktx help` from constants (src/fast/static.ts): the help text is what the
// CLI just built prints, captured here (stdout a pipe, so unwrapped by a terminal's width), so
// the constant is regenerated with every build and cannot drift from commander's output.
const helpText = execFileSync(process.execPath, [fileURLToPath(new URL('../dist/bin.js', import.meta.url)), 'help'], {
  encoding: 'utf8',
  env: { PATH: process.env.PATH ?? '' },
  stdio: ['ignore', 'pipe', 'inherit'],
})
const fastStatic = await build({
  ...oneCjsFile,
  entryPoints: { 'fast-static': 'src/fast/static.ts' },
  define: { BKTX_VERSION: JSON.stringify(pkg.version), BKTX_HELP: JSON.stringify(helpText) },
  minify: true,
  keepNames: true,
})
Object.assign(result.metafile.outputs, fastStatic.metafile.outputs)
for (const [file, lazy] of [
  ['fast-token.cjs', Object.keys(LAZY)],
  ['fast-status.cjs', Object.keys(LAZY)],
  ['fast-mint.cjs', ['node:fs/promises']],
]) {
  const text = await readFile(new URL(`../dist/${file}`, import.meta.url), 'utf8')
  const used = {
    'node:crypto': /import_(?:node_)?crypto\d*\.(\w+)/g,
    'node:fs/promises': /import_(?:node_fs_)?promises\d*\.(\w+)/g,
    'node:os': /import_(?:node_)?os\d*\.(\w+)/g,
  }
  for (const [id, re] of Object.entries(used).filter(([id]) => lazy.includes(id))) {
    const unlisted = [...new Set([...text.matchAll(re)].map((m) => m[1]))].filter((name) => !LAZY[id].includes(name))
    if (unlisted.length > 0) throw new Error(`dist/${file} uses ${id}'s ${unlisted.join(', ')}: list them in LAZY in scripts/build.mjs`)
  }
}
if (TRACE)
  await writeFile(
    new URL('../dist/metafile.json', import.meta.url),
    JSON.stringify({ inputs: { ...result.metafile.inputs, ...fast.metafile.inputs }, outputs: result.metafile.outputs }),
  )

// bin/bktx.js reads the files it compiles with a code cache as latin1, which is their text only while they are ASCII.
for (const file of ['cli.cjs', 'fast-token.cjs', 'fast-mint.cjs', 'fast-status.cjs', 'fast-hit.cjs', 'fast-keychain.cjs']) {
  const bytes = await readFile(new URL(`../dist/${file}`, import.meta.url))
  const at = bytes.findIndex((byte) => byte > 0x7f)
  if (at !== -1) throw new Error(`dist/${file} has a non-ASCII byte at ${at}: bin/bktx.js reads it as latin1 (build it with esbuild's default charset)`)
}

// The bundled packages' licences, since their code ships inside dist/ (MIT, ISC and others
// ask for the notice to travel with copies).
const packages = new Map()
for (const input of [...Object.keys(result.metafile.inputs), ...Object.keys(fast.metafile.inputs)]) {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input.split('node_modules/').length > 2 ? input.slice(input.lastIndexOf('node_modules/')) : input)
  if (match) packages.set(input.slice(0, input.lastIndexOf(`node_modules/${match[1]}/`) + `node_modules/${match[1]}`.length), match[1])
}
const notices = []
for (const [dir, name] of [...packages].sort((a, b) => a[1].localeCompare(b[1]))) {
  const { version, license } = JSON.parse(await readFile(new URL(`../${dir}/package.json`, import.meta.url), 'utf8'))
  const file = (await readdir(new URL(`../${dir}/`, import.meta.url))).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f))
  const text = file ? await readFile(new URL(`../${dir}/${file}`, import.meta.url), 'utf8') : `License: ${license}`
  notices.push(`${name}@${version} (${license})\n\n${text.trim()}\n`)
}
await writeFile(new URL('../dist/THIRD-PARTY-NOTICES.txt', import.meta.url), `bktx bundles these packages:\n\n${notices.join(`\n${'-'.repeat(72)}\n\n`)}`)

// The library's declarations: tsc emits them for the two entries, and only the files those
// reach are shipped, in dist/types/. They must not import any package (a consumer has no jose
// or commander types), so src/api/ writes its public types out; this check keeps it so.
// tsc emits incrementally (tsconfig.api.json): its output stays in node_modules/.cache beside
// its build info, and a build after a small change re-emits only what changed. TypeScript 7's
// native tsc (docs/dependencies.md): 0.7 s cold and 0.4 s with nothing changed, against 4.2 and
// 2.0 s for 5.9, on the path to the e2e tests; the declarations are 5.9's but for the quotes
// of literal types, which 7 keeps as the source writes them. Only the files the entries reach
// are copied out of it.
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const emitted = join(ROOT, 'node_modules/.cache/bktx/api-types')
{
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript-7/bin/tsc'), '-p', join(ROOT, 'tsconfig.api.json'), '--outDir', emitted], {
    stdio: 'inherit',
  })
  const shipped = new Set()
  const queue = ['api/index.d.ts', 'api/server.d.ts']
  while (queue.length > 0) {
    const file = queue.pop()
    if (shipped.has(file)) continue
    shipped.add(file)
    const text = await readFile(join(emitted, file), 'utf8')
    for (const [, spec] of text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
      if (spec.startsWith('.')) queue.push(relative(emitted, resolve(dirname(join(emitted, file)), spec.replace(/\.js$/, '.d.ts'))))
      else throw new Error(`${file} imports ${spec}: the public declarations must stand alone`)
    }
  }
  for (const file of shipped) {
    await mkdir(dirname(join(ROOT, 'dist/types', file)), { recursive: true })
    await cp(join(emitted, file), join(ROOT, 'dist/types', file))
  }
}

// BKTX_BUILD_META=1 lists what the entry chunk holds: the start-up path of every command.
if (process.env.BKTX_BUILD_META) {
  for (const [file, out] of Object.entries(result.metafile.outputs)) {
    const inputs = Object.entries(out.inputs).sort((a, b) => b[1].bytesInOutput - a[1].bytesInOutput)
    console.log(`${file} ${out.bytes} bytes`)
    for (const [input, info] of inputs.slice(0, 12)) console.log(`  ${info.bytesInOutput}\t${input}`)
  }
}
