import { fileURLToPath } from 'node:url'
import { build, type Metafile } from 'esbuild'
import { describe, expect, it } from 'vitest'

// The cache-hit path of `bktx token` must not pay for jose (~44 ms) or undici (~111 ms)
// (docs/dependencies.md). This bundles each module as src/bin.ts is bundled (ESM, code split)
// and walks the static imports of its entry chunk: dynamic imports are allowed, since they
// load only when taken.

async function staticInputs(entry: string): Promise<{ statics: string[]; dynamics: string[] }> {
  const result = await build({
    entryPoints: [entry],
    absWorkingDir: fileURLToPath(new URL('../../..', import.meta.url)),
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

const heavy = (inputs: string[]) => inputs.filter((p) => /node_modules\/(jose|undici)\//.test(p)).map((p) => p.split('/')[1])

describe('import graph: what the cache-hit path loads', () => {
  for (const entry of [
    'src/exchange/types.ts',
    'src/exchange/key.ts',
    'src/exchange/response.ts',
    'src/exchange/access-token.ts',
    'src/http/retry.ts',
    'src/http/url.ts',
    // Every key source opens through here, the cache-hit path included; signing is node:crypto.
    'src/signers/open.ts',
    'src/exchange/exchange.ts',
  ]) {
    it(`${entry} statically imports neither jose nor undici`, async () => {
      expect([...new Set(heavy((await staticInputs(entry)).statics))]).toEqual([])
    })
  }

  it('src/http/fetch.ts loads undici only through a dynamic import', async () => {
    const { statics, dynamics } = await staticInputs('src/http/fetch.ts')
    expect(heavy(statics)).toEqual([])
    expect(heavy(dynamics)).toContain('undici')
  })

  it('src/exchange/key.ts reaches jose only through its dynamic fallback', async () => {
    expect(heavy((await staticInputs('src/exchange/key.ts')).dynamics)).toContain('jose')
  })

  it('src/keys/load.ts, the full key loader, does load jose (so this test can tell)', async () => {
    expect(heavy((await staticInputs('src/keys/load.ts')).statics)).toContain('jose')
  })
})
