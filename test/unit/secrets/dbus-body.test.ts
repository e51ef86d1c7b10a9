// The typed bodies the keychain item reader sends (src/secrets/read.ts: `sv` to OpenSession, `a{ss}` to
// SearchItems, `o` to GetSecret), checked against the tests' own encoder
// (test/fixtures/dbus-server.ts, written apart from the product's) and the product's decoder.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeMessage, encodeCall, MESSAGE_TYPE, type DBusValue } from '../../../src/secrets/dbus.js'
import { encodeMessage } from '../../fixtures/dbus-server.js'

const target = { destination: 'org.freedesktop.secrets', path: '/org/freedesktop/secrets', interface: 'org.freedesktop.Secret.Service', member: 'SearchItems' }

function both(signature: string, body: DBusValue[]) {
  const product = encodeCall(7, { ...target, signature, body })
  const reference = encodeMessage({ type: MESSAGE_TYPE.call, flags: 0, serial: 7, ...target, signature, body })
  return { product, reference }
}

describe('method calls with a typed body', () => {
  it.each<[string, DBusValue[]]>([
    ['sv', ['plain', { signature: 's', value: '' }]],
    [
      'a{ss}',
      [
        [
          ['service', 'bktx'],
          ['username', 'home-0123456789abcdef.0123456789abcdef0123456789abcdef'],
        ],
      ],
    ],
    ['a{ss}', [[]]],
    ['o', ['/org/freedesktop/secrets/session/s1']],
    ['ao', [['/org/freedesktop/secrets/collection/login']]],
  ])('%s is the bytes the reference encoder writes, and decodes to what was sent', (signature, body) => {
    const { product, reference } = both(signature, body)
    expect(product.equals(reference)).toBe(true)
    const decoded = decodeMessage(product)
    expect(decoded?.length).toBe(product.length)
    expect(decoded?.message).toMatchObject({ type: MESSAGE_TYPE.call, serial: 7, signature, body, member: 'SearchItems' })
  })

  it('writes any attribute map as the reference does (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string(), fc.string({ unit: 'grapheme' })), { maxLength: 6 }), (pairs) => {
        const { product, reference } = both('a{ss}', [pairs])
        expect(product.equals(reference)).toBe(true)
        expect(decodeMessage(product)?.message.body).toEqual([pairs])
      }),
    )
  })
})
