// What a hit memo keeps of the variables resolution read (src/fast/remember.ts memoVariables).
import { describe, expect, it } from 'vitest'
import { memoVariables } from '../../../src/fast/remember.js'

describe('the hit memo keeps variables', () => {
  const env = { BKTX_ORG: 'acme', BKTX_KEY: 'env:SIGNING_KEY', SIGNING_KEY: '-----BEGIN PRIVATE KEY-----…', LANG: 'C.UTF-8', BKTX_PKCS11_PIN: '1234' }

  it('settings as they are, unset ones by name, a key variable and others only within the digest', () => {
    expect(memoVariables(['LANG', 'BKTX_ORG', 'SIGNING_KEY', 'BKTX_SCOPE', 'BKTX_KEY'], env, ['SIGNING_KEY', 'BKTX_PKCS11_PIN'], ['BKTX_PKCS11_PIN'])).toEqual({
      unset: ['BKTX_SCOPE'],
      plain: ['BKTX_KEY', 'BKTX_ORG'],
      hashed: ['LANG', 'SIGNING_KEY'],
    })
  })

  it('none at all when a PIN variable was read and is set: a digest of four digits is found again by trying them', () => {
    expect(memoVariables(['BKTX_ORG', 'BKTX_PKCS11_PIN'], env, ['BKTX_PKCS11_PIN'], ['BKTX_PKCS11_PIN'])).toBeUndefined()
    // Read but unset: nothing to find, so the memo is kept (the name only).
    expect(memoVariables(['BKTX_ORG', 'HSM_PIN'], env, ['HSM_PIN'], ['HSM_PIN'])?.unset).toEqual(['HSM_PIN'])
  })
})
