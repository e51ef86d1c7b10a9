import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'

export const JWKS_PATHS = ['/.well-known/jwks.json', '/jwks.json'] as const

export interface JwksDocument {
  body: string
  etag: string
}

export function jwksDocument(body: string): JwksDocument {
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` }
}

/**
 * The request handler of `bktx jwks serve`. `current()` returns the document to serve, so the
 * caller can swap it on rotation without restarting. GET and HEAD only; 304 on a matching
 * If-None-Match (RFC 9110 §13.1.2); a 5 minute max-age, well under the 1 hour Buildkite may
 * cache a JWKS (docs/token-exchange.md §1).
 */
export function createJwksHandler(current: () => Promise<JwksDocument>) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]
    if (!(JWKS_PATHS as readonly string[]).includes(path ?? '')) {
      return send(res, 404, { error: 'not_found', error_description: `the JWKS is at ${JWKS_PATHS.join(' and ')}` })
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD')
      return send(res, 405, { error: 'method_not_allowed' })
    }
    let doc: JwksDocument
    try {
      doc = await current()
    } catch {
      return send(res, 503, { error: 'unavailable', error_description: 'the key files cannot be read' })
    }
    res.setHeader('Cache-Control', 'max-age=300')
    res.setHeader('ETag', doc.etag)
    const match = req.headers['if-none-match']
    if (match?.split(',').some((tag) => tag.trim().replace(/^W\//, '') === doc.etag)) {
      res.statusCode = 304
      res.end()
      return
    }
    res.statusCode = 200
    res.setHeader('Content-Type', 'application/jwk-set+json')
    res.setHeader('Content-Length', Buffer.byteLength(doc.body))
    res.end(req.method === 'HEAD' ? undefined : doc.body)
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.statusCode = status
  res.setHeader('Content-Type', 'application/json')
  res.setHeader('Content-Length', Buffer.byteLength(text))
  res.end(text)
}
