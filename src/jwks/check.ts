import type { KeyObject } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import type { FetchLike } from '../deps.js'
import { FileError, NetworkError, TimeoutError, isBktxError } from '../errors.js'
import { errnoText } from '../fs/atomic.js'
import { BodyReadError, BodyTooLargeError, mediaType, printable, readBodyText } from '../http/body.js'
import { describeNetworkCause } from '../http/retry.js'
import { isLoopbackHost, redactURL } from '../http/url.js'
import { JWKS_FETCH_TIMEOUT_MS, JWKS_MAX_BYTES } from './limits.js'
import { inspectJwks, type JwksKey, type JwksProblem } from './rules.js'

// A published JWKS checked as Buildkite fetches and reads it (docs/token-exchange.md §1 and
// §9): the transport rules of the reference server's JWKS fetch (src/server/oauth/keysets.ts: https,
// no redirects, status 200, 100 KiB, 5 s) and the document rules of src/jwks/rules.ts.

/** Where the JWKS is: the URL registered with the application, a file about to be published, or stdin's text. */
export type JwksSource = { kind: 'url'; url: string } | { kind: 'file'; path: string } | { kind: 'text'; name: string; text: string }

export interface JwksCheckOptions {
  /** The kid that must be in the set (the signing key's). */
  kid?: string | undefined
  /** The public key that must be in the set: under `kid` when given, else under any kid. */
  publicKey?: KeyObject | undefined
  /** Accept http:// to a loopback host (the reference server's allow-http-jwks). Default false. */
  allowHttp?: boolean
}

export interface JwksCheckDeps {
  /** For URLs: src/http/fetch.ts (proxy and CA settings apply, as they do to the token exchange). */
  fetch: FetchLike
}

/** Whether the wanted key is in the set. */
export interface KeyPresence {
  kid: string | undefined
  /** A key with that kid (or, without a kid, with that public key) is in the set. */
  found: boolean
  /** Compared only when a public key was given; undefined otherwise or when not found. */
  samePublicKey: boolean | undefined
}

export interface JwksReport {
  source: JwksSource
  /** The HTTP answer, for URLs that answered. */
  http: { status: number; contentType: string; cacheControl: string | null } | undefined
  /** Bytes of the document, when it was read. */
  bytes: number | undefined
  /** Keys that passed every rule. */
  keys: JwksKey[]
  /** Every rule broken (transport, size, JSON, document). */
  problems: JwksProblem[]
  /** Set when a kid or public key was asked for. */
  wanted: KeyPresence | undefined
  /** No problem, and the wanted key (if any) is there with the same public key. */
  ok: boolean
}

/**
 * Reads and checks a JWKS. Rules Buildkite applies are reported as problems (the report's
 * `ok` is false); only what stops the check itself throws: NetworkError or TimeoutError when a
 * URL cannot be fetched, FileError when a file cannot be read.
 */
export async function checkJwks(source: JwksSource, options: JwksCheckOptions, deps: JwksCheckDeps): Promise<JwksReport> {
  const read = await readSource(source, options, deps)
  const report: JwksReport = {
    source,
    http: read.http,
    bytes: read.text === undefined ? undefined : Buffer.byteLength(read.text),
    keys: [],
    problems: read.problems,
    wanted: undefined,
    ok: false,
  }
  if (read.text !== undefined && read.problems.length === 0) {
    let doc: unknown
    try {
      doc = JSON.parse(read.text)
    } catch (cause) {
      report.problems.push({ at: '', problem: `is not JSON (${printable((cause as Error).message, 120)})`, reason: 'not-json' })
    }
    if (doc !== undefined) {
      const inspected = await inspectJwks(doc)
      report.keys = inspected.keys
      report.problems.push(...inspected.problems)
      // Whether a key is there means something only in a set of keys.
      const isSet = Array.isArray((doc as { keys?: unknown } | null)?.keys)
      if (isSet && (options.kid !== undefined || options.publicKey !== undefined)) report.wanted = presence(doc, inspected.keys, options)
    }
  }
  report.ok = report.problems.length === 0 && (report.wanted === undefined || (report.wanted.found && report.wanted.samePublicKey !== false))
  return report
}

function presence(doc: unknown, keys: readonly JwksKey[], options: JwksCheckOptions): KeyPresence {
  const { kid, publicKey } = options
  if (kid !== undefined) {
    // Found when a key of the set has the kid, valid or not (an invalid one is a problem already).
    const listed = ((doc as { keys?: unknown[] }).keys ?? []).some((k) => typeof k === 'object' && k !== null && (k as { kid?: unknown }).kid === kid)
    const valid = keys.find((k) => k.kid === kid)
    return { kid, found: listed, samePublicKey: publicKey === undefined || valid === undefined ? undefined : valid.publicKey.equals(publicKey) }
  }
  const same = keys.some((k) => publicKey !== undefined && k.publicKey.equals(publicKey))
  return { kid: undefined, found: same, samePublicKey: same ? true : undefined }
}

