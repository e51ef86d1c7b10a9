import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { KeyIdentity, KeyIdentityStore } from '../../../src/keys/identity.js'
import { pkcs11AssertionKey, type Pkcs11KeyInput } from '../../../src/keys/pkcs11/key.js'
import { parsePkcs11Uri } from '../../../src/keys/pkcs11-uri.js'
import { recordPath, writeKeyRecord } from '../../../src/keys/record.js'
import { keyFingerprint } from '../../../src/keys/thumbprint.js'

function memoryStore(): KeyIdentityStore & { hits: number } {
  const map = new Map<string, KeyIdentity>()
  const store = {
    hits: 0,
    async get(digest: string) {
      const known = map.get(digest)
      if (known !== undefined) store.hits++
      return known
    },
    async set(digest: string, identity: KeyIdentity) {
      map.set(digest, identity)
    },
  }
  return store
}

function input(uri: string, dir: string, identities: KeyIdentityStore): Pkcs11KeyInput {
  return {
    uri: parsePkcs11Uri(uri),
    source: uri,
    kid: undefined,
    publicKeyPath: undefined,
    pkcs11Module: '/nonexistent/module.so',
    pinSource: undefined,
    env: { XDG_CACHE_HOME: join(dir, 'cache') },
    home: dir,
    uid: process.getuid?.(),
    // No binding: reaching the token (the module) fails, so a test sees when the record was not used.
    binding: 'bktx-test-no-such-binding',
    identities,
  }
}

const A = 'pkcs11:token=bktx;object=a'
const B = 'pkcs11:token=bktx;object=b'

// A recorded token key is known on later runs by the identity remembered under its record's
// text (src/keys/pkcs11/key.ts), so a cache hit neither parses the record nor loads node:crypto.
describe('a PKCS#11 key from its record', () => {
  it('is parsed once, then known by its remembered identity; the lazy key still gives the recorded public key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bktx-record-'))
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const identities = memoryStore()
    await writeKeyRecord(A, '/nonexistent/module.so', publicKey, input(A, dir, identities))
    const first = await pkcs11AssertionKey(input(A, dir, identities))
    expect(identities.hits).toBe(0)
    const again = await pkcs11AssertionKey(input(A, dir, identities))
    expect(identities.hits).toBe(1)
    expect({ alg: again.alg, fingerprint: again.fingerprint }).toEqual({ alg: 'ES256', fingerprint: keyFingerprint(publicKey) })
    expect(first.fingerprint).toBe(again.fingerprint)
    expect(again.publicKey.equals(publicKey)).toBe(true)
  })

  it("another URI's record copied under this URI's name is not served by the identity remembered for it", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bktx-record-'))
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const identities = memoryStore()
    await writeKeyRecord(A, '/nonexistent/module.so', publicKey, input(A, dir, identities))
    await pkcs11AssertionKey(input(A, dir, identities))
    const path = (uri: string) => recordPath(uri, '/nonexistent/module.so', input(uri, dir, identities))
    writeFileSync(path(B), readFileSync(path(A)), { mode: 0o600 })
    // B's record names A: not B's key, so the token must be asked, and here it cannot be.
    await expect(pkcs11AssertionKey(input(B, dir, identities))).rejects.toThrow(/PKCS#11|pkcs11js|binding/)
    expect(identities.hits).toBe(0)
  })

  it('a record replaced by another key is another text: parsed again, never the old identity', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bktx-record-'))
    const identities = memoryStore()
    const old = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey
    await writeKeyRecord(A, '/nonexistent/module.so', old, input(A, dir, identities))
    await pkcs11AssertionKey(input(A, dir, identities))
    const replaced = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey
    await writeKeyRecord(A, '/nonexistent/module.so', replaced, input(A, dir, identities))
    const key = await pkcs11AssertionKey(input(A, dir, identities))
    expect(identities.hits).toBe(0)
    expect({ alg: key.alg, fingerprint: key.fingerprint }).toEqual({ alg: 'RS256', fingerprint: keyFingerprint(replaced) })
  })
})
