import { execFile } from 'node:child_process'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { build } from 'esbuild'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { consumerProject } from '../setup/packed.js'

const run = promisify(execFile)
const ROOT = new URL('../..', import.meta.url).pathname

// The library as outside engineers met it: the packed tarball installed into a fresh project
// and used with that project's own tools. Each case is a way it failed before: msw did not see
// bktx's requests, a unit test could not inject fetch or a secret store, the error fields were
// untyped, and a consumer bundled as CommonJS crashed at load. One pack and install, shared.

/** (a) msw sees bktx's own client; (b) an injected fetch and memory store need no network; (c) typed error fields. */
const CONSUMER = `
import { generateKeyPairSync } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { http, HttpResponse } from 'msw'
import { setupServer } from 'msw/node'
import { getToken, isBktxError, MemorySecretStore, OAuthRejectedError, whoami, type FetchFunction } from 'bktx'

const home = process.argv[2] as string
const key = join(home, 'key.pem')
await writeFile(key, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, { mode: 0o600 })
const env = { HOME: home, XDG_RUNTIME_DIR: join(home, 'run'), XDG_CACHE_HOME: join(home, 'cache') }
const settings = { clientId: 'c1', key, org: 'acme', subject: 'dev@acme.test', scopes: ['read_builds'], config: false as const, env }
const TOKEN = 'bktx_' + 'A'.repeat(43)
const grant = { access_token: TOKEN, token_type: 'Bearer', expires_in: 900, scope: 'read_builds', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token' }

const seen: string[] = []
const unhandled: string[] = []
const server = setupServer(
  http.post('https://buildkite.com/oauth/token', async ({ request }) => {
    const form = new URLSearchParams(await request.text())
    seen.push(request.method + ' ' + request.url + ' ' + request.headers.get('user-agent')?.split('/')[0] + ' ' + form.get('grant_type'))
    return HttpResponse.json(grant)
  }),
  http.get('https://api.buildkite.com/v2/access-token', ({ request }) => {
    seen.push(request.method + ' ' + request.url + ' ' + (request.headers.get('authorization') === 'Bearer ' + TOKEN))
    return HttpResponse.json({ uuid: 'u-1', scopes: ['read_builds'], created_at: '2030-01-01T00:00:00Z', expires_at: null, user: { name: 'Dev', email: 'dev@acme.test' } })
  }),
)
server.events.on('request:unhandled', ({ request }) => void unhandled.push(request.method + ' ' + request.url))
server.listen({ onUnhandledRequest: 'error' })
try {
  const viaMsw = await getToken({ ...settings, cache: 'none' })
  const me = await whoami(viaMsw.token, { config: false, env })
  const mswSaw = seen.splice(0)

  const calls: string[] = []
  const fakeFetch: FetchFunction = async (input, init) => {
    calls.push(init?.method + ' ' + String(input))
    return Response.json(grant)
  }
  const store = new MemorySecretStore()
  const clock = { now: () => new Date('2030-01-01T00:00:00Z') }
  const injected = await getToken({ ...settings, cache: 'keychain', fetch: fakeFetch, secretStore: store, clock })
  const again = await getToken({ ...settings, cache: 'keychain', fetch: fakeFetch, secretStore: store, clock })

  let typed: { error: string; errorDescription: string | undefined; status: number; isClass: boolean } | undefined
  try {
    await getToken({ ...settings, cache: 'none', fetch: async () => Response.json({ error: 'invalid_scope', error_description: 'not grantable' }, { status: 400 }) })
  } catch (error) {
    if (isBktxError(error) && error.code === 'BKTX_OAUTH_REJECTED') {
      typed = { error: error.error, errorDescription: error.errorDescription, status: error.status, isClass: error instanceof OAuthRejectedError }
    }
  }
  console.log(JSON.stringify({
    msw: { saw: mswSaw, token: viaMsw.token === TOKEN, user: me.user.email },
    injected: { calls, cached: [injected.cached, again.cached], cache: injected.cache, expiresAt: injected.expiresAt.toISOString(), stored: store.items.size, mswSaw: seen },
    typed,
    unhandled,
  }))
} finally {
  server.close()
}
`

/** (d) CommonJS source, bundled by esbuild as CommonJS and run away from node_modules: the native packages are absent. */
const BUNDLED = `
const { buildJWKS, getToken, isBktxError } = require('bktx')
const { startReferenceServer } = require('bktx/server')
const { generateKeyPairSync } = require('node:crypto')
const { mkdirSync, writeFileSync } = require('node:fs')
const { join } = require('node:path')

async function main() {
  const home = process.argv[2]
  mkdirSync(join(home, 'run'), { recursive: true, mode: 0o700 })
  const key = join(home, 'key.pem')
  writeFileSync(key, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
  const jwks = await buildJWKS([key])
  const server = await startReferenceServer({ config: { quick: { org: 'acme', members: ['dev@acme.test'], clientId: 'bundle-client', jwks, grantable: ['read_builds'], defaultScopes: 'read_builds', maxTtl: 3600 } } })
  const env = { HOME: home, XDG_RUNTIME_DIR: join(home, 'run'), XDG_CACHE_HOME: join(home, 'cache') }
  const settings = { tokenUrl: server.tokenUrl, clientId: 'bundle-client', key, org: 'acme', subject: 'dev@acme.test', config: false, env }
  const out = {}
  try {
    const notices = []
    const token = await getToken({ ...settings, cache: 'auto', onNotice: (_message, notice) => notices.push(notice.kind) })
    out.auto = { cache: token.cache, prefix: token.token.slice(0, 5), notices }
    try {
      await getToken({ ...settings, cache: 'keychain' })
      out.keychain = 'no error'
    } catch (error) {
      out.keychain = { bktx: isBktxError(error), code: error.code, reason: error.detail && error.detail.reason }
    }
  } finally {
    await server.close()
  }
  console.log(JSON.stringify(out))
}
main().catch((error) => {
  console.error(error)
  process.exit(1)
})
`

