import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { build } from 'esbuild'
import { http, HttpResponse } from 'msw'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { nodeFetch } from '../../../src/http/node-fetch.js'
import { useStrictMsw } from '../../helpers/msw.js'

// Interceptors (msw, nock) patch the node:http and node:https module objects. nodeFetch must
// read `request` from those objects at call time, so that a library user's msw handler sees
// bktx's requests and `onUnhandledRequest: 'error'` stops the ones it does not expect.

const server = useStrictMsw()

describe('nodeFetch under an interceptor', () => {
  it('is answered by an msw handler for an https URL, with no DNS lookup', async () => {
    let seen: { method: string; agent: string | null; body: string } | undefined
    server.use(
      http.post('https://buildkite.com/oauth/token', async ({ request }) => {
        seen = { method: request.method, agent: request.headers.get('user-agent'), body: await request.text() }
        return HttpResponse.json({ ok: true }, { status: 201 })
      }),
    )
    const response = await nodeFetch('https://buildkite.com/oauth/token', { method: 'POST', headers: { 'user-agent': 'bktx/t' }, body: 'a=b' })
    expect(response.status).toBe(201)
    expect(seen).toEqual({ method: 'POST', agent: 'bktx/t', body: 'a=b' })
  })

  it('is answered for a plain-http URL too', async () => {
    server.use(http.get('http://127.0.0.1:9/x', () => new HttpResponse('hi', { status: 200 })))
    expect((await nodeFetch('http://127.0.0.1:9/x')).status).toBe(200)
  })
})

// The same in the bundles scripts/build.mjs makes: esbuild rewrites `await import('node:https')`
// (in CommonJS, to a __toESM(require(...)) wrapper), and `.default` must still be the module object.
let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bktx-node-fetch-'))
  const common = {
    absWorkingDir: fileURLToPath(new URL('../../..', import.meta.url)),
    bundle: true,
    platform: 'node',
    target: 'node20',
    logLevel: 'silent',
  } as const
  await build({ ...common, entryPoints: { esm: 'src/http/node-fetch.ts' }, outdir: dir, format: 'esm', outExtension: { '.js': '.mjs' } })
  await build({ ...common, entryPoints: { cjs: 'src/http/node-fetch.ts' }, outdir: dir, format: 'cjs', outExtension: { '.js': '.cjs' } })
})
afterAll(() => rm(dir, { recursive: true, force: true }))

describe.each(['esm.mjs', 'cjs.cjs'])('nodeFetch bundled by esbuild (%s)', (file) => {
  it('calls the request function patched on the node:https module object', async () => {
    // What an interceptor does, minus the interceptor: replace https.request on the module object.
    const script = `
      import https from 'node:https'
      import { createRequire } from 'node:module'
      https.request = (url) => { process.stdout.write('patched ' + url.host); process.exit(0) }
      const mod = ${file.endsWith('.cjs') ? `createRequire(import.meta.url)(${JSON.stringify(join(dir, file))})` : `await import(${JSON.stringify(join(dir, file))})`}
      await mod.nodeFetch('https://buildkite.invalid/oauth/token')`
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { env: {} })
    expect(stdout).toBe('patched buildkite.invalid')
  })
})
