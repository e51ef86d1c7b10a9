import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FileError, SettingInvalidError } from '../../../src/errors.js'
import { rootCertificates } from 'node:tls'
import { makeFetch, ownRoutingFetch, proxySettings, trustedCAs } from '../../../src/http/fetch.js'
import type { FetchLike } from '../../../src/deps.js'
import { selfSignedCert } from '../../helpers/tls.js'

interface Seen {
  url: string
  init: RequestInit & { dispatcher?: unknown }
}

function recordingFetch(): FetchLike & { seen: Seen[] } {
  const seen: Seen[] = []
  const f: FetchLike = async (input, init) => {
    seen.push({ url: String(input), init: init ?? {} })
    return new Response('ok')
  }
  return Object.assign(f, { seen })
}

let dir: string
let certPath: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bktx-fetch-'))
  certPath = join(dir, 'ca.pem')
  await writeFile(certPath, (await selfSignedCert()).cert)
})
afterAll(() => rm(dir, { recursive: true, force: true }))

describe('makeFetch', () => {
  it('adds User-Agent and no dispatcher when nothing needs one', async () => {
    const base = recordingFetch()
    const f = makeFetch({ env: {}, userAgent: 'bktx/1.2.3', fetch: base })
    await f('https://buildkite.test/x', { method: 'POST', headers: { accept: 'application/json' } })
    expect(f.route).toEqual([])
    const [call] = base.seen
    expect(new Headers(call?.init.headers).get('user-agent')).toBe('bktx/1.2.3')
    expect(new Headers(call?.init.headers).get('accept')).toBe('application/json')
    expect(call?.init.method).toBe('POST')
    expect(call?.init.dispatcher).toBeUndefined()
    await f.close()
  })

  it('keeps a User-Agent the caller set', async () => {
    const base = recordingFetch()
    await makeFetch({ env: {}, userAgent: 'bktx/1', fetch: base })('https://x.test/', { headers: { 'User-Agent': 'custom/9' } })
    expect(new Headers(base.seen[0]?.init.headers).get('user-agent')).toBe('custom/9')
  })

  it('needs no dispatcher for NO_PROXY alone or NODE_EXTRA_CA_CERTS alone', async () => {
    const base = recordingFetch()
    const f = makeFetch({ env: { NO_PROXY: '*', NODE_EXTRA_CA_CERTS: certPath }, userAgent: 'bktx/1', fetch: base })
    await f('https://x.test/')
    expect(f.route).toEqual([])
    expect(base.seen[0]?.init.dispatcher).toBeUndefined()
  })

  for (const name of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy']) {
    it(`uses an EnvHttpProxyAgent when ${name} is set`, async () => {
      const base = recordingFetch()
      const f = makeFetch({ env: { [name]: 'http://127.0.0.1:3128' }, userAgent: 'bktx/1', dispatchFetch: base })
      await f('https://x.test/')
      await f('https://x.test/')
      expect(f.route).toEqual(['proxy'])
      const dispatcher = base.seen[0]?.init.dispatcher as { constructor: { name: string } }
      expect(dispatcher.constructor.name).toBe('EnvHttpProxyAgent')
      // One dispatcher per makeFetch, reused by every request.
      expect(base.seen[1]?.init.dispatcher).toBe(dispatcher)
      await f.close()
    })
  }

  it('uses a dispatcher for --ca-file', async () => {
    const base = recordingFetch()
    const f = makeFetch({ env: {}, caFile: certPath, userAgent: 'bktx/1', dispatchFetch: base })
    await f('https://x.test/')
    expect(f.route).toEqual(['ca-file'])
    expect(base.seen[0]?.init.dispatcher).toBeDefined()
    await f.close()
  })

  it('refuses an unreadable or certificate-less --ca-file as a local file error', async () => {
    const missing = makeFetch({ env: {}, caFile: join(dir, 'nope.pem'), userAgent: 'bktx/1', fetch: recordingFetch() })
    await expect(missing('https://x.test/')).rejects.toThrow(FileError)
    await expect(missing('https://x.test/')).rejects.toThrow(/cannot read the CA file .*nope.pem: no such file or directory \(ENOENT\)/)
    const junkPath = join(dir, 'junk.pem')
    await writeFile(junkPath, 'not a certificate')
    await expect(makeFetch({ env: {}, caFile: junkPath, userAgent: 'bktx/1', fetch: recordingFetch() })('https://x.test/')).rejects.toThrow(
      /holds no PEM certificate/,
    )
    const brokenPath = join(dir, 'broken.pem')
    await writeFile(brokenPath, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')
    await expect(makeFetch({ env: {}, caFile: brokenPath, userAgent: 'bktx/1', fetch: recordingFetch() })('https://x.test/')).rejects.toThrow(
      /certificate 1 is not a valid X.509/,
    )
  })

  it('refuses a proxy variable that is not an http(s) URL, without echoing credentials', async () => {
    const f = makeFetch({ env: { HTTPS_PROXY: 'socks5://user:secret@proxy:1080' }, userAgent: 'bktx/1', fetch: recordingFetch() })
    const error = await f('https://x.test/').catch((e: unknown) => e as Error)
    expect(error).toBeInstanceOf(SettingInvalidError)
    expect((error as Error).message).toMatch(/^HTTPS_PROXY: is not an http:\/\/ or https:\/\/ proxy URL/)
    expect((error as Error).message).not.toContain('secret')
  })

  it('bounds each request with timeoutMs, combined with the caller signal', async () => {
    const hanging: FetchLike = (_input, init) => new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)))
    const f = makeFetch({ env: {}, timeoutMs: 30, userAgent: 'bktx/1', fetch: hanging })
    // Only the 30 ms timeout can end this fetch; the test's own timeout is the kill timer.
    await expect(f('https://x.test/')).rejects.toMatchObject({ name: 'TimeoutError' })
    const controller = new AbortController()
    const pending = makeFetch({ env: {}, timeoutMs: 60_000, userAgent: 'bktx/1', fetch: hanging })('https://x.test/', { signal: controller.signal })
    controller.abort('caller')
    await expect(pending).rejects.toBe('caller')
  })
})

