import type { FetchLike, RequestInitLike, ResponseLike } from '../deps.js'
import { InterruptedError, isBktxError, NetworkError, ServerUnavailableError, SettingInvalidError, TimeoutError, type Advice } from '../errors.js'
import type { Clock } from '../time/clock.js'
import { formatDuration } from '../time/duration.js'
import { BodyReadError, discardBody, printable, redactSecrets } from './body.js'
import { proxyErrorOf } from './proxy-error.js'
import { redactURL, type Endpoint } from './url.js'

/** Waits `ms`; rejects with `signal.reason` as soon as `signal` aborts. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>

/** The real sleep: a timer that is cleared on abort. */
export const timerSleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })

export interface RetryDeps {
  fetch: FetchLike
  /** Reads "now" for Retry-After dates and the time budget. */
  clock: Clock
  /** Backoff waits; default {@link timerSleep}. Tests pass one that returns at once. */
  sleep?: Sleep
  /** Jitter source in [0, 1); default Math.random. */
  random?: () => number
}

export interface RetryOptions {
  /** Bound on the whole call in ms: every attempt, body read and backoff wait. Default 30 000 (--timeout). */
  timeoutMs?: number
  /** Attempts in all, the first included. Default 4. */
  maxAttempts?: number
  /** Backoff before the first retry in ms, doubled per retry (with jitter). Default 500. */
  baseDelayMs?: number
  /** Longest backoff in ms (Retry-After may ask for more). Default 8 000. */
  maxDelayMs?: number
  /**
   * Cancels the call (SIGINT/SIGTERM); the call then fails with InterruptedError, or with
   * TimeoutError for a signal that timed out, whose `cause` is the signal's reason ({@link abortedError}).
   */
  signal?: AbortSignal
}

export const DEFAULT_TIMEOUT_MS = 30_000
export const DEFAULT_MAX_ATTEMPTS = 4
/** setTimeout fires at once for delays past 2^31 - 1 ms (about 24.8 days): longer limits are that. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** What is being called, for messages: its URL, and the endpoint's name and setting. */
export interface Target extends Endpoint {
  url: URL
}

type Failure = { kind: 'network'; cause: unknown } | { kind: 'status'; status: number; retryAfterMs: number | undefined }

const TIMED_OUT = Symbol('bktx timeout')
const INTERRUPTED = Symbol('bktx interrupted')

/**
 * Sends a request, retrying with jittered exponential backoff on connection errors, 5xx and
 * 429 (honouring Retry-After, RFC 9110 §10.2.3), never on other statuses: a 4xx is an answer,
 * and `handle` turns it into the right error. A fresh RequestInit is prepared per attempt (the
 * token exchange needs a new assertion and jti each time, docs/token-exchange.md §2).
 *
 * One AbortSignal bounds the whole call, including the backoff waits and the reading of the
 * body inside `handle`: when it fires the call fails with TimeoutError, whatever it was doing.
 * The deadline is a real timer (a hung socket must be cut in real time); the decision to give
 * up early because the next wait would not fit reads the injected clock.
 */
