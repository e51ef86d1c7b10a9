import { InsecureURLError, SettingInvalidError } from '../errors.js'

/**
 * True for hosts that can only be this machine: `localhost`, 127.0.0.0/8 and `[::1]`. The host
 * must come from a WHATWG `URL`, which already normalises IPv4 shorthands (`127.1`) and IPv6
 * spellings (`[0:0::1]`), so exact comparisons are enough. Names that merely resolve to
 * loopback (`*.localhost`, /etc/hosts entries) and IPv4-mapped IPv6 are not accepted: the check
 * must not depend on a resolver bktx does not control.
 */
export function isLoopbackHost(hostname: string): boolean {
  if (hostname === 'localhost' || hostname === '[::1]') return true
  const octets = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(hostname)
  return octets !== null && octets[1] === '127' && octets.slice(2).every((o) => Number(o) <= 255)
}

/** A remote party bktx talks to, for messages: `{ name: 'token endpoint', setting: 'token-url' }`. */
export interface Endpoint {
  /** What it is, in words: `token endpoint`, `Buildkite API`. */
  name: string
  /** The setting (or option) that holds its URL. */
  setting: string
}

/**
 * Parses a URL that will carry credentials (a client assertion, a bearer token) and refuses
 * plain http except to loopback: RFC 6749 §3.2 and RFC 6750 §5.3 require TLS for the token
 * endpoint and for bearer tokens; loopback stays allowed for the reference server and tests.
 */
export function requireSecureURL(value: string | URL, endpoint: Endpoint): URL {
  const invalid = (problem: string, reason: string) => new SettingInvalidError(endpoint.setting, problem, { detail: { reason } })
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw invalid('is not an absolute URL', 'not-a-url')
  }
  // fetch refuses URLs with credentials anyway; say so before a request is attempted, and never
  // echo them back.
  if (url.username !== '' || url.password !== '') throw invalid('must not contain a user name or password', 'credentials-in-url')
  if (url.protocol === 'https:') return url
  if (url.protocol === 'http:') {
    if (isLoopbackHost(url.hostname)) return url
    throw new InsecureURLError(
      `the ${endpoint.name} URL ${redactURL(url)} uses plain http: bktx sends credentials only over https, or over http to loopback (127.0.0.0/8, ::1, localhost)`,
      { detail: { setting: endpoint.setting, reason: 'insecure-scheme' }, advice: ['set ', { setting: endpoint.setting }, ' to an https URL'] },
    )
  }
  throw invalid(`must be an https URL, not ${url.protocol}`, 'unsupported-scheme')
}

/** A URL for messages: origin and path only (no query, fragment or credentials). */
export function redactURL(url: string | URL): string {
  try {
    const parsed = new URL(url)
    return `${parsed.origin}${parsed.pathname}`
  } catch {
    return '(invalid URL)'
  }
}
