import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

/** Every file esbuild pulls in for `entry`, relative to the project. */
async function inputs(entry: string): Promise<string[]> {
  const result = await build({
    entryPoints: [`${ROOT}${entry}`],
    bundle: true,
    write: false,
    metafile: true,
    format: 'esm',
    platform: 'node',
    external: ['@napi-rs/keyring'],
    logLevel: 'silent',
  })
  return Object.keys(result.metafile.inputs)
}

// The cached `bktx token` path runs in loops and prompts: it must not load jose (+44 ms),
// undici (+111 ms), ora (+69 ms) or chalk (docs/dependencies.md).
describe('the cache path imports', () => {
  it.each(['src/cache/select.ts', 'src/cache/with-cache.ts', 'src/secrets/keyring.ts', 'src/shell/quote.ts'])(
    '%s pulls in no heavy dependency',
    async (entry) => {
      const files = await inputs(entry)
      expect(files.length).toBeGreaterThan(0)
      expect(files.filter((f) => /node_modules\/(jose|undici|ora|chalk|commander)\//.test(f))).toEqual([])
    },
  )
})
