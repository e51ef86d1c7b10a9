import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { busSocketPath, decodeMessage, encodeMessage, splitSignature, type DBusValue } from '../../../src/secrets/dbus.js'

describe('busSocketPath', () => {
  it('takes the first unix path or abstract socket of an address list', () => {
    expect(busSocketPath('unix:path=/run/user/1000/bus')).toBe('/run/user/1000/bus')
    expect(busSocketPath('unix:path=/tmp/dbus-ov12nxaXZM,guid=75575b42cc22dba4865c60776b0b3ac8')).toBe('/tmp/dbus-ov12nxaXZM')
    expect(busSocketPath('unix:abstract=/tmp/dbus-x,guid=1')).toBe('\0/tmp/dbus-x')
    expect(busSocketPath('tcp:host=localhost,port=1;unix:path=/a%20b')).toBe('/a b')
    expect(busSocketPath('tcp:host=localhost,port=1')).toBeUndefined()
    expect(busSocketPath('')).toBeUndefined()
  })
})

describe('splitSignature', () => {
  it('splits into complete types', () => {
    expect(splitSignature('a{sv}s(oayays)b')).toEqual(['a{sv}', 's', '(oayays)', 'b'])
    expect(() => splitSignature('a(s')).toThrow()
    expect(() => splitSignature('z')).toThrow()
  })
})

describe('message encoding', () => {
  it('matches the bytes of a method call from the D-Bus specification layout', () => {
    const bytes = encodeMessage({
      type: 1,
      flags: 0,
      serial: 1,
      destination: 'org.freedesktop.DBus',
      path: '/org/freedesktop/DBus',
      interface: 'org.freedesktop.DBus',
      member: 'Hello',
    })
    // Fixed header: 'l', METHOD_CALL, flags 0, version 1, body length 0, serial 1.
    expect([...bytes.subarray(0, 12)]).toEqual([0x6c, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0])
    // Header-field array of 109 bytes (4 fields), padded to 128; its first field is PATH
    // ('o'): length 21, the path, NUL.
    expect(bytes.readUInt32LE(12)).toBe(109)
    expect(bytes.length).toBe(128)
    expect([...bytes.subarray(16, 24)]).toEqual([1, 1, 0x6f, 0, 21, 0, 0, 0])
    expect(bytes.subarray(24, 45).toString()).toBe('/org/freedesktop/DBus')
    expect(bytes.length % 8).toBe(0)
  })

  it('round-trips bodies of many shapes', () => {
    const signature = 'sa{sv}(oayays)bu'
    const body: DBusValue[] = [
      'héllo',
      [['a', { signature: 's', value: 'x' }], ['b', { signature: 'b', value: true }]],
      ['/o/p', [1, 2, 3], [], 'text/plain'],
      false,
      4294967295,
    ]
    const decoded = decodeMessage(encodeMessage({ type: 2, flags: 0, serial: 9, replySerial: 3, signature, body }))
    expect(decoded?.message).toMatchObject({ type: 2, serial: 9, replySerial: 3, signature, body })
  })

  it('round-trips arbitrary strings and string arrays (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.array(fc.string()), fc.boolean(), (s, list, b) => {
        const body: DBusValue[] = [s, list, { signature: 'b', value: b }]
        const decoded = decodeMessage(encodeMessage({ type: 1, flags: 0, serial: 2, path: '/x', member: 'M', signature: 'sasv', body }))
        expect(decoded?.message.body).toEqual(body)
      }),
    )
  })

  it('waits for a whole message and reports its length', () => {
    const bytes = encodeMessage({ type: 1, flags: 0, serial: 2, path: '/x', member: 'M', signature: 's', body: ['abc'] })
    expect(decodeMessage(bytes.subarray(0, bytes.length - 1))).toBeUndefined()
    const two = Buffer.concat([bytes, bytes])
    expect(decodeMessage(two)?.length).toBe(bytes.length)
  })

  it('rejects garbage', () => {
    expect(() => decodeMessage(Buffer.from('OK 0123456789abcdef\r\n'))).toThrow(/endianness/)
    // A big-endian header announcing a 2 GiB body.
    expect(() => decodeMessage(Buffer.from('42010001800000000000000100000000', 'hex'))).toThrow(/too large/)
  })
})
