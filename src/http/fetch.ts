import { readFile as fsReadFile, stat } from 'node:fs/promises'
import type { Dispatcher } from 'undici'
import type { Env, FetchLike, RequestInitLike } from '../deps.js'
import { FileError, SettingInvalidError, type Advice } from '../errors.js'

export interface MakeFetchOptions {
  /** The environment, for HTTPS_PROXY, HTTP_PROXY, NO_PROXY (either case) and NODE_EXTRA_CA_CERTS. */
  env: Env
  /**
   * A PEM file of CA certificates to trust in addition to Node's bundled roots and
   * NODE_EXTRA_CA_CERTS (`--ca-file`): for a TLS-intercepting proxy or a private CA.
   */
  caFile?: string | undefined
  /** Bound on each request in ms (connect, headers and body); none by default. The exchange bounds the whole call itself. */
  timeoutMs?: number | undefined
  /** Sent as User-Agent unless a request sets its own: `bktx/<version>`. */
  userAgent: string
  /** The fetch for direct requests; default the global fetch (which msw can intercept in tests). The CLI passes src/http/node-fetch.ts. */
  fetch?: FetchLike
  /** The fetch that takes an undici dispatcher (proxy, --ca-file); default the global fetch. */
  dispatchFetch?: FetchLike
  /** Reads the CA files; default fs. */
  readFile?: (path: string) => Promise<string>
}

/** A fetch-shaped function that can release its connection pool. */
export type BktxFetch = FetchLike & {
  /** Closes the proxy/CA dispatcher's idle connections, if one was made. */
  close(): Promise<void>
  /** Why a dispatcher is used (`proxy`, `ca-file`), or none: for --verbose. */
  readonly route: readonly string[]
}

/** The proxy settings taken from the environment: lower case wins, as in curl and undici. */
export interface ProxySettings {
  httpProxy: string
  httpsProxy: string
  noProxy: string
}

function pick(env: Env, name: string): string {
  const lower = env[name.toLowerCase()]
  if (lower !== undefined && lower !== '') return lower
  return env[name.toUpperCase()] ?? ''
}

export function proxySettings(env: Env): ProxySettings {
  return { httpProxy: pick(env, 'http_proxy'), httpsProxy: pick(env, 'https_proxy'), noProxy: pick(env, 'no_proxy') }
}

/**
 * A fetch over Node's global fetch. It adds a User-Agent, and an undici `EnvHttpProxyAgent` as
 * the `dispatcher` only when a proxy variable or `--ca-file` needs one: importing undici costs
 * about 111 ms (docs/dependencies.md), so it is loaded on the first request that needs it, and a
 * direct connection never loads it. NO_PROXY alone needs no dispatcher (there is nothing to
 * bypass), and neither does NODE_EXTRA_CA_CERTS alone: Node adds those certificates to its
 * default trust store at start-up, which the global fetch uses. No global dispatcher is set.
 *
 * Proxy semantics are undici's: HTTPS_PROXY for https URLs, falling back to HTTP_PROXY when it
 * is unset; NO_PROXY is a comma- or space-separated list of hosts, domain suffixes (`.corp`,
 * `*.corp`), optional `:port`, or `*`. Loopback is proxied unless NO_PROXY lists it.
 */
const globalFetch: FetchLike = (input, init) => fetch(input, init)

export function makeFetch(options: MakeFetchOptions): BktxFetch {
  const base: FetchLike = options.fetch ?? globalFetch
  const proxy = proxySettings(options.env)
  const route: string[] = []
  if (proxy.httpProxy !== '' || proxy.httpsProxy !== '') route.push('proxy')
  if (options.caFile !== undefined) route.push('ca-file')
  let dispatcher: Promise<Dispatcher> | undefined
  const getDispatcher = (): Promise<Dispatcher> => {
    dispatcher ??= createDispatcher(options, proxy)
    return dispatcher
  }

  const wrapped: FetchLike = async (input, init) => {
    const headers: Record<string, string> = { ...init?.headers }
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'user-agent')) headers['user-agent'] = options.userAgent
    const signals = [init?.signal, options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs)].filter(
      (s): s is AbortSignal => s !== undefined && s !== null,
    )
    const request: RequestInitLike = { ...init, headers }
    if (signals.length > 0) request.signal = signals.length === 1 ? (signals[0] as AbortSignal) : AbortSignal.any(signals)
    if (route.length === 0) return base(input, request)
    // Node 20's fetch is undici 6 inside; an undici 7 dispatcher works with it (deps.md) but
    // its type is not the bundled one. Only the global fetch takes a dispatcher.
    const dispatched = { ...request, dispatcher: await getDispatcher() } as RequestInitLike
    return (options.dispatchFetch ?? globalFetch)(input, dispatched)
  }
  return Object.assign(wrapped, {
    route,
    close: async () => {
      if (dispatcher !== undefined) await (await dispatcher).close()
    },
  })
}

