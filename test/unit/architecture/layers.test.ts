import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

// The architecture as tests: the import graph between src/ folders has no cycle and no edge
// from the fast path into the CLI, and no module below the front ends words an error with a
// command-line flag (core errors carry references; src/term/describe.ts names the flags).

const ROOT = fileURLToPath(new URL('../../..', import.meta.url))
const SRC = join(ROOT, 'src')

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : []
  })
}

/** `cli`, `token`, ...; a file directly in src/ is its own node (`errors.ts`). */
function folderOf(file: string): string {
  const rel = relative(SRC, file)
  return rel.includes('/') ? (rel.split('/')[0] as string) : rel
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true)
}

/** Every relative module a file imports, statically or with import(). */
function imports(file: string): string[] {
  const out: string[] = []
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
      out.push(node.moduleSpecifier.text)
    }
    if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      out.push(node.arguments[0].text)
    }
    ts.forEachChild(node, visit)
  }
  visit(parse(file))
  return out.filter((s) => s.startsWith('.')).map((s) => resolve(dirname(file), s.replace(/\.js$/, '.ts')))
}

const all = files(SRC)
const edges = new Map<string, Set<string>>()
for (const file of all) {
  const from = folderOf(file)
  for (const target of imports(file)) {
    const to = folderOf(target)
    if (to === from) continue
    if (!edges.has(from)) edges.set(from, new Set())
    edges.get(from)?.add(to)
  }
}

describe('the import graph of src/', () => {
  it('has no edge from the fast path into the CLI', () => {
    expect([...(edges.get('fast') ?? [])]).not.toContain('cli')
  })

  // Each TAB runs src/complete/ (dist/complete.cjs) without the CLI (scripts/build-complete.mjs).
  it('has no edge from the completion answer into the CLI', () => {
    expect([...(edges.get('complete') ?? [])]).not.toContain('cli')
  })

  it('has no cycle between folders', () => {
    const cycles: string[] = []
    const state = new Map<string, 'open' | 'done'>()
    const walk = (node: string, path: string[]): void => {
      if (state.get(node) === 'done') return
      if (state.get(node) === 'open') {
        cycles.push([...path.slice(path.indexOf(node)), node].join(' → '))
        return
      }
      state.set(node, 'open')
      for (const next of edges.get(node) ?? []) walk(next, [...path, node])
      state.set(node, 'done')
    }
    for (const node of edges.keys()) walk(node, [])
    expect(cycles).toEqual([])
  })

  // The protocol and the key sit below the settings table: the exchange, the cache and the
  // signing key receive values (a key spec, a cache mode, an audience), never ResolvedSettings.
  it.each(['exchange', 'cache', 'keys'])('has no edge from %s/ into config/', (folder) => {
    expect([...(edges.get(folder) ?? [])]).not.toContain('config')
  })

  // docs/architecture.md, "Layers": imports go down (or sideways within a layer), never back up.
  // A folder not listed here is not checked: give a new one its layer.
  const LAYERS: readonly (readonly string[])[] = [
    ['bin.ts', 'fast', 'mint', 'process-deps.ts', 'api'],
    ['main.ts', 'cli'],
    ['doctor', 'rotation', 'checks', 'jwks', 'jwt', 'server', 'setup', 'complete'],
    ['token'],
    ['term'],
    ['config'],
    ['cache'],
    ['exchange'],
    ['assertion'],
    ['keys'],
    ['http', 'secrets', 'deps.ts'],
    ['fs', 'text', 'time', 'shell', 'hash', 'errors.ts', 'exit-codes.ts', 'paths.ts', 'env.ts'],
  ]
  const layerOf = (folder: string) => LAYERS.findIndex((layer) => layer.includes(folder))

  it('has no edge from a lower layer back up to a higher one', () => {
    const climbs: string[] = []
    for (const [from, targets] of edges) {
      for (const to of targets) {
        if (layerOf(from) !== -1 && layerOf(to) !== -1 && layerOf(to) < layerOf(from)) climbs.push(`${from} → ${to}`)
      }
    }
    expect(climbs).toEqual([])
  })

  it('has no cycle between the CLI program and its commands', () => {
    const program = join(SRC, 'cli', 'program.ts')
    for (const file of files(join(SRC, 'cli', 'commands'))) expect(imports(file), relative(ROOT, file)).not.toContain(program)
  })
})

