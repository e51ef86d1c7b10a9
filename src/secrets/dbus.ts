import { connect, type Socket } from 'node:net'

/**
 * A minimal D-Bus client: EXTERNAL authentication over a Unix socket, method calls and
 * replies, enough to ask the Secret Service a property without going through the keyring
 * binding (whose calls may raise an unlock prompt and block a libuv thread forever, see
 * ../shared/deps.md). Wire format: the D-Bus specification, "Message Protocol" and
 * "Authentication Protocol". Only what bktx needs: basic types, strings, variants, arrays,
 * structs and dict entries; no Unix fds, no signals subscription.
 */

export type DBusValue = string | number | bigint | boolean | DBusValue[] | DBusVariant

export interface DBusVariant {
  signature: string
  value: DBusValue
}

export const MESSAGE_TYPE = { call: 1, return: 2, error: 3, signal: 4 } as const

export interface DBusMessage {
  type: number
  flags: number
  serial: number
  path?: string
  interface?: string
  member?: string
  errorName?: string
  replySerial?: number
  destination?: string
  sender?: string
  signature: string
  body: DBusValue[]
}

/** Header field codes (D-Bus spec, "Header Fields"). */
const FIELD = { path: 1, interface: 2, member: 3, errorName: 4, replySerial: 5, destination: 6, sender: 7, signature: 8 } as const

/** A D-Bus error reply, or a failure of the connection itself. */
export class DBusError extends Error {
  /** The D-Bus error name (`org.freedesktop.DBus.Error.ServiceUnknown`), or `bktx.*` locally. */
  readonly dbusName: string
  constructor(dbusName: string, message: string, options?: { cause?: unknown }) {
    super(`${dbusName}: ${message}`, options)
    this.name = 'DBusError'
    this.dbusName = dbusName
  }
}

/**
 * The socket path of a D-Bus address (`unix:path=/run/user/1000/bus,guid=...` or
 * `unix:abstract=/tmp/dbus-x`); the first usable `unix:` entry wins. Undefined when none.
 */
export function busSocketPath(address: string): string | undefined {
  for (const entry of address.split(';')) {
    const colon = entry.indexOf(':')
    if (colon < 0 || entry.slice(0, colon) !== 'unix') continue
    const params = new Map<string, string>()
    for (const pair of entry.slice(colon + 1).split(',')) {
      const eq = pair.indexOf('=')
      if (eq > 0) params.set(pair.slice(0, eq), unescapeAddress(pair.slice(eq + 1)))
    }
    const path = params.get('path')
    if (path !== undefined && path !== '') return path
    const abstract = params.get('abstract')
    // Linux abstract sockets: Node takes them as a path starting with NUL.
    if (abstract !== undefined && abstract !== '') return `\0${abstract}`
  }
  return undefined
}

function unescapeAddress(value: string): string {
  return value.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
}

// ---------------------------------------------------------------------------------------------
// Marshalling

class Writer {
  private buf: Buffer = Buffer.alloc(256)
  length = 0

  private ensure(extra: number): void {
    if (this.length + extra <= this.buf.length) return
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + extra))
    this.buf.copy(next, 0, 0, this.length)
    this.buf = next
  }
  align(n: number): void {
    const pad = (n - (this.length % n)) % n
    this.ensure(pad)
    this.buf.fill(0, this.length, this.length + pad)
    this.length += pad
  }
  byte(v: number): void {
    this.ensure(1)
    this.buf.writeUInt8(v, this.length)
    this.length += 1
  }
  uint32(v: number): void {
    this.align(4)
    this.ensure(4)
    this.buf.writeUInt32LE(v, this.length)
    this.length += 4
  }
  setUint32(at: number, v: number): void {
    this.buf.writeUInt32LE(v, at)
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length)
    this.buf.set(b, this.length)
    this.length += b.length
  }
  result(): Buffer {
    return this.buf.subarray(0, this.length)
  }
}

/** Splits a signature into its complete types: `a{sv}s` → [`a{sv}`, `s`]. */
export function splitSignature(signature: string): string[] {
  const types: string[] = []
  let i = 0
  while (i < signature.length) {
    const end = completeTypeEnd(signature, i)
    types.push(signature.slice(i, end))
    i = end
  }
  return types
}

function completeTypeEnd(sig: string, start: number): number {
  const c = sig[start]
  if (c === undefined) throw new DBusError('bktx.BadSignature', `incomplete signature ${sig}`)
  if (c === 'a') return completeTypeEnd(sig, start + 1)
  if (c === '(' || c === '{') {
    const close = c === '(' ? ')' : '}'
    let i = start + 1
    while (sig[i] !== close) {
      if (i >= sig.length) throw new DBusError('bktx.BadSignature', `unbalanced signature ${sig}`)
      i = completeTypeEnd(sig, i)
    }
    return i + 1
  }
  if ('ybnqiuxtdsogvh'.includes(c)) return start + 1
  throw new DBusError('bktx.BadSignature', `unsupported type ${c} in signature ${sig}`)
}

