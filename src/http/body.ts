import type { ResponseLike } from '../deps.js'
import { excerpt } from '../text/sanitize.js'
/**
 * Response-body helpers shared by the token exchange and the REST calls. Bodies are read with a
 * size cap: a misbehaving or hostile server must not make bktx buffer an unbounded stream.
 */

/** Token and access-token responses are a few hundred bytes; 64 KiB leaves room for HTML error pages. */
export const MAX_BODY_BYTES = 64 * 1024

export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`response body larger than ${limit} bytes`)
    this.name = 'BodyTooLargeError'
  }
}

/** The connection failed while the body was being read (reset, closed early): a network failure. */
export class BodyReadError extends Error {
  constructor(cause: unknown) {
    super('the connection failed while reading the response body', { cause })
    this.name = 'BodyReadError'
  }
}

/**
 * Reads a body as UTF-8 text, at most `limit` bytes; cancels the stream and throws
 * BodyTooLargeError beyond that. A failed read (including an abort) is a BodyReadError whose
 * cause is the stream's error.
 */
export async function readBodyText(response: ResponseLike, limit = MAX_BODY_BYTES): Promise<string> {
  if (response.body === null) return ''
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    let chunk: Awaited<ReturnType<typeof reader.read>>
    try {
      chunk = await reader.read()
    } catch (cause) {
      throw new BodyReadError(cause)
    }
    const { done, value } = chunk
    if (done) break
    total += value.byteLength
    if (total > limit) {
      void reader.cancel().catch(() => undefined)
      throw new BodyTooLargeError(limit)
    }
    chunks.push(value)
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(Buffer.concat(chunks))
}

/**
 * Frees the connection of a response whose body bktx does not need (retried 5xx/429). Not
 * awaited: cancellation is a request to the stream, and some streams (msw's, a stalled
 * peer's) only settle it later; nothing downstream depends on it.
 */
export function discardBody(response: ResponseLike): void {
  void response.body?.cancel().catch(() => undefined)
}

/** The media type without parameters, lower case: `application/json; charset=utf-8` → `application/json`. */
export function mediaType(response: { headers: ResponseLike['headers'] }): string {
  return (response.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
}

/** RFC 6749 §5.1/§5.2 responses are `application/json`; structured-suffix types (RFC 6839) count too. */
export function isJSONMediaType(type: string): boolean {
  return type === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(type)
}

/**
 * A short excerpt of server text for messages: control characters escaped (src/text/sanitize.ts),
 * capped at `max` characters. RFC 6749 §5.2 limits error_description to printable ASCII;
 * anything else from a server (escape sequences, newlines) could forge terminal output.
 */
export function printable(text: string, max = 200): string {
  return excerpt(text, max)
}

/**
 * Removes anything shaped like a bearer token or a JWT from server-provided text before it goes
 * into a message: a server that echoes the request must not make bktx print an assertion.
 */
export function redactSecrets(text: string): string {
  return text.replace(/bktx_[A-Za-z0-9._~+/=-]*/g, 'bktx_[redacted]').replace(/eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g, '[redacted JWT]')
}
