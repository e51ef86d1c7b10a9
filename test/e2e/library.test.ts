import { execFile } from 'node:child_process'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { consumerProject } from '../setup/packed.js'

const run = promisify(execFile)
const ROOT = new URL('../..', import.meta.url).pathname

// The library as a user gets it: the packed tarball installed into a scratch project, a
// TypeScript consumer type-checked against the shipped declarations (strict, skipLibCheck off),
// compiled, and run against the reference server it starts through bktx/server.

const CONSUMER = `
import { chmod, writeFile } from 'node:fs/promises'
import { generateKeyPairSync } from 'node:crypto'
import { join } from 'node:path'
import { adviceText, buildJWKS, getToken, isBktxError, signClientAssertion, type Token } from 'bktx'
import { startReferenceServer, type ReferenceServer } from 'bktx/server'

const home = process.argv[2] as string
const key = join(home, 'key.pem')
await writeFile(key, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
await chmod(key, 0o600)
const jwks = await buildJWKS([key])
// The quick form with only what identifies the app: grantable and default scopes and the maximum
// TTL default as bktx server's flags do (issue 20).
const server: ReferenceServer = await startReferenceServer({ config: { quick: { org: 'acme', members: ['dev@acme.test'], clientId: 'lib-client', jwks } } })
const env = { HOME: home, XDG_RUNTIME_DIR: join(home, 'run'), XDG_CONFIG_HOME: join(home, 'config'), XDG_CACHE_HOME: join(home, 'cache') }
const settings = { tokenUrl: server.tokenUrl, clientId: 'lib-client', key, org: 'acme', subject: 'dev@acme.test', cache: 'file' as const, config: false as const, env }
try {
  const first: Token = await getToken({ ...settings, scopes: ['read_builds'] })
  const second = await getToken({ ...settings, scopes: ['read_builds'] })
  const signed = await signClientAssertion({ clientId: 'lib-client', key, tokenUrl: server.tokenUrl, config: false, env })
  let refused = ''
  let advice = ''
  try {
    await getToken({ ...settings, scopes: ['write_builds'], cache: 'none' })
  } catch (error) {
    if (isBktxError(error)) {
      refused = error.code + ' ' + String(error.detail.reason)
      advice = adviceText(error.advice)
    }
  }
  // An unknown scope name is heard through onNotice before the exchange that refuses it.
  const notices: string[] = []
  await getToken({ ...settings, scopes: ['read_bilds'], cache: 'none', onNotice: (message) => notices.push(message) }).catch(() => undefined)
  const me = await fetch(server.url + '/v2/access-token', { headers: { authorization: 'Bearer ' + first.token } })
  console.log(JSON.stringify({
    kids: jwks.keys.map((k) => k.kid),
    first: { cached: first.cached, cache: first.cache, scopes: first.scopes, prefix: first.token.slice(0, 5), expires: first.expiresAt instanceof Date },
    second: { cached: second.cached, same: second.token === first.token },
    assertion: { aud: signed.claims.aud, iss: signed.claims.iss, kid: signed.header.kid, parts: signed.assertion.split('.').length },
    refused,
    advice,
    notices,
    whoami: me.status,
    audit: server.auditRecords().map((r) => r.type),
  }))
} finally {
  await server.close()
}
`

let dir: string
let tsc: { code: number; stdout: string }
beforeAll(async () => {
  let project: string
  ;({ dir, project } = await consumerProject(inject('packed'), 'bktx-lib-'))
  await writeFile(join(project, 'consumer.ts'), CONSUMER)
  // (The hook's 300 s is a kill timer: packing, installing and type-checking take about 10 s
  // on a quiet machine and went past 120 s with the CPUs saturated.)
  // A consumer that misuses the API, type-checked in the same tsc run (one compiler start
  // instead of two): its errors must be there, and name no other file. The compiler is
  // TypeScript 7, the current release, checking every declaration file (skipLibCheck off): 1.5
  // CPU-seconds against 8 for 5.9 here. consumer.test.ts checks the declarations with 5.9.
  await writeFile(join(project, 'bad.ts'), "import { getToken } from 'bktx'\nawait getToken({ cache: 'disk', ttl: '1h' })\n")
  await writeFile(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        skipLibCheck: false,
        types: ['node'],
        outDir: 'out',
        exactOptionalPropertyTypes: true,
      },
      files: ['consumer.ts', 'bad.ts'],
    }),
  )
  // tsc emits despite the errors in bad.ts (noEmitOnError is off) and exits 2.
  tsc = await run(process.execPath, [join(ROOT, 'node_modules', 'typescript-7', 'bin', 'tsc'), '-p', project], { cwd: project }).then(
    () => ({ code: 0, stdout: '' }),
    (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
  )
}, 300_000)
afterAll(() => rm(dir, { recursive: true, force: true }))

describe('bktx as a library, from the packed tarball', () => {
  it('type-checks a consumer against the shipped declarations and runs it against bktx/server', async () => {
    const project = join(dir, 'consumer')
    // Every error tsc reported is bad.ts's: the consumer type-checks against the declarations.
    expect(tsc.stdout.split('\n').filter((l) => /error TS/.test(l) && !l.startsWith('bad.ts'))).toEqual([])
    const { stdout } = await run(process.execPath, [join(project, 'out', 'consumer.js'), join(project, 'home')], { cwd: project })
    expect(JSON.parse(stdout)).toEqual({
      kids: [expect.stringMatching(/^[A-Za-z0-9_-]{43}$/)],
      first: { cached: false, cache: 'file', scopes: ['read_builds'], prefix: 'bktx_', expires: true },
      second: { cached: true, same: true },
      assertion: { aud: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/oauth\/token$/), iss: 'lib-client', kid: expect.any(String), parts: 3 },
      refused: 'BKTX_OAUTH_REJECTED invalid_scope',
      // Advice in words for a library caller: the setting by name, never a CLI flag.
      advice: 'requested scopes: write_builds. Ask only for scopes the token exchange application may grant (the scope setting)',
      notices: ['unknown scope read_bilds (did you mean read_builds?); sending it anyway'],
      whoami: 200,
      audit: ['token.minted', 'token.exchange_failed', 'token.exchange_failed'],
    })
  }, 60_000)

  it('refuses a consumer that misuses the API, at type-check time', async () => {
    const project = join(dir, 'consumer')
    expect(tsc.code).toBe(2)
    expect(tsc.stdout).toMatch(/bad\.ts.*Type '"disk"' is not assignable/)
    expect(tsc.stdout).toMatch(/Type 'string' is not assignable to type 'number'/)
    expect(await readFile(join(project, 'package.json'), 'utf8')).toContain('consumer')
  }, 60_000)
})