async function createDispatcher(options: MakeFetchOptions, proxy: ProxySettings): Promise<Dispatcher> {
  for (const [name, value] of [['HTTPS_PROXY', proxy.httpsProxy], ['HTTP_PROXY', proxy.httpProxy]] as const) {
    if (value !== '' && !isProxyURL(value)) {
      // Not echoed: a proxy URL may carry a password.
      throw new SettingInvalidError(name, `is not an http:// or https:// proxy URL (nor is ${name.toLowerCase()}, if set)`, {
        source: `env:${name}`,
        detail: { reason: 'not-a-proxy-url' },
        advice: ['fix or unset it'],
      })
    }
  }
  const tls = options.caFile === undefined ? {} : { ca: await trustedCAs(options) }
  const undici = await import('undici')
  // undici is CommonJS. `default` is its module.exports both under Node's ESM loader and in
  // an esbuild bundle (scripts/build.mjs); the named export exists only under Node's loader.
  const { EnvHttpProxyAgent } = undici.default as unknown as typeof undici
  // Every value is passed explicitly, '' for unset: undici would otherwise read process.env,
  // and bktx takes its environment only from the injected copy.
  return new EnvHttpProxyAgent({
    httpProxy: proxy.httpProxy,
    httpsProxy: proxy.httpsProxy,
    noProxy: proxy.noProxy,
    // Plain-http requests go to an http proxy as absolute-URI requests, as curl sends them;
    // many proxies allow CONNECT only to port 443. https always tunnels with CONNECT.
    proxyTunnel: false,
    connect: tls,
    requestTls: tls,
    proxyTls: tls,
  })
}

function isProxyURL(value: string): boolean {
  try {
    const url = new URL(value)
    return url.protocol === 'http:' || url.protocol === 'https:'
  } catch {
    return false
  }
}

const MAX_CA_FILE_BYTES = 1024 * 1024
const CHECK_CA_FILE: Advice = ['check ', { option: 'ca-file' }]

/**
 * The CA list for --ca-file. Node's `ca` option replaces the default trust store rather than
 * adding to it, so the file is combined here with the bundled roots and NODE_EXTRA_CA_CERTS to
 * keep "in addition" semantics. Throws FileError for a file that holds no valid certificate.
 */
export async function trustedCAs(options: Pick<MakeFetchOptions, 'env' | 'caFile' | 'readFile'>): Promise<string[]> {
  const read = options.readFile ?? ((path: string) => fsReadFile(path, 'utf8'))
  const caFile = options.caFile
  if (caFile === undefined) throw new TypeError('trustedCAs needs caFile')
  const bad = (message: string, reason: string, cause?: unknown) =>
    new FileError(message, { cause, detail: { option: 'ca-file', file: caFile, reason }, advice: CHECK_CA_FILE })
  let text: string
  try {
    if (options.readFile === undefined) {
      const info = await stat(caFile)
      if (!info.isFile()) throw bad(`the CA file ${caFile} is not a regular file`, 'not-a-file')
      if (info.size > MAX_CA_FILE_BYTES) throw bad(`the CA file ${caFile} is larger than 1 MiB; not a CA bundle`, 'too-large')
    }
    text = await read(caFile)
  } catch (cause) {
    if (cause instanceof FileError) throw cause
    throw bad(`cannot read the CA file ${caFile}: ${(cause as { code?: string }).code ?? String(cause)}`, 'unreadable', cause)
  }
  // Loaded here, not at the top: node:tls alone adds about 10 ms to start-up.
  const [{ X509Certificate }, { rootCertificates }] = await Promise.all([import('node:crypto'), import('node:tls')])
  const certs = pemCertificates(text)
  if (certs.length === 0) throw bad(`the CA file ${caFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`, 'no-certificate')
  for (const [i, pem] of certs.entries()) {
    try {
      new X509Certificate(pem)
    } catch (cause) {
      throw bad(`the CA file ${caFile}: certificate ${i + 1} is not a valid X.509 certificate`, 'bad-certificate', cause)
    }
  }
  const extra: string[] = []
  const extraPath = options.env['NODE_EXTRA_CA_CERTS']
  if (extraPath !== undefined && extraPath !== '') {
    // Node already warned at start-up if this file is unreadable; it then trusts none of it, and
    // neither does bktx.
    extra.push(...(await read(extraPath).then(pemCertificates, () => [])))
  }
  return [...rootCertificates, ...extra, ...certs]
}

function pemCertificates(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
}
