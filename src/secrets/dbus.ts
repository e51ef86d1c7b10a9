import { connect } from 'node:net'

/**
 * The D-Bus client of the keyring lock probe (./probe.ts) and of the item reader of a keychain
 * hit (./read.ts): EXTERNAL authentication over a Unix socket, `Hello`, method calls (string
 * arguments, or a typed body), and the decoding of their replies and errors. Enough to ask the
 * Secret Service a property, or read one item, without going through the keyring binding
 * (whose calls may raise an unlock prompt and block a libuv thread forever, see
 * docs/dependencies.md), and small enough to load in about 3 ms, where a D-Bus library costs about
 * 20 (docs/cache-and-ci.md, "Keychain failures"). Wire format: the D-Bus specification, "Message
 * Protocol" and "Authentication Protocol". No Unix fds, no signal subscriptions, no serving:
 * the test doubles that play a service (test/fixtures/dbus-server.ts) carry their own encoder.
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
export const FIELD = { path: 1, interface: 2, member: 3, errorName: 4, replySerial: 5, destination: 6, sender: 7, signature: 8 } as const

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
// Encoding: method calls with string arguments (the probe) or a typed body (the item reader,
// ./read.ts: `sv`, `a{ss}`, `o`).

/** A method call: its arguments are `args` (all strings, signature `s…`), or `body` typed by `signature`. */
export interface DBusCall {
  destination: string
  path: string
  interface: string
  member: string
  args?: readonly string[]
  /** With `body`: its signature (`sv`, `a{ss}`). */
  signature?: string
  body?: readonly DBusValue[]
}

/** Appends little-endian values, padding to each type's alignment from the message start. */
export class Writer {
  protected buf: Buffer = Buffer.alloc(256)
  length = 0

