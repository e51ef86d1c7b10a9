import { closeSync, fdatasync, ftruncateSync, fstatSync, readSync, writeSync } from 'node:fs'

/**
 * An append-only JSON-lines file whose appends are durable when their promise resolves.
 * Each append is one write(2) of whole lines on an O_APPEND descriptor, so a crash never
 * interleaves records; fdatasync is shared by concurrent appends (group commit), so durability
 * costs one flush per batch rather than one per request. The descriptor is opened by the
 * caller (state-dir.ts: without following symlinks, after checking owner and mode).
 */
export class Journal {
  readonly path: string
  readonly #fd: number
  #written = 0
  #synced = 0
  #syncing = false
  #waiters: Array<{ seq: number; resolve: () => void; reject: (error: unknown) => void }> = []
  #closed = false

  /** `fd` open for reading and appending (O_APPEND); `path` names it in messages. */
  constructor(fd: number, path: string) {
    this.path = path
    this.#fd = fd
    repairTail(this.#fd)
  }

  /** Appends the lines; resolves once they are on disk. */
  append(lines: readonly string[]): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`journal ${this.path} is closed`))
    writeSync(this.#fd, lines.map((line) => `${line}\n`).join(''))
    const seq = ++this.#written
    return new Promise((resolve, reject) => {
      this.#waiters.push({ seq, resolve, reject })
      this.#kick()
    })
  }

  #kick(): void {
    if (this.#syncing || this.#synced >= this.#written) return
    this.#syncing = true
    const target = this.#written
    fdatasync(this.#fd, (error) => {
      this.#syncing = false
      if (error === null) this.#synced = target
      const done = this.#waiters.filter((w) => w.seq <= target)
      this.#waiters = this.#waiters.filter((w) => w.seq > target)
      for (const waiter of done) {
        if (error === null) waiter.resolve()
        else waiter.reject(error)
      }
      this.#kick()
    })
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    closeSync(this.#fd)
  }
}

/**
 * A record is acknowledged only after its flush, so a torn last line (a crash mid-write) was
 * never acknowledged: cut it off so every line in the file parses.
 */
function repairTail(fd: number): void {
  const size = fstatSync(fd).size
  if (size === 0) return
  const window = Math.min(size, 64 * 1024)
  const buffer = Buffer.alloc(window)
  readSync(fd, buffer, 0, window, size - window)
  if (buffer[window - 1] === 0x0a) return
  const lastNewline = buffer.lastIndexOf(0x0a)
  ftruncateSync(fd, lastNewline === -1 ? (size > window ? size - window : 0) : size - window + lastNewline + 1)
}
