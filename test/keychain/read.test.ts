// bktx's own reader of a keychain item (src/secrets/read.ts), with which a keychain hit answered
// from its memo reads the token without the native binding: against a real gnome-keyring on a
// private bus (the item the binding wrote, none, a locked collection), and against faults only
// a fake can produce (a bus or a service that never answers, two matching items, a secret that
// is not UTF-8, no plain session).
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isCI } from '../../src/cache/select.js'
import type { DBusMessage } from '../../src/secrets/dbus.js'
import { readSecret } from '../../src/secrets/read.js'
import type { TestBusConnection } from '../fixtures/dbus-server.js'
import { ownSecretService } from '../fixtures/fake-secret-service.js'
import { hasCommand, lockLogin, searchItems, startGnomeKeyring, startPrivateBus, type PrivateBus } from '../fixtures/private-bus.js'
import { runKeychainChild } from '../fixtures/run-child.js'

const uid = process.getuid?.() ?? 0
const runPrivate = (hasCommand('dbus-daemon') && hasCommand('gnome-keyring-daemon')) || isCI(process.env)
const account = () => randomBytes(16).toString('hex')

describe.skipIf(!runPrivate)('the keychain item reader against gnome-keyring', () => {
  let bus: PrivateBus
  const service = 'bktx-read-test'
  const name = account()
  const other = account()
  // Not ASCII: read as the UTF-8 the binding wrote.
  const secret = `bktx_${randomBytes(12).toString('hex')}-é€`

  beforeAll(async () => {
    bus = await startPrivateBus()
    await startGnomeKeyring(bus, 'test-password')
    // Written by the binding, as bktx writes (the binding reads its bus from its process
    // environment: a child on the private bus). Two items, so that the reader must pick by account.
    const stored = await runKeychainChild(
      {
        service,
        timeoutMs: 3000,
        probe: 'real',
        selfTerminate: false,
        ops: [
          { op: 'set', account: name, secret },
          { op: 'set', account: other, secret: 'the-other-secret' },
        ],
      },
      bus.env,
    )
    expect(stored.results.filter((r) => r.op === 'set').map((r) => r.ok)).toEqual([true, true])
  })
  afterAll(async () => {
    await bus?.stop()
  })

  const read = (account: string, inService = service) => readSecret({ env: bus.env, uid, timeoutMs: 3000, service: inService, account })

  it('reads the item the binding wrote, and only that one, as the binding reads it', async () => {
    expect(await read(name)).toEqual({ state: 'found', secret })
    expect(await read(other)).toEqual({ state: 'found', secret: 'the-other-secret' })
    const binding = await runKeychainChild({ service, timeoutMs: 3000, probe: 'real', selfTerminate: false, ops: [{ op: 'get', account: name }] }, bus.env)
    expect(binding.results[0]).toMatchObject({ ok: true, value: secret })
  })

  it('answers none for an account without an item, and for another service', async () => {
    expect(await read(account())).toEqual({ state: 'none' })
    expect(await read(name, 'bktx-other-service')).toEqual({ state: 'none' })
  })

  // Last: it locks the keyring.
  it('answers locked for a locked collection, without a prompt: the item stays locked', async () => {
    await lockLogin(bus)
    expect(await read(name)).toEqual({ state: 'locked' })
    expect(await read(account())).toEqual({ state: 'locked' })
    expect(await searchItems(bus, { service, username: name })).toEqual({ unlocked: [], locked: [expect.any(String)] })
  })
})