describe("makeFetch with a fetch that routes itself (a library caller's)", () => {
  it('sends every request to it, proxy variables or not, with no dispatcher', async () => {
    const base = recordingFetch()
    const dispatchFetch = recordingFetch()
    const f = makeFetch({
      env: { HTTPS_PROXY: 'http://127.0.0.1:9', HTTP_PROXY: 'http://127.0.0.1:9' },
      userAgent: 'bktx/1',
      fetch: ownRoutingFetch(base),
      dispatchFetch,
    })
    await f('https://buildkite.com/oauth/token', { method: 'POST' })
    await f('http://127.0.0.1:8787/oauth/token')
    expect(f.route).toEqual([])
    expect(base.seen.map((s) => s.url)).toEqual(['https://buildkite.com/oauth/token', 'http://127.0.0.1:8787/oauth/token'])
    expect(base.seen.map((s) => s.init.dispatcher)).toEqual([undefined, undefined])
    expect(new Headers(base.seen[0]?.init.headers).get('user-agent')).toBe('bktx/1')
    expect(dispatchFetch.seen).toEqual([])
    await f.close()
  })

  it('refuses a CA file, which only that fetch could trust', () => {
    const base = recordingFetch()
    expect(() => makeFetch({ env: {}, userAgent: 'bktx/1', caFile: certPath, fetch: ownRoutingFetch(base) })).toThrow(SettingInvalidError)
    expect(base.seen).toEqual([])
  })
})

describe('trustedCAs', () => {
  it("is Node's roots, then NODE_EXTRA_CA_CERTS, then --ca-file: additions, never a replacement", async () => {
    const extraPath = join(dir, 'extra.pem')
    const extra = (await selfSignedCert('extra')).cert
    await writeFile(extraPath, extra)
    const cas = await trustedCAs({ env: { NODE_EXTRA_CA_CERTS: extraPath }, caFile: certPath })
    expect(cas.slice(0, rootCertificates.length)).toEqual(rootCertificates)
    expect(cas.slice(rootCertificates.length).map((c) => c.trim())).toEqual([extra.trim(), (await selfSignedCert()).cert.trim()])
  })
})

describe('proxySettings', () => {
  it('prefers lower case, as curl and undici do, and treats empty as unset', () => {
    expect(proxySettings({ https_proxy: 'http://a:1', HTTPS_PROXY: 'http://b:1', http_proxy: '', HTTP_PROXY: 'http://c:1', NO_PROXY: 'x' })).toEqual({
      httpsProxy: 'http://a:1',
      httpProxy: 'http://c:1',
      noProxy: 'x',
    })
    expect(proxySettings({})).toEqual({ httpsProxy: '', httpProxy: '', noProxy: '' })
  })
})