function alignment(type: string): number {
  switch (type[0]) {
    case 'y':
    case 'g':
    case 'v':
      return 1
    case 'n':
    case 'q':
      return 2
    case 'x':
    case 't':
    case 'd':
    case '(':
    case '{':
      return 8
    default:
      return 4
  }
}

function marshal(w: Writer, type: string, value: DBusValue): void {
  const c = type[0]
  switch (c) {
    case 'y':
      w.byte(Number(value))
      return
    case 'b':
      w.uint32(value === true ? 1 : 0)
      return
    case 'u':
    case 'i':
      w.uint32(Number(value) >>> 0)
      return
    case 's':
    case 'o': {
      const bytes = Buffer.from(String(value), 'utf8')
      w.uint32(bytes.length)
      w.bytes(bytes)
      w.byte(0)
      return
    }
    case 'g': {
      const bytes = Buffer.from(String(value), 'ascii')
      w.byte(bytes.length)
      w.bytes(bytes)
      w.byte(0)
      return
    }
    case 'v': {
      const variant = value as DBusVariant
      marshal(w, 'g', variant.signature)
      marshal(w, variant.signature, variant.value)
      return
    }
    case 'a': {
      const element = type.slice(1)
      w.uint32(0)
      const lengthAt = w.length - 4
      w.align(alignment(element))
      const start = w.length
      for (const item of value as DBusValue[]) marshal(w, element, item)
      w.setUint32(lengthAt, w.length - start)
      return
    }
    case '(':
    case '{': {
      w.align(8)
      const fields = splitSignature(type.slice(1, -1))
      const items = value as DBusValue[]
      fields.forEach((field, i) => marshal(w, field, items[i] as DBusValue))
      return
    }
    default:
      throw new DBusError('bktx.BadSignature', `cannot marshal type ${type}`)
  }
}

/** Serialises a message (little-endian). */
export function encodeMessage(message: Omit<DBusMessage, 'body' | 'signature'> & { signature?: string; body?: DBusValue[] }): Buffer {
  const signature = message.signature ?? ''
  const bodyWriter = new Writer()
  const types = splitSignature(signature)
  types.forEach((type, i) => marshal(bodyWriter, type, (message.body ?? [])[i] as DBusValue))
  const body = bodyWriter.result()

  const fields: DBusValue[] = []
  const add = (code: number, sig: string, value: DBusValue | undefined): void => {
    if (value !== undefined) fields.push([code, { signature: sig, value }])
  }
  add(FIELD.path, 'o', message.path)
  add(FIELD.interface, 's', message.interface)
  add(FIELD.member, 's', message.member)
  add(FIELD.errorName, 's', message.errorName)
  add(FIELD.replySerial, 'u', message.replySerial)
  add(FIELD.destination, 's', message.destination)
  add(FIELD.sender, 's', message.sender)
  if (signature !== '') add(FIELD.signature, 'g', signature)

  const w = new Writer()
  w.byte(0x6c) // 'l': little-endian
  w.byte(message.type)
  w.byte(message.flags)
  w.byte(1) // protocol version
  w.uint32(body.length)
  w.uint32(message.serial)
  marshal(w, 'a(yv)', fields)
  w.align(8)
  w.bytes(body)
  return w.result()
}

// ---------------------------------------------------------------------------------------------
// Unmarshalling

