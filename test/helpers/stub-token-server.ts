import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { tokenBody } from './exchange.js'

export type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void

export interface StubServer {
  /** Base URL, e.g. http://127.0.0.1:1234 */
  origin: string
  /** Requests received, as "METHOD /path". */
  requests: string[]
  close(): Promise<void>
}

/** Answers every POST with a docs/token-exchange.md §4 token response. */
export const answerToken: Handler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store', pragma: 'no-cache' })
  res.end(JSON.stringify(tokenBody()))
}

/**
 * A loopback HTTP(S) server with a scripted handler: a stand-in for the token endpoint where a
 * test needs real sockets (proxies, TLS, hangs). Not the reference server.
 */
export async function startStubServer(handler: Handler = answerToken, tls?: { cert: string; key: string }, host = '127.0.0.1'): Promise<StubServer> {
  const requests: string[] = []
  const sockets = new Set<Socket>()
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    requests.push(`${req.method} ${req.url}`)
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => handler(req, res, Buffer.concat(chunks).toString('utf8')))
  }
  const server = tls === undefined ? createHttpServer(listener) : createHttpsServer(tls, listener)
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  server.on('tlsClientError', () => undefined)
  // `host` 0.0.0.0 makes it reachable on a non-loopback address too (NO_PROXY tests).
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  const { port } = server.address() as AddressInfo
  return {
    origin: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
