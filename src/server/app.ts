import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AuditRecord } from './audit.js'
import { apiRequest } from './api.js'
import type { ServerConfig } from './config.js'
import { ServerState, type ServerDeps } from './state.js'
import { emptyAudit, tokenEndpoint } from './token-endpoint.js'

/** RFC 6749 bodies are small; anything over 64 KiB is refused unread (413). */
export const MAX_FORM_BYTES = 64 * 1024
export const TOKEN_PATHS = ['/oauth/token', '/v2/oauth/token'] as const

export interface TokenServerDeps extends ServerDeps {
  /** One line per request (method, path, status, ms, client IP); never a token or assertion. */
  log?: (line: string) => void
}

export interface TokenServer {
  /** The node:http request listener. */
  handler: (req: IncomingMessage, res: ServerResponse) => void
  state: ServerState
  close(): void
}

/**
 * Builds the reference server. It never listens by itself (src/cli/commands/server.ts and the
 * tests do), so it can be mounted on any node:http server bound to any address.
 */
export async function createTokenServer(config: ServerConfig, deps: TokenServerDeps): Promise<TokenServer> {
  const state = await ServerState.open(config, deps)
  const audiencesBySocket = new Map<string, ReadonlySet<string>>()

  // The endpoint URLs as this socket was reached (its local address, never the Host header a
  // client controls), plus `localhost` for loopback, plus configured audiences.
  const audiences = (req: IncomingMessage): ReadonlySet<string> => {
    const { localAddress, localPort } = req.socket
    const key = `${localAddress ?? ''}|${localPort ?? ''}`
    let set = audiencesBySocket.get(key)
    if (set === undefined) {
      const host = (localAddress ?? '').startsWith('::ffff:') ? (localAddress ?? '').slice(7) : (localAddress ?? '')
      const hosts = [host.includes(':') ? `[${host}]` : host]
      if (host === '127.0.0.1' || host === '::1' || host.startsWith('127.')) hosts.push('localhost')
      set = new Set([...hosts.flatMap((h) => TOKEN_PATHS.map((p) => `http://${h}:${localPort}${p}`)), ...config.audiences])
      if (audiencesBySocket.size < 64) audiencesBySocket.set(key, set)
    }
    return set
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    const ip = req.socket.remoteAddress
    if ((TOKEN_PATHS as readonly string[]).includes(path)) {
      const body = await readBody(req)
      if (body === undefined) {
        const audit = { ...emptyAudit(state.now(), ip), error: 'invalid_request', detail: 'request body over 64 KiB' }
        await state.audit.write(audit)
        // Stop reading the oversized body: answer and close the connection.
        res.setHeader('Connection', 'close')
        return send(res, 413, {}, { error: 'invalid_request', error_description: `Request body exceeds ${MAX_FORM_BYTES} bytes` })
      }
      const result = await tokenEndpoint(
        { method: req.method ?? '', contentType: req.headers['content-type'], hasAuthorization: req.headers.authorization !== undefined, body, ip, audiences: audiences(req) },
        state,
      )
      // Durable before the client hears of it: the token's state record and the audit line.
      await Promise.all([result.durable, state.audit.write(result.audit)])
      return send(res, result.status, result.headers, result.body)
    }
    const api = apiRequest({ method: req.method ?? '', path, authorization: req.headers.authorization, ip }, state)
    if (api !== undefined) {
      if (api.revoked !== undefined) {
        await state.store.revoke(api.revoked)
        await state.audit.write(revokedRecord(api.revoked, ip, state.now()))
      }
      return send(res, api.status, api.headers ?? {}, api.body)
    }
    return send(res, 404, {}, { message: 'Not Found' })
  }

  return {
    state,
    handler: (req, res) => {
      const started = deps.clock.now().getTime()
      res.on('finish', () => {
        const path = (req.url ?? '/').split('?')[0]
        deps.log?.(`${req.method} ${path} ${res.statusCode} ${deps.clock.now().getTime() - started}ms ${req.socket.remoteAddress ?? '-'}`)
      })
      handle(req, res).catch((error: unknown) => {
        deps.log?.(`internal error: ${(error as Error)?.message ?? String(error)}`)
        if (!res.headersSent) send(res, 500, {}, { error: 'server_error', error_description: 'Internal server error' })
        else res.destroy()
      })
    },
    close: () => state.close(),
  }
}

/** The body as text, or undefined when it exceeds MAX_FORM_BYTES (declared or actual). */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  const declared = Number(req.headers['content-length'] ?? '0')
  if (declared > MAX_FORM_BYTES) return Promise.resolve(undefined)
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let over = false
    req.on('data', (chunk: Buffer) => {
      if (over) return
      size += chunk.length
      if (size > MAX_FORM_BYTES) {
        over = true
        req.pause()
        resolve(undefined)
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks).toString('utf8'))
    })
    req.on('error', reject)
  })
}

function revokedRecord(record: { org: string; clientId: string; user: { email: string }; scopes: string[]; expiresAt: number; sha256: string }, ip: string | undefined, now: number): AuditRecord {
  return {
    ...emptyAudit(now, ip),
    type: 'token.revoked',
    org: record.org,
    client_id: record.clientId,
    user: record.user.email,
    scopes: record.scopes,
    expires_at: new Date(record.expiresAt * 1000).toISOString(),
    token_sha256: record.sha256,
  }
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: unknown): void {
  res.statusCode = status
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value)
  if (body === undefined) {
    res.end()
    return
  }
  const text = JSON.stringify(body)
  res.setHeader('Content-Type', 'application/json; charset=utf-8')
  res.setHeader('Content-Length', Buffer.byteLength(text))
  res.end(text)
}
