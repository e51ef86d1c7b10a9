/**
 * The proxy, not the server, failed a request: it closed the connection before the CONNECT
 * tunnel was open, or answered with a status of its own (407: it wants credentials). Made by
 * src/http/fetch.ts from undici's errors, read by src/http/retry.ts to decide on a retry and
 * word the failure. Its message names no proxy URL (one may carry a password).
 */
export class ProxyError extends Error {
  readonly code = 'BKTX_PROXY'
  constructor(
    /** The proxy's HTTP status, or undefined when it closed the connection without one. */
    readonly status: number | undefined,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options)
    this.name = 'ProxyError'
  }
}

/** The ProxyError in an error's cause chain (fetch wraps it in a TypeError), if any. */
export function proxyErrorOf(error: unknown): ProxyError | undefined {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (e instanceof ProxyError) return e
    e = (e as { cause?: unknown }).cause
  }
  return undefined
}
