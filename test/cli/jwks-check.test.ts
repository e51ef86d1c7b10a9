import { chmod, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runCli, tempHome } from '../helpers/cli.js'
import { serveJwks } from '../helpers/jwks-serve.js'
import { writeKeyFiles } from '../helpers/keys.js'
import { startStubServer } from '../helpers/stub-token-server.js'

let home: Awaited<ReturnType<typeof tempHome>>
let cleanups: Array<() => Promise<unknown>> = []
beforeEach(async () => {
  home = await tempHome()
})
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
  cleanups = []
  await home.cleanup()
})

async function publishedKeys(...names: string[]): Promise<{ file: string; kids: string[] }> {
  const paths = []
  for (const name of names) paths.push((await writeKeyFiles(home.dir, 'ES256', name)).publicPath)
  const file = join(home.dir, 'jwks.json')
  const made = await runCli(['jwks', '--out', file, ...paths.flatMap((p) => ['--key', p]), '--json'], { env: home.env })
  expect(made.code).toBe(0)
  return { file, kids: JSON.parse(made.stdout).kids }
}

describe('bktx jwks check', () => {
  it('passes what bktx jwks publishes, and finds a kid in it', async () => {
    const { file, kids } = await publishedKeys('a', 'b')
    const result = await runCli(['jwks', 'check', file, '--kid', kids[1] as string], { env: home.env })
    expect(result).toMatchObject({ code: 0, stderr: '' })
    expect(result.stdout).toBe(
      `PASS  jwks      ${file}: 2 keys Buildkite accepts (${kids[0]} ES256, ${kids[1]} ES256)\nPASS  jwks-kid  ${file} holds kid ${kids[1]}\n`,
    )
  })

  it('exits 11 when the kid is not there, with the report on stdout and one error line on stderr', async () => {
    const { file, kids } = await publishedKeys('a')
    const result = await runCli(['jwks', 'check', file, '--kid', 'missing', '--json'], { env: home.env })
    expect(result.code).toBe(11)
    const doc = JSON.parse(result.stdout)
    expect(doc).toMatchObject({
      source: file,
      ok: false,
      kid: { kid: 'missing', found: false },
      keys: [{ index: 0, kid: kids[0], alg: 'ES256' }],
      problems: [],
    })
    expect(doc.checks[1]).toMatchObject({ id: 'jwks-kid', status: 'fail' })
    expect(JSON.parse(result.stderr)).toEqual({
      error: { code: 'BKTX_CHECKS_FAILED', message: `the JWKS ${file}: 1 check failed (jwks-kid); the report says how to fix it`, exit: 11 },
    })
  })

  it('reads stdin with -, and lists every broken rule', async () => {
    const doc = {
      keys: [
        { kty: 'oct', k: 'c2VjcmV0', kid: 'h' },
        { kty: 'EC', crv: 'P-256', kid: 'h2' },
      ],
    }
    const result = await runCli(['jwks', 'check', '-'], { env: home.env, stdin: JSON.stringify(doc) })
    expect(result.code).toBe(11)
    expect(result.stdout).toMatch(/^FAIL {2}jwks {2}stdin keys\[0\]: holds private key material \(k\); register public keys only$/m)
    expect(result.stdout).toMatch(/^FAIL {2}jwks {2}stdin keys\[1\]: is not a usable EC JWK/m)
    expect(result.stdout).toMatch(/fix: publish what `bktx jwks --out` writes/)
  })

  it('refuses what Buildkite could not fetch whole: over 100 KiB, not JSON', async () => {
    const big = join(home.dir, 'big.json')
    await writeFile(big, JSON.stringify({ keys: [], pad: 'x'.repeat(101 * 1024) }))
    expect((await runCli(['jwks', 'check', big], { env: home.env })).stdout).toMatch(/is larger than 100 KiB/)
    const text = join(home.dir, 'text.json')
    await writeFile(text, 'keys: []')
    const result = await runCli(['jwks', 'check', text], { env: home.env })
    expect(result.code).toBe(11)
    expect(result.stdout).toMatch(/is not JSON/)
  })

  it('exits 3 for a file it cannot read, and 2 without a source or jwks-uri', async () => {
    const { file } = await publishedKeys('a')
    await chmod(file, 0o000)
    const unreadable = await runCli(['jwks', 'check', file], { env: home.env })
    // root reads any file: then the check simply passes.
    if (process.getuid?.() !== 0) expect(unreadable.code).toBe(3)
    expect((await runCli(['jwks', 'check', join(home.dir, 'absent.json')], { env: home.env })).code).toBe(3)
    const none = await runCli(['jwks', 'check'], { env: home.env })
    expect(none.code).toBe(2)
    expect(none.stderr).toMatch(/name the JWKS to check/)
  })

  it('fetches a URL as Buildkite does: https only, http to loopback only when allowed (bktx jwks serve)', async () => {
    const key = await writeKeyFiles(home.dir, 'ES256', 'served')
    const served = await serveJwks([key.publicPath], home.env)
    cleanups.push(served.stop)
    const refused = await runCli(['jwks', 'check', served.url], { env: home.env })
    expect(refused.code).toBe(11)
    expect(refused.stdout).toMatch(/must be https:\/\/ \(http:\/\/ is allowed to a loopback host only when asked for/)
    const allowed = await runCli(['jwks', 'check', '--allow-http-jwks', '--json'], { env: { ...home.env, BKTX_JWKS_URI: served.url } })
    expect(allowed.code).toBe(0)
    expect(JSON.parse(allowed.stdout)).toMatchObject({
      ok: true,
      http: { status: 200, content_type: 'application/jwk-set+json', cache_control: 'max-age=300' },
    })
    const missing = await runCli(['jwks', 'check', '--allow-http-jwks', served.url.replace('jwks.json', 'nothing.json')], { env: home.env })
    expect(missing.code).toBe(11)
    expect(missing.stdout).toMatch(/answered HTTP 404; a JWKS URI must answer 200/)
  })

  it('follows no redirect, and exits 5 when nothing answers', async () => {
    const stub = await startStubServer((_req, res) => res.writeHead(301, { location: 'https://elsewhere.test/jwks.json' }).end())
    cleanups.push(() => stub.close())
    const redirected = await runCli(['jwks', 'check', '--allow-http-jwks', `${stub.origin}/jwks.json`], { env: home.env })
    expect(redirected.code).toBe(11)
    expect(redirected.stdout).toMatch(/answered HTTP 301 \(a redirect to https:\/\/elsewhere\.test\/jwks\.json\): JWKS fetches follow no redirects/)
    expect(stub.requests).toEqual(['GET /jwks.json'])
    await stub.close()
    const down = await runCli(['jwks', 'check', '--allow-http-jwks', `${stub.origin}/jwks.json`], { env: home.env })
    expect(down.code).toBe(5)
    expect(down.stdout).toBe('')
    expect(down.stderr).toMatch(/cannot reach the JWKS URI .*connection refused/)
  })
})