interface Read {
  text: string | undefined
  http: JwksReport['http']
  problems: JwksProblem[]
}

async function readSource(source: JwksSource, options: JwksCheckOptions, deps: JwksCheckDeps): Promise<Read> {
  switch (source.kind) {
    case 'text':
      return sized(source.text, undefined)
    case 'file': {
      const text = await readJwksFile(source.path)
      return text === undefined ? tooLarge(undefined) : sized(text, undefined)
    }
    case 'url':
      return fetchJwks(source.url, options.allowHttp === true, deps.fetch)
  }
}

/** The size rule applies to every source: a document Buildkite would not fetch whole is no use to publish. */
function sized(text: string, http: JwksReport['http']): Read {
  return Buffer.byteLength(text) > JWKS_MAX_BYTES ? tooLarge(http) : { text, http, problems: [] }
}

function tooLarge(http: JwksReport['http']): Read {
  return {
    text: undefined,
    http,
    problems: [{ at: '', problem: `is larger than ${JWKS_MAX_BYTES / 1024} KiB, the most a JWKS URI may serve`, reason: 'too-large' }],
  }
}

/** The file's text; undefined when it is over the size cap (not read). */
async function readJwksFile(path: string): Promise<string | undefined> {
  try {
    const info = await stat(path)
    if (!info.isFile()) throw new FileError(`${path} is not a regular file`, { detail: { file: path, reason: 'not-a-file' } })
    if (info.size > JWKS_MAX_BYTES) return undefined
    return await readFile(path, 'utf8')
  } catch (cause) {
    if (isBktxError(cause)) throw cause
    throw new FileError(`cannot read ${path}: ${errnoText(cause)}`, { cause, detail: { file: path, reason: 'unreadable' } })
  }
}

async function fetchJwks(href: string, allowHttp: boolean, fetch: FetchLike): Promise<Read> {
  const fail = (problem: string, reason: string, http?: JwksReport['http']): Read => ({ text: undefined, http, problems: [{ at: '', problem, reason }] })
  let url: URL
  try {
    url = new URL(href)
  } catch {
    return fail('is not an absolute URL', 'not-a-url')
  }
  if (url.username !== '' || url.password !== '') return fail('must not contain a user name or password', 'credentials-in-url')
  if (url.protocol !== 'https:') {
    if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) {
      if (!allowHttp)
        return fail('must be https:// (http:// is allowed to a loopback host only when asked for, as the reference server allows it)', 'insecure-scheme')
    } else {
      return fail(`must be https://, not ${url.protocol}//`, 'insecure-scheme')
    }
  }
  const shown = redactURL(url)
  let response
  try {
    response = await fetch(url, {
      method: 'GET',
      headers: { accept: 'application/jwk-set+json, application/json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(JWKS_FETCH_TIMEOUT_MS),
    })
  } catch (cause) {
    if (isBktxError(cause)) throw cause
    if ((cause as Error).name === 'TimeoutError')
      throw new TimeoutError(`the JWKS URI ${shown} did not answer within ${JWKS_FETCH_TIMEOUT_MS / 1000}s`, { cause })
    throw new NetworkError(`cannot reach the JWKS URI ${shown}: ${describeNetworkCause(cause)}`, { cause })
  }
  const http = { status: response.status, contentType: mediaType(response), cacheControl: response.headers.get('cache-control') }
  if (response.status !== 200) {
    void response.body?.cancel().catch(() => undefined)
    const location = response.headers.get('location')
    if (response.status >= 300 && response.status < 400) {
      return fail(
        `answered HTTP ${response.status}${location === null ? '' : ` (a redirect to ${printable(location, 200)})`}: JWKS fetches follow no redirects; register the final URL`,
        'redirect',
        http,
      )
    }
    return fail(`answered HTTP ${response.status}; a JWKS URI must answer 200`, 'status', http)
  }
  if (Number(response.headers.get('content-length') ?? '0') > JWKS_MAX_BYTES) {
    void response.body?.cancel().catch(() => undefined)
    return tooLarge(http)
  }
  try {
    return sized(await readBodyText(response, JWKS_MAX_BYTES), http)
  } catch (error) {
    if (error instanceof BodyTooLargeError) return tooLarge(http)
    if (error instanceof BodyReadError || (error as Error).name === 'AbortError' || (error as Error).name === 'TimeoutError') {
      throw new NetworkError(`the connection to the JWKS URI ${shown} failed while reading the body`, { cause: error })
    }
    throw error
  }
}
