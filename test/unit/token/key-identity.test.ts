import { createPublicKey, generateKeyPairSync } from 'node:crypto'
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keyFingerprint } from '../../../src/keys/signer.js'
import { keyTextDigest } from '../../../src/keys/identity.js'
import { MemorySecretStore } from '../../../src/secrets/store.js'
import { lookupToken } from '../../../src/token/lookup.js'
import { obtainToken, type TokenServiceDeps } from '../../../src/token/service.js'
import { tokenWorld, type TokenWorld } from '../../helpers/token-setup.js'

// A cache hit takes a key's identity (fingerprint, alg) from what an earlier run remembered
// under the digest of the key's text, instead of parsing the key (src/keys/identity.ts). The
// shortcut must never serve a token minted with another key: whatever replaces the key file,
// however the file system's stat is made to look the same, the next lookup parses the new key
// and misses.

let world: TokenWorld
beforeAll(async () => {
  world = await tokenWorld()
})
afterAll(async () => world.cleanup())

let caseNo = 0
function deps(keyPath: string, extra: Record<string, string> = {}): TokenServiceDeps {
  caseNo++
  const run = join(world.home.dir, `run-${caseNo}`)
  mkdirSync(run, { mode: 0o700 })
  return {
    env: { ...world.env, BKTX_KEY: keyPath, BKTX_CACHE: 'file', XDG_CACHE_HOME: join(world.home.dir, `cache-${caseNo}`), XDG_RUNTIME_DIR: run, ...extra },
    home: world.home.dir,
    uid: process.getuid?.(),
    cwd: world.home.dir,
    clock: { now: () => new Date() },
    secrets: new MemorySecretStore(),
    fetch: (input, init) => fetch(input, init),
    userAgent: 'bktx/0.0.0-test',
  } as TokenServiceDeps
}

const pem = (key = generateKeyPairSync('ec', { namedCurve: 'P-256' })) => key.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string
function fpOfPem(text: string): string {
  return keyFingerprint(createPublicKey(text))
}

/** A key file holding the server's key, a token cached for it, and the cache directory. */
async function cachedWithServerKey(
  name: string,
  touch: (path: string) => void = () => undefined,
): Promise<{ d: TokenServiceDeps; keyPath: string; token: string; cacheDir: string }> {
  const keyPath = join(world.home.dir, `${name}.pem`)
  writeFileSync(keyPath, readFileSync(world.keyPath), { mode: 0o600 })
  touch(keyPath)
  const d = deps(keyPath)
  const { result } = await obtainToken({}, d)
  const hit = await lookupToken({}, d)
  expect(hit.result?.accessToken).toBe(result.accessToken)
  return { d, keyPath, token: result.accessToken, cacheDir: scopeDir(d) }
}

/** Another P-256 key of the very same PEM length as the server's (so the file size is unchanged). */
function sameSizeKey(): string {
  const length = readFileSync(world.keyPath, 'utf8').length
  for (;;) {
    const text = pem()
    if (text.length === length) return text
  }
}

/** The identities live beside the tokens, in this home's scope directory of the cache. */
function scopeDir(d: TokenServiceDeps): string {
  const base = join(d.env['XDG_RUNTIME_DIR'] as string, 'bktx')
  return join(base, readdirSync(base).find((name) => name.startsWith('home-')) as string)
}

async function expectReparsedAndMissed(d: TokenServiceDeps, newText: string, oldToken: string, cacheDir: string): Promise<void> {
  const lookup = await lookupToken({}, d)
  expect(lookup.result?.accessToken).not.toBe(oldToken)
  expect(lookup.result).toBeUndefined()
  // Parsed: the fingerprint is the new key's, and the new text's identity is remembered.
  expect(lookup.request.params.key.fingerprint).toBe(fpOfPem(newText))
  expect(readdirSync(cacheDir)).toContain(`key-${keyTextDigest(newText.trim())}.json`)
}

