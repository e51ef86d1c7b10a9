import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { proxyRoute } from '../../../src/http/proxy-route.js'
import { startCountingProxy, type CountingProxy } from '../../helpers/proxy.js'

const none = { httpProxy: '', httpsProxy: '', noProxy: '' }

describe('proxyRoute (what bktx doctor reports as the route)', () => {
  it.each([
    ['https, no variable', 'https://buildkite.com/oauth/token', none, 'direct'],
    ['https uses HTTPS_PROXY', 'https://buildkite.com/oauth/token', { ...none, httpsProxy: 'http://s:1', httpProxy: 'http://p:1' }, 'http://s:1 HTTPS_PROXY'],
    ['https falls back to HTTP_PROXY', 'https://buildkite.com/oauth/token', { ...none, httpProxy: 'http://p:1' }, 'http://p:1 HTTP_PROXY'],
    ['http never uses HTTPS_PROXY', 'http://127.0.0.1:8787/oauth/token', { ...none, httpsProxy: 'http://s:1' }, 'direct'],
    ['NO_PROXY *', 'https://buildkite.com/x', { ...none, httpsProxy: 'http://s:1', noProxy: '*' }, 'direct'],
    ['NO_PROXY names the host', 'https://buildkite.com/x', { ...none, httpsProxy: 'http://s:1', noProxy: 'example.com, buildkite.com' }, 'direct'],
    ['NO_PROXY names a parent domain', 'https://api.buildkite.com/x', { ...none, httpsProxy: 'http://s:1', noProxy: '.buildkite.com' }, 'direct'],
    ['NO_PROXY *.domain', 'https://api.buildkite.com/x', { ...none, httpsProxy: 'http://s:1', noProxy: '*.buildkite.com' }, 'direct'],
    ['NO_PROXY with the right port', 'https://buildkite.com/x', { ...none, httpsProxy: 'http://s:1', noProxy: 'buildkite.com:443' }, 'direct'],
    ['NO_PROXY with another port', 'https://buildkite.com/x', { ...none, httpsProxy: 'http://s:1', noProxy: 'buildkite.com:8443' }, 'http://s:1 HTTPS_PROXY'],
    ['NO_PROXY of a longer name', 'https://notbuildkite.com/x', { ...none, httpsProxy: 'http://s:1', noProxy: 'buildkite.com' }, 'http://s:1 HTTPS_PROXY'],
    ['credentials are not shown', 'https://buildkite.com/x', { ...none, httpsProxy: 'http://user:secret@s:1' }, 'http://s:1 HTTPS_PROXY'],
  ])('%s', (_name, url, settings, expected) => {
    const route = proxyRoute(new URL(url), settings)
    expect(route.via === 'direct' ? 'direct' : `${route.proxy} ${route.variable}`).toBe(expected)
  })
})

// The table above restates undici's rules; these cases check the restatement against undici
// itself: a real request through its EnvHttpProxyAgent, and whether the proxy saw it.
describe('proxyRoute against undici EnvHttpProxyAgent', () => {
  let target: Server
  let port = 0
  let proxy: CountingProxy
  beforeAll(async () => {
    target = createServer((_req, res) => res.end('ok'))
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve))
    port = (target.address() as AddressInfo).port
    proxy = await startCountingProxy()
  })
  afterAll(async () => {
    await proxy.close()
    await new Promise((resolve) => target.close(resolve))
  })

  it.each(['', '*', '127.0.0.1', '127.0.0.2', '127.0.0.1:PORT', '127.0.0.1:1', 'localhost', '.0.0.1', 'other.test 127.0.0.1'])(
    'NO_PROXY=%j',
    async (noProxyTemplate) => {
      const noProxy = noProxyTemplate.replace('PORT', String(port))
      const { EnvHttpProxyAgent } = await import('undici')
      const agent = new EnvHttpProxyAgent({ httpProxy: proxy.url, httpsProxy: '', noProxy, proxyTunnel: false } as ConstructorParameters<
        typeof EnvHttpProxyAgent
      >[0])
      const url = `http://127.0.0.1:${port}/probe-${encodeURIComponent(noProxy)}`
      const before = proxy.forwards.length
      try {
        const response = await fetch(url, { dispatcher: agent } as unknown as RequestInit)
        expect(await response.text()).toBe('ok')
      } finally {
        await agent.close()
      }
      const proxied = proxy.forwards.length > before
      expect(proxyRoute(new URL(url), { httpProxy: proxy.url, httpsProxy: '', noProxy }).via).toBe(proxied ? 'proxy' : 'direct')
    },
  )
})
