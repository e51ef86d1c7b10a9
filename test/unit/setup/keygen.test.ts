import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from 'vitest'
import { generateKey, isBktxError, type GeneratedKey } from '../../../src/api/index.js'
import type { SigningAlg } from '../../../src/keys/policy.js'
import type { KeygenResult } from '../../../src/setup/keygen.js'

// The keygen use case (src/setup/keygen.ts) as the library offers it: the same key file and
// the same profile record as `bktx keygen` (test/cli/keygen.test.ts), with no CLI around it.

let dir: string
let env: Record<string, string>
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bktx-keygen-'))
  env = { XDG_CONFIG_HOME: join(dir, 'config') }
})
afterEach(() => rm(dir, { recursive: true, force: true }))

const configFile = () => join(dir, 'config', 'bktx', 'config.json')
const readConfig = async () => JSON.parse(await readFile(configFile(), 'utf8')) as { profiles: Record<string, Record<string, string>> }

describe('generateKey', () => {
  it('writes the key 0600 under the keys directory and records it in the default profile on first use only', async () => {
    const first = await generateKey({ env })
    expect(first.path).toBe(join(dir, 'config', 'bktx', 'keys', `${first.kid}.pem`))
    expect((await stat(first.path)).mode & 0o777).toBe(0o600)
    expect(await readFile(first.path, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/)
    expect(first).toMatchObject({ alg: 'ES256', profile: 'default', previousKey: undefined })
    expect(first.jwks.keys).toEqual([expect.objectContaining({ kid: first.kid, kty: 'EC', alg: 'ES256', use: 'sig' })])
    expect(JSON.stringify(first.jwks)).not.toMatch(/"d"/)
    expect((await readConfig()).profiles['default']?.key).toBe(first.path)

    // A second key does not move the default profile: it still signs with the first.
    const second = await generateKey({ env, alg: 'RS256' })
    expect(second).toMatchObject({ alg: 'RS256', profile: null, previousKey: first.path })
    expect((await readConfig()).profiles['default']?.key).toBe(first.path)
  })

  it('records the key in the profile named, creating it, with the kid in the file name', async () => {
    const out = await generateKey({ env, profile: 'ci', kid: 'ci-2026' })
    expect(out).toMatchObject({ kid: 'ci-2026', profile: 'ci', path: join(dir, 'config', 'bktx', 'keys', 'ci-2026.pem') })
    expect((await readConfig()).profiles['ci']?.key).toBe(out.path)
  })

  it('with config: false writes the key and touches no configuration', async () => {
    const out = await generateKey({ env, config: false, out: join(dir, 'k.pem') })
    expect(out).toMatchObject({ path: join(dir, 'k.pem'), profile: null })
    await expect(stat(configFile())).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('never replaces an existing file unless forced', async () => {
    const path = join(dir, 'k.pem')
    await writeFile(path, 'precious', { mode: 0o600 })
    const refused = await generateKey({ env, config: false, out: path }).catch((e: unknown) => e)
    expect(isBktxError(refused) && refused.code).toBe('BKTX_FILE_EXISTS')
    expect(await readFile(path, 'utf8')).toBe('precious')
    await generateKey({ env, config: false, out: path, force: true })
    expect(await readFile(path, 'utf8')).toMatch(/BEGIN PRIVATE KEY/)
  })

  it.each([
    [{ kid: '../escape' }, 'kid'],
    [{ kid: 'none', out: 'x.pem' }, 'kid'],
    [{ kid: 'a b', out: 'x.pem' }, 'kid'],
    [{ alg: 'EdDSA' as 'ES256' }, 'alg'],
    [{ alg: 'ES256' as const, bits: 3072 as const }, 'bits'],
  ])('refuses %j in its own option names, before writing anything', async (options, setting) => {
    const error = await generateKey({ env, ...options }).catch((e: unknown) => e)
    expect(isBktxError(error) && error.code).toBe('BKTX_SETTING_INVALID')
    expect(error).toMatchObject({ setting })
    expect((error as Error).message).not.toMatch(/--/)
    await expect(stat(join(dir, 'config'))).rejects.toMatchObject({ code: 'ENOENT' })
  })
})

it('has public types that are the types of the use case', () => {
  expectTypeOf<GeneratedKey['alg']>().toEqualTypeOf<SigningAlg>()
  expectTypeOf<GeneratedKey['kid']>().toEqualTypeOf<KeygenResult['kid']>()
  expectTypeOf<GeneratedKey['previousKey']>().toEqualTypeOf<KeygenResult['previousKey']>()
})
