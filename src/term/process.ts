// The process-level pieces the two entry points share (src/bin.ts, src/fast/main.ts): stdout
// and stderr that report write failures instead of crashing, ending by a signal, and what the
// OS tells about the process. Only entry points call these; everything else gets Deps.
import { EventEmitter } from 'node:events'
import { writeSync } from 'node:fs'
import { getSystemErrorName } from 'node:util'
import type { OutStream } from '../deps.js'

export interface GuardedStream extends OutStream {
  readonly failure: NodeJS.ErrnoException | undefined
  flush(): Promise<void>
}

/**
 * stdout or stderr, with its first write error recorded instead of thrown: Node emits write
 * errors (ENOSPC on /dev/full, EPIPE, EBADF, EIO) as 'error' events, which crash the process
 * with a stack trace when nobody listens. Once a write failed, later ones are dropped;
 * src/main.ts decides the exit code from `failure` (exit 9).
 */
// A descriptor closed when bktx starts (`bktx token >&-`) is not an error bktx can see: Node
// reopens it on /dev/null read-write, exactly as libuv hands /dev/null to a child spawned with
// stdio 'ignore' (a test harness, a supervisor), where discarding the output is the caller's
// intent. Telling the two apart was tried (/proc/self/fdinfo) and failed those children, so a
// closed stdout is treated like /dev/null: docs/daily-use.md, "Write failures".
export function guardStream(stream: NodeJS.WriteStream): GuardedStream {
  let failure: NodeJS.ErrnoException | undefined
  stream.on('error', (error: NodeJS.ErrnoException) => {
    failure ??= error
  })
  return {
    isTTY: stream.isTTY === true,
    get failure() {
      return failure
    },
    write(chunk) {
      if (failure === undefined && !stream.destroyed) stream.write(chunk)
    },
    // Nothing is written to flush: an empty write fails on /dev/full too. What is still queued
    // (a pipe the reader drains slowly) ends in 'drain' or an error; a write that failed
    // synchronously (a file, a device) emits its 'error' on a later tick, before setImmediate.
    flush: () =>
      new Promise<void>((resolve) => {
        const done = () => setImmediate(resolve)
        if (failure !== undefined || stream.destroyed || stream.writableLength === 0) done()
        else for (const event of ['drain', 'close', 'error']) stream.once(event, done)
      }),
  }
}

/**
 * Writes all of `text` to descriptor `fd` (1 or 2) now, and returns the write error if any:
 * the cache-hit path prints one short line, and process.stdout would first build a stream
 * (tty, net and stream modules) that costs more than the rest of the hit. Same outcome as
 * {@link guardStream}: the error is returned, not thrown. A descriptor left non-blocking by
 * whoever shares it answers EAGAIN while the pipe is full: wait a moment and go on, as a
 * blocking write would.
 */
export function writeFdSync(fd: number, text: string): NodeJS.ErrnoException | undefined {
  return writeAllSync(fd, text).failure
}

/** {@link writeFdSync}, also saying how many bytes were written before a failure. */
export function writeAllSync(fd: number, text: string): { failure: NodeJS.ErrnoException | undefined; written: number } {
  const bytes = Buffer.from(text, 'utf8')
  let offset = 0
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return { failure: error as NodeJS.ErrnoException, written: offset }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1)
    }
  }
  return { failure: undefined, written: offset }
}

const WRITE_ERRORS: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on the device',
  EPIPE: 'the reader closed the pipe',
  EBADF: 'it is closed or not open for writing',
  EIO: 'input/output error (the terminal went away?)',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'the file is too large',
}

/** A write error in words, with its code: `no space left on the device (ENOSPC)`. */
export function describeWriteError(error: NodeJS.ErrnoException): string {
  const reason = error.code === undefined ? undefined : WRITE_ERRORS[error.code]
  return reason === undefined ? error.message : `${reason} (${error.code})`
}

/**
 * Ends the process by `signal` with its default action, so that the parent sees a death by
 * that signal (a shell stops its loop on a SIGINT death, not on exit 130). Listeners are
 * removed first, and a listener added and removed again resets the disposition to the
 * default where Node keeps its own (SIGPIPE ignored, SIGUSR1 starting the inspector). Should
 * the signal still not end the process (blocked or ignored by the parent's choice), it exits
 * with `code`, which is 128 + N as a shell would report the death.
 */
