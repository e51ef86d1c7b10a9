import { describe, expect, it } from 'vitest'
import { InsecureURLError, SettingInvalidError } from '../../../src/errors.js'
import { isLoopbackHost, redactURL, requireSecureURL } from '../../../src/http/url.js'

const TOKEN_ENDPOINT = { name: 'token endpoint', setting: 'token-url' }

describe('requireSecureURL (RFC 6749 §3.2, RFC 6750 §5.3)', () => {
  const allowed = [
    'https://buildkite.com/oauth/token',
    'https://api.buildkite.com/v2/oauth/token',
    'http://127.0.0.1:8787/oauth/token',
    'http://127.255.255.254/x',
    'http://127.1/x', // WHATWG URL normalises this to 127.0.0.1
    'http://localhost:9/x',
    'http://LOCALHOST/x',
    'http://[::1]:8787/x',
    'http://[0:0:0:0:0:0:0:1]/x',
  ]
  for (const url of allowed) it(`allows ${url}`, () => expect(requireSecureURL(url, TOKEN_ENDPOINT)).toBeInstanceOf(URL))

  const insecure = [
    'http://buildkite.com/oauth/token',
    'http://128.0.0.1/x',
    'http://10.0.0.1/x',
    'http://0.0.0.0/x',
    'http://localhost.evil.test/x',
    'http://127.0.0.1.nip.io/x',
    'http://foo.localhost/x',
    'http://[::ffff:127.0.0.1]/x',
    'http://[::2]/x',
  ]
  for (const url of insecure) {
    it(`refuses ${url}`, () => {
      expect(() => requireSecureURL(url, TOKEN_ENDPOINT)).toThrow(InsecureURLError)
    })
  }

  it('names the endpoint and explains, without the query string', () => {
    expect(() => requireSecureURL('http://example.test/token?secret=1', TOKEN_ENDPOINT)).toThrow(
      /token endpoint URL http:\/\/example.test\/token uses plain http/,
    )
    expect(() => requireSecureURL('http://example.test/token?secret=1', TOKEN_ENDPOINT)).not.toThrow(/secret/)
  })

  it('refuses other schemes, relative URLs and credentials as invalid settings', () => {
    for (const url of ['ftp://buildkite.com/x', 'file:///etc/passwd', '/oauth/token', 'https://user:pw@buildkite.com/x']) {
      expect(() => requireSecureURL(url, TOKEN_ENDPOINT), url).toThrow(SettingInvalidError)
    }
    expect(() => requireSecureURL('https://user:hunter2@buildkite.com/x', TOKEN_ENDPOINT)).not.toThrow(/hunter2/)
  })
})

describe('isLoopbackHost', () => {
  it('is exact about 127.0.0.0/8', () => {
    expect(isLoopbackHost('127.0.0.1')).toBe(true)
    expect(isLoopbackHost('127.300.0.1')).toBe(false)
    expect(isLoopbackHost('1127.0.0.1')).toBe(false)
  })
})

describe('redactURL', () => {
  it('keeps origin and path only', () => {
    expect(redactURL('https://u:p@h.test:8443/a/b?c=d#e')).toBe('https://h.test:8443/a/b')
    expect(redactURL('not a url')).toBe('(invalid URL)')
  })
})