  protected ensure(extra: number): void {
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
  /** `s` and `o`: uint32 length, UTF-8 bytes, NUL. */
  string(v: string): void {
    const bytes = Buffer.from(v, 'utf8')
    this.uint32(bytes.length)
    this.ensure(bytes.length + 1)
    this.buf.set(bytes, this.length)
    this.length += bytes.length
    this.byte(0)
  }
  /** `g`: byte length, ASCII, NUL. */
  signature(v: string): void {
    this.byte(v.length)
    this.ensure(v.length + 1)
    this.buf.write(v, this.length, 'ascii')
    this.length += v.length
    this.byte(0)
  }
  result(): Buffer {
    return this.buf.subarray(0, this.length)
  }
}

/**
 * Appends `value` as type `type` (D-Bus spec, "Marshaling"): the basic types a client sends
 * (`y b u s o g`), variants (`{ signature, value }`), arrays, and structs and dict entries (each
 * an array of its fields). Alignment is relative to the writer's start: a body starts 8-aligned
 * in its message, so a body's writer aligns as the message does.
 */
export function writeValue(w: Writer, type: string, value: DBusValue): void {
  switch (type[0]) {
    case 'y':
      w.byte(Number(value))
      return
    case 'b':
      w.uint32(value === true ? 1 : 0)
      return
    case 'u':
      w.uint32(Number(value) >>> 0)
      return
    case 's':
    case 'o':
      w.string(String(value))
      return
    case 'g':
      w.signature(String(value))
      return
    case 'v': {
      const variant = value as DBusVariant
      w.signature(variant.signature)
      writeValue(w, variant.signature, variant.value)
      return
    }
    case 'a': {
      const element = type.slice(1)
      w.uint32(0)
      const lengthAt = w.length - 4
      // The padding before the first element is not part of the array's length.
      w.align(alignment(element))
      const start = w.length
      for (const item of value as DBusValue[]) writeValue(w, element, item)
      w.setUint32(lengthAt, w.length - start)
      return
    }
    case '(':
    case '{': {
      w.align(8)
      const fields = value as DBusValue[]
      splitSignature(type.slice(1, -1)).forEach((field, i) => {
        writeValue(w, field, fields[i] as DBusValue)
      })
      return
    }
    default:
      throw new DBusError('bktx.BadSignature', `cannot write type ${type}`)
  }
}

/** Serialises a method call (little-endian, protocol version 1). */
export function encodeCall(serial: number, call: DBusCall): Buffer {
  const args = call.args ?? []
  const body = new Writer()
  const typed = call.body
  const signature = typed !== undefined ? (call.signature ?? '') : 's'.repeat(args.length)
  if (typed !== undefined)
    splitSignature(signature).forEach((type, i) => {
      writeValue(body, type, typed[i] as DBusValue)
    })
  else for (const arg of args) body.string(arg)

  const w = new Writer()
  w.byte(0x6c) // 'l': little-endian
  w.byte(MESSAGE_TYPE.call)
  w.byte(0) // flags
  w.byte(1) // protocol version
  w.uint32(body.length)
  w.uint32(serial)
  // The header fields, an array of (code, variant) structs, each struct 8-aligned.
  w.uint32(0)
  const lengthAt = w.length - 4
  w.align(8)
  const start = w.length
  const field = (code: number, type: 'o' | 's' | 'g', value: string): void => {
    w.align(8)
    w.byte(code)
    w.signature(type)
    if (type === 'g') w.signature(value)
    else w.string(value)
  }
  field(FIELD.path, 'o', call.path)
  field(FIELD.interface, 's', call.interface)
  field(FIELD.member, 's', call.member)
  field(FIELD.destination, 's', call.destination)
  if (signature !== '') field(FIELD.signature, 'g', signature)
  w.setUint32(lengthAt, w.length - start)
  w.align(8)
  const head = w.result()
  return Buffer.concat([head, body.result()])
}

// ---------------------------------------------------------------------------------------------
// Decoding: any message the bus sends (replies, errors, and signals such as NameAcquired,
// which must be parsed to find where the next message starts).

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

/** The alignment of a type's first byte (D-Bus spec, "Marshaling"). */
export function alignment(type: string): number {
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
            ? this.little
              ? this.buf.readInt16LE(this.pos)
              : this.buf.readInt16BE(this.pos)
            : this.little
              ? this.buf.readUInt16LE(this.pos)
              : this.buf.readUInt16BE(this.pos)
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
            ? this.little
              ? this.buf.readInt32LE(this.pos)
              : this.buf.readInt32BE(this.pos)
            : this.little
              ? this.buf.readUInt32LE(this.pos)
              : this.buf.readUInt32BE(this.pos)
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
            ? this.little
              ? this.buf.readDoubleLE(this.pos)
              : this.buf.readDoubleBE(this.pos)
            : c === 'x'
              ? this.little
                ? this.buf.readBigInt64LE(this.pos)
                : this.buf.readBigInt64BE(this.pos)
              : this.little
                ? this.buf.readBigUInt64LE(this.pos)
                : this.buf.readBigUInt64BE(this.pos)
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
      case FIELD.path:
        message.path = String(value)
        break
      case FIELD.interface:
        message.interface = String(value)
        break
      case FIELD.member:
        message.member = String(value)
        break
      case FIELD.errorName:
        message.errorName = String(value)
        break
      case FIELD.replySerial:
        message.replySerial = Number(value)
        break
      case FIELD.destination:
        message.destination = String(value)
        break
      case FIELD.sender:
        message.sender = String(value)
        break
      case FIELD.signature:
        message.signature = String(value)
        break
      default:
        break
    }
  }
  const body = new Reader(buf.subarray(0, total), bodyStart, little, bodyStart)
  message.body = splitSignature(message.signature).map((t) => body.read(t))
  return { message, length: total }
}

// ---------------------------------------------------------------------------------------------
// Connection

