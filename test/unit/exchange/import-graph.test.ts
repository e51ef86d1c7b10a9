import { describe, expect, it } from 'vitest'
import { staticInputs } from '../../helpers/import-graph.js'

// The cache-hit path of `bktx token` must not pay for jose (~44 ms) or undici (~111 ms)
// (docs/dependencies.md). This bundles each module as src/bin.ts is bundled (ESM, code split)
// and walks the static imports of its entry chunk: dynamic imports are allowed, since they
// load only when taken.

const heavy = (inputs: string[]) => inputs.filter((p) => /node_modules\/(jose|undici)\//.test(p)).map((p) => p.split('/')[1])

describe('import graph: what the cache-hit path loads', () => {
  for (const entry of [
    'src/exchange/types.ts',
    'src/keys/signer.ts',
    'src/exchange/response.ts',
    'src/exchange/access-token.ts',
    'src/http/retry.ts',
    'src/http/url.ts',
    // Every key source opens through here, the cache-hit path included; signing is node:crypto.
    'src/keys/open.ts',
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

  it('src/keys/signer.ts reaches jose only through its dynamic fallback', async () => {
    expect(heavy((await staticInputs('src/keys/signer.ts')).dynamics)).toContain('jose')
  })

  it('src/keys/load.ts, the full key loader, does load jose (so this test can tell)', async () => {
    expect(heavy((await staticInputs('src/keys/load.ts')).statics)).toContain('jose')
  })
})
