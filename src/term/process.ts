// The process-level pieces the two entry points share (src/bin.ts, src/fast/main.ts): stdout
// and stderr that report write failures instead of crashing, ending by a signal, and what the
// OS tells about the process. Only entry points call these; everything else gets Deps.
import { readFileSync, readlinkSync } from 'node:fs'
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
export function guardStream(stream: NodeJS.WriteStream, fd: 1 | 2): GuardedStream {
  let failure: NodeJS.ErrnoException | undefined
  let checked = false
  stream.on('error', (error: NodeJS.ErrnoException) => {
    failure ??= error
  })
  return {
    isTTY: stream.isTTY === true,
    get failure() {
      return failure
    },
    write(chunk) {
      if (!checked) {
        checked = true
        if (closedAtStart(fd)) failure ??= Object.assign(new Error('EBADF: bad file descriptor, write'), { code: 'EBADF', errno: -9, syscall: 'write' })
      }
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
 * True when `fd` was closed when the process started (`bktx token >&-`). Node then opens
 * /dev/null read-write in its place (so that the descriptor cannot be reused by a file bktx
 * opens), which makes every write "succeed": a token written there is lost. A user's own
 * redirection to /dev/null opens it write-only, so this tells the two apart. Linux only (it
 * reads /proc); false elsewhere and whenever /proc does not answer.
 */
function closedAtStart(fd: number): boolean {
  if (process.platform !== 'linux') return false
  try {
    if (readlinkSync(`/proc/self/fd/${fd}`) !== '/dev/null') return false
    const flags = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1]
    // O_ACCMODE is 3; O_RDWR is 2.
    return flags !== undefined && (parseInt(flags, 8) & 3) === 2
  } catch {
    return false
  }
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