class Reader {
  constructor(
    private readonly buf: Buffer,
    public pos: number,
    private readonly little: boolean,
    /** Offset that alignment is relative to (the message start). */
    private readonly base: number,
  ) {}
  align(n: number): void {
    const rel = this.pos - this.base
    this.pos += (n - (rel % n)) % n
  }
  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new DBusError('bktx.BadMessage', 'truncated message')
  }
  read(type: string): DBusValue {
    const c = type[0]
    switch (c) {
      case 'y':
        this.need(1)
        return this.buf.readUInt8(this.pos++)
      case 'n':
      case 'q': {
        this.align(2)
        this.need(2)
        const v =
          c === 'n'
            ? this.little ? this.buf.readInt16LE(this.pos) : this.buf.readInt16BE(this.pos)
            : this.little ? this.buf.readUInt16LE(this.pos) : this.buf.readUInt16BE(this.pos)
        this.pos += 2
        return v
      }
      case 'b':
      case 'u':
      case 'i':
      case 'h': {
        this.align(4)
        this.need(4)
        const v =
          c === 'i'
            ? this.little ? this.buf.readInt32LE(this.pos) : this.buf.readInt32BE(this.pos)
            : this.little ? this.buf.readUInt32LE(this.pos) : this.buf.readUInt32BE(this.pos)
        this.pos += 4
        return c === 'b' ? v !== 0 : v
      }
      case 'x':
      case 't':
      case 'd': {
        this.align(8)
        this.need(8)
        const v =
          c === 'd'
            ? this.little ? this.buf.readDoubleLE(this.pos) : this.buf.readDoubleBE(this.pos)
            : c === 'x'
              ? this.little ? this.buf.readBigInt64LE(this.pos) : this.buf.readBigInt64BE(this.pos)
              : this.little ? this.buf.readBigUInt64LE(this.pos) : this.buf.readBigUInt64BE(this.pos)
        this.pos += 8
        return v
      }
      case 's':
      case 'o': {
        const length = this.read('u') as number
        this.need(length + 1)
        const v = this.buf.toString('utf8', this.pos, this.pos + length)
        this.pos += length + 1
        return v
      }
      case 'g': {
        const length = this.read('y') as number
        this.need(length + 1)
        const v = this.buf.toString('ascii', this.pos, this.pos + length)
        this.pos += length + 1
        return v
      }
      case 'v': {
        const signature = this.read('g') as string
        return { signature, value: this.read(signature) }
      }
      case 'a': {
        const length = this.read('u') as number
        const element = type.slice(1)
        this.align(alignment(element))
        const end = this.pos + length
        this.need(length)
        const items: DBusValue[] = []
        while (this.pos < end) items.push(this.read(element))
        return items
      }
      case '(':
      case '{': {
        this.align(8)
        return splitSignature(type.slice(1, -1)).map((field) => this.read(field))
      }
      default:
        throw new DBusError('bktx.BadSignature', `cannot read type ${type}`)
    }
  }
}

/**
 * Decodes one message at the start of `buf`. Returns undefined when `buf` holds less than a
 * whole message; otherwise the message and its length in bytes.
 */
export function decodeMessage(buf: Buffer): { message: DBusMessage; length: number } | undefined {
  if (buf.length < 16) return undefined
  const endian = buf[0]
  if (endian !== 0x6c && endian !== 0x42) throw new DBusError('bktx.BadMessage', 'bad endianness marker')
  const little = endian === 0x6c
  const bodyLength = little ? buf.readUInt32LE(4) : buf.readUInt32BE(4)
  const fieldsLength = little ? buf.readUInt32LE(12) : buf.readUInt32BE(12)
  const headerEnd = 16 + fieldsLength
  const bodyStart = headerEnd + ((8 - (headerEnd % 8)) % 8)
  const total = bodyStart + bodyLength
  // The spec caps messages at 128 MiB; anything near that from a session bus is an error.
  if (total > 1 << 26) throw new DBusError('bktx.BadMessage', 'message too large')
  if (buf.length < total) return undefined
  const header = new Reader(buf, 1, little, 0)
  const type = header.read('y') as number
  const flags = header.read('y') as number
  header.read('y') // protocol version
  header.read('u') // body length
  const serial = header.read('u') as number
  const fields = header.read('a(yv)') as [number, DBusVariant][]
  const message: DBusMessage = { type, flags, serial, signature: '', body: [] }
  for (const [code, variant] of fields) {
    const value = variant.value
    switch (code) {
      case FIELD.path: message.path = String(value); break
      case FIELD.interface: message.interface = String(value); break
      case FIELD.member: message.member = String(value); break
      case FIELD.errorName: message.errorName = String(value); break
      case FIELD.replySerial: message.replySerial = Number(value); break
      case FIELD.destination: message.destination = String(value); break
      case FIELD.sender: message.sender = String(value); break
      case FIELD.signature: message.signature = String(value); break
      default: break
    }
  }
  const body = new Reader(buf.subarray(0, total), bodyStart, little, bodyStart)
  message.body = splitSignature(message.signature).map((t) => body.read(t))
  return { message, length: total }
}

// ---------------------------------------------------------------------------------------------
// Connection

export interface DBusConnectOptions {
  /** Socket path from {@link busSocketPath}. */
  socketPath: string
  /** The caller's uid, sent as the EXTERNAL authentication identity. */
  uid: number
  /** Bounds connecting and authenticating, in milliseconds. */
  timeoutMs: number
}

/**
 * One connection to a bus. Calls resolve with the reply message or reject with a DBusError
 * (error replies included). `onCall` receives method calls addressed to this connection, for
 * test doubles that play a service.
 */