export function endBySignal(signal: NodeJS.Signals, code: number): void {
  process.exitCode = code
  if (signal !== 'SIGKILL' && signal !== 'SIGSTOP') {
    process.removeAllListeners(signal)
    const reset = (): void => undefined
    process.on(signal, reset)
    process.off(signal, reset)
  }
  process.kill(process.pid, signal)
  setTimeout(() => process.exit(code), 1000)
}

// Issue 22, finding 4: an `exec:` signer runs in a process group of its own (src/keys/exec.ts),
// so that it and everything it started can be killed together; that also puts it out of reach
// of a signal sent to bktx's own group (a CI runner cancelling a job signals the job's group)
// and of bktx's death. While a signer runs, this guard (installed by the entry points with
// setChildGroupGuard) makes every signal that would end bktx end the signer's group first, and
// so does bktx's exit.
// The catchable signals whose default action ends a Node process (SIGUSR1 excepted: bin/bktx.js
// takes it; Node ignores SIGPIPE and SIGXFSZ, and a listener removed again would end that).
const ENDING: readonly NodeJS.Signals[] = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR2', 'SIGALRM', 'SIGVTALRM', 'SIGXCPU']

function killGroup(pgid: number): void {
  try {
    // The negative pid is the process group: the shell and whatever it started, even the
    // children it left behind once it exited (they keep its group).
    process.kill(-pgid, 'SIGKILL')
  } catch {
    // Already gone.
  }
}

/**
 * Kills process group `pgid` when bktx gets one of the signals that end it, or exits, until the
 * returned release() is called (with `end` true: the group is killed then too). A signal nobody
 * else listens for is re-raised with its default action once the group is killed, so bktx still
 * dies of it as before; when a command listens (SIGINT and SIGTERM cancel a token request), the
 * command goes on deciding.
 */
export function guardChildGroup(pgid: number): (end: boolean) => void {
  const listeners = new Map<NodeJS.Signals, () => void>()
  const onExit = () => killGroup(pgid)
  const release = (end: boolean) => {
    for (const [signal, listener] of listeners) process.off(signal, listener)
    listeners.clear()
    process.off('exit', onExit)
    if (end) killGroup(pgid)
  }
  for (const signal of ENDING) {
    const listener = () => {
      killGroup(pgid)
      const alone = process.listenerCount(signal) === 1
      release(false)
      if (alone) process.kill(process.pid, signal)
    }
    listeners.set(signal, listener)
    process.on(signal, listener)
  }
  process.on('exit', onExit)
  return release
}

/** What the D-Bus client uses of a connected Unix socket (src/secrets/dbus.ts BusSocket). */
type BusSocketLike = EventEmitter & {
  write(data: string | Uint8Array): boolean
  pause(): unknown
  resume(): unknown
  destroy(error?: Error): unknown
}

interface PipeBindings {
  Pipe: new (type: number) => PipeHandle
  PipeConnectWrap: new () => { oncomplete?: (status: number) => void }
  constants: { SOCKET: number }
  WriteWrap: new () => { handle?: PipeHandle; oncomplete?: (status: number) => void; async?: boolean }
  streamBaseState: Int32Array
  kReadBytesOrError: number
  kArrayBufferOffset: number
  kLastWriteWasAsync: number
}

interface PipeHandle {
  connect(req: object, path: string): number
  writeBuffer(req: object, data: Uint8Array): number
  readStart(): number
  close(): void
  onread?: (buffer: ArrayBuffer | undefined) => void
}

// libuv's end of stream (UV_EOF): the peer closed the connection.
const UV_EOF = -4095

/**
 * Connects to a Unix socket through Node's own pipe handle, without node:net (issue 23): the
 * keychain's lock probe (src/secrets/probe.ts) sends a few hundred bytes on every `bktx status`
 * and every keychain hit, and node:net with the stream machinery it loads and compiles costs
 * such a run about a fifth of `node -e 0`; the handle alone costs a few hundredths. The socket
 * behaves as node:net's does for what the D-Bus client uses: 'connect', 'data' (held while
 * paused, in order), 'error' then 'close' for a failure or destroy(error), 'close' alone at the
 * end of the stream, errors worded `connect ECONNREFUSED PATH` as node:net words them.
 *
 * `process.binding` is deprecated (DEP0111, documentation only: a warning only under
 * --pending-deprecation, which is silenced for the one call): undefined, so that the caller uses
 * node:net, on any Node but the major version this was tested on (a binding's shape may differ)
 * or when a piece is missing.
 */
