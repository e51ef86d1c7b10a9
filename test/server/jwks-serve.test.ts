import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { KeyError } from '../../src/errors.js'
import { serveJwks, type ServingJwks } from '../../src/jwks/serve.js'
import { http } from '../helpers/http.js'
import { writeKeyFiles } from '../helpers/keys.js'
import { rawRequest } from '../helpers/raw-http.js'

// `bktx jwks serve` runs on the reference server's listener (src/http/listen.ts): the same
// answers to malformed and slow requests, here over real loopback HTTP.

let dir: string
let serving: ServingJwks | undefined
const log: string[] = []

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bktx-jwks-serve-'))
  log.length = 0
})
afterEach(async () => {
  await serving?.close(100)
  serving = undefined
  await rm(dir, { recursive: true, force: true })
})

async function start(
  keyPaths: string[],
  timeouts: { requestTimeoutMs?: number; headersTimeoutMs?: number } = {},
  changes: string[][] = [],
): Promise<{ url: string; origin: string }> {
  serving = await serveJwks(
    { keyPaths, host: '127.0.0.1', port: 0, ...timeouts },
    { clock: { now: () => new Date() }, log: (line) => log.push(line), onChange: (kids) => changes.push(kids) },
  )
  const url = serving.urls[0] as string
  return { url, origin: new URL(url).origin }
}

describe('serveJwks on the hardened listener', () => {
  it('answers a malformed request line with a JSON 400 and closes the connection', async () => {
    const { origin } = await start([(await writeKeyFiles(dir, 'ES256')).publicPath])
    const result = await rawRequest(origin, ['GET /.well-known/jwks.json HTTP/1.1 extra\r\nHost: x\r\n\r\n'])
    expect(result.status).toBe(400)
    expect(result.json).toEqual({ error: 'invalid_request', error_description: 'Malformed HTTP request' })
    expect(result.closed).toBe(true)
  })

  it('cuts off headers that never finish with a JSON 408, and still serves others', async () => {
    const { url, origin } = await start([(await writeKeyFiles(dir, 'ES256')).publicPath], { headersTimeoutMs: 300, requestTimeoutMs: 5_000 })
    const head = 'GET /.well-known/jwks.json HTTP/1.1\r\nHost: x\r\nX-Slow: '
    // One byte every 100 ms; the header timeout ends it long before the last byte.
    const slow = rawRequest(origin, [...head, ...'a'.repeat(200)], { gapMs: 100, waitMs: 30_000 })
    expect((await http(url)).status).toBe(200)
    const result = await slow
    expect(result.closed).toBe(true)
    expect(result.status).toBe(408)
    expect(result.json).toEqual({ error: 'invalid_request', error_description: 'The request was not received in time' })
  })

  it('refuses CONNECT and a request without Host, in JSON', async () => {
    const { origin } = await start([(await writeKeyFiles(dir, 'ES256')).publicPath])
    const connect = await rawRequest(origin, ['CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n'])
    expect(connect.status).toBe(405)
    expect(connect.json).toEqual({ error: 'invalid_request', error_description: 'CONNECT is not supported' })
    const noHost = await rawRequest(origin, ['GET /.well-known/jwks.json HTTP/1.1\r\n\r\n'])
    expect(noHost.status).toBe(400)
    expect(noHost.json).toEqual({ error: 'invalid_request', error_description: 'Host header is required' })
  })

  it('logs one line per request through the injected log, the path without its query', async () => {
    const { url } = await start([(await writeKeyFiles(dir, 'ES256')).publicPath])
    await http(`${url}?secret=1`)
    await http(url.replace('jwks.json', 'other'))
    expect(log).toEqual([
      expect.stringMatching(/^GET \/\.well-known\/jwks\.json 200 \d+ms 127\.0\.0\.1$/),
      expect.stringMatching(/^GET \/\.well-known\/other 404 \d+ms 127\.0\.0\.1$/),
    ])
  })

  it('serves several key files, follows a change, answers 503 while a changed file does not load, and recovers', async () => {
    const a = await writeKeyFiles(dir, 'ES256', 'a')
    const b = await writeKeyFiles(dir, 'RS256', 'b')
    const changes: string[][] = []
    const { url } = await start([a.publicPath, b.privatePath], {}, changes)
    const first = await http(url)
    expect(first.status).toBe(200)
    expect((first.json.keys as { alg: string }[]).map((k) => k.alg)).toEqual(['ES256', 'RS256'])
    expect(serving?.kids).toEqual((first.json.keys as { kid: string }[]).map((k) => k.kid))

    await writeFile(a.publicPath, 'not a key')
    expect((await http(url)).status).toBe(503)

    const c = await writeKeyFiles(dir, 'ES256', 'c')
    await writeFile(a.publicPath, await readFile(c.publicPath))
    const rotated = await http(url)
    expect(rotated.status).toBe(200)
    expect(rotated.json).not.toEqual(first.json)
    expect(changes).toEqual([(rotated.json.keys as { kid: string }[]).map((k) => k.kid)])
  })

  it('fails before listening when a key file is unusable', async () => {
    const path = join(dir, 'bad.pem')
    await writeFile(path, 'nope')
    await expect(
      serveJwks({ keyPaths: [path], host: '127.0.0.1', port: 0 }, { clock: { now: () => new Date() }, log: () => undefined }),
    ).rejects.toBeInstanceOf(KeyError)
  })
})
