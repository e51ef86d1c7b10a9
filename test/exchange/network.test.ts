import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { Env } from '../../src/deps.js'
import { BadResponseError, NetworkError, TimeoutError } from '../../src/errors.js'
import { exchange } from '../../src/exchange/exchange.js'
import { makeFetch, type BktxFetch } from '../../src/http/fetch.js'
import { nodeFetch } from '../../src/http/node-fetch.js'
import type { FetchLike } from '../../src/deps.js'
import { fixedClock } from '../helpers/cli.js'
import { makeParams, recordingSleep, TOKEN, failure } from '../helpers/exchange.js'
import { startCountingProxy, type CountingProxy } from '../helpers/proxy.js'
import { answerToken, startStubServer, type StubServer } from '../helpers/stub-token-server.js'
import { selfSignedCert } from '../helpers/tls.js'
import { cliText } from '../helpers/describe.js'

// Real sockets on loopback: refused connections, hangs, a counting proxy, TLS with --ca-file.
// No msw here: the global fetch reaches these servers for real.

let dir: string
let caPath: string
let otherCaPath: string
let tls: { cert: string; key: string }
let namedTls: { cert: string; key: string }
let namedCaPath: string
const cleanups: (() => Promise<void>)[] = []

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bktx-net-'))
  tls = await selfSignedCert('server')
  caPath = join(dir, 'server-ca.pem')
  otherCaPath = join(dir, 'other-ca.pem')
  await writeFile(caPath, tls.cert)
  await writeFile(otherCaPath, (await selfSignedCert('other')).cert)
  namedTls = await selfSignedCert('named', ['token.test'])
  namedCaPath = join(dir, 'named-ca.pem')
  await writeFile(namedCaPath, namedTls.cert)
})
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})
afterAll(() => rm(dir, { recursive: true, force: true }))

async function stub(...args: Parameters<typeof startStubServer>): Promise<StubServer> {
  const server = await startStubServer(...args)
  cleanups.push(() => server.close())
  return server
}
async function proxy(hosts: readonly string[] = []): Promise<CountingProxy> {
  const p = await startCountingProxy({ hosts })
  cleanups.push(() => p.close())
  return p
}
// Direct requests go through the fetch the CLI uses (node:http) or the global one.
let direct: FetchLike | undefined
function httpFetch(env: Env, caFile?: string): BktxFetch {
  const f = makeFetch({ env, caFile, userAgent: 'bktx/test', ...(direct === undefined ? {} : { fetch: direct }) })
  cleanups.push(() => f.close())
  return f
}
function deps(fetch: BktxFetch = httpFetch({})) {
  return { fetch, clock: fixedClock('2026-11-28T12:00:00Z'), sleep: recordingSleep(), random: () => 0 }
}