/**
 * What the client uses of a connected Unix socket: a node:net Socket, or the entry points'
 * lighter one over Node's pipe handle (src/term/process.ts pipeSocketConnector), which behaves
 * the same for these.
 */
export interface BusSocket {
  on(event: 'connect' | 'close', listener: () => void): unknown
  on(event: 'data', listener: (chunk: Buffer) => void): unknown
  on(event: 'error', listener: (error: Error) => void): unknown
  off(event: 'connect' | 'close', listener: () => void): unknown
  off(event: 'data', listener: (chunk: Buffer) => void): unknown
  off(event: 'error', listener: (error: Error) => void): unknown
  write(data: string | Uint8Array): unknown
  pause(): unknown
  resume(): unknown
  destroy(error?: Error): unknown
}

/** Opens a Unix socket to `path`; node:net's connect by default. */
export type BusConnect = (path: string) => BusSocket

export interface DBusConnectOptions {
  /** Socket path from {@link busSocketPath}. */
  socketPath: string
  /** How the socket is opened (default node:net's connect). */
  connect?: BusConnect | undefined
  /** The caller's uid, sent as the EXTERNAL authentication identity. */
  uid: number
  /** Bounds connecting, authenticating and `Hello`, in milliseconds. */
  timeoutMs: number
}

/**
 * Runs the SASL EXTERNAL exchange on a socket that is connecting to a bus. Resolves, with the
 * socket paused, with any bytes the bus sent after `OK` (the start of the binary protocol);
 * rejects with a DBusError (`bktx.NoBus` when the socket fails, `bktx.AuthFailed` when the
 * bus refuses). Exported for test doubles, which are bus clients too.
 */
export function authenticate(socket: BusSocket, uid: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let text = ''
    const settle = (error: Error | undefined, rest?: Buffer): void => {
      socket.off('data', onData)
      socket.off('error', onError)
      socket.off('close', onClose)
      socket.off('connect', onConnect)
      if (error === undefined) resolve(rest as Buffer)
      else reject(error)
    }
    const onConnect = (): void => {
      // The spec's leading NUL byte, then EXTERNAL with the uid as hex-encoded ASCII digits.
      socket.write(`\0AUTH EXTERNAL ${Buffer.from(String(uid), 'ascii').toString('hex')}\r\n`)
    }
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1')
      const end = text.indexOf('\r\n')
      if (end < 0) return
      const line = text.slice(0, end)
      if (!line.startsWith('OK ')) {
        settle(new DBusError('bktx.AuthFailed', `the bus refused EXTERNAL authentication (${line.slice(0, 40)})`))
        return
      }
      // Paused so that no message arrives before the caller listens for it.
      socket.pause()
      socket.write('BEGIN\r\n')
      settle(undefined, Buffer.from(text.slice(end + 2), 'latin1'))
    }
    const onError = (error: Error): void => settle(error instanceof DBusError ? error : new DBusError('bktx.NoBus', error.message, { cause: error }))
    const onClose = (): void => settle(new DBusError('bktx.Disconnected', 'the bus closed the connection during authentication'))
    socket.on('connect', onConnect)
    socket.on('data', onData)
    socket.on('error', onError)
    socket.on('close', onClose)
  })
}

/**
 * Connects (as {@link DBusConnection.connect}) and runs `session` on the connection, the whole
 * of it bounded by `options.timeoutMs`: at the deadline the connection is closed, so whatever the
 * session awaits rejects, and so does this, with a DBusError `bktx.Timeout` (also when the
 * session answered after the deadline). The connection is closed when the session ends. A flag
 * and a timer, not an AbortController: nothing listens for an abort, and
 * node:internal/abort_controller costs every status run and keychain hit its load (issue 23).
 */