export async function fetchWithRetries<T>(
  target: Target,
  prepare: (attempt: number, signal: AbortSignal) => Promise<RequestInitLike> | RequestInitLike,
  handle: (response: ResponseLike, attempt: number) => Promise<T>,
  deps: RetryDeps,
  options: RetryOptions = {},
): Promise<T> {
  const timeoutMs = Math.min(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, MAX_TIMER_MS)
  if (!(timeoutMs > 0))
    throw new SettingInvalidError('timeout', 'must be a positive duration', { source: 'flag', detail: { option: 'timeout', reason: 'not-positive' } })
  const maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS)
  const sleep = deps.sleep ?? timerSleep
  const random = deps.random ?? Math.random
  const deadline = deps.clock.now().getTime() + timeoutMs

  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(TIMED_OUT), timeoutMs)
  const onInterrupt = () => controller.abort(INTERRUPTED)
  if (options.signal?.aborted === true) onInterrupt()
  else options.signal?.addEventListener('abort', onInterrupt, { once: true })

  let last: Failure | undefined
  const stopped = (): Error =>
    controller.signal.reason === INTERRUPTED
      ? abortedError(options.signal?.reason, target)
      : new TimeoutError(
          `the ${target.name} ${redactURL(target.url)} did not answer within ${formatMs(timeoutMs)}` +
            (last === undefined ? '' : ` (last attempt: ${describeFailure(last)})`),
          {
            ...(last?.kind === 'network' ? { cause: last.cause } : {}),
            detail: { setting: target.setting, option: 'timeout', reason: 'timeout' },
            advice: ['check ', { setting: target.setting }, ', or allow more time with ', { option: 'timeout' }],
          },
        )

  try {
    for (let attempt = 1; ; attempt++) {
      if (controller.signal.aborted) throw stopped()
      let init: RequestInitLike
      try {
        // Preparing may take time too (an external signer): the budget and SIGINT bound it.
        init = await prepare(attempt, controller.signal)
      } catch (error) {
        if (controller.signal.reason === INTERRUPTED) throw stopped()
        throw error
      }
      let response: ResponseLike | undefined
      try {
        response = await deps.fetch(target.url, { ...init, signal: controller.signal, redirect: 'manual' })
      } catch (cause) {
        if (controller.signal.aborted) throw stopped()
        // The fetch wrapper's own errors (a bad --ca-file or proxy variable) are not network
        // failures: no retry, no rewording.
        if (isBktxError(cause)) throw cause
        last = { kind: 'network', cause }
        if (proxyErrorOf(cause)?.status === 407) throw proxyAuthError(target)
        if (!isRetryableNetworkError(cause)) throw networkError(target, last, attempt)
      }
      if (response !== undefined) {
        // RFC 9110 §15.5.8: only a proxy sends 407, and credentials do not appear on a retry.
        if (response.status === 407) {
          discardBody(response)
          throw proxyAuthError(target)
        }
        if (!isRetryableStatus(response.status)) {
          try {
            return await handle(response, attempt)
          } catch (error) {
            // An abort while reading the body surfaces as a read error: report the abort.
            if (controller.signal.aborted) throw stopped()
            if (!(error instanceof BodyReadError)) throw error
            // The connection broke mid-body: a network failure like any other.
            last = { kind: 'network', cause: error.cause }
            if (!isRetryableNetworkError(error.cause)) throw networkError(target, last, attempt)
          }
        } else {
          last = {
            kind: 'status',
            status: response.status,
            retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), deps.clock.now()),
          }
          discardBody(response)
        }
      }
      if (attempt >= maxAttempts) throw exhausted(target, last as Failure, attempt)
      const delay =
        last?.kind === 'status' && last.retryAfterMs !== undefined
          ? last.retryAfterMs
          : backoffDelay(attempt, options.baseDelayMs ?? 500, options.maxDelayMs ?? 8_000, random)
      const remaining = deadline - deps.clock.now().getTime()
      if (delay >= remaining) {
        // Waiting would only end in a timeout: report what the server said instead, now.
        throw exhausted(target, last as Failure, attempt, `the next retry in ${formatMs(delay)} would not fit in the ${formatMs(timeoutMs)} time limit`)
      }
      try {
        await sleep(delay, controller.signal)
      } catch (error) {
        if (controller.signal.aborted) throw stopped()
        throw error
      }
    }
  } finally {
    clearTimeout(timer)
    options.signal?.removeEventListener('abort', onInterrupt)
  }
}

/**
 * The error for a call its caller's AbortSignal ended, keeping the signal's reason as `cause`.
 * A reason named `TimeoutError` (what `AbortSignal.timeout()` aborts with) is the caller's time
 * limit running out: a TimeoutError (BKTX_TIMEOUT), as for the call's own limit. Any other
 * reason (`controller.abort()`, SIGINT in the CLI) is an InterruptedError (BKTX_INTERRUPTED).
 * `target` is what was being waited for, with its URL and setting; none before the call started.
 */
