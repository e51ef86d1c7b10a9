import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AuditRecord } from './state/audit.js'
import { apiRequest } from './api.js'
import type { ServerConfig } from './config/config.js'
import { ServerState, type ServerDeps } from './state/state.js'
import { emptyAudit, tokenEndpoint } from './oauth/token-endpoint.js'

/** RFC 6749 bodies are small; anything over 64 KiB is refused unread (413). */
export const MAX_FORM_BYTES = 64 * 1024
export const TOKEN_PATHS = ['/oauth/token', '/v2/oauth/token'] as const

/** RFC 6749 §5.1: token answers must not be cached; every answer here carries it. */
const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' }

export interface TokenServerDeps extends ServerDeps {
  /** One line per request (method, path, status, ms, client IP); never a token or assertion. */
  log?: (line: string) => void
  /**
   * Add to the line of each refused request its private reason (the audit record's detail):
   * which check failed. Never a token or assertion; control characters are escaped.
   */
  verbose?: boolean
}

export interface TokenServer {
  /** The node:http request listener; listen with `expectations: 'handler'` (src/http/listen.ts). */
  handler: (req: IncomingMessage, res: ServerResponse) => void
  state: ServerState
  close(): void
}

/** What a request's log line says beyond method, path and status. */
interface RequestNote {
  detail?: string
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

  async function handle(req: IncomingMessage, res: ServerResponse, note: RequestNote): Promise<void> {
    const path = pathOf(req.url ?? '/')
    const ip = req.socket.remoteAddress
    // RFC 9110 §10.1.1: 100-continue is the only expectation defined; others get 417.
    const expectation = req.headers.expect?.trim().toLowerCase()
    if (expectation !== undefined && expectation !== '100-continue') {
      note.detail = `unsupported expectation ${JSON.stringify(req.headers.expect?.slice(0, 40))}`
      res.setHeader('Connection', 'close')
      return send(res, 417, {}, { error: 'invalid_request', error_description: 'Only the 100-continue expectation is supported' })
    }
    if ((TOKEN_PATHS as readonly string[]).includes(path)) {
      const body = await readBody(req, res, expectation === '100-continue')
      if (body === 'too-large') {
        const audit = { ...emptyAudit(state.now(), ip), error: 'invalid_request', detail: 'request body over 64 KiB' }
        note.detail = audit.detail
        await state.audit.write(audit)
        // Stop reading the oversized body: answer and close the connection.
        res.setHeader('Connection', 'close')
        return send(res, 413, {}, { error: 'invalid_request', error_description: `Request body exceeds ${MAX_FORM_BYTES} bytes` })
      }
      if (body === 'aborted') {
        // The client went away mid-body: nothing was asked, so nothing is audited. Answer only
        // if the connection can still carry one.
        note.detail = 'request body cut short by the client'
        if (!res.destroyed && res.writable) {
          res.setHeader('Connection', 'close')
          send(res, 400, {}, { error: 'invalid_request', error_description: 'The request body was cut short' })
        }
        return
      }
      const result = await tokenEndpoint(
        {
          method: req.method ?? '',
          contentType: req.headers['content-type'],
          hasAuthorization: req.headers.authorization !== undefined,
          body,
          ip,
          audiences: audiences(req),
        },
        state,
      )
      if (result.audit.detail !== null) note.detail = `${result.audit.error}: ${result.audit.detail}`
      // Durable before the client hears of it: the token's state record and the audit line.
      await Promise.all([result.durable, state.audit.write(result.audit)])
      return send(res, result.status, result.headers, result.body)
    }
    const api = apiRequest({ method: req.method ?? '', path, authorization: req.headers.authorization, ip }, state)
    if (api !== undefined) {
      if (api.detail !== undefined) note.detail = api.detail
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
      const note: RequestNote = {}
      // Read now: a socket the client reset has no remote address by the time it closes.
      const ip = req.socket.remoteAddress
      // 'close' follows 'finish' for an answered request, and comes alone for one whose client
      // went away first: one line either way.
      res.on('close', () => {
        const path = pathOf(req.url ?? '/')
        const status = res.writableFinished ? String(res.statusCode) : 'aborted'
        const why = deps.verbose === true && note.detail !== undefined ? ` ${printable(note.detail)}` : ''
        deps.log?.(`${req.method} ${path} ${status} ${deps.clock.now().getTime() - started}ms ${ip ?? '-'}${why}`)
      })
      handle(req, res, note).catch((error: unknown) => {
        deps.log?.(`internal error: ${(error as Error)?.message ?? String(error)}`)
        if (!res.headersSent) send(res, 500, {}, { error: 'server_error', error_description: 'Internal server error' })
        else res.destroy()
      })
    },
    close: () => state.close(),
  }
}

/**
 * The body as text; 'too-large' when it exceeds MAX_FORM_BYTES (declared, then counted), before
 * any `100 Continue` for a declared size; 'aborted' when the client closed the connection
 * before the end, which is the client's doing, not a server error.
 */
function readBody(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<string | 'too-large' | 'aborted'> {
  const declared = Number(req.headers['content-length'] ?? '0')
  if (declared > MAX_FORM_BYTES) return Promise.resolve('too-large')
  if (expectsContinue) res.writeContinue()
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    let settled = false
    const settle = (value: string | 'too-large' | 'aborted'): void => {
      if (settled) return
      settled = true
      resolve(value)
    }
    req.on('data', (chunk: Buffer) => {
      if (settled) return
      size += chunk.length
      if (size > MAX_FORM_BYTES) {
        chunks.length = 0
        req.pause()
        settle('too-large')
        return
      }
      chunks.push(chunk)
    })
    // A form this size is mostly one chunk: decoded as it is, without concat's copy of it.
    req.on('end', () => settle((chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)).toString('utf8')))
    // Node reports a client that goes away mid-body as an 'aborted' error, then 'close'.
    req.on('error', () => settle('aborted'))
    req.on('close', () => settle('aborted'))
  })
}

function revokedRecord(
  record: { org: string; clientId: string; user: { email: string }; scopes: string[]; expiresAt: number; sha256: string },
  ip: string | undefined,
  now: number,
): AuditRecord {
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
  // One writeHead with every header, in the order setHeader would have stored them: the same
  // bytes on the wire, without a setHeader call and a stored copy per header. Headers set
  // before (Connection: close) are kept; writeHead merges them.
  // The object is built from a literal and then assigned to, in the order the spread
  // `{ ...NO_STORE, ...headers, 'Content-Type', 'Content-Length' }` gave (a name already there
  // keeps its place and takes the later value): V8 (Node 20) gives a spread object that is then
  // extended a hidden class of its own, one per answer.
  const all: Record<string, string> = { 'Cache-Control': NO_STORE['Cache-Control'], Pragma: NO_STORE.Pragma }
  for (const name of Object.keys(headers)) all[name] = headers[name] as string
  if (body === undefined) {
    res.writeHead(status, all)
    res.end()
    return
  }
  const text = JSON.stringify(body)
  all['Content-Type'] = 'application/json; charset=utf-8'
  all['Content-Length'] = String(Buffer.byteLength(text))
  res.writeHead(status, all)
  res.end(text)
}

/** The request target without its query: what split('?')[0] gives, without the array. */
function pathOf(url: string): string {
  const query = url.indexOf('?')
  return query === -1 ? url : url.slice(0, query)
}

// Details quote what clients sent (JSON-escaped, but a member name or scope may still carry
// control characters): one log line must stay one line.
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