let dir: string
let project: string
/** No D-Bus, no CI: \`auto\` tries the keychain, as on a developer's machine without one. */
let childEnv: Record<string, string>

beforeAll(async () => {
  ;({ dir, project } = await consumerProject(inject('packed'), 'bktx-consumer-'))
  childEnv = { PATH: process.env['PATH'] ?? '', HOME: join(project, 'home') }
}, 120_000)
afterAll(() => rm(dir, { recursive: true, force: true }))

describe('the packed library in a fresh project', () => {
  it('is seen by msw, takes an injected fetch and memory store without network, and types its error fields', async () => {
    await writeFile(join(project, 'consumer.ts'), CONSUMER)
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        // skipLibCheck: msw's own declarations are not under test here (library.test.ts checks bktx's stand alone).
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          skipLibCheck: true,
          types: ['node'],
          outDir: 'out',
          exactOptionalPropertyTypes: true,
        },
        files: ['consumer.ts'],
      }),
    )
    // (c) is the compile: e.error, e.errorDescription and e.status must type-check once code narrows.
    // With TypeScript 5.9, for users not yet on 7 (library.test.ts compiles its consumer with 7).
    await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project])
    const { stdout } = await run(process.execPath, [join(project, 'out', 'consumer.js'), join(project, 'home')], { cwd: project, env: childEnv })
    expect(JSON.parse(stdout)).toEqual({
      msw: {
        saw: [
          'POST https://buildkite.com/oauth/token bktx urn:ietf:params:oauth:grant-type:token-exchange',
          'GET https://api.buildkite.com/v2/access-token true',
        ],
        token: true,
        user: 'dev@acme.test',
      },
      injected: {
        calls: ['POST https://buildkite.com/oauth/token'],
        cached: [false, true],
        cache: 'keychain',
        expiresAt: '2030-01-01T00:15:00.000Z',
        stored: 1,
        mswSaw: [],
      },
      typed: { error: 'invalid_scope', errorDescription: 'not grantable', status: 400, isClass: true },
      unhandled: [],
    })
  }, 120_000)

  it.each([
    ['with the native packages left to runtime', []],
    ['with the native packages external', ['@napi-rs/keyring', 'pkcs11js']],
  ])(
    'runs bundled as CommonJS by esbuild %s, falling back to the file cache with a BktxError',
    async (name, external) => {
      const out = join(dir, `bundle-${external.length}`)
      await mkdir(out, { recursive: true })
      await writeFile(join(project, 'bundled.cjs'), BUNDLED)
      await build({
        entryPoints: [join(project, 'bundled.cjs')],
        outfile: join(out, 'bundle.cjs'),
        bundle: true,
        platform: 'node',
        format: 'cjs',
        target: 'node20',
        external,
        logLevel: 'silent',
      })
      // Outside the project: no node_modules above it, so neither native package can load.
      const { stdout } = await run(process.execPath, [join(out, 'bundle.cjs'), join(out, 'home')], { cwd: out, env: childEnv })
      expect(JSON.parse(stdout), name).toEqual({
        auto: { cache: 'file', prefix: 'bktx_', notices: ['keychain-fallback'] },
        keychain: { bktx: true, code: 'BKTX_KEYCHAIN', reason: 'no-binding' },
      })
    },
    60_000,
  )

  it('loads with require() where Node can; elsewhere Node says to use import()', async () => {
    const loaded = await run(
      process.execPath,
      ['-e', "process.stdout.write(typeof require('bktx').getToken + ' ' + typeof require('bktx/server').startReferenceServer)"],
      { cwd: project, env: childEnv },
    )
    expect(loaded.stdout).toBe('function function')
    // Without require(esm) (Node before 20.19, jest's CommonJS mode) Node's own error says what to do:
    // the package has no CommonJS entry that could fail at load in a less clear way.
    const refused = await run(process.execPath, ['--no-experimental-require-module', '-e', "require('bktx')"], { cwd: project, env: childEnv }).catch(
      (e: { stderr: string }) => e,
    )
    expect(refused.stderr).toMatch(/ERR_REQUIRE_ESM/)
    expect(refused.stderr).toMatch(/dynamic import\(\)/)
  }, 60_000)
})
