// esbuild plugins that turn the CLI's ES module entry (src/bin.ts) into one CommonJS file: the
// full CLI bin/bktx.js requires (dist/cli.cjs, scripts/build.mjs) and the standalone
// executable's script (scripts/build-binary.mjs).
import { isBuiltin } from 'node:module'
import { readFile } from 'node:fs/promises'

// src/bin.ts awaits at its top level, which CommonJS cannot: its statements after the imports
// run inside an async function here. Its imports and declarations stay at the top.
export function wrapTopLevelAwait(text) {
  const head = []
  const body = []
  let inImport = false
  for (const line of text.split('\n')) {
    if (inImport || /^import\s/.test(line) || /^declare\s/.test(line)) {
      head.push(line)
      // A multi-line import ends at the line with its `from '...'`.
      inImport = /^import\s/.test(line) || inImport ? !/from\s+['"][^'"]+['"]\s*;?\s*$/.test(line) && !/^import\s+['"]/.test(line) : false
    } else body.push(line)
  }
  return `${head.join('\n')}\n;(async () => {\n${body.join('\n')}\n})()\n`
}
export const ENTRY = /[\\/]src[\\/]bin\.ts$/
export const wrapEntry = {
  name: 'wrap-top-level-await',
  setup(b) {
    b.onLoad({ filter: ENTRY }, async (args) => ({ contents: wrapTopLevelAwait(await readFile(args.path, 'utf8')), loader: 'ts' }))
  },
}

// A dynamic import of a built-in module (`import('node:https')`) becomes require() of a
// one-line CommonJS module, which esbuild bundles as a lazily evaluated import: a script
// compiled with a V8 code cache (vm.Script, the SEA's useCodeCache) has no dynamic import
// callback (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING), and import() would start the ES module loader.
export const builtinImports = {
  name: 'builtin-dynamic-imports',
  setup(b) {
    b.onResolve({ filter: /^[a-z_:/]+$/ }, (args) =>
      args.kind === 'dynamic-import' && isBuiltin(args.path) ? { path: args.path, namespace: 'builtin-require' } : undefined,
    )
    b.onLoad({ filter: /.*/, namespace: 'builtin-require' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)})`, loader: 'js' }))
  },
}