export async function withConnection<T>(options: DBusConnectOptions, session: (connection: DBusConnection) => Promise<T>): Promise<T> {
  let timedOut = false
  let connection: DBusConnection | undefined
  const timer = setTimeout(() => {
    timedOut = true
    connection?.close()
  }, options.timeoutMs)
  const late = (cause?: unknown) => new DBusError('bktx.Timeout', 'the bus or the service did not answer in time', { cause })
  try {
    connection = await DBusConnection.connect(options)
    if (timedOut) throw late()
    const result = await session(connection)
    if (timedOut) throw late()
    return result
  } catch (error) {
    throw timedOut && !(error instanceof DBusError && error.dbusName === 'bktx.Timeout') ? late(error) : error
  } finally {
    clearTimeout(timer)
    connection?.close()
  }
}

/**
 * One connection to a bus, as a client. Calls resolve with the reply message or reject with a
 * DBusError (error replies included). Method calls and signals addressed to it are ignored.
 */
export class DBusConnection {
  private buffer: Buffer = Buffer.alloc(0)
  protected serial = 0
  private readonly pending = new Map<number, { resolve: (m: DBusMessage) => void; reject: (e: Error) => void }>()
  private closedError: Error | undefined
  /** The unique name the bus gave this connection (`:1.42`). */
  uniqueName = ''

  /** Use {@link DBusConnection.connect}; public only so that test doubles can extend it. */
  constructor(protected readonly socket: BusSocket) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk))
    socket.on('error', (error) => this.fail(error instanceof DBusError ? error : new DBusError('bktx.Disconnected', error.message, { cause: error })))
    socket.on('close', () => this.fail(new DBusError('bktx.Disconnected', 'connection closed')))
  }

  /** Connects, authenticates and says `Hello`, all within `timeoutMs`. */
  static async connect<T extends DBusConnection>(this: new (socket: BusSocket) => T, options: DBusConnectOptions): Promise<T> {
    const socket = (options.connect ?? connect)(options.socketPath)
    const timer = setTimeout(() => socket.destroy(new DBusError('bktx.Timeout', 'the bus did not answer')), options.timeoutMs)
    try {
      const rest = await authenticate(socket, options.uid)
      const connection = new this(socket)
      socket.resume()
      if (rest.length > 0) connection.receive(rest)
      const reply = await connection.call({
        destination: 'org.freedesktop.DBus',
        path: '/org/freedesktop/DBus',
        interface: 'org.freedesktop.DBus',
        member: 'Hello',
      })
      connection.uniqueName = String(reply.body[0] ?? '')
      return connection
    } catch (error) {
      socket.destroy()
      throw error
    } finally {
      clearTimeout(timer)
    }
  }

  call(call: DBusCall): Promise<DBusMessage> {
    const serial = ++this.serial
    return this.request(serial, encodeCall(serial, call))
  }

  /** Sends an encoded method call and waits for the reply to `serial`. */
  protected request(serial: number, bytes: Buffer): Promise<DBusMessage> {
    if (this.closedError !== undefined) return Promise.reject(this.closedError)
    return new Promise((resolve, reject) => {
      this.pending.set(serial, { resolve, reject })
      this.socket.write(bytes)
    })
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
      const message = decoded.message
      if (message.type !== MESSAGE_TYPE.return && message.type !== MESSAGE_TYPE.error) {
        this.received(message)
        continue
      }
      const waiter = message.replySerial === undefined ? undefined : this.pending.get(message.replySerial)
      if (waiter === undefined) continue
      this.pending.delete(message.replySerial as number)
      if (message.type === MESSAGE_TYPE.return) waiter.resolve(message)
      else waiter.reject(new DBusError(message.errorName ?? 'org.freedesktop.DBus.Error.Failed', String(message.body[0] ?? '')))
    }
  }

  /** A message that is not a reply (a method call or signal addressed to us): a client ignores it. */
  protected received(_message: DBusMessage): void {}

  private fail(error: Error): void {
    if (this.closedError !== undefined) return
    this.closedError = error
    for (const waiter of this.pending.values()) waiter.reject(error)
    this.pending.clear()
  }
}
