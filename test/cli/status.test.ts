import { createHash, createPublicKey, type KeyObject } from 'node:crypto'
import { chmod, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { KeychainError } from '../../src/errors.js'
import { keyTextDigest } from '../../src/keys/identity.js'
import { jwkThumbprint } from '../../src/keys/thumbprint.js'
import { MemorySecretStore } from '../../src/secrets/store.js'
import { fixedClock, runCli, tempHome } from '../helpers/cli.js'
import { makeKey, writeKeyFiles } from '../helpers/keys.js'
import { tokenWorld, type TokenWorld } from '../helpers/token-setup.js'

let cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups) await cleanup()
  cleanups = []
})

async function home() {
  const h = await tempHome()
  cleanups.push(h.cleanup)
  return h
}

async function world(): Promise<TokenWorld> {
  const w = await tokenWorld()
  cleanups.push(w.cleanup)
  return w
}

describe('bktx status', () => {
  it('describes keys that are not files: env:, exec: with its public key, pkcs11: from its record only (issue 15)', async () => {
    const h = await home()
    const { privateKey, publicKey } = makeKey('ES256')
    const pub = join(h.dir, 'pub.pem')
    await writeFile(pub, publicKey.export({ format: 'pem', type: 'spki' }))
    const env = { ...h.env, KEY_TEXT: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string }
    const key = async (extra: Record<string, string>) => JSON.parse((await runCli(['status', '--json'], { env: { ...env, ...extra } })).stdout).key
    const fromEnv = await key({ BKTX_KEY: 'env:KEY_TEXT' })
    expect(fromEnv).toMatchObject({ source: { kind: 'env', name: 'KEY_TEXT' }, loads: true, alg: 'ES256', kid_origin: 'thumbprint' })
    const fromSigner = await key({ BKTX_KEY: 'exec:false', BKTX_PUBLIC_KEY: pub, BKTX_KID: 'signer-1' })
    expect(fromSigner).toMatchObject({
      source: { kind: 'exec', command: 'false' },
      loads: true,
      kid: 'signer-1',
      kid_origin: 'setting',
      fingerprint: fromEnv.fingerprint,
    })
    // Status checks that the PKCS#11 module loads (issue 20; test/cli/pkcs11-status.test.ts),
    // but never reads the key from the token: a module that is not there is what it reports.
    const fromToken = await key({ BKTX_KEY: 'pkcs11:token=t;object=k?module-path=/nonexistent/module.so' })
    expect(fromToken).toMatchObject({
      source: { kind: 'pkcs11' },
      loads: false,
      error: { message: expect.stringContaining('the PKCS#11 module /nonexistent/module.so cannot be used') },
    })
  })

  it('works on a fresh machine: defaults, no key, no tokens; exit 0 and data on stdout only', async () => {
    const h = await home()
    const secrets = new MemorySecretStore()
    const result = await runCli(['status'], { env: h.env, secrets })
    expect(result.code).toBe(0)
    expect(result.stderr).toBe('')
    expect(result.stdout).toMatch(/^profile {3}default \(the default/)
    expect(result.stdout).toContain(`config    ${join(h.env.XDG_CONFIG_HOME, 'bktx', 'config.json')} (no such file`)
    expect(result.stdout).toMatch(/token-url +https:\/\/buildkite\.com\/oauth\/token {2}default/)
    expect(result.stdout).toMatch(/client-id +\(unset\)/)
    expect(result.stdout).toContain('(no key set: run `bktx keygen`)')
    expect(result.stdout).toContain('auto → keychain: the keychain is available')
    expect(result.stdout).toContain('(not created yet)')
    // Read-only: the keychain was asked whether it is usable, nothing else.
    expect(secrets.calls).toEqual([{ op: 'status' }])
  })

  it("--json: profile, every setting with its source, the key with its kid origin, the cache choice, this profile's cached tokens", async () => {
    const w = await world()
    const env = { ...w.env, BKTX_CACHE: 'file' }
    // One stopped clock for minting and status: expires_in is exactly the TTL, however long a
    // loaded machine takes between the two (a running clock made it 599 s).
    const clock = fixedClock(Date.now())
    expect((await runCli(['token', '--scope', 'read_builds'], { env, clock })).code).toBe(0)
    expect((await runCli(['token', '--scope', 'read_pipelines', '--ttl', '10m'], { env, clock })).code).toBe(0)
    // A token for the same user named by UUID is another subject's, not this profile's.
    expect((await runCli(['token', '--subject-type', 'uuid', '--subject', '11111111-2222-4333-8444-555555555555'], { env, clock })).code).toBe(0)
    const secrets = new MemorySecretStore()
    const result = await runCli(['status', '--json'], { env, secrets, clock })
    expect(result.code).toBe(0)
    const doc = JSON.parse(result.stdout)
    expect(doc.profile).toBe('default')
    expect(doc.settings['client-id']).toEqual({ value: '0123456789abcdef0123', source: 'env:BKTX_CLIENT_ID' })
    expect(doc.settings['subject-type']).toEqual({ value: 'email', source: 'default' })
    expect(doc.key).toMatchObject({
      source: { kind: 'file', path: w.keyPath },
      setting_source: 'env:BKTX_KEY',
      loads: true,
      alg: 'ES256',
      kid: w.server.key.kid,
      kid_origin: 'setting',
      header_kid: w.server.key.kid,
      file: { mode: '0600', private: true },
      error: null,
    })
    expect(doc.cache).toMatchObject({ mode: 'file', backend: 'file', usable: true, dir_state: 'ok', keychain: { state: 'available', detail: null } })
    expect(doc.tokens.map((t: { scopes: string[] }) => t.scopes.join(' ')).sort()).toEqual(['read_builds', 'read_pipelines'])
    for (const token of doc.tokens) expect(token).toMatchObject({ cache: 'file', expired: false, current_key: true })
    expect(doc.tokens.find((t: { scopes: string[] }) => t.scopes[0] === 'read_pipelines').expires_in).toBe(600)
    // Metadata only: no token was read from any store.
    expect(result.stdout).not.toMatch(/bktx_[A-Za-z0-9]{8}/)
    expect(secrets.calls.map((c) => c.op)).toEqual(['status'])

    // After a key change the old tokens are listed as another key's (no longer served).
    const other = await writeKeyFiles(w.home.dir, 'ES256', 'other')
    const after = JSON.parse((await runCli(['status', '--json'], { env: { ...env, BKTX_KEY: other.privatePath, BKTX_KID: '' } })).stdout)
    expect(after.key.kid_origin).toBe('thumbprint')
    expect(after.tokens.map((t: { current_key: boolean }) => t.current_key)).toEqual([false, false])
    const text = (await runCli(['status'], { env: { ...env, BKTX_KEY: other.privatePath } })).stdout
    expect(text).toContain('(minted with another key: not served)')
  })

  it("describes a key file from the identity a token command remembered for its text, never another key's (issue 23)", async () => {
    const w = await world()
    const env = { ...w.env, BKTX_CACHE: 'file', BKTX_KID: '' }
    const status = async (extra: Record<string, string> = {}) => {
      const e = { ...env, ...extra }
      const doc = JSON.parse((await runCli(['status', '--json'], { env: e })).stdout)
      const text = (await runCli(['status'], { env: e })).stdout
      return { key: doc.key, dir: doc.cache.dir as string, keyLines: text.split('\n').filter((l) => /^key {7}| loads$/.test(l)) }
    }
    const thumbprint = (key: KeyObject) => jwkThumbprint(createPublicKey(key))
    const record = (dir: string, text: string) => join(dir, `key-${keyTextDigest(text.trim())}.json`)
    // Parsed: no cache directory yet, so nothing remembered.
    const parsed = await status()
    expect(parsed.key).toMatchObject({ loads: true, kid: thumbprint(w.server.key.privateKey), kid_origin: 'thumbprint' })
    expect((await runCli(['token', '--scope', 'read_builds'], { env })).code).toBe(0)
    const keyText = await readFile(w.keyPath, 'utf8')
    expect(JSON.parse(await readFile(record(parsed.dir, keyText), 'utf8'))).toMatchObject({ thumbprint: parsed.key.kid, fingerprint: parsed.key.fingerprint })
    // Remembered: the same description, whatever the kid setting makes of it.
    expect(await status()).toEqual(parsed)
    expect((await status({ BKTX_KID: 'none' })).key).toMatchObject({ kid: parsed.key.kid, header_kid: null, kid_origin: 'thumbprint' })
    expect((await status({ BKTX_KID: 'k1' })).key).toMatchObject({ kid: 'k1', header_kid: 'k1', kid_origin: 'setting', fingerprint: parsed.key.fingerprint })

    // Another key written over the same file: another text, so not the identity remembered.
    const other = makeKey('ES256').privateKey
    const otherText = other.export({ format: 'pem', type: 'pkcs8' }) as string
    await writeFile(w.keyPath, otherText, { mode: 0o600 })
    const replaced = await status()
    expect(replaced.key).toMatchObject({ loads: true, kid: thumbprint(other), kid_origin: 'thumbprint' })
    expect(replaced.key.fingerprint).not.toBe(parsed.key.fingerprint)

    // What status takes from a record is what it says: a record planted for this text (here in
    // the private directory, where whoever can write can plant tokens already) is believed...
    const planted = { v: 1, fingerprint: 'A'.repeat(43), alg: 'ES256', thumbprint: 'B'.repeat(43) }
    await writeFile(record(parsed.dir, otherText), JSON.stringify(planted), { mode: 0o600 })
    expect((await status()).key).toMatchObject({ kid: planted.thumbprint, fingerprint: planted.fingerprint })
    // ...but never from a cache directory other users can reach (token commands refuse it too),
    // nor a record another user could have written.
    await chmod(parsed.dir, 0o755)
    expect((await status()).key).toEqual(replaced.key)
    await chmod(parsed.dir, 0o700)
    await chmod(record(parsed.dir, otherText), 0o644)
    expect((await status()).key).toEqual(replaced.key)

    // A labelled key (`bktx keygen --kid`): the label is read from the text, the rest from the
    // record, as the parse gives it (here the record a token command would write for it).
    const labelledText = `bktx-kid: team-key\n${otherText}`
    await writeFile(w.keyPath, labelledText, { mode: 0o600 })
    const labelledParsed = await status()
    expect(labelledParsed.key).toMatchObject({ kid: 'team-key', kid_origin: 'label', header_kid: 'team-key' })
    const fingerprint = createHash('sha256')
      .update(createPublicKey(other).export({ format: 'der', type: 'spki' }))
      .digest('base64url')
    await writeFile(record(parsed.dir, labelledText), JSON.stringify({ v: 1, fingerprint, alg: 'ES256', thumbprint: thumbprint(other) }), { mode: 0o600 })
    expect(await status()).toEqual(labelledParsed)
  })

  it('reports a 0644 key as not loading, with the chmod fix, instead of failing', async () => {
    const h = await home()
    const key = await writeKeyFiles(h.dir, 'ES256', 'loose')
    await chmod(key.privatePath, 0o644)
    const result = await runCli(['status', '--json'], { env: { ...h.env, BKTX_KEY: key.privatePath } })
    expect(result.code).toBe(0)
    const doc = JSON.parse(result.stdout)
    expect(doc.key).toMatchObject({ loads: false, file: { mode: '0644', private: false }, error: { code: 'BKTX_KEY_INVALID' } })
    expect(doc.key.error.message).toContain(`chmod 600 ${key.privatePath}`)
    const text = await runCli(['status'], { env: { ...h.env, BKTX_KEY: key.privatePath } })
    expect(text.stdout).toMatch(/mode 0644 \(group or others have access\), does not load: private key file .* has mode 0644/)
  })

  it('names where the kid comes from: the bktx-kid label, a JWK kid, or none', async () => {
    const h = await home()
    const made = await runCli(['keygen', '--kid', 'labelled', '--out', join(h.dir, 'l.pem')], { env: h.env })
    expect(made.code).toBe(0)
    const labelled = JSON.parse((await runCli(['status', '--json'], { env: h.env })).stdout)
    expect(labelled.key).toMatchObject({ kid: 'labelled', kid_origin: 'label', header_kid: 'labelled' })

    const jwkPath = join(h.dir, 'key.jwk')
    await writeFile(jwkPath, JSON.stringify({ ...makeKey('ES256').privateKey.export({ format: 'jwk' }), kid: 'from-jwk' }), { mode: 0o600 })
    const jwk = JSON.parse((await runCli(['status', '--json'], { env: { ...h.env, BKTX_KEY: jwkPath } })).stdout)
    expect(jwk.key).toMatchObject({ kid: 'from-jwk', kid_origin: 'jwk', header_kid: 'from-jwk' })

    const none = JSON.parse((await runCli(['status', '--json'], { env: { ...h.env, BKTX_KID: 'none' } })).stdout)
    expect(none.key).toMatchObject({ kid: 'labelled', kid_origin: 'label', header_kid: null })
    expect((await runCli(['status'], { env: { ...h.env, BKTX_KID: 'none' } })).stdout).toContain('no kid header (kid none; published as labelled)')
  })

  it('says which backend auto picks and why: a locked keychain means files; --cache keychain would fail', async () => {
    const h = await home()
    const secrets = new MemorySecretStore()
    secrets.fail = new KeychainError('the keychain is locked; bktx does not raise unlock prompts', { detail: { reason: 'locked' } })
    const auto = JSON.parse((await runCli(['status', '--json'], { env: h.env, secrets })).stdout)
    // Always said here, whatever token commands said today (issue 20: they say it once a day).
    expect(auto.cache).toMatchObject({
      mode: 'auto',
      backend: 'file',
      reason: 'the keychain is not available (token commands say so once a day)',
      usable: true,
      keychain: { state: 'locked' },
    })
    const required = JSON.parse((await runCli(['status', '--json'], { env: { ...h.env, BKTX_CACHE: 'keychain' }, secrets })).stdout)
    expect(required.cache).toMatchObject({ backend: 'keychain', usable: false })
    const ci = JSON.parse((await runCli(['status', '--json'], { env: { ...h.env, CI: 'true' }, secrets })).stdout)
    expect(ci.cache).toMatchObject({ backend: 'none', reason: expect.stringMatching(/^CI is set but no job identity/) })
    const job = JSON.parse((await runCli(['status', '--json'], { env: { ...h.env, CI: 'true', GITHUB_RUN_ID: '5', GITHUB_JOB: 'test' }, secrets })).stdout)
    expect(job.cache).toMatchObject({
      backend: 'file',
      reason: expect.stringMatching(/^a CI job is identified \(GITHUB_RUN_ID \+ GITHUB_RUN_ATTEMPT \+ GITHUB_JOB\)/),
    })
    expect(job.cache.dir).toMatch(/\/bktx\/job-[0-9a-f]{16}$/)
    secrets.fail = new KeychainError('no usable keychain: no D-Bus', { detail: { reason: 'no-bus' } })
    expect(JSON.parse((await runCli(['status', '--json'], { env: h.env, secrets })).stdout).cache.keychain.state).toBe('absent')
    // Only the lock probe was asked: no get, set or delete that could raise a prompt.
    expect(new Set(secrets.calls.map((c) => c.op))).toEqual(new Set(['status']))
  })

  it('fails on an invalid configuration file with exit 3, as every command does', async () => {
    const h = await home()
    const config = join(h.dir, 'bad.json')
    await writeFile(config, '{"profiles": {"default": {"ttl": "ten"}}}')
    const result = await runCli(['status', '--config', config], { env: h.env })
    expect(result.code).toBe(3)
    expect(result.stdout).toBe('')
  })
})
