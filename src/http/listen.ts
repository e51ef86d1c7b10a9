import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'

export interface ListenOptions {
  host: string
  port: number
  /** Whole request, headers included (slow clients are cut off). Default 15 s. */
  requestTimeoutMs?: number
  /** Headers must arrive within this. Default 10 s. */
  headersTimeoutMs?: number
  /**
   * `handler`: requests with an `Expect` header go to the handler too, which then decides
   * whether to send `100 Continue` (res.writeContinue) and answers other expectations itself.
   * Default: Node sends `100 Continue` at once, and other expectations get a JSON 417 here.
   */
  expectations?: 'handler'
}

export interface Listening {
  server: Server
  /** http://HOST:PORT, with IPv6 hosts in brackets. */
  url: string
  /** Stops accepting, lets in-flight requests finish (up to graceMs), then closes the rest. */
  close(graceMs?: number): Promise<void>
}

/** Binds a node:http server with timeouts that cut off slow clients. */
export async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void, options: ListenOptions): Promise<Listening> {
  const requestTimeout = options.requestTimeoutMs ?? 15_000
  const server = createServer(
    {
      requestTimeout,
      headersTimeout: Math.min(options.headersTimeoutMs ?? 10_000, requestTimeout),
      keepAliveTimeout: 5_000,
      // Node checks the two timeouts above on this interval (30 s by default: too coarse).
      connectionsCheckingInterval: 500,
      maxHeaderSize: 16 * 1024,
      // Checked below instead, so that the 400 carries a JSON body like every other answer.
      requireHostHeader: false,
    },
    onRequest,
  )
  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400.
    if (req.httpVersion === '1.1' && req.headers.host === undefined) {
      const body = JSON.stringify({ error: 'invalid_request', error_description: 'Host header is required' })
      res.writeHead(400, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), ...NO_STORE, Connection: 'close' })
      res.end(body)
      return
    }
    handler(req, res)
  }
  if (options.expectations === 'handler') {
    server.on('checkContinue', onRequest)
    server.on('checkExpectation', onRequest)
  } else {
    // Without a listener Node answers a bare 417 with no body.
    server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => {
      const body = JSON.stringify({ error: 'invalid_request', error_description: 'Only the 100-continue expectation is supported' })
      res.writeHead(417, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), ...NO_STORE, Connection: 'close' })
      res.end(body)
    })
  }
  server.on('clientError', answerClientError)
  // Reading the peer address once caches it on the socket (net.Socket keeps it after the first
  // getpeername): a client that resets the connection is still logged with its address.
  server.on('connection', (socket: Duplex & { remoteAddress?: string }) => void socket.remoteAddress)
  // Without a listener Node closes a CONNECT request's connection without a word.
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => refuse(socket, 405, 'Method Not Allowed', 'CONNECT is not supported'))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    server,
    url: `http://${host}:${address.port}`,
    close: (graceMs = 5_000) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), graceMs)
        server.close(() => {
          clearTimeout(timer)
          resolve()
        })
        server.closeIdleConnections()
      }),
  }
}

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' }

const CLIENT_ERRORS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', 'Request headers are too large'],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [413, 'Payload Too Large', 'Chunk extensions are too large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'The request was not received in time'],
  // The client half-closed the connection before the body it declared was complete.
  HPE_INVALID_EOF_STATE: [400, 'Bad Request', 'The request body was cut short'],
}

/**
 * Requests node:http cannot parse (an unknown method, a malformed request line or header) and
 * clients cut off by the timeouts get a JSON error like every other answer, where Node would
 * send a bare status line. Mirrors Node's default: write only if no response has started.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage
  if (inFlight !== undefined && inFlight !== null && inFlight.headersSent === true) {
    socket.destroy()
    return
  }
  const [status, reason, description] = CLIENT_ERRORS[error.code ?? ''] ?? [400, 'Bad Request', 'Malformed HTTP request']
  refuse(socket, status, reason, description)
}

function refuse(socket: Duplex, status: number, reason: string, description: string): void {
  if (socket.writable) {
    const body = JSON.stringify({ error: 'invalid_request', error_description: description })
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nPragma: no-cache\r\nConnection: close\r\n\r\n${body}`,
    )
  }
  socket.destroy()
}