export function abortedError(reason: unknown, target?: { name: string; url?: URL; setting?: string }): InterruptedError | TimeoutError {
  if (isTimeoutReason(reason)) {
    const setting = target?.setting
    const what = target === undefined ? undefined : `the ${target.name}${target.url === undefined ? '' : ` ${redactURL(target.url)}`}`
    return new TimeoutError(
      what === undefined
        ? "the caller's AbortSignal had timed out before the call started"
        : `${what} did not answer before the caller's AbortSignal timed out`,
      {
        cause: reason,
        detail: { ...(setting === undefined ? {} : { setting }), option: 'signal', reason: 'timeout' },
        advice: setting === undefined ? ['allow more time in the signal'] : ['check ', { setting }, ', or allow more time in the signal'],
      },
    )
  }
  return new InterruptedError(target === undefined ? 'interrupted before the call started' : `interrupted while waiting for the ${target.name}`, {
    cause: reason,
  })
}

function isTimeoutReason(reason: unknown): boolean {
  return typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError'
}

/** `300 ms`, `45s`, `2m`: durations in messages. */
function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : formatDuration(Math.ceil(ms / 1000))
}

/** 5xx and 429 are worth another try (RFC 9110 §15.6, RFC 6585 §4); every other status is an answer. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599)
}

/**
 * Retry-After as milliseconds from `now`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
 * A date in the past means 0; anything unparseable is ignored (undefined → normal backoff).
 */
export function parseRetryAfter(value: string | null, now: Date): number | undefined {
  if (value === null) return undefined
  const text = value.trim()
  if (/^\d{1,10}$/.test(text)) return Number(text) * 1000
  // An HTTP-date starts with a day name (IMF-fixdate, RFC 850 or asctime); Date.parse alone
  // would accept far more.
  if (!/^[A-Za-z]{3,9},? [0-9A-Za-z]/.test(text)) return undefined
  const at = Date.parse(text)
  if (Number.isNaN(at)) return undefined
  return Math.max(0, at - now.getTime())
}

/** Exponential backoff with "equal jitter": half the step fixed, half random, so retries spread out. */
export function backoffDelay(retry: number, baseMs: number, maxMs: number, random: () => number): number {
  const step = Math.min(maxMs, baseMs * 2 ** (retry - 1))
  return Math.round(step / 2 + random() * (step / 2))
}

/** The `code` of an error or of the first cause in its chain that has one (undici wraps errno errors). */
export function errorCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string') return code
    e = (e as { cause?: unknown }).cause
  }
  return undefined
}

const TLS_CODE = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|ERR_SSL|_SSL_/
// OpenSSL's words when the peer answers a ClientHello with something that is not TLS: a
// plain-http port given an https URL. node:https reports them as EPROTO, undici with the
// ERR_SSL_ code of the reason.
const NOT_TLS = /wrong version number|packet length too long|http request|unknown protocol/i

/** True when a TLS handshake met a server that does not speak TLS (an https URL on a plain-http port). */
export function isPlainHttpPeer(error: unknown): boolean {
  const code = errorCode(error)
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' || code === 'ERR_SSL_HTTP_REQUEST') return true
  if (code !== 'EPROTO') return false
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; depth++, e = e.cause) if (NOT_TLS.test(e.message)) return true
  return false
}

/**
 * Connection errors worth retrying: refused, reset, timed out, DNS "try again", a proxy that
 * closed the tunnel or answered 5xx. Not: an unknown host, a certificate that does not verify,
 * a server that does not speak TLS, or a proxy that refused with a 4xx, which no retry will fix.
 */
export function isRetryableNetworkError(error: unknown): boolean {
  const proxy = proxyErrorOf(error)
  if (proxy !== undefined) return proxy.status === undefined || proxy.status >= 500
  if (isPlainHttpPeer(error)) return false
  const code = errorCode(error)
  if (code === undefined) return true
  return code !== 'ENOTFOUND' && !TLS_CODE.test(code)
}

function describeFailure(failure: Failure): string {
  if (failure.kind === 'status') return `HTTP ${failure.status}`
  return describeNetworkCause(failure.cause)
}