describe('the remembered key identity', () => {
  it('serves a hit without parsing the key: a planted identity for a text node:crypto cannot read still hits', async () => {
    const { d, keyPath, token, cacheDir } = await cachedWithServerKey('planted')
    const real = readFileSync(keyPath, 'utf8').trim()
    // Not a key at all, yet a plain PEM block: only the remembered identity can give its fingerprint.
    const fake = '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----'
    const remembered = readFileSync(join(cacheDir, `key-${keyTextDigest(real)}.json`), 'utf8')
    writeFileSync(join(cacheDir, `key-${keyTextDigest(fake)}.json`), remembered, { mode: 0o600 })
    writeFileSync(keyPath, `${fake}\n`, { mode: 0o600 })
    expect((await lookupToken({}, d)).result?.accessToken).toBe(token)
    // Signing with it parses it, and fails: nothing is signed with a key the identity does not describe.
    await expect(obtainToken({ refresh: true }, d)).rejects.toThrow()
  })

  it('re-parses a key replaced in place by one of the same size, with its old mtime put back', async () => {
    const { d, keyPath, token, cacheDir } = await cachedWithServerKey('utimes', (path) => utimesSync(path, 1_700_000_000, 1_700_000_000))
    const before = statSync(keyPath, { bigint: true })
    const other = sameSizeKey()
    writeFileSync(keyPath, other, { mode: 0o600 })
    utimesSync(keyPath, 1_700_000_000, 1_700_000_000)
    expect(statSync(keyPath, { bigint: true })).toMatchObject({ dev: before.dev, size: before.size, ino: before.ino, mtimeNs: before.mtimeNs })
    await expectReparsedAndMissed(d, other, token, cacheDir)
  })

  it('re-parses a key edited in place (the same inode, bytes overwritten)', async () => {
    const { d, keyPath, token, cacheDir } = await cachedWithServerKey('edit')
    const other = sameSizeKey()
    const fd = openSync(keyPath, 'r+')
    writeSync(fd, other, 0)
    closeSync(fd)
    await expectReparsedAndMissed(d, other, token, cacheDir)
  })

  it('re-parses a key swapped in by rename', async () => {
    const { d, keyPath, token, cacheDir } = await cachedWithServerKey('rename')
    const other = sameSizeKey()
    writeFileSync(`${keyPath}.new`, other, { mode: 0o600 })
    renameSync(`${keyPath}.new`, keyPath)
    await expectReparsedAndMissed(d, other, token, cacheDir)
  })

  it('re-parses a key behind a symlink that is pointed elsewhere, and hits again once it points back', async () => {
    const target = join(world.home.dir, 'link-target.pem')
    writeFileSync(target, readFileSync(world.keyPath), { mode: 0o600 })
    const link = join(world.home.dir, 'link.pem')
    symlinkSync(target, link)
    const d = deps(link)
    const { result } = await obtainToken({}, d)
    const cacheDir = scopeDir(d)
    const other = join(world.home.dir, 'link-other.pem')
    const otherText = sameSizeKey()
    writeFileSync(other, otherText, { mode: 0o600 })
    unlinkSync(link)
    symlinkSync(other, link)
    await expectReparsedAndMissed(d, otherText, result.accessToken, cacheDir)
    unlinkSync(link)
    symlinkSync(target, link)
    expect((await lookupToken({}, d)).result?.accessToken).toBe(result.accessToken)
  })

  it('remembers nothing with the cache mode none', async () => {
    const keyPath = join(world.home.dir, 'none.pem')
    writeFileSync(keyPath, readFileSync(world.keyPath), { mode: 0o600 })
    const d = deps(keyPath, { BKTX_CACHE: 'none' })
    await obtainToken({}, d)
    expect(() => readdirSync(join(d.env['XDG_RUNTIME_DIR'] as string, 'bktx'))).toThrow()
  })
})
