import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface ListenOptions {
  host: string
  port: number
  /** Whole request, headers included (slow clients are cut off). Default 15 s. */
  requestTimeoutMs?: number
  /** Headers must arrive within this. Default 10 s. */
  headersTimeoutMs?: number
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
    },
    handler,
  )
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
