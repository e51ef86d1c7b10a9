import type { ProxySettings } from './fetch.js'

/** How a request to a URL leaves this machine under the proxy variables (what `bktx doctor` reports). */
export type ProxyRoute =
  | { via: 'direct'; reason: 'no-proxy-variable' | 'no-proxy-match' }
  | { via: 'proxy'; proxy: string; variable: 'HTTPS_PROXY' | 'HTTP_PROXY' }

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 }

/**
 * The route undici's EnvHttpProxyAgent (the dispatcher of src/http/fetch.ts) takes for `url`,
 * written out from its source (lib/dispatcher/env-http-proxy-agent.js, undici 7): https uses
 * HTTPS_PROXY, else HTTP_PROXY; http uses HTTP_PROXY; NO_PROXY `*` bypasses everything, else
 * an entry (`host`, `.suffix`, `*.suffix`, with an optional `:port`) bypasses that host and
 * its subdomains. The proxy URL is returned without credentials.
 */
export function proxyRoute(url: URL, proxy: ProxySettings): ProxyRoute {
  const httpProxy = proxy.httpProxy
  const chosen =
    url.protocol === 'https:'
      ? proxy.httpsProxy !== ''
        ? { uri: proxy.httpsProxy, variable: 'HTTPS_PROXY' as const }
        : { uri: httpProxy, variable: 'HTTP_PROXY' as const }
      : { uri: httpProxy, variable: 'HTTP_PROXY' as const }
  if (chosen.uri === '') return { via: 'direct', reason: 'no-proxy-variable' }
  if (bypassed(url, proxy.noProxy)) return { via: 'direct', reason: 'no-proxy-match' }
  return { via: 'proxy', proxy: withoutCredentials(chosen.uri), variable: chosen.variable }
}

function bypassed(url: URL, noProxy: string): boolean {
  if (noProxy === '*') return true
  // undici keeps IPv6 brackets: it strips the port from `host`, not from `hostname`.
  const hostname = url.host.replace(/:\d*$/, '').toLowerCase()
  const port = Number.parseInt(url.port, 10) || DEFAULT_PORTS[url.protocol] || 0
  for (const entry of noProxy.split(/[,\s]/)) {
    if (entry === '') continue
    const parsed = /^(.+):(\d+)$/.exec(entry)
    const host = (parsed?.[1] ?? entry).replace(/^\*?\./, '').toLowerCase()
    const entryPort = parsed?.[2] === undefined ? 0 : Number.parseInt(parsed[2], 10)
    if (entryPort !== 0 && entryPort !== port) continue
    if (hostname === host || hostname.endsWith(`.${host}`)) return true
  }
  return false
}

function withoutCredentials(uri: string): string {
  try {
    const url = new URL(uri)
    url.username = ''
    url.password = ''
    return url.href.replace(/\/$/, '')
  } catch {
    return '(not a URL)'
  }
}
