import { readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runCli, tempHome } from '../helpers/cli.js'

let home: Awaited<ReturnType<typeof tempHome>>
beforeEach(async () => {
  home = await tempHome()
})
afterEach(() => home.cleanup())

describe('bktx keygen', () => {
  it('writes an ES256 PKCS#8 key 0600 in a 0700 dir, prints the public JWKS, records it in the default profile', async () => {
    const result = await runCli(['keygen'], { env: home.env })
    expect(result.code).toBe(0)
    const jwks = JSON.parse(result.stdout)
    expect(jwks.keys).toHaveLength(1)
    const [jwk] = jwks.keys
    expect(Object.keys(jwk)).toEqual(['kty', 'kid', 'use', 'alg', 'crv', 'x', 'y'])
    expect(jwk).toMatchObject({ kty: 'EC', use: 'sig', alg: 'ES256', crv: 'P-256' })
    const path = join(home.env.XDG_CONFIG_HOME, 'bktx', 'keys', `${jwk.kid}.pem`)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect((await stat(join(home.env.XDG_CONFIG_HOME, 'bktx', 'keys'))).mode & 0o777).toBe(0o700)
    expect(await readFile(path, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/)
    expect(result.stderr).toContain(path)
    expect(result.stderr).not.toContain('PRIVATE KEY')
    const config = JSON.parse(await readFile(join(home.env.XDG_CONFIG_HOME, 'bktx', 'config.json'), 'utf8'))
    expect(config.profiles.default.key).toBe(path)
  })

  it('makes RS256 keys of the requested size', async () => {
    const out = join(home.dir, 'rsa.pem')
    const result = await runCli(['keygen', '--alg', 'RS256', '--bits', '3072', '--out', out], { env: home.env })
    expect(result.code).toBe(0)
    const [jwk] = JSON.parse(result.stdout).keys
    expect(jwk).toMatchObject({ kty: 'RSA', alg: 'RS256', e: 'AQAB' })
    expect(Buffer.from(jwk.n, 'base64url').length * 8).toBe(3072)
    expect(jwk.d).toBeUndefined()
  })

  it('never overwrites an existing key without --force, and leaves it untouched', async () => {
    const out = join(home.dir, 'k.pem')
    await writeFile(out, 'precious', { mode: 0o600 })
    const refused = await runCli(['keygen', '--out', out], { env: home.env })
    expect(refused.code).toBe(3)
    expect(refused.stdout).toBe('')
    expect(refused.stderr).toMatch(/already exists; pass --force/)
    expect(await readFile(out, 'utf8')).toBe('precious')
    expect(await readdir(home.dir)).toEqual(expect.not.arrayContaining([expect.stringMatching(/\.tmp$/)]))

    const forced = await runCli(['keygen', '--out', out, '--force'], { env: home.env })
    expect(forced.code).toBe(0)
    expect(await readFile(out, 'utf8')).toMatch(/BEGIN PRIVATE KEY/)
    expect((await stat(out)).mode & 0o777).toBe(0o600)
  })

  it('uses --kid everywhere the key goes: the file names it, so jwks, jwks of the file and sign agree (issue 11)', async () => {
    const result = await runCli(['keygen', '--kid', 'ci-2026', '--profile', 'ci'], { env: home.env })
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout).keys[0].kid).toBe('ci-2026')
    const path = join(home.env.XDG_CONFIG_HOME, 'bktx', 'keys', 'ci-2026.pem')
    const config = JSON.parse(await readFile(join(home.env.XDG_CONFIG_HOME, 'bktx', 'config.json'), 'utf8'))
    expect(config.profiles.ci).toEqual({ key: path })
    // The kid travels in the file, before the PEM block, where OpenSSL and Node ignore it.
    expect(await readFile(path, 'utf8')).toMatch(/^bktx-kid: ci-2026\n-----BEGIN PRIVATE KEY-----\n/)
    expect(JSON.parse((await runCli(['jwks', '--profile', 'ci'], { env: home.env })).stdout).keys[0].kid).toBe('ci-2026')
    expect(JSON.parse((await runCli(['jwks', '--key', path], { env: home.env })).stdout).keys[0].kid).toBe('ci-2026')
    const signed = JSON.parse((await runCli(['sign', '--profile', 'ci', '--client-id', 'abc', '--json'], { env: home.env })).stdout)
    expect(signed.header).toEqual({ alg: 'ES256', typ: 'JWT', kid: 'ci-2026' })
  })

  it('refuses --kid none, the value that means no kid header', async () => {
    const result = await runCli(['keygen', '--kid', 'none'], { env: home.env })
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/--kid "none" cannot name a key/)
  })

  it('does not replace the default profile key on a second keygen without --profile', async () => {
    await runCli(['keygen'], { env: home.env })
    const first = JSON.parse(await readFile(join(home.env.XDG_CONFIG_HOME, 'bktx', 'config.json'), 'utf8')).profiles.default.key
    expect((await runCli(['keygen'], { env: home.env })).code).toBe(0)
    const after = JSON.parse(await readFile(join(home.env.XDG_CONFIG_HOME, 'bktx', 'config.json'), 'utf8')).profiles.default.key
    expect(after).toBe(first)
  })

  it.each([
    [['keygen', '--alg', 'EdDSA'], 2],
    [['keygen', '--alg', 'ES256', '--bits', '2048'], 2],
    [['keygen', '--alg', 'RS256', '--bits', '1024'], 2],
    [['keygen', '--kid', '../escape'], 2],
  ])('%j exits %d with nothing on stdout and no key written', async (args, code) => {
    const result = await runCli(args, { env: home.env })
    expect(result.code).toBe(code)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(/^error: /)
    await expect(readdir(join(home.env.XDG_CONFIG_HOME, 'bktx', 'keys'))).rejects.toThrow()
  })

  it('names the flag of a --bits that does not fit the algorithm', async () => {
    const result = await runCli(['keygen', '--alg', 'ES256', '--bits', '2048'], { env: home.env })
    expect(result.stderr.split('\n')[0]).toBe('error: --bits: applies to RS256 keys only; leave it out, or use --alg RS256')
  })

  it('fails before writing a key when the config file is invalid', async () => {
    const config = join(home.dir, 'bad.json')
    await writeFile(config, '{"profiles": {"default": {"ttl": "soon"}}}')
    const result = await runCli(['keygen', '--config', config], { env: home.env })
    expect(result.code).toBe(3)
    expect(result.stderr).toBe(`error: config file ${config}: profiles.default.ttl: must be a duration such as 900, 15m or 1h\n`)
    await expect(readdir(join(home.env.XDG_CONFIG_HOME, 'bktx', 'keys'))).rejects.toThrow()
    expect(await readFile(config, 'utf8')).toContain('soon')
  })
})
