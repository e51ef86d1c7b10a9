import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'

/**
 * How the proxy behaves: `forward` is a working proxy; the others misbehave on every request:
 * `close` reads the request (CONNECT or absolute-URI) and closes the connection without a word,
 * `auth` answers 407 Proxy Authentication Required, `bad-gateway` answers 502, `hang` never answers.
 */
export type ProxyBehaviour = 'forward' | 'close' | 'auth' | 'bad-gateway' | 'hang'

export interface CountingProxy {
  url: string
  /** CONNECT tunnels asked for (https through the proxy), as "host:port". */
  connects: string[]
  /** Absolute-URI requests received (plain http through the proxy), as "METHOD url". */
  forwards: string[]
  /** TCP connections accepted from clients. */
  readonly connections: number
  /** Proxy-Authorization headers received (to check credentials are sent, never printed). */
  authorizations: string[]
  behaviour: ProxyBehaviour
  close(): Promise<void>
}

export interface ProxyOptions {
  behaviour?: ProxyBehaviour
  /**
   * Host names the proxy resolves itself, to 127.0.0.1 unless given: bktx never proxies
   * loopback, so proxied tests name their loopback servers `token.test` and the like.
   */
  hosts?: Record<string, string> | readonly string[]
}

/**
 * A minimal forward proxy on 127.0.0.1: CONNECT tunnels (RFC 9110 §9.3.6) and absolute-URI
 * forwarding (RFC 9112 §3.2.2), counting both and every connection, so tests can prove
 * requests went (or did not go) through it, and how many times.
 */
export async function startCountingProxy(options: ProxyOptions = {}): Promise<CountingProxy> {
  const hosts: Record<string, string> = Array.isArray(options.hosts)
    ? Object.fromEntries(options.hosts.map((h) => [h, '127.0.0.1']))
    : { ...(options.hosts as Record<string, string> | undefined) }
  const resolve = (host: string) => hosts[host] ?? host
  const sockets = new Set<Socket>()
  let connections = 0
  const proxy: CountingProxy = {
    url: '',
    connects: [],
    forwards: [],
    get connections() {
      return connections
    },
    authorizations: [],
    behaviour: options.behaviour ?? 'forward',
    close: async () => undefined,
  }
  /** The answer of a misbehaving proxy, or false to go on. */
  const misbehave = (socket: Socket): boolean => {
    switch (proxy.behaviour) {
      case 'forward':
        return false
      case 'close':
        socket.destroy()
        return true
      case 'auth':
        socket.end(
          'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="bktx-test"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
        )
        return true
      case 'bad-gateway':
        socket.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
        return true
      case 'hang':
        return true
    }
  }
  const server: Server = createServer((req, res) => {
    proxy.forwards.push(`${req.method} ${req.url}`)
    if (req.headers['proxy-authorization'] !== undefined) proxy.authorizations.push(req.headers['proxy-authorization'])
    if (misbehave(req.socket)) return
    let target: URL
    try {
      target = new URL(req.url ?? '')
    } catch {
      res.writeHead(400).end('absolute URI required')
      return
    }
    const upstream = httpRequest(
      {
        host: resolve(target.hostname),
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: req.method,
        headers: { ...req.headers, host: target.host },
      },
      (answer: IncomingMessage) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    upstream.on('error', () => res.writeHead(502).end())
    req.pipe(upstream)
  })
  server.on('connection', (socket: Socket) => {
    connections++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    proxy.connects.push(req.url ?? '')
    if (req.headers['proxy-authorization'] !== undefined) proxy.authorizations.push(req.headers['proxy-authorization'])
    client.on('error', () => undefined)
    if (misbehave(client)) return
    const [host, port] = (req.url ?? '').split(/:(?=\d+$)/)
    const upstream = connect(Number(port), resolve(host ?? ''), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    sockets.add(upstream)
    upstream.on('close', () => sockets.delete(upstream))
    upstream.on('error', () => client.destroy())
    client.on('error', () => upstream.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  proxy.url = `http://127.0.0.1:${port}`
  proxy.close = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resolve())
    })
  return proxy
}
