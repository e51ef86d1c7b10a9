import { describe, expect, it } from 'vitest'
import { encodeId, parsePkcs11Uri, Pkcs11UriError } from '../../../src/keys/pkcs11-uri.js'
import { parseKeySource, parsePinSource } from '../../../src/keys/source.js'
import { resolveSettings } from '../../../src/config/resolve.js'

describe('RFC 7512 PKCS#11 URIs', () => {
  it('reads path and query attributes, percent-decoding labels as UTF-8 and ids as bytes', () => {
    const uri = parsePkcs11Uri(
      'pkcs11:token=My%20Token;object=ci%2Fkey;id=%01%ff;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin',
    )
    expect(uri.attributes).toEqual({ token: 'My Token', object: 'ci/key', type: 'private' })
    expect([...(uri.id ?? [])]).toEqual([1, 255])
    expect(uri.modulePath).toBe('/usr/lib/softhsm/libsofthsm2.so')
    expect(uri.pinSource).toBe('file:/run/pin')
  })

  it('accepts the examples of RFC 7512 §3', () => {
    for (const text of [
      'pkcs11:',
      'pkcs11:object=my-pubkey;type=public',
      'pkcs11:object=my-key;type=private?pin-source=file:/etc/token',
      'pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=',
      'pkcs11:slot-description=Sun%20Metaslot',
      'pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;library-version=1.23',
      'pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-source=file:/etc/token',
    ]) {
      expect(() => parsePkcs11Uri(text), text).not.toThrow()
    }
  })

  it.each([
    ['pkcs11:object=a?pin-value=1234', /pin-value is refused/],
    ['pkcs11:object=a;object=b', /"object" is given twice/],
    ['pkcs11:x-vendor=1', /unknown path attribute "x-vendor"/],
    ['pkcs11:objekt=a', /unknown path attribute/],
    ['pkcs11:object=%zz', /two hex digits/],
    ['pkcs11:object=%ff', /not valid UTF-8/],
    ['pkcs11:type=secret', /type "secret" is not one of/],
    ['pkcs11:slot-id=abc', /slot-id must be a decimal number/],
    ['pkcs11:object=a?module-path=lib.so', /module-path must be an absolute path/],
    ['pkcs11:object=a?module-name=softhsm2', /module-name is not supported/],
    ['pkcs11:object=a b', /spaces/],
    ['pkcs11:object', /not an attribute of the form name=value/],
  ])('refuses %s', (text, message) => {
    expect(() => parsePkcs11Uri(text)).toThrow(Pkcs11UriError)
    expect(() => parsePkcs11Uri(text)).toThrow(message)
  })

  it('encodes ids for the URIs keygen prints', () => {
    expect(encodeId(Uint8Array.from([0, 0x52, 0xff]))).toBe('%00%52%ff')
    expect([...(parsePkcs11Uri(`pkcs11:id=${encodeId(Uint8Array.from([0, 0x52, 0xff]))}`).id ?? [])]).toEqual([0, 0x52, 0xff])
  })
})

describe('key sources and PIN sources', () => {
  it('tells files from env:, pkcs11: and exec: sources', () => {
    expect(parseKeySource('/keys/k.pem')).toMatchObject({ kind: 'file', path: '/keys/k.pem' })
    expect(parseKeySource('./env:odd-name.pem')).toMatchObject({ kind: 'file' })
    expect(parseKeySource('env:CI_KEY')).toMatchObject({ kind: 'env', name: 'CI_KEY' })
    expect(parseKeySource('pkcs11:token=t;object=o')).toMatchObject({ kind: 'pkcs11' })
    expect(parseKeySource('exec:aws kms sign --key-id x')).toMatchObject({ kind: 'exec', command: 'aws kms sign --key-id x' })
    expect(() => parseKeySource('env:1BAD')).toThrow(/does not name an environment variable/)
    expect(() => parseKeySource('exec:  ')).toThrow(/needs a command/)
  })

  it('reads pin sources; a PIN itself is refused', () => {
    expect(parsePinSource('env:HSM_PIN')).toEqual({ kind: 'env', name: 'HSM_PIN' })
    expect(parsePinSource('file:/run/secrets/pin')).toEqual({ kind: 'file', path: '/run/secrets/pin' })
    expect(parsePinSource('file:///run/secrets/pin')).toEqual({ kind: 'file', path: '/run/secrets/pin' })
    expect(parsePinSource('/run/secrets/pin')).toEqual({ kind: 'file', path: '/run/secrets/pin' })
    expect(() => parsePinSource('pin:1234')).toThrow(/a PIN is never given directly/)
  })

  it('resolves relative paths (key files, public keys, PIN files) but leaves sources and module names alone', () => {
    const resolved = resolveSettings({
      flags: { 'public-key': 'pub.pem', 'pin-source': 'file:pin.txt' },
      env: { BKTX_KEY: 'pkcs11:token=t;object=o', BKTX_PKCS11_MODULE: 'p11.so' },
      profiles: [{ name: 'default', profile: {} }],
      configDir: '/config',
      cwd: '/work',
    })
    expect(resolved.key?.value).toBe('pkcs11:token=t;object=o')
    expect(resolved['public-key']?.value).toBe('/work/pub.pem')
    // A bare module name goes to the system loader as it is (a relative path with a slash is
    // refused: test/unit/signers/pkcs11-module-path.test.ts).
    expect(resolved['pkcs11-module']?.value).toBe('p11.so')
    expect(resolved['pin-source']?.value).toBe('file:/work/pin.txt')
    const fromProfile = resolveSettings({
      flags: {},
      env: {},
      profiles: [{ name: 'p', profile: { key: 'keys/k.pem', 'pin-source': 'env:PIN' } }],
      configDir: '/config',
      cwd: '/work',
    })
    expect(fromProfile.key?.value).toBe('/config/keys/k.pem')
    expect(fromProfile['pin-source']?.value).toBe('env:PIN')
  })

  it('an invalid key setting is a usage error naming where it came from', () => {
    expect(() =>
      resolveSettings({
        flags: {},
        env: { BKTX_KEY: 'pkcs11:object=a?pin-value=1' },
        profiles: [{ name: 'default', profile: {} }],
        configDir: '/c',
        cwd: '/w',
      }),
    ).toThrow(/BKTX_KEY: not a usable PKCS#11 URI \(RFC 7512\): pin-value is refused/)
  })
})