describe.each([
  ['the global fetch', undefined],
  ['the node:http fetch', nodeFetch],
] as const)('over %s', (_name, base) => {
  beforeAll(() => {
    direct = base
  })
  afterAll(() => {
    direct = undefined
  })

  describe('connection faults over real sockets', () => {
    it('connection refused: retried, then NetworkError naming the cause', async () => {
      const probe = createServer()
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
      const { port } = probe.address() as AddressInfo
      await new Promise<void>((resolve) => probe.close(() => resolve()))
      const d = deps()
      const error = await failure(exchange(makeParams({ tokenUrl: `http://127.0.0.1:${port}/oauth/token` }), d))
      expect(error).toBeInstanceOf(NetworkError)
      expect(cliText(error)).toBe(
        `cannot reach the token endpoint http://127.0.0.1:${port}/oauth/token: connection refused (ECONNREFUSED) (4 attempts); check --token-url, your network and any proxy (HTTPS_PROXY, NO_PROXY)`,
      )
      expect(d.sleep.waits).toHaveLength(3)
    })

    it('a server that accepts and never answers: TimeoutError within --timeout', async () => {
      const server = await stub(() => undefined)
      const started = performance.now()
      // Only the 400 ms timeout can end this call; the test's own timeout is the kill timer.
      const error = await failure(exchange(makeParams({ tokenUrl: `${server.origin}/oauth/token` }), deps(), { timeoutMs: 400 }))
      expect(error).toBeInstanceOf(TimeoutError)
      expect(server.requests).toEqual(['POST /oauth/token'])
      // A lower bound (the timeout did not fire early): load can only lengthen the wait.
      expect(performance.now() - started).toBeGreaterThanOrEqual(350)
    })

    it('a server that sends headers and then stalls the body: the body read is bounded too', async () => {
      const server = await stub((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '500' })
        res.write('{"access_token":')
      })
      // Only the 400 ms timeout can end this call; the test's own timeout is the kill timer.
      const error = await failure(exchange(makeParams({ tokenUrl: `${server.origin}/oauth/token` }), deps(), { timeoutMs: 400 }))
      expect(error).toBeInstanceOf(TimeoutError)
      expect(error.message).toMatch(/did not answer within 400 ms/)
    })

    it('a connection cut mid-body is a network failure: retried, then it succeeds', async () => {
      let calls = 0
      const server = await stub((req, res, body) => {
        calls++
        if (calls === 1) {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '500' })
          res.write('{"access_token":"bktx_')
          setTimeout(() => res.socket?.destroy(), 20)
          return
        }
        answerToken(req, res, body)
      })
      const d = deps()
      const result = await exchange(makeParams({ tokenUrl: `${server.origin}/oauth/token` }), d)
      expect(result.accessToken).toBe(TOKEN)
      expect(server.requests).toHaveLength(2)
      expect(d.sleep.waits).toHaveLength(1)
    })
  })

  describe('redirects', () => {
    it('a 307 from the token endpoint is not followed: the assertion is never resent elsewhere', async () => {
      const elsewhere = await stub()
      const server = await stub((_req, res) => {
        res.writeHead(307, { location: `${elsewhere.origin}/oauth/token` })
        res.end()
      })
      const error = await failure(exchange(makeParams({ tokenUrl: `${server.origin}/oauth/token` }), deps()))
      expect(error).toBeInstanceOf(BadResponseError)
      expect(error.message).toContain(`redirected (HTTP 307 to ${elsewhere.origin}/oauth/token)`)
      expect(elsewhere.requests).toEqual([])
    })
  })

  describe('a self-signed server without --ca-file', () => {
    it('is a NetworkError, not retried', async () => {
      const server = await stub(answerToken, tls)
      const error = await failure(exchange(makeParams({ tokenUrl: `${server.origin}/oauth/token` }), deps()))
      expect(error).toBeInstanceOf(NetworkError)
      expect(error.message).toMatch(/certificate/)
      expect(server.requests).toHaveLength(0)
    })
  })
})

