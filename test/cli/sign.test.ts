import { createPublicKey, verify } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { fixedClock, runCli, tempHome } from '../helpers/cli.js'
import { writeKeyFiles } from '../helpers/keys.js'

let home: Awaited<ReturnType<typeof tempHome>>
beforeEach(async () => {
  home = await tempHome()
})
afterEach(() => home.cleanup())

function decode(jwt: string): { header: Record<string, unknown>; claims: Record<string, unknown>; signingInput: string; signature: Buffer } {
  const [h, p, s] = jwt.split('.') as [string, string, string]
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString()),
    claims: JSON.parse(Buffer.from(p, 'base64url').toString()),
    signingInput: `${h}.${p}`,
    signature: Buffer.from(s, 'base64url'),
  }
}

describe('bktx sign', () => {
  it.each(['ES256', 'RS256'] as const)('signs a %s assertion that node:crypto verifies independently of jose', async (alg) => {
    const key = await writeKeyFiles(home.dir, alg)
    const clock = fixedClock('2026-11-28T12:00:00Z')
    const result = await runCli(['sign', '--client-id', '0123456789abcdef0123', '--key', key.privatePath], { env: home.env, clock })
    expect(result.code).toBe(0)
    expect(result.stderr).toBe('')
    const jwt = result.stdout.trim()
    expect(result.stdout).toBe(`${jwt}\n`)
    const { header, claims, signingInput, signature } = decode(jwt)
    expect(header).toEqual({ alg, typ: 'JWT', kid: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) })
    const now = Date.parse('2026-11-28T12:00:00Z') / 1000
    expect(claims).toEqual({
      iss: '0123456789abcdef0123',
      sub: '0123456789abcdef0123',
      aud: 'https://buildkite.com/oauth/token',
      iat: now,
      exp: now + 60,
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
    })
    // JWS ECDSA signatures are raw r||s (RFC 7518 §3.4), hence ieee-p1363.
    const publicKey = createPublicKey(await readFile(key.publicPath))
    const ok = verify('sha256', Buffer.from(signingInput), { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)
    expect(ok).toBe(true)
    const tampered = Buffer.from(signingInput.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')))
    expect(verify('sha256', tampered, { key: key.publicKey, dsaEncoding: 'ieee-p1363' }, signature)).toBe(false)
  })

  it('uses a fresh jti each time, --aud, --lifetime and --claim', async () => {
    const key = await writeKeyFiles(home.dir, 'ES256')
    const args = [
      'sign',
      '--client-id',
      'c1',
      '--key',
      key.privatePath,
      '--aud',
      'http://127.0.0.1:8787/oauth/token',
      '--lifetime',
      '5m',
      '--claim',
      'nbf=1',
      '--claim',
      'jti=fixed',
    ]
    const a = decode((await runCli(args, { env: home.env })).stdout.trim()).claims
    expect(a).toMatchObject({ aud: 'http://127.0.0.1:8787/oauth/token', nbf: 1, jti: 'fixed' })
    expect((a['exp'] as number) - (a['iat'] as number)).toBe(300)
    const b = decode((await runCli(['sign', '--client-id', 'c1', '--key', key.privatePath], { env: home.env })).stdout.trim()).claims
    const c = decode((await runCli(['sign', '--client-id', 'c1', '--key', key.privatePath], { env: home.env })).stdout.trim()).claims
    expect(b['jti']).not.toBe(c['jti'])
  })

  it('takes client id, key, kid and token URL from the profile and the environment', async () => {
    const key = await writeKeyFiles(home.dir, 'ES256')
    const config = join(home.dir, 'config.json')
    await writeFile(config, JSON.stringify({ profiles: { ci: { 'client-id': 'from-profile', key: key.privatePath, kid: 'k-2026' } } }))
    const result = await runCli(['sign', '--profile', 'ci', '--config', config], { env: { ...home.env, BKTX_TOKEN_URL: 'https://example.test/oauth/token' } })
    expect(result.code).toBe(0)
    const { header, claims } = decode(result.stdout.trim())
    expect(header['kid']).toBe('k-2026')
    expect(claims).toMatchObject({ iss: 'from-profile', aud: 'https://example.test/oauth/token' })
  })

  it('prints the assertion with its header and claims under --json', async () => {
    const key = await writeKeyFiles(home.dir, 'ES256')
    const result = await runCli(['sign', '--json', '--client-id', 'c1', '--key', key.privatePath], { env: home.env })
    const doc = JSON.parse(result.stdout)
    expect(Object.keys(doc)).toEqual(['assertion', 'header', 'claims'])
    expect(decode(doc.assertion).claims).toEqual(doc.claims)
  })

  it.each([
    ['lifetime of 301 s', (k: string) => ['--key', k, '--lifetime', '301'], 2, /out of range/],
    ['a public key', (_k: string, pub: string) => ['--key', pub], 3, /holds a public key; signing needs the private key/],
    ['a missing key file', () => ['--key', '/nonexistent/k.pem'], 3, /cannot read key file/],
    ['a reserved --claim', (k: string) => ['--key', k, '--claim', 'aud=x'], 2, /cannot set "aud"/],
  ])('refuses %s', async (_name, extra, code, message) => {
    const key = await writeKeyFiles(home.dir, 'ES256')
    const result = await runCli(['sign', '--client-id', 'c1', ...extra(key.privatePath, key.publicPath)], { env: home.env })
    expect(result.code).toBe(code)
    expect(result.stdout).toBe('')
    expect(result.stderr.split('\n')[0]).toMatch(message)
  })

  it.each([
    ['P-384', /only ES256 \(P-256\)/],
    ['Ed25519', /EdDSA keys, which token exchange rejects/],
    ['RSA-1024', /at least 2048 bits/],
  ] as const)('refuses a %s key with the reason Buildkite would reject it (exit 3)', async (kind, reason) => {
    const key = await writeKeyFiles(home.dir, kind)
    const result = await runCli(['sign', '--client-id', 'c1', '--key', key.privatePath], { env: home.env })
    expect(result.code).toBe(3)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(reason)
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1)
  })

  it('refuses a corrupt PEM with exit 3 and a one-line message', async () => {
    const path = join(home.dir, 'corrupt.pem')
    await writeFile(path, '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n')
    const result = await runCli(['sign', '--client-id', 'c1', '--key', path], { env: home.env })
    expect(result).toEqual({ code: 3, stdout: '', stderr: `error: ${path} holds no readable private key (corrupt or unsupported PEM)\n` })
  })

  it('names the missing setting', async () => {
    const key = await writeKeyFiles(home.dir, 'ES256')
    const result = await runCli(['sign', '--key', key.privatePath], { env: home.env })
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr: 'error: client-id is not set; pass --client-id, set BKTX_CLIENT_ID, or run `bktx config set client-id VALUE`\n',
    })
  })
})
