import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { build } from 'esbuild'
import { afterAll, beforeAll, expect, it } from 'vitest'

// Regression: in an esbuild bundle (scripts/build.mjs) `await import('undici')` exposes the
// CommonJS exports under `default` only, and `const { EnvHttpProxyAgent } = await import(...)`
// was undefined: every proxied request failed. This runs makeFetch from a bundle built the same way.

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bktx-bundle-'))
  await build({
    entryPoints: { fetch: 'src/http/fetch.ts' },
    absWorkingDir: fileURLToPath(new URL('../../..', import.meta.url)),
    outdir: dir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    banner: { js: "import { createRequire as __bktxCreateRequire } from 'node:module'; const require = __bktxCreateRequire(import.meta.url);" },
    logLevel: 'silent',
  })
})
afterAll(() => rm(dir, { recursive: true, force: true }))

it('the bundled makeFetch builds an EnvHttpProxyAgent when a proxy is set', async () => {
  const script = `
    const { makeFetch } = await import(${JSON.stringify(join(dir, 'fetch.js'))})
    const f = makeFetch({ env: { HTTPS_PROXY: 'http://127.0.0.1:9' }, userAgent: 'bktx/t',
      dispatchFetch: async (_url, init) => new Response(init.dispatcher?.constructor?.name ?? 'none') })
    process.stdout.write(await (await f('https://x.test/')).text())
    await f.close()`
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { env: {} })
  expect(stdout).toBe('EnvHttpProxyAgent')
})
