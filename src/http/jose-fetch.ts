import type { FetchImplementation } from 'jose'
import type { FetchLike } from '../deps.js'
import { BodyTooLargeError, readBodyText } from './body.js'

export interface JoseFetchOptions {
  /** Body cap in bytes; a larger JWKS fails the fetch. */
  maxBytes: number
  /** Throws to refuse a URL before anything is sent. */
  check?: (url: URL) => void
  /** Rewrites the body before jose parses it. */
  transform?: (body: string) => string
}

/**
 * jose's `customFetch` over bktx's fetch: jose asks for `redirect: "manual"` and accepts only
 * 200; this adds the URL check and the body cap, and hands jose the real Response it wants.
 */
export function joseFetch(fetch: FetchLike, options: JoseFetchOptions): FetchImplementation {
  return async (href, init) => {
    const url = new URL(href)
    options.check?.(url)
    const headers: Record<string, string> = {}
    init.headers.forEach((value, name) => (headers[name] = value))
    const response = await fetch(url, { method: init.method, headers, signal: init.signal, redirect: 'manual' })
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined)
      throw new Error(`JWKS URI answered HTTP ${response.status}`)
    }
    const declared = Number(response.headers.get('content-length') ?? '0')
    if (declared > options.maxBytes) {
      await response.body?.cancel().catch(() => undefined)
      throw new Error(`JWKS larger than ${options.maxBytes} bytes`)
    }
    let text: string
    try {
      text = await readBodyText(response, options.maxBytes)
    } catch (error) {
      if (error instanceof BodyTooLargeError) throw new Error(`JWKS larger than ${options.maxBytes} bytes`)
      throw error
    }
    return new Response(options.transform?.(text) ?? text, { status: 200, headers: { 'content-type': 'application/json' } })
  }
}
