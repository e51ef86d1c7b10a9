import { stat } from 'node:fs/promises'
import { NetworkError } from '../errors.js'
import { listen } from '../http/listen.js'
import { loadKeyFile } from '../keys/load.js'
import type { Clock } from '../time/clock.js'
import { buildJwks, serializeJwks } from './build.js'
import { createJwksHandler, JWKS_PATHS, jwksDocument, type JwksDocument } from './handler.js'

/** A key file to publish, and the kid to publish it under when not its own (the profile's `kid`). */
export interface KeyFileRef {
  path: string
  kid?: string | undefined
}

export interface ServeJwksOptions {
  /** Key files (PEM or JWK, private or public, or a JWKS), as absolute paths. Read again whenever one changes. */
  keyPaths: readonly (string | KeyFileRef)[]
  /** Address to bind. */
  host: string
  /** Port; 0 picks a free one. */
  port: number
  /** Whole request, headers included, in ms. Default 15 000 (src/http/listen.ts). */
  requestTimeoutMs?: number
  /** Headers must arrive within this, in ms. Default 10 000 (src/http/listen.ts). */
  headersTimeoutMs?: number
}

export interface ServeJwksDeps {
  clock: Clock
  /** One line per request: method, path without query, status, ms, client address. */
  log: (line: string) => void
  /** Called when changed key files give a different JWKS, with its kids. */
  onChange?: (kids: string[]) => void
}

export interface ServingJwks {
  /** The JWKS URLs: http://HOST:PORT/.well-known/jwks.json, then http://HOST:PORT/jwks.json. */
  urls: string[]
  /** The kids of the JWKS served at start. */
  kids: string[]
  /** Stops accepting, lets in-flight requests finish (up to graceMs), then closes the rest. */
  close(graceMs?: number): Promise<void>
}

/**
 * Serves the public JWKS of `keyPaths` on the listener the reference server uses (header and
 * request timeouts, JSON answers to malformed requests, CONNECT refused, Host required). The
 * key files are read before listening, so unusable keys fail here (KeyError) and nothing
 * listens; afterwards they are checked on every request and read again when one changed, so a
 * rotation needs no restart. While changed files do not load, requests get 503.
 */
export async function serveJwks(options: ServeJwksOptions, deps: ServeJwksDeps): Promise<ServingJwks> {
  const current = keyFilesJwks(
    options.keyPaths.map((ref) => (typeof ref === 'string' ? { path: ref } : ref)),
    deps.onChange,
  )
  const first = await current()
  const handler = createJwksHandler(current)
  let listening
  try {
    listening = await listen(
      (req, res) => {
        const started = deps.clock.now().getTime()
        res.on('finish', () => {
          const path = (req.url ?? '/').split('?')[0]
          deps.log(`${req.method} ${path} ${res.statusCode} ${deps.clock.now().getTime() - started}ms ${req.socket.remoteAddress ?? '-'}`)
        })
        void handler(req, res)
      },
      {
        host: options.host,
        port: options.port,
        ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
        ...(options.headersTimeoutMs === undefined ? {} : { headersTimeoutMs: options.headersTimeoutMs }),
      },
    )
  } catch (cause) {
    throw new NetworkError(`cannot listen on ${options.host}:${options.port}: ${(cause as Error).message}`, { cause })
  }
  return {
    urls: JWKS_PATHS.map((path) => `${listening.url}${path}`),
    kids: first.kids,
    close: (graceMs) => listening.close(graceMs),
  }
}

interface Loaded {
  /** inode, size and mtime of every file: a change in any means read them all again. */
  signature: string
  doc: JwksDocument
  kids: string[]
}

/**
 * The JWKS of the key files as they are now. Files are stat'ed on each call and read only when
 * that shows a change; concurrent calls share one read.
 */
function keyFilesJwks(refs: readonly KeyFileRef[], onChange: ((kids: string[]) => void) | undefined): () => Promise<JwksDocument & { kids: string[] }> {
  const paths = refs.map((ref) => ref.path)
  let current: Loaded | undefined
  let reading: { signature: string; done: Promise<Loaded> } | undefined
  const read = async (signature: string): Promise<Loaded> => {
    const keys = (await Promise.all(refs.map((ref) => loadKeyFile(ref.path, { kid: ref.kid })))).flat()
    const jwks = buildJwks(keys)
    return { signature, doc: jwksDocument(serializeJwks(jwks)), kids: jwks.keys.map((k) => k.kid ?? '') }
  }
  return async () => {
    const stats = await Promise.all(paths.map((path) => stat(path)))
    const signature = stats.map((s) => `${s.ino}:${s.size}:${s.mtimeMs}`).join('|')
    if (current?.signature !== signature) {
      if (reading?.signature !== signature) {
        const done = read(signature)
        reading = { signature, done }
        // A failed read is retried by the next request, not remembered.
        done
          .catch(() => undefined)
          .finally(() => {
            if (reading?.done === done) reading = undefined
          })
      }
      const loaded = await reading.done
      if (current?.signature !== signature) {
        const changed = current !== undefined && current.doc.etag !== loaded.doc.etag
        current = loaded
        if (changed) onChange?.(loaded.kids)
      }
    }
    return { ...current.doc, kids: current.kids }
  }
}
