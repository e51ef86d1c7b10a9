import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { busSocketPath, DBusConnection, DBusError, decodeMessage, encodeCall, splitSignature, type DBusValue } from '../../../src/secrets/dbus.js'
import { probeSecretService } from '../../../src/secrets/probe.js'
import { pipeSocketConnector } from '../../../src/term/process.js'
import { encodeMessage, type TestBusConnection } from '../../fixtures/dbus-server.js'
import { hasCommand, startPrivateBus, type PrivateBus } from '../../fixtures/private-bus.js'

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
    const bytes = encodeCall(1, {
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

  it('encodes a call with string arguments as the general encoder of the tests does', () => {
    const call = {
      destination: 'org.freedesktop.secrets',
      path: '/org/freedesktop/secrets/aliases/default',
      interface: 'org.freedesktop.DBus.Properties',
      member: 'Get',
    }
    const args = ['org.freedesktop.Secret.Collection', 'Locked']
    const bytes = encodeCall(7, { ...call, args })
    expect(bytes.equals(encodeMessage({ type: 1, flags: 0, serial: 7, ...call, signature: 'ss', body: args }))).toBe(true)
    expect(decodeMessage(bytes)?.message).toMatchObject({ type: 1, serial: 7, ...call, signature: 'ss', body: args })
  })

  it('encodes arbitrary string arguments (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme' }), { maxLength: 4 }), fc.string({ minLength: 1 }), (args, member) => {
        const call = { destination: 'd.e', path: '/p', interface: 'i.f', member }
        expect(
          encodeCall(3, { ...call, args }).equals(encodeMessage({ type: 1, flags: 0, serial: 3, ...call, signature: 's'.repeat(args.length), body: args })),
        ).toBe(true)
      }),
    )
  })

  it('round-trips bodies of many shapes', () => {
    const signature = 'sa{sv}(oayays)bu'
    const body: DBusValue[] = [
      'héllo',
      [
        ['a', { signature: 's', value: 'x' }],
        ['b', { signature: 'b', value: true }],
      ],
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

// The product's client against a real dbus-daemon and a service played by the test connection.
describe.skipIf(!hasCommand('dbus-daemon'))('DBusConnection on a private bus', () => {
  let bus: PrivateBus
  let service: TestBusConnection
  const uid = process.getuid?.() ?? 0
  beforeAll(async () => {
    bus = await startPrivateBus()
    service = await bus.connect()
    service.onCall = (m) => {
      if (m.member === 'Get' && m.body[1] === 'Locked') service.reply(m, 'v', [{ signature: 'b', value: m.path?.endsWith('/default') === true }])
      else service.replyError(m, 'org.freedesktop.DBus.Error.UnknownMethod', `no ${m.member ?? ''} here`)
    }
    await service.call({
      destination: 'org.freedesktop.DBus',
      path: '/org/freedesktop/DBus',
      interface: 'org.freedesktop.DBus',
      member: 'RequestName',
      signature: 'su',
      body: ['org.freedesktop.secrets', 4],
    })
  })
  afterAll(async () => {
    service?.close()
    await bus?.stop()
  })

  it('says Hello, reads a property, and turns an error reply into a DBusError', async () => {
    const client = await DBusConnection.connect({ socketPath: busSocketPath(bus.address) as string, uid, timeoutMs: 5000 })
    try {
      expect(client.uniqueName).toMatch(/^:\d+\.\d+$/)
      const get = {
        destination: 'org.freedesktop.secrets',
        interface: 'org.freedesktop.DBus.Properties',
        member: 'Get',
        args: ['org.freedesktop.Secret.Collection', 'Locked'],
      }
      expect((await client.call({ ...get, path: '/org/freedesktop/secrets/aliases/default' })).body).toEqual([{ signature: 'b', value: true }])
      const error = await client.call({ ...get, member: 'Set', path: '/x' }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(DBusError)
      expect(error).toMatchObject({ dbusName: 'org.freedesktop.DBus.Error.UnknownMethod', message: 'org.freedesktop.DBus.Error.UnknownMethod: no Set here' })
    } finally {
      client.close()
    }
  })

  it('lets the probe read the lock state', async () => {
    expect(await probeSecretService({ env: { DBUS_SESSION_BUS_ADDRESS: bus.address }, uid, timeoutMs: 5000 })).toEqual({ state: 'locked' })
  })

  it('reports a bus that does not exist as NoBus', async () => {
    const error = await DBusConnection.connect({ socketPath: `${bus.env['XDG_RUNTIME_DIR']}/none`, uid, timeoutMs: 5000 }).catch((e: unknown) => e)
    expect(error).toMatchObject({ dbusName: 'bktx.NoBus' })
  })
})

describe('the probe without a bus socket', () => {
  it('says so without connecting, in the words a connection gives (connect ENOENT PATH)', async () => {
    const socketPath = `/nonexistent-${process.pid}/bus`
    const probed = await probeSecretService({ env: { DBUS_SESSION_BUS_ADDRESS: `unix:path=${socketPath}` }, uid: 0, timeoutMs: 5000 })
    expect(probed).toEqual({ state: 'no-bus', detail: `cannot connect to the D-Bus session bus (connect ENOENT ${socketPath})` })
    // What connecting reports for the same path: the probe's words must be these.
    const error = await DBusConnection.connect({ socketPath, uid: 0, timeoutMs: 5000 }).catch((e: unknown) => e)
    expect(error).toMatchObject({ dbusName: 'bktx.NoBus', message: `bktx.NoBus: connect ENOENT ${socketPath}` })
    // From $XDG_RUNTIME_DIR too, as status finds it without DBUS_SESSION_BUS_ADDRESS.
    expect(await probeSecretService({ env: { XDG_RUNTIME_DIR: `/nonexistent-${process.pid}` }, uid: 0, timeoutMs: 5000 })).toEqual(probed)
  })
})

describe('the probe against a bus that never answers', () => {
  // Over node:net and over the entry points' pipe handle (src/term/process.ts) alike: the
  // timer ends the wait, closes the socket and says `timeout`, whatever the connection was doing.
  it.each([
    ['node:net', undefined],
    ['the pipe handle', pipeSocketConnector()],
  ])('says timeout within its bound (%s)', async (_name, connect) => {
    const dir = mkdtempSync(join(tmpdir(), 'bktx-silent-bus-'))
    const peers: Socket[] = []
    const silent = createServer((peer) => peers.push(peer))
    await new Promise<void>((resolve) => silent.listen(join(dir, 'bus'), resolve))
    try {
      const probed = await probeSecretService({ env: { DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(dir, 'bus')}` }, uid: 0, timeoutMs: 200, connect })
      expect(probed).toEqual({ state: 'timeout' })
      expect(peers).toHaveLength(1)
    } finally {
      for (const peer of peers) peer.destroy()
      await new Promise((resolve) => silent.close(resolve))
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
