// Token faults a real SoftHSM2 cannot produce (test/e2e/pkcs11.test.ts covers the rest), with
// a stand-in binding: each must be a typed error (exit 10) that never carries the PIN.
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { exitCodeFor } from '../../../src/cli/exit-codes.js'
import { isBktxError, Pkcs11ModuleError, Pkcs11PinError, Pkcs11TokenError } from '../../../src/errors.js'
import { parsePkcs11Uri } from '../../../src/keys/pkcs11-uri.js'
import { loadBinding } from '../../../src/keys/pkcs11/binding.js'
import { withSession, type TokenTarget } from '../../../src/keys/pkcs11/token.js'

const FAKE = fileURLToPath(new URL('../../fixtures/fake-pkcs11.cjs', import.meta.url))
const SECRET_PIN = '55443322'
const LOGIN_REQUIRED = 0x4
const PIN_INITIALIZED = 0x8
const TOKEN_INITIALIZED = 0x400
const READY = LOGIN_REQUIRED | PIN_INITIALIZED | TOKEN_INITIALIZED

interface Fake {
  flags: number
  fail?: Record<string, number>
  calls?: string[]
  pins?: (string | undefined)[]
}
const g = globalThis as unknown as { fakePkcs11?: Fake }

function target(): TokenTarget {
  return {
    uri: parsePkcs11Uri('pkcs11:token=fake;object=k'),
    source: 'pkcs11:token=fake;object=k',
    modulePath: FAKE,
    pin: () => SECRET_PIN,
    pinFrom: 'BKTX_PKCS11_PIN',
    binding: FAKE,
  }
}

async function attempt(fake: Fake): Promise<unknown> {
  g.fakePkcs11 = fake
  try {
    await withSession(target(), {}, (session) => session.sign('ES256', Buffer.from('input')))
    return undefined
  } catch (error) {
    return error
  }
}

afterEach(() => {
  delete g.fakePkcs11
})

describe('PKCS#11 faults become typed errors (exit 10), without the PIN', () => {
  it.each<[string, Fake, new (...args: never[]) => Error, RegExp]>([
    ['a token that reports its PIN locked (not even trying)', { flags: READY | 0x40000 }, Pkcs11PinError, /the PIN is locked after too many wrong tries/],
    ['CKR_PIN_LOCKED from C_Login', { flags: READY, fail: { C_Login: 0xa4 } }, Pkcs11PinError, /CKR_PIN_LOCKED.*the PIN is locked/],
    [
      'a wrong PIN on the last try',
      { flags: READY | 0x20000, fail: { C_Login: 0xa0 } },
      Pkcs11PinError,
      /refused the PIN from BKTX_PKCS11_PIN; one more wrong PIN locks it/,
    ],
    ['an expired PIN', { flags: READY, fail: { C_Login: 0xa3 } }, Pkcs11PinError, /the PIN has expired/],
    ['a user PIN never set', { flags: LOGIN_REQUIRED | TOKEN_INITIALIZED }, Pkcs11PinError, /user PIN was never set/],
    [
      'the token pulled out while signing',
      { flags: READY, fail: { C_Sign: 0xe0 } },
      Pkcs11TokenError,
      /signing \(ES256\) failed \(CKR_TOKEN_NOT_PRESENT\): the token is not present/,
    ],
    ['a device error', { flags: READY, fail: { C_SignInit: 0x30 } }, Pkcs11TokenError, /CKR_DEVICE_ERROR/],
    ['a mechanism the token lacks', { flags: READY, fail: { C_SignInit: 0x70 } }, Pkcs11TokenError, /cannot sign with this key/],
    ['a module that fails to initialise', { flags: READY, fail: { C_Initialize: 0x06 } }, Pkcs11ModuleError, /failed to initialise \(CKR_FUNCTION_FAILED\)/],
    ['a module that does not load', { flags: READY, fail: { load: 0x05 } }, Pkcs11ModuleError, /does not load/],
  ])('%s', async (_, fake, type, message) => {
    const error = await attempt(fake)
    expect(error).toBeInstanceOf(type)
    expect((error as Error).message).toMatch(message)
    expect((error as Error).message).not.toContain(SECRET_PIN)
    expect(isBktxError(error) && exitCodeFor(error.code)).toBe(10)
    // Whatever failed after loading, the module was finalised and closed.
    if (fake.fail?.['load'] === undefined) expect(fake.calls).toContain('C_Finalize')
  })

  it('logs in with the PIN once and signs when nothing fails', async () => {
    const fake: Fake = { flags: READY }
    expect(await attempt(fake)).toBeUndefined()
    expect(fake.pins).toEqual([SECRET_PIN])
    expect(fake.calls).toEqual(expect.arrayContaining(['C_Login', 'C_SignInit', 'C_Sign', 'C_CloseSession', 'C_Finalize', 'close']))
  })

  it('a missing binding is BKTX_PKCS11_MODULE with what to do', () => {
    expect(() => loadBinding('bktx-no-such-binding')).toThrow(Pkcs11ModuleError)
    expect(() => loadBinding('bktx-no-such-binding')).toThrow(/PKCS#11 support is not installed: the optional package bktx-no-such-binding did not load/)
  })
})
