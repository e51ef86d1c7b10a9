import type { Dispatcher } from 'undici'
import type { Env, FetchLike, RequestInitLike } from '../deps.js'
import { FileError, SettingInvalidError, type Advice } from '../errors.js'
import { errnoText } from '../fs/atomic.js'
import { InputFileError, readInputFile } from '../fs/input.js'
import { ProxyError } from './proxy-error.js'
import { isLoopbackHost } from './url.js'

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
  /** The fetch that takes an undici dispatcher (proxy, --ca-file); default undici's own fetch. Tests pass a recorder. */
  dispatchFetch?: FetchLike
  /** Reads the CA files; default src/fs/input.ts (regular files of at most 1 MiB). */
  readFile?: (path: string) => Promise<string>
}

/** A fetch-shaped function that can release its connection pool. */
export type BktxFetch = FetchLike & {
  /** Closes the proxy/CA dispatcher's connections, if one was made. */
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

type Undici = typeof import('undici')

/**
 * A fetch that adds a User-Agent and routes each request:
 * - to a loopback host (127.0.0.0/8, ::1, localhost): never through a proxy, whatever NO_PROXY
 *   says. Plain http is allowed only to loopback (src/http/url.ts) because it never leaves the
 *   machine; a proxy would carry the assertion, the token and `Authorization` in clear;
 * - through HTTPS_PROXY/HTTP_PROXY otherwise, with undici's `EnvHttpProxyAgent` and undici's own
 *   fetch (an undici 7 dispatcher matches no other fetch; docs/dependencies.md);
 * - with undici and an extra CA list when `--ca-file` is given;
 * - else through `options.fetch` (node:http in the CLI).
 * A fetch marked with {@link ownRoutingFetch} (a library caller's) gets every request instead.
 * undici costs about 111 ms to import, so it is loaded on the first request that needs it and
 * never for a direct one. NO_PROXY alone needs no dispatcher, and neither does
 * NODE_EXTRA_CA_CERTS alone: Node adds those certificates to its default trust store at
 * start-up. No global dispatcher is set.
 *
 * Proxy semantics are undici's: HTTPS_PROXY for https URLs, falling back to HTTP_PROXY when it
 * is unset; NO_PROXY is a comma- or space-separated list of hosts, domain suffixes (`.corp`,
 * `*.corp`), optional `:port`, or `*`. A failure of the proxy itself surfaces as a ProxyError
 * (src/http/proxy-error.ts), which the retry loop words and, for a 407, does not retry.
 */
const globalFetch: FetchLike = (input, init) => fetch(input, init)

const OWN_ROUTING = new WeakSet<FetchLike>()

/**
 * A fetch that routes requests itself: a library caller's (`getToken({ fetch })`). makeFetch
 * then sends every request to it, adding only the User-Agent: it reads no proxy variable and
 * never loads undici, and a CA file is refused, since only that fetch can trust it. So with an
 * injected fetch no other network code runs (no node:http, no DNS lookup of bktx's own).
 */
export function ownRoutingFetch(fetch: FetchLike): FetchLike {
  const own: FetchLike = (input, init) => fetch(input, init)
  OWN_ROUTING.add(own)
  return own
}

/** The refusal of a CA file given with a fetch that routes itself ({@link ownRoutingFetch}). */
export function caFileWithOwnFetch(): SettingInvalidError {
  return new SettingInvalidError('ca-file', 'does not apply with an injected fetch: give that fetch the CA certificates instead', {
    source: 'flag',
    detail: { option: 'ca-file', reason: 'injected-fetch' },
  })
}

export function makeFetch(options: MakeFetchOptions): BktxFetch {
  const base: FetchLike = options.fetch ?? globalFetch
  const ownRouting = OWN_ROUTING.has(base)
  if (ownRouting && options.caFile !== undefined) throw caFileWithOwnFetch()
  // A fetch that routes itself does its own proxying: the variables are not read.
  const proxy = ownRouting ? proxySettings({}) : proxySettings(options.env)
  const hasProxy = proxy.httpProxy !== '' || proxy.httpsProxy !== ''
  const route: string[] = []
  if (hasProxy) route.push('proxy')
  if (options.caFile !== undefined) route.push('ca-file')
  let loaded: Promise<{ undici: Undici; tls: { ca?: string[] } }> | undefined
  const dispatchers = new Map<'proxy' | 'direct', Promise<Dispatcher>>()
  const dispatcherFor = (kind: 'proxy' | 'direct'): Promise<Dispatcher> => {
    let dispatcher = dispatchers.get(kind)
    if (dispatcher === undefined) {
      loaded ??= loadUndici(options)
      dispatcher = loaded.then(({ undici, tls }) => createDispatcher(undici, tls, kind === 'proxy' ? proxy : undefined))
      dispatchers.set(kind, dispatcher)
    }
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
    const viaProxy = hasProxy && !isLoopbackHost(new URL(input).hostname)
    if (!viaProxy && options.caFile === undefined) return base(input, request)
    if (viaProxy) checkProxyVariables(proxy)
    const dispatcher = await dispatcherFor(viaProxy ? 'proxy' : 'direct')
    const dispatchFetch = options.dispatchFetch ?? ((await loaded)?.undici.fetch as unknown as FetchLike)
    try {
      // undici's RequestInit takes a `dispatcher`; bktx's RequestInitLike does not name it.
      return await dispatchFetch(input, { ...request, dispatcher } as RequestInitLike)
    } catch (error) {
      throw viaProxy ? asProxyError(error) : error
    }
  }
  return Object.assign(wrapped, {
    route,
    // destroy, not close: a CONNECT the proxy never answered would keep close() (and so the
    // process) waiting for undici's own 300 s headers timeout.
    close: async () => {
      // A dispatcher that failed to be made (a bad --ca-file) has already failed its request.
      for (const dispatcher of dispatchers.values())
        await dispatcher.then(
          (d) => d.destroy(),
          () => undefined,
        )
    },
  })
}

async function loadUndici(options: MakeFetchOptions): Promise<{ undici: Undici; tls: { ca?: string[] } }> {
  const tls = options.caFile === undefined ? {} : { ca: await trustedCAs(options) }
  const undici = await import('undici')
  // undici is CommonJS. `default` is its module.exports both under Node's ESM loader and in
  // an esbuild bundle (scripts/build.mjs); the named export exists only under Node's loader.
  return { undici: undici.default as unknown as Undici, tls }
}

function checkProxyVariables(proxy: ProxySettings): void {
  for (const [name, value] of [
    ['HTTPS_PROXY', proxy.httpsProxy],
    ['HTTP_PROXY', proxy.httpProxy],
  ] as const) {
    if (value !== '' && !isProxyURL(value)) {
      // Not echoed: a proxy URL may carry a password.
      throw new SettingInvalidError(name, `is not an http:// or https:// proxy URL (nor is ${name.toLowerCase()}, if set)`, {
        source: `env:${name}`,
        detail: { reason: 'not-a-proxy-url' },
        advice: ['fix or unset it'],
      })
    }
  }
}

function createDispatcher(undici: Undici, tls: { ca?: string[] }, proxy: ProxySettings | undefined): Dispatcher {
  const { Agent, Client, EnvHttpProxyAgent, Pool } = undici
  if (proxy === undefined) return new Agent({ connect: tls })
  // undici's Client retries a connect that failed with UND_ERR_SOCKET for as long as a request
  // waits: a proxy that closes the connection right after reading CONNECT made it reconnect in a
  // tight loop (tens of thousands of CONNECTs a second) until the deadline. The tunnel's connect
  // function reaches the origin's Client through this factory; its failures are turned into
  // ProxyErrors there, which end the request, so each attempt costs one connection.
  const factory = (origin: string | URL, opts: object): Dispatcher => {
    const clientOptions = { ...opts } as { connect?: unknown; connections?: number | null }
    const connect = clientOptions.connect
    if (typeof connect === 'function') {
      clientOptions.connect = (connectOptions: unknown, callback: (error: Error | null, socket: unknown) => void) =>
        (connect as (o: unknown, cb: typeof callback) => void)(connectOptions, (error, socket) => callback(error === null ? null : tunnelError(error), socket))
    }
    return clientOptions.connections === 1 ? new Client(origin, clientOptions as object) : new Pool(origin, clientOptions as object)
  }
  // Every value is passed explicitly, '' for unset: undici would otherwise read process.env,
  // and bktx takes its environment only from the injected copy.
  return new EnvHttpProxyAgent({
    httpProxy: proxy.httpProxy,
    httpsProxy: proxy.httpsProxy,
    noProxy: proxy.noProxy,
    // Plain-http requests go to an http proxy as absolute-URI requests, as curl sends them;
    // many proxies allow CONNECT only to port 443. https always tunnels with CONNECT.
    proxyTunnel: false,
    factory,
    connect: tls,
    requestTls: tls,
    proxyTls: tls,
  })
}

const CONNECT_STATUS = /Proxy response \((\d{3})\) !== 200/

/** A failed tunnel connect, as undici reports it, turned into a ProxyError; other errors (TLS, refused) as they are. */
function tunnelError(error: Error): Error {
  const code = (error as { code?: unknown }).code
  const status = CONNECT_STATUS.exec(error.message)
  if (status !== null) return new ProxyError(Number(status[1]), `the proxy answered CONNECT with HTTP ${status[1]}`, { cause: error })
  if (code === 'UND_ERR_SOCKET') return new ProxyError(undefined, 'the proxy closed the connection before the tunnel was open', { cause: error })
  return error
}

/** A 407 to an absolute-URI request (plain http through the proxy), as undici reports it, turned into a ProxyError. */
function asProxyError(error: unknown): unknown {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; depth++, e = e.cause) {
    if (e instanceof ProxyError) return error
    if (/Proxy Authentication Required \(407\)/.test(e.message)) return new ProxyError(407, 'the proxy answered HTTP 407', { cause: error })
  }
  return error
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
const MAX_EXTRA_CA_BYTES = 16 * 1024 * 1024
const CHECK_CA_FILE: Advice = ['check ', { option: 'ca-file' }]

/**
 * The CA list for --ca-file. Node's `ca` option replaces the default trust store rather than
 * adding to it, so the file is combined here with the bundled roots and NODE_EXTRA_CA_CERTS to
 * keep "in addition" semantics. Throws FileError for a file that holds no valid certificate.
 */
export async function trustedCAs(options: Pick<MakeFetchOptions, 'env' | 'caFile' | 'readFile'>): Promise<string[]> {
  const read = options.readFile ?? (async (path: string) => readInputFile(path, MAX_CA_FILE_BYTES))
  const caFile = options.caFile
  if (caFile === undefined) throw new TypeError('trustedCAs needs caFile')
  const bad = (message: string, reason: string, cause?: unknown) =>
    new FileError(message, { cause, detail: { option: 'ca-file', file: caFile, reason }, advice: CHECK_CA_FILE })
  let text: string
  try {
    text = await read(caFile)
  } catch (cause) {
    if (cause instanceof InputFileError) {
      if (cause.problem === 'unreadable') throw bad(`cannot read the CA file ${caFile}: ${errnoText(cause.cause)}`, 'unreadable', cause)
      throw bad(`the CA file ${caFile} ${cause.text}${cause.problem === 'too-large' ? '; not a CA bundle' : ''}`, cause.problem, cause)
    }
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
    // A whole system bundle may be named here (a few hundred KiB): a larger cap than --ca-file's.
    const readExtra = options.readFile ?? (async (path: string) => readInputFile(path, MAX_EXTRA_CA_BYTES))
    extra.push(...(await readExtra(extraPath).then(pemCertificates, () => [])))
  }
  return [...rootCertificates, ...extra, ...certs]
}

function pemCertificates(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
}