describe('proxies (HTTP_PROXY, HTTPS_PROXY, NO_PROXY)', () => {
  // bktx never proxies loopback (issue 13), so the stubs here listen on 127.0.0.1 but are named
  // token.test: the proxy resolves that name itself, bktx never does.
  const named = (server: StubServer, host = 'token.test') => server.origin.replace('127.0.0.1', host)

  it('HTTP_PROXY: a plain-http request to another host is forwarded as an absolute URI', async () => {
    const [server, p] = [await stub(), await proxy(['jwks.test'])]
    const url = `${named(server, 'jwks.test')}/jwks.json`
    const response = await httpFetch({ HTTP_PROXY: p.url })(url, { method: 'GET' })
    expect(response.status).toBe(200)
    expect(p.forwards).toEqual([`GET ${url}`])
    expect(p.connects).toEqual([])
    expect(server.requests).toEqual(['GET /jwks.json'])
  })

  it('https_proxy (lower case): an https request is tunnelled with CONNECT, verified with --ca-file', async () => {
    const [server, p] = [await stub(answerToken, namedTls), await proxy(['token.test'])]
    const result = await exchange(makeParams({ tokenUrl: `${named(server)}/oauth/token` }), deps(httpFetch({ https_proxy: p.url }, namedCaPath)))
    expect(result.accessToken).toBe(TOKEN)
    expect(p.connects).toEqual([named(server).replace('https://', '')])
    expect(p.forwards).toEqual([])
    expect(server.requests).toEqual(['POST /oauth/token'])
  })

  it('HTTP_PROXY alone also carries https requests (undici EnvHttpProxyAgent semantics)', async () => {
    const [server, p] = [await stub(answerToken, namedTls), await proxy(['token.test'])]
    await exchange(makeParams({ tokenUrl: `${named(server)}/oauth/token` }), deps(httpFetch({ HTTP_PROXY: p.url }, namedCaPath)))
    expect(p.connects).toHaveLength(1)
  })

  it('NO_PROXY naming another host leaves the proxy in use', async () => {
    const [server, p] = [await stub(answerToken, namedTls), await proxy(['token.test'])]
    await exchange(makeParams({ tokenUrl: `${named(server)}/oauth/token` }), deps(httpFetch({ https_proxy: p.url, no_proxy: 'internal.test' }, namedCaPath)))
    expect(p.connects).toHaveLength(1)
  })

  it('NO_PROXY: listed hosts bypass the proxy', async () => {
    // A bypassed host is reached directly, so it must resolve: this machine's own non-loopback address.
    const address = Object.values(networkInterfaces())
      .flat()
      .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address
    if (address === undefined) {
      if (process.env['CI'] !== undefined) throw new Error('no non-loopback IPv4 interface to test NO_PROXY with')
      console.warn('skipped: no non-loopback IPv4 interface to test NO_PROXY with')
      return
    }
    for (const noProxy of [address, `example.test, ${address}`, '*']) {
      const [server, p] = [await stub(answerToken, undefined, '0.0.0.0'), await proxy()]
      const env = { HTTPS_PROXY: p.url, HTTP_PROXY: p.url, NO_PROXY: noProxy }
      const response = await httpFetch(env)(`${server.origin.replace('127.0.0.1', address)}/oauth/token`, { method: 'POST' })
      expect(response.status, noProxy).toBe(200)
      expect([p.connects, p.forwards, p.connections], noProxy).toEqual([[], [], 0])
    }
  })

  it('loopback hosts never go through the proxy, whatever NO_PROXY says (issue 13)', async () => {
    for (const noProxy of ['', 'example.test', '127.0.0.2']) {
      const [plain, tlsServer, p] = [await stub(), await stub(answerToken, tls), await proxy()]
      const env = { HTTPS_PROXY: p.url, HTTP_PROXY: p.url, NO_PROXY: noProxy }
      expect((await exchange(makeParams({ tokenUrl: `${plain.origin}/oauth/token` }), deps(httpFetch(env)))).accessToken).toBe(TOKEN)
      expect((await exchange(makeParams({ tokenUrl: `${tlsServer.origin}/oauth/token` }), deps(httpFetch(env, caPath)))).accessToken).toBe(TOKEN)
      const localhost = plain.origin.replace('127.0.0.1', 'localhost')
      expect((await exchange(makeParams({ tokenUrl: `${localhost}/oauth/token` }), deps(httpFetch(env)))).accessToken).toBe(TOKEN)
      expect([p.connects, p.forwards, p.connections], noProxy).toEqual([[], [], 0])
    }
  })
})

describe('TLS trust (--ca-file, NODE_EXTRA_CA_CERTS)', () => {
  it('a self-signed server without --ca-file: NetworkError with advice, not retried', async () => {
    const server = await stub(answerToken, tls)
    const d = deps()
    const error = await failure(exchange(makeParams({ tokenUrl: `${server.origin}/oauth/token` }), d))
    expect(error).toBeInstanceOf(NetworkError)
    expect(cliText(error)).toMatch(
      /the TLS certificate is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\); if a proxy or a private CA issues this certificate, pass --ca-file or set NODE_EXTRA_CA_CERTS$/,
    )
    expect(d.sleep.waits).toEqual([])
    expect(server.requests).toEqual([])
  })

  it('--ca-file makes the certificate trusted', async () => {
    const server = await stub(answerToken, tls)
    const result = await exchange(makeParams({ tokenUrl: `${server.origin}/oauth/token` }), deps(httpFetch({}, caPath)))
    expect(result.accessToken).toBe(TOKEN)
  })

  it('--ca-file adds to NODE_EXTRA_CA_CERTS rather than replacing it', async () => {
    const server = await stub(answerToken, tls)
    const params = makeParams({ tokenUrl: `${server.origin}/oauth/token` })
    // Control: an unrelated --ca-file alone does not trust the server...
    expect(await failure(exchange(params, deps(httpFetch({}, otherCaPath))))).toBeInstanceOf(NetworkError)
    // ...and with NODE_EXTRA_CA_CERTS naming the server's CA, both are trusted.
    const result = await exchange(params, deps(httpFetch({ NODE_EXTRA_CA_CERTS: caPath }, otherCaPath)))
    expect(result.accessToken).toBe(TOKEN)
  })

  it('--ca-file keeps the public roots: a server certificate they do not cover is still refused', async () => {
    const server = await stub(answerToken, await selfSignedCert('unrelated'))
    const error = await failure(exchange(makeParams({ tokenUrl: `${server.origin}/oauth/token` }), deps(httpFetch({}, caPath))))
    expect(error).toBeInstanceOf(NetworkError)
  })
})