/** A one-line, user-facing reason for a connection failure. */
export function describeNetworkCause(cause: unknown): string {
  const proxy = proxyErrorOf(cause)
  if (proxy !== undefined) return proxy.message
  if (isPlainHttpPeer(cause)) return 'the server does not speak TLS on this port (an https URL for a plain-http server?)'
  const code = errorCode(cause)
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (ECONNREFUSED)'
    case 'ECONNRESET':
      return 'connection reset (ECONNRESET)'
    case 'ENOTFOUND':
      return 'host not found (ENOTFOUND)'
    case 'EAI_AGAIN':
      return 'DNS lookup failed (EAI_AGAIN)'
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `connection timed out (${code})`
    case 'UND_ERR_SOCKET':
      return 'the connection closed before a complete answer (UND_ERR_SOCKET)'
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `the TLS certificate is not for this host (${code})`
  }
  if (code !== undefined && TLS_CODE.test(code)) return `the TLS certificate is not trusted (${code})`
  let inner: unknown = cause
  while (inner instanceof Error && inner.cause instanceof Error) inner = inner.cause
  const message = inner instanceof Error ? inner.message : String(inner)
  return printable(redactSecrets(message), 160) + (code === undefined ? '' : ` (${code})`)
}

function networkError(target: Target, failure: Failure & { kind: 'network' }, attempts: number, extra?: string, moreTime: Advice = []): NetworkError {
  const code = errorCode(failure.cause)
  let advice: Advice = ['check ', { setting: target.setting }, ', your network and any proxy (HTTPS_PROXY, NO_PROXY)']
  if (code === 'ENOTFOUND') advice = ['check the host name in ', { setting: target.setting }]
  else if (isPlainHttpPeer(failure.cause)) advice = ['check the scheme and port in ', { setting: target.setting }, ' (plain http is allowed only to loopback)']
  else if (code !== undefined && TLS_CODE.test(code)) {
    advice = ['if a proxy or a private CA issues this certificate, pass ', { option: 'ca-file' }, ' or set NODE_EXTRA_CA_CERTS']
  }
  return new NetworkError(
    `cannot reach the ${target.name} ${redactURL(target.url)}: ${describeNetworkCause(failure.cause)}` +
      `${attempts > 1 ? ` (${attempts} attempts)` : ''}${extra === undefined ? '' : `; ${extra}`}`,
    { cause: failure.cause, detail: { setting: target.setting, reason: code ?? 'network' }, advice: [...advice, ...moreTime] },
  )
}

/** A proxy's 407: reported at once, without the proxy URL (it may hold a password). */
function proxyAuthError(target: Target): NetworkError {
  return new NetworkError(
    `the proxy refused to forward the request to the ${target.name} ${redactURL(target.url)}: it wants credentials (HTTP 407 Proxy Authentication Required)`,
    {
      detail: { setting: target.setting, reason: 'proxy-auth-required' },
      advice: ['give the proxy user name and password in HTTPS_PROXY or HTTP_PROXY (http://USER:PASSWORD@HOST:PORT, percent-encoded), or check the ones there'],
    },
  )
}

/**
 * The error of giving up after `attempts`. `extra` says why it gave up early (the next wait would
 * not fit in the time limit); more time could then have helped, and the advice says so.
 */
function exhausted(target: Target, failure: Failure, attempts: number, extra?: string): NetworkError | ServerUnavailableError {
  const moreTime: Advice = extra === undefined ? [] : [', or allow more time with ', { option: 'timeout' }]
  if (failure.kind === 'network') return networkError(target, failure, attempts, extra, moreTime)
  const tail = `${extra === undefined ? '' : `; ${extra}`}`
  if (failure.status === 429) {
    return new ServerUnavailableError(`the ${target.name} ${redactURL(target.url)} is rate limiting requests (HTTP 429, ${attempts} attempts)${tail}`, 429, {
      detail: { reason: 'rate-limited' },
      advice: ['wait and try again. Buildkite limits token requests per organisation: reuse cached tokens', ...moreTime],
    })
  }
  return new ServerUnavailableError(
    `the ${target.name} ${redactURL(target.url)} answered HTTP ${failure.status} (${attempts} attempts)${tail}`,
    failure.status,
    { detail: { reason: 'server-error' }, advice: ['the server is having trouble, try again later', ...moreTime] },
  )
}
