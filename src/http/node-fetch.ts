import type { IncomingMessage } from 'node:http'
import type { BodyLike, FetchLike, ResponseLike } from '../deps.js'

/**
 * A fetch over node:http and node:https, for the direct (no proxy, no --ca-file) requests of
 * the CLI. Node's global fetch loads its bundled undici and the web streams on first use, and
 * then makes the process wait at exit while V8 tiers up undici's WebAssembly parser: together
 * more than the rest of a `bktx token` exchange (docs/benchmarks.md). This answers with the
 * ResponseLike subset bktx reads. Redirects are never followed (node:http does not).
 */
export const nodeFetch: FetchLike = async (input, init = {}) => {
  const url = new URL(input)
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`unsupported protocol ${url.protocol}`)
  // The module object's `request`, read at call time: interceptors (msw, nock) patch the
  // properties of that object, which a named import from the ESM namespace never sees (a
  // snapshot taken at load). esbuild keeps `.default` as module.exports in its bundles too.
  const http = (url.protocol === 'https:' ? await import('node:https') : await import('node:http')).default
  init.signal?.throwIfAborted()
  return new Promise<ResponseLike>((resolve, reject) => {
    const req = http.request(
      url,
      { method: init.method ?? 'GET', headers: init.headers ?? {}, ...(init.signal === undefined ? {} : { signal: init.signal }) },
      (res) => resolve(toResponse(res)),
    )
    req.once('error', reject)
    req.end(init.body)
  })
}

function toResponse(res: IncomingMessage): ResponseLike {
  const chunks = res[Symbol.asyncIterator]()
  let complete = true
  res.once('aborted', () => (complete = false))
  const body: BodyLike = {
    getReader: () => ({
      read: async () => {
        const next = await chunks.next()
        if (next.done) {
          // A connection closed before the declared end is an error, as fetch reports it.
          if (!complete || !res.complete) throw Object.assign(new Error('the response body ended early'), { code: 'ECONNRESET' })
          return { done: true as const }
        }
        return { done: false as const, value: new Uint8Array(next.value as Buffer) }
      },
      cancel: async () => void res.destroy(),
    }),
    cancel: async () => void res.destroy(),
  }
  return {
    status: res.statusCode ?? 0,
    headers: {
      get: (name) => {
        const value = res.headers[name.toLowerCase()]
        return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value
      },
    },
    body,
  }
}
