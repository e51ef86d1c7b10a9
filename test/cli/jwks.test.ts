import { readFile, stat, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { fakeSignals, runCli, tempHome } from '../helpers/cli.js'
import { writeKeyFiles } from '../helpers/keys.js'

let home: Awaited<ReturnType<typeof tempHome>>
beforeEach(async () => {
  home = await tempHome()
})
afterEach(() => home.cleanup())

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']

describe('bktx jwks', () => {
  it('prints the public JWKS of several keys, private or public, PEM or JWK, with no private member', async () => {
    const ec = await writeKeyFiles(home.dir, 'ES256')
    const rsa = await writeKeyFiles(home.dir, 'RS256')
    const jwkPath = join(home.dir, 'private.jwk')
    const { privateKey } = await import('../helpers/keys.js').then((m) => m.makeKey('ES256'))
    await writeFile(jwkPath, JSON.stringify({ ...privateKey.export({ format: 'jwk' }), kid: 'jwk-key' }), { mode: 0o600 })
    const result = await runCli(['jwks', '--key', ec.privatePath, '--key', rsa.publicPath, '--key', jwkPath], { env: home.env })
    expect(result.code).toBe(0)
    const jwks = JSON.parse(result.stdout)
    expect(jwks.keys.map((k: { alg: string }) => k.alg)).toEqual(['ES256', 'RS256', 'ES256'])
    expect(jwks.keys[2].kid).toBe('jwk-key')
    for (const key of jwks.keys) {
      expect(key.use).toBe('sig')
      for (const member of PRIVATE_MEMBERS) expect(key).not.toHaveProperty(member)
    }
  })

  it('uses the profile key by default', async () => {
    const made = await runCli(['keygen'], { env: home.env })
    const result = await runCli(['jwks'], { env: home.env })
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout)).toEqual(JSON.parse(made.stdout))
  })

  it('refuses duplicate kids', async () => {
    const ec = await writeKeyFiles(home.dir, 'ES256')
    const result = await runCli(['jwks', '--key', ec.privatePath, '--key', ec.publicPath], { env: home.env })
    expect(result.code).toBe(3)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(/duplicate kid/)
  })

  it('publishes atomically to --out with mode 0644, replacing the old file', async () => {
    const ec = await writeKeyFiles(home.dir, 'ES256')
    const out = join(home.dir, 'public', 'jwks.json')
    const first = await runCli(['jwks', '--key', ec.privatePath, '--out', out], { env: home.env })
    expect(first.code).toBe(0)
    expect(first.stdout).toBe('')
    expect((await stat(out)).mode & 0o777).toBe(0o644)
    const rsa = await writeKeyFiles(home.dir, 'RS256')
    await runCli(['jwks', '--key', ec.privatePath, '--key', rsa.privatePath, '--out', out], { env: home.env })
    expect(JSON.parse(await readFile(out, 'utf8')).keys).toHaveLength(2)
  })
})

function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = ''
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('bktx jwks serve', () => {
  it('serves the JWKS with caching headers, answers 304 on If-None-Match, follows key changes, and stops on SIGTERM', async () => {
    const ec = await writeKeyFiles(home.dir, 'ES256')
    const signals = fakeSignals()
    let url = ''
    let announce: () => void = () => undefined
    const listening = new Promise<void>((resolve) => (announce = resolve))
    const running = runCli(['jwks', 'serve', '--port', '0', '--key', ec.publicPath], {
      env: home.env,
      signals,
      onStderr: (chunk) => {
        const match = /serving JWKS at (\S+)/.exec(chunk)
        if (match?.[1] !== undefined) {
          url = match[1]
          announce()
        }
      },
    })
    await listening
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\.well-known\/jwks\.json$/)

    const first = await get(url)
    expect(first.status).toBe(200)
    expect(first.headers['content-type']).toBe('application/jwk-set+json')
    expect(first.headers['cache-control']).toBe('max-age=300')
    const etag = first.headers['etag'] as string
    expect(etag).toMatch(/^".+"$/)
    expect(JSON.parse(first.body).keys).toHaveLength(1)
    expect((await get(url.replace('/.well-known/jwks.json', '/jwks.json'))).body).toBe(first.body)
    expect((await get(url, { 'If-None-Match': etag })).status).toBe(304)
    expect((await get(url.replace('jwks.json', 'other'))).status).toBe(404)

    // Rotation: replace the key file; the next request serves the new set.
    const next = await writeKeyFiles(home.dir, 'ES256', 'next')
    await writeFile(ec.publicPath, await readFile(next.publicPath))
    const rotated = await get(url, { 'If-None-Match': etag })
    expect(rotated.status).toBe(200)
    expect(rotated.headers['etag']).not.toBe(etag)

    signals.emit('SIGTERM')
    const result = await running
    expect(result.code).toBe(0)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(/GET \/\.well-known\/jwks\.json 200 \d+ms 127\.0\.0\.1/)
  })

  it('fails before listening when a key is unusable', async () => {
    const path = join(home.dir, 'bad.pem')
    await writeFile(path, 'nope')
    const result = await runCli(['jwks', 'serve', '--port', '0', '--key', path], { env: home.env })
    expect(result.code).toBe(3)
    expect(result.stdout).toBe('')
  })
})
