import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pipeSocketConnector } from '../../../src/term/process.js'

// The keychain probe's socket over Node's pipe handle (src/term/process.ts, issue 23) must
// behave as node:net's does for what the D-Bus client uses (src/secrets/dbus.ts BusSocket): a
// real Unix socket server here, and node:net beside it for the same cases.

const connector = pipeSocketConnector()
const dir = mkdtempSync(join(tmpdir(), 'bktx-pipe-'))
const path = join(dir, 'sock')
let server: Server
const accepted: Socket[] = []
beforeAll(async () => {
  server = createServer((peer) => accepted.push(peer))
  await new Promise<void>((resolve) => server.listen(path, resolve))
})
afterAll(async () => {
  for (const peer of accepted) peer.destroy()
  await new Promise((resolve) => server.close(resolve))
  rmSync(dir, { recursive: true, force: true })
})

type Events = Array<[string, string?]>
/** Records what a socket emits, until 'close'. */
function record(socket: { on(event: string, listener: (arg?: unknown) => void): unknown }): { events: Events; closed: Promise<Events> } {
  const events: Events = []
  const closed = new Promise<Events>((resolve) => {
    socket.on('connect', () => events.push(['connect']))
    socket.on('data', (chunk) => events.push(['data', (chunk as Buffer).toString('latin1')]))
    socket.on('error', (error) => events.push(['error', (error as Error).message]))
    socket.on('close', () => {
      events.push(['close'])
      resolve(events)
    })
  })
  return { events, closed }
}

const nextPeer = async (): Promise<Socket> => {
  const count = accepted.length
  while (accepted.length === count) await new Promise((resolve) => setTimeout(resolve, 5))
  return accepted[accepted.length - 1] as Socket
}

describe.skipIf(connector === undefined)('the pipe-handle socket', () => {
  const open = connector as NonNullable<typeof connector>

  it('connects, sends what it is given (before and after connecting) and reads until the peer closes', async () => {
    const socket = open(path)
    const seen = record(socket)
    socket.write('\0AUTH EXTERNAL 30\r\n')
    const peer = await nextPeer()
    const received: Buffer[] = []
    peer.on('data', (chunk) => received.push(chunk))
    while (seen.events.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    socket.write(Uint8Array.from([1, 2, 3]))
    peer.write('OK 1234\r\n')
    await new Promise((resolve) => setTimeout(resolve, 50))
    peer.end()
    expect(await seen.closed).toEqual([['connect'], ['data', 'OK 1234\r\n'], ['close']])
    expect(Buffer.concat(received)).toEqual(Buffer.from('\0AUTH EXTERNAL 30\r\n\u0001\u0002\u0003', 'latin1'))
  })

  it('holds what arrives while paused, and hands it on after resume() returns, in order', async () => {
    const socket = open(path)
    const seen = record(socket)
    const peer = await nextPeer()
    socket.pause()
    peer.write('one')
    await new Promise((resolve) => setTimeout(resolve, 50))
    peer.write('two')
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(seen.events).toEqual([['connect']])
    socket.resume()
    // Nothing during resume() itself: the caller handles what it already has first (dbus.ts connect).
    expect(seen.events).toEqual([['connect']])
    socket.destroy()
    const events = await seen.closed
    // Destroyed before the next tick: what was held is dropped, as node:net drops it.
    expect(events).toEqual([['connect'], ['close']])
  })

  it('delivers held data on the next tick after resume()', async () => {
    const socket = open(path)
    const seen = record(socket)
    const peer = await nextPeer()
    socket.pause()
    peer.write('held')
    await new Promise((resolve) => setTimeout(resolve, 50))
    socket.resume()
    await new Promise((resolve) => setImmediate(resolve))
    expect(seen.events).toEqual([['connect'], ['data', 'held']])
    socket.destroy(new Error('done'))
    expect((await seen.closed).slice(-2)).toEqual([['error', 'done'], ['close']])
  })

  it('fails to connect in node:net words: no such file, a file that is no socket', async () => {
    const file = join(dir, 'plain')
    writeFileSync(file, '')
    for (const target of [join(dir, 'none'), file]) {
      const ours = await record(open(target)).closed
      const nets = await record(connect(target)).closed
      expect(ours).toEqual(nets)
      expect(ours[0]?.[1]).toMatch(new RegExp(`^connect E[A-Z]+ ${target}$`))
    }
  })
})