// The front ends may name flags: the CLI, the fast path's argument scan, the completion answer
// and its shell scripts, the entry points, and the renderer that turns references into flags;
// and what `bktx status` prints, which both the CLI and the fast path render (it sits below
// both, in doctor/, so that the fast path imports nothing of cli/).
const FRONT_ENDS = [/^cli\//, /^fast\//, /^complete\//, /^term\//, /^bin\.ts$/, /^main\.ts$/, /^doctor\/status-view\.ts$/]
const FLAG = /(^|[\s(`'"=,[])--[a-z][a-z0-9-]+/

describe('core error text', () => {
  it('names no command-line flag outside the front ends', () => {
    const found: string[] = []
    for (const file of all) {
      const rel = relative(SRC, file)
      if (FRONT_ENDS.some((re) => re.test(rel))) continue
      const source = parse(file)
      const visit = (node: ts.Node): void => {
        if (
          ts.isStringLiteral(node) ||
          ts.isNoSubstitutionTemplateLiteral(node) ||
          ts.isTemplateHead(node) ||
          ts.isTemplateMiddle(node) ||
          ts.isTemplateTail(node)
        ) {
          if (FLAG.test(node.text)) {
            const { line } = source.getLineAndCharacterOfPosition(node.getStart())
            found.push(`src/${rel}:${line + 1}: ${node.text.slice(0, 80)}`)
          }
        }
        ts.forEachChild(node, visit)
      }
      visit(source)
    }
    expect(found).toEqual([])
  })
})

// The entry points build the real dependencies (process.env, the clock, stdout, the keychain)
// and hand them down; nothing else reads `process` or writes with `console`, so every other
// module runs the same under a test's injected ones.
const ENTRY_POINTS = [
  /^bin\.ts$/,
  /^fast\/main\.ts$/,
  /^fast\/hit\.ts$/,
  /^fast\/keychain\.ts$/,
  /^mint\/main\.ts$/,
  /^fast\/status-main\.ts$/,
  /^fast\/static\.ts$/,
  /^complete\/main\.ts$/,
  /^api\/index\.ts$/,
  /^api\/server\.ts$/,
]
/**
 * src/main.ts is the CLI's frame behind src/bin.ts, and src/cli/report.ts how it (and the token
 * mint, src/mint/main.ts) ends a run: they may use the entry points' helpers (they touch nothing themselves).
 */
const ENTRY_FRAME = /^(main|cli\/report)\.ts$/
/**
 * Modules that touch `process` on the entry points' behalf (guarded stdout/stderr, ending by a
 * signal, what the OS says about the process, the real dependencies of a run): they may be
 * imported by entry points (and by each other) only.
 */
const PROCESS_HELPERS = /^(term\/(.*\/)?process(-info)?|process-deps)\.ts$/
/** `bktx completion`: the completion library prints with console.log; it is redirected to the injected stdout for one call. */
const CONSOLE_REDIRECT = 'cli/commands/completion.ts'

function processUses(file: string): string[] {
  const source = parse(file)
  const found: string[] = []
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node) && (node.text === 'process' || node.text === 'console')) {
      const parent = node.parent
      const isName =
        ((ts.isPropertyAccessExpression(parent) ||
          ts.isPropertyAssignment(parent) ||
          ts.isPropertySignature(parent) ||
          ts.isPropertyDeclaration(parent) ||
          ts.isMethodDeclaration(parent)) &&
          parent.name === node) ||
        ts.isQualifiedName(parent)
      if (!isName) found.push(`${node.text} at line ${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

describe('process and console', () => {
  it('are touched only by the entry points and the helpers only they import', () => {
    const found: string[] = []
    for (const file of all) {
      const rel = relative(SRC, file)
      if (ENTRY_POINTS.some((re) => re.test(rel)) || PROCESS_HELPERS.test(rel)) continue
      const uses = processUses(file).filter((use) => !(rel === CONSOLE_REDIRECT && use.startsWith('console')))
      for (const use of uses) found.push(`src/${rel}: ${use}`)
    }
    expect(found).toEqual([])
  })

  it('helpers that touch process are imported by entry points only', () => {
    const found: string[] = []
    for (const file of all) {
      const rel = relative(SRC, file)
      if (ENTRY_POINTS.some((re) => re.test(rel)) || ENTRY_FRAME.test(rel) || PROCESS_HELPERS.test(rel)) continue
      for (const target of imports(file)) {
        const to = relative(SRC, target)
        if (PROCESS_HELPERS.test(to) && processUses(target).length > 0) found.push(`src/${rel} imports src/${to}`)
      }
    }
    expect(found).toEqual([])
  })
})