describe.skipIf(!runPrivate)('the keychain item reader and faults', () => {
  let bus: PrivateBus
  let fake: TestBusConnection
  const calls: string[] = []
  /** What the fake Secret Service answers; undefined: it accepts every call and answers none. */
  let answer: { locked?: boolean; items?: string[]; lockedItems?: string[]; bytes?: number[]; session?: 'refuse' } | undefined

  beforeAll(async () => {
    bus = await startPrivateBus()
    fake = await bus.connect()
    fake.onCall = (m: DBusMessage) => {
      const name = `${m.interface ?? ''}.${m.member ?? ''}`
      calls.push(name)
      if (answer === undefined) return
      switch (name) {
        case 'org.freedesktop.DBus.Properties.Get':
          fake.reply(m, 'v', [{ signature: 'b', value: answer.locked === true }])
          return
        case 'org.freedesktop.Secret.Service.OpenSession':
          if (answer.session === 'refuse') fake.replyError(m, 'org.freedesktop.DBus.Error.NotSupported', 'Algorithms not supported')
          else fake.reply(m, 'vo', [{ signature: 's', value: '' }, '/org/freedesktop/secrets/session/s1'])
          return
        case 'org.freedesktop.Secret.Service.SearchItems':
          fake.reply(m, 'aoao', [answer.items ?? [], answer.lockedItems ?? []])
          return
        case 'org.freedesktop.Secret.Item.GetSecret':
          fake.reply(m, '(oayays)', [['/org/freedesktop/secrets/session/s1', [], answer.bytes ?? [], 'text/plain']])
          return
        default:
          fake.replyError(m, 'org.freedesktop.DBus.Error.UnknownMethod', name)
      }
    }
    await ownSecretService(fake)
  })
  afterAll(async () => {
    fake?.close()
    await bus?.stop()
  })

  const read = (timeoutMs = 3000) => readSecret({ env: bus.env, uid, timeoutMs, service: 'bktx', account: 'a' })
  const ITEM = '/org/freedesktop/secrets/collection/login/7'

  it('reads what the service answers over a plain session, never calling Unlock', async () => {
    answer = { items: [ITEM], bytes: [...Buffer.from('bktx_fake', 'utf8')] }
    calls.length = 0
    expect(await read()).toEqual({ state: 'found', secret: 'bktx_fake' })
    expect(calls).toEqual([
      'org.freedesktop.DBus.Properties.Get',
      'org.freedesktop.Secret.Service.OpenSession',
      'org.freedesktop.Secret.Service.SearchItems',
      'org.freedesktop.Secret.Item.GetSecret',
    ])
  })

  it('reads no item of a locked default collection, nor a locked item of an unlocked one, and calls no Unlock', async () => {
    answer = { locked: true, items: [ITEM], bytes: [...Buffer.from('bktx_fake', 'utf8')] }
    calls.length = 0
    expect(await read()).toEqual({ state: 'locked' })
    answer = { items: [], lockedItems: [ITEM] }
    expect(await read()).toEqual({ state: 'locked' })
    expect(calls).not.toContain('org.freedesktop.Secret.Service.Unlock')
    expect(calls).not.toContain('org.freedesktop.Secret.Item.GetSecret')
  })

  it('serves nothing it does not expect: two items, bytes that are not UTF-8, no plain session', async () => {
    answer = { items: [ITEM, `${ITEM}8`] }
    expect(await read()).toEqual({ state: 'unknown', detail: 'more than one matching item' })
    answer = { items: [ITEM], bytes: [0x62, 0xff, 0xfe] }
    expect(await read()).toEqual({ state: 'unknown', detail: 'the secret is not UTF-8' })
    answer = { items: [ITEM], session: 'refuse' }
    expect(await read()).toMatchObject({ state: 'unknown', detail: expect.stringMatching(/NotSupported/) })
  })

  it('gives up on a Secret Service that never answers, within its bound', async () => {
    answer = undefined
    calls.length = 0
    expect(await read(300)).toEqual({ state: 'unknown', detail: 'timeout' })
    expect(calls).toContain('org.freedesktop.Secret.Service.SearchItems')
  })
})

describe('the keychain item reader and a bus that never answers', () => {
  let server: Server
  let dir: string
  const sockets: Socket[] = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bktx-silent-bus-'))
    // Accepts the connection and reads everything, answering nothing (not even to AUTH).
    server = createServer((socket) => {
      sockets.push(socket)
      socket.on('data', () => undefined)
    })
    await new Promise<void>((resolve) => server.listen(join(dir, 'bus'), resolve))
  })
  afterAll(async () => {
    for (const s of sockets) s.destroy()
    await new Promise((resolve) => server.close(resolve))
    await rm(dir, { recursive: true, force: true })
  })

  it('times out within its bound (far beyond it, the test times out)', async () => {
    const env = { DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(dir, 'bus')}` }
    expect(await readSecret({ env, uid, timeoutMs: 300, service: 'bktx', account: 'a' })).toEqual({ state: 'unknown', detail: 'timeout' })
  })

  it('answers at once where there is no bus to connect to', async () => {
    expect(await readSecret({ env: {}, uid, timeoutMs: 600_000, service: 'bktx', account: 'a' })).toEqual({ state: 'unknown', detail: 'no D-Bus session bus' })
    expect(
      await readSecret({ env: { DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(dir, 'none')}` }, uid, timeoutMs: 600_000, service: 'bktx', account: 'a' }),
    ).toMatchObject({ state: 'unknown', detail: expect.stringMatching(/ENOENT/) })
  })
})