export class DBusConnection {
  private buffer: Buffer = Buffer.alloc(0)
  private serial = 0
  private readonly pending = new Map<number, { resolve: (m: DBusMessage) => void; reject: (e: Error) => void }>()
  private closedError: Error | undefined
  /** The unique name the bus gave this connection (`:1.42`). */
  uniqueName = ''
  onCall: ((message: DBusMessage) => void) | undefined

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk))
    socket.on('error', (error) => this.fail(new DBusError('bktx.Disconnected', error.message, { cause: error })))
    socket.on('close', () => this.fail(new DBusError('bktx.Disconnected', 'connection closed')))
  }

  static connect(options: DBusConnectOptions): Promise<DBusConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(options.socketPath)
      let settled = false
      let text = ''
      const timer = setTimeout(() => done(new DBusError('bktx.Timeout', 'the bus did not answer')), options.timeoutMs)
      const done = (error: Error | undefined, connection?: DBusConnection): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        socket.off('data', onAuthData)
        if (error !== undefined) {
          socket.destroy()
          reject(error)
        } else {
          resolve(connection as DBusConnection)
        }
      }
      const onAuthData = (chunk: Buffer): void => {
        text += chunk.toString('latin1')
        const end = text.indexOf('\r\n')
        if (end < 0) return
        const line = text.slice(0, end)
        // Authentication is one line; everything after it is the binary protocol.
        socket.off('data', onAuthData)
        if (!line.startsWith('OK ')) {
          done(new DBusError('bktx.AuthFailed', `the bus refused EXTERNAL authentication (${line.slice(0, 40)})`))
          return
        }
        socket.write('BEGIN\r\n')
        const connection = new DBusConnection(socket)
        const rest = Buffer.from(text.slice(end + 2), 'latin1')
        if (rest.length > 0) connection.receive(rest)
        connection
          .call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'Hello' })
          .then((reply) => {
            connection.uniqueName = String(reply.body[0] ?? '')
            done(undefined, connection)
          })
          .catch((error: Error) => done(error))
      }
      socket.on('data', onAuthData)
      socket.on('error', (error) => done(new DBusError('bktx.NoBus', error.message, { cause: error })))
      socket.once('connect', () => {
        // The spec's leading NUL byte, then EXTERNAL with the uid as hex-encoded ASCII digits.
        socket.write(`\0AUTH EXTERNAL ${Buffer.from(String(options.uid), 'ascii').toString('hex')}\r\n`)
      })
    })
  }

  call(message: {
    destination: string
    path: string
    interface: string
    member: string
    signature?: string
    body?: DBusValue[]
    flags?: number
  }): Promise<DBusMessage> {
    if (this.closedError !== undefined) return Promise.reject(this.closedError)
    const serial = ++this.serial
    const bytes = encodeMessage({ type: MESSAGE_TYPE.call, flags: message.flags ?? 0, serial, ...message })
    return new Promise((resolve, reject) => {
      this.pending.set(serial, { resolve, reject })
      this.socket.write(bytes)
    })
  }

  /** Sends a method return for `call` (used by test doubles playing a service). */
  reply(call: DBusMessage, signature: string, body: DBusValue[]): void {
    this.socket.write(
      encodeMessage({
        type: MESSAGE_TYPE.return,
        flags: 0,
        serial: ++this.serial,
        replySerial: call.serial,
        ...(call.sender !== undefined ? { destination: call.sender } : {}),
        signature,
        body,
      }),
    )
  }

  /** Sends an error reply for `call` (used by test doubles playing a service). */
  replyError(call: DBusMessage, errorName: string, text: string): void {
    this.socket.write(
      encodeMessage({
        type: MESSAGE_TYPE.error,
        flags: 0,
        serial: ++this.serial,
        replySerial: call.serial,
        errorName,
        ...(call.sender !== undefined ? { destination: call.sender } : {}),
        signature: 's',
        body: [text],
      }),
    )
  }

  close(): void {
    this.socket.destroy()
  }

  private receive(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
    for (;;) {
      let decoded: ReturnType<typeof decodeMessage>
      try {
        decoded = decodeMessage(this.buffer)
      } catch (error) {
        this.fail(error as Error)
        this.socket.destroy()
        return
      }
      if (decoded === undefined) return
      this.buffer = this.buffer.subarray(decoded.length)
      this.dispatch(decoded.message)
    }
  }

  private dispatch(message: DBusMessage): void {
    if (message.type === MESSAGE_TYPE.return || message.type === MESSAGE_TYPE.error) {
      const waiter = message.replySerial === undefined ? undefined : this.pending.get(message.replySerial)
      if (waiter === undefined) return
      this.pending.delete(message.replySerial as number)
      if (message.type === MESSAGE_TYPE.return) waiter.resolve(message)
      else waiter.reject(new DBusError(message.errorName ?? 'org.freedesktop.DBus.Error.Failed', String(message.body[0] ?? '')))
    } else if (message.type === MESSAGE_TYPE.call) {
      this.onCall?.(message)
    }
  }

  private fail(error: Error): void {
    if (this.closedError !== undefined) return
    this.closedError = error
    for (const waiter of this.pending.values()) waiter.reject(error)
    this.pending.clear()
  }
}