export function pipeSocketConnector(): ((path: string) => BusSocketLike) | undefined {
  const binding = (process as unknown as { binding?: (name: string) => object }).binding
  if (!process.version.startsWith('v20.') || typeof binding !== 'function') return undefined
  let bindings: PipeBindings
  const quiet = process.noDeprecation
  try {
    process.noDeprecation = true
    bindings = { ...binding.call(process, 'pipe_wrap'), ...binding.call(process, 'stream_wrap') } as PipeBindings
  } catch {
    return undefined
  } finally {
    process.noDeprecation = quiet
  }
  const { Pipe, PipeConnectWrap, constants, WriteWrap, streamBaseState } = bindings
  if (
    typeof Pipe !== 'function' ||
    typeof PipeConnectWrap !== 'function' ||
    typeof WriteWrap !== 'function' ||
    typeof constants?.SOCKET !== 'number' ||
    !(streamBaseState instanceof Int32Array) ||
    [bindings.kReadBytesOrError, bindings.kArrayBufferOffset, bindings.kLastWriteWasAsync].some((k) => typeof k !== 'number')
  ) {
    return undefined
  }
  return (path) => pipeSocket(bindings, path)
}

function pipeSocket(b: PipeBindings, path: string): BusSocketLike {
  const handle = new b.Pipe(b.constants.SOCKET)
  const socket = new EventEmitter() as BusSocketLike
  const systemError = (syscall: string, status: number, address?: string): NodeJS.ErrnoException => {
    const code = getSystemErrorName(status)
    const error: NodeJS.ErrnoException = new Error(`${syscall} ${code}${address === undefined ? '' : ` ${address}`}`)
    error.code = code
    error.errno = status
    error.syscall = syscall
    return error
  }
  let connected = false
  let closed = false
  let paused = false
  const held: Buffer[] = []
  const unsent: Uint8Array[] = []
  // Buffers of writes libuv completes later: kept alive until it has.
  const inFlight = new Set<object>()
  const end = (error: Error | undefined): void => {
    if (closed) return
    closed = true
    handle.close()
    // Emitted on the next tick, as node:net does, so that a caller's destroy() returns first.
    process.nextTick(() => {
      if (error !== undefined) socket.emit('error', error)
      socket.emit('close')
    })
  }
  const send = (data: Uint8Array): void => {
    const req = new b.WriteWrap()
    req.handle = handle
    req.oncomplete = (status) => {
      inFlight.delete(req)
      if (status < 0) end(systemError('write', status))
    }
    req.async = false
    const status = handle.writeBuffer(req, data)
    if (status < 0) end(systemError('write', status))
    else if (b.streamBaseState[b.kLastWriteWasAsync] !== 0) inFlight.add(Object.assign(req, { buffer: data }))
  }
  const deliver = (): void => {
    while (!paused && !closed && held.length > 0) socket.emit('data', held.shift() as Buffer)
  }
  socket.write = (data) => {
    if (closed) return false
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
    if (connected) send(bytes)
    else unsent.push(bytes)
    return true
  }
  socket.pause = () => {
    paused = true
    return socket
  }
  socket.resume = () => {
    paused = false
    // Later, as node:net resumes: what the caller handles right after resume() comes first.
    process.nextTick(deliver)
    return socket
  }
  socket.destroy = (error) => {
    end(error)
    return socket
  }
  handle.onread = (buffer) => {
    const n = b.streamBaseState[b.kReadBytesOrError] as number
    if (n === UV_EOF) return end(undefined)
    if (n < 0) return end(systemError('read', n))
    if (n === 0 || buffer === undefined) return
    held.push(Buffer.from(buffer, b.streamBaseState[b.kArrayBufferOffset] as number, n))
    deliver()
  }
  const req = new b.PipeConnectWrap()
  req.oncomplete = (status) => {
    if (closed) return
    if (status < 0) return end(systemError('connect', status, path))
    connected = true
    socket.emit('connect')
    for (const bytes of unsent.splice(0)) if (!closed) send(bytes)
    if (closed) return
    const reading = handle.readStart()
    if (reading < 0) end(systemError('read', reading))
  }
  const status = handle.connect(req, path)
  if (status < 0) end(systemError('connect', status, path))
  return socket
}
