import { connect } from 'node:net'

// Raw sockets, for requests node:http would refuse to send and for slow clients.

export interface RawResult {
  /** Everything the server sent. */
  text: string
  /** Whether the server closed the connection within the wait. */
  closed: boolean
  ms: number
  status: number | undefined
  json: unknown
}

/**
 * Sends `parts` on a fresh connection, `gapMs` apart (a slow client when > 0), and collects the
 * answer until the server closes the connection or `waitMs` passes (or, with `untilAnswered`,
 * until one whole response with a Content-Length has arrived on a connection kept alive).
 */
export function rawRequest(
  url: string,
  parts: Array<string | Buffer>,
  options: { gapMs?: number; waitMs?: number; untilAnswered?: boolean } = {},
): Promise<RawResult> {
  const { hostname, port } = new URL(url)
  const started = Date.now()
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname)
    const chunks: Buffer[] = []
    let done = false
    let timer: NodeJS.Timeout | undefined
    const finish = (closed: boolean): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      clearTimeout(waiter)
      socket.destroy()
      const text = Buffer.concat(chunks).toString('utf8')
      // The final answer: after any interim 1xx (100 Continue for `Expect: 100-continue`).
      const final = withoutInterim(text)
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(final)?.[1]
      const bodyStart = final.indexOf('\r\n\r\n')
      let json: unknown
      try {
        json = bodyStart === -1 ? undefined : JSON.parse(final.slice(bodyStart + 4))
      } catch {
        json = undefined
      }
      resolve({ text, closed, ms: Date.now() - started, status: status === undefined ? undefined : Number(status), json })
    }
    const waiter = setTimeout(() => finish(false), options.waitMs ?? 5_000)
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      if (options.untilAnswered === true && answered(Buffer.concat(chunks))) finish(false)
    })
    socket.on('error', () => undefined)
    socket.on('close', () => finish(true))
    let i = 0
    const next = (): void => {
      if (done || i >= parts.length || socket.destroyed) return
      socket.write(parts[i++] as string | Buffer)
      if ((options.gapMs ?? 0) > 0) timer = setTimeout(next, options.gapMs)
      else next()
    }
    socket.on('connect', next)
  })
}

/** The response text from the first final (non-1xx) status line on. */
export function withoutInterim(text: string): string {
  let rest = text
  while (/^HTTP\/1\.[01] 1\d\d /.test(rest)) {
    const end = rest.indexOf('\r\n\r\n')
    if (end === -1) break
    rest = rest.slice(end + 4)
  }
  return rest
}

function answered(bytes: Buffer): boolean {
  const text = withoutInterim(bytes.toString('latin1'))
  const end = text.indexOf('\r\n\r\n')
  if (end === -1 || /^HTTP\/1\.[01] 1\d\d /.test(text)) return false
  const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1]
  return length !== undefined && text.length - end - 4 >= Number(length)
}
