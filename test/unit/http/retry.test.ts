import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { InterruptedError, TimeoutError } from '../../../src/errors.js'
import {
  abortedError,
  backoffDelay,
  describeNetworkCause,
  errorCode,
  isRetryableNetworkError,
  isRetryableStatus,
  parseRetryAfter,
  timerSleep,
} from '../../../src/http/retry.js'

const now = new Date('2026-11-28T12:00:00Z')

function fetchFailed(code: string): TypeError {
  return new TypeError('fetch failed', { cause: Object.assign(new Error(`connect ${code} 127.0.0.1:9`), { code }) })
}

describe('parseRetryAfter (RFC 9110 §10.2.3)', () => {
  it('reads delay-seconds', () => {
    expect(parseRetryAfter('0', now)).toBe(0)
    expect(parseRetryAfter('2', now)).toBe(2000)
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000)
  })
  it('reads an HTTP-date relative to the injected clock', () => {
    expect(parseRetryAfter('Sat, 28 Nov 2026 12:00:07 GMT', now)).toBe(7000)
    expect(parseRetryAfter('Saturday, 28-Nov-26 12:00:07 GMT', now)).toBe(7000)
    expect(parseRetryAfter('Sat Nov 28 12:00:07 2026', now)).toBeGreaterThanOrEqual(0)
  })
  it('treats a date in the past as now', () => {
    expect(parseRetryAfter('Sat, 28 Nov 2026 11:00:00 GMT', now)).toBe(0)
  })
  it('ignores what it cannot read', () => {
    for (const value of [null, '', '-1', '1.5', 'soon', '2026-11-28T12:00:07Z', '99999999999']) {
      expect(parseRetryAfter(value, now), String(value)).toBeUndefined()
    }
  })
})

describe('backoffDelay', () => {
  it('doubles per retry, with half of each step random, capped', () => {
    expect(backoffDelay(1, 500, 8000, () => 0)).toBe(250)
    expect(backoffDelay(1, 500, 8000, () => 0.999999)).toBe(500)
    expect(backoffDelay(2, 500, 8000, () => 0)).toBe(500)
    expect(backoffDelay(3, 500, 8000, () => 0)).toBe(1000)
    expect(backoffDelay(10, 500, 8000, () => 0.999999)).toBe(8000)
  })
  it('stays within [step/2, step] for any jitter', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (retry, r) => {
        const step = Math.min(8000, 500 * 2 ** (retry - 1))
        const delay = backoffDelay(retry, 500, 8000, () => r)
        return delay >= Math.floor(step / 2) && delay <= step
      }),
    )
  })
})

describe('retry classification', () => {
  it('retries 5xx and 429 only', () => {
    expect([500, 502, 503, 504, 599, 429].every(isRetryableStatus)).toBe(true)
    expect([200, 204, 301, 400, 401, 403, 404, 408, 409, 499, 600].some(isRetryableStatus)).toBe(false)
  })
  it('retries transient connection errors, not unknown hosts or bad certificates', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']) {
      expect(isRetryableNetworkError(fetchFailed(code)), code).toBe(true)
    }
    expect(isRetryableNetworkError(new TypeError('Failed to fetch'))).toBe(true)
    for (const code of [
      'ENOTFOUND',
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'CERT_HAS_EXPIRED',
      'ERR_TLS_CERT_ALTNAME_INVALID',
      'SELF_SIGNED_CERT_IN_CHAIN',
    ]) {
      expect(isRetryableNetworkError(fetchFailed(code)), code).toBe(false)
    }
  })
  it('finds the code in the cause chain and describes it', () => {
    expect(errorCode(fetchFailed('ECONNREFUSED'))).toBe('ECONNREFUSED')
    expect(describeNetworkCause(fetchFailed('ECONNREFUSED'))).toBe('connection refused (ECONNREFUSED)')
    expect(describeNetworkCause(fetchFailed('CERT_HAS_EXPIRED'))).toBe('the TLS certificate is not trusted (CERT_HAS_EXPIRED)')
    expect(describeNetworkCause(new TypeError('fetch failed', { cause: new Error('boom\u001b[2J') }))).toBe('boom\\x1b[2J')
  })
})

describe('timerSleep', () => {
  it('waits, and rejects with the abort reason as soon as the signal aborts', async () => {
    const controller = new AbortController()
    const started = performance.now()
    await timerSleep(20, controller.signal)
    // A lower bound (it did wait): load can only lengthen the wait.
    expect(performance.now() - started).toBeGreaterThanOrEqual(15)
    const pending = timerSleep(60_000, controller.signal)
    controller.abort('stop')
    await expect(pending).rejects.toBe('stop')
  })
})

describe("abortedError: a call its caller's signal ended", () => {
  const target = { name: 'token endpoint', url: new URL('https://buildkite.com/oauth/token'), setting: 'token-url' }

  it('is an interruption that keeps any reason as cause, worded as before', () => {
    const reason = new InterruptedError('interrupted by SIGINT', { signal: 'SIGINT' })
    const error = abortedError(reason, target)
    expect(error).toBeInstanceOf(InterruptedError)
    expect(error.message).toBe('interrupted while waiting for the token endpoint')
    expect(error.cause).toBe(reason)
    expect(abortedError('a string reason', target).cause).toBe('a string reason')
  })

  it('is a timeout when the reason is a TimeoutError, as AbortSignal.timeout() gives', async () => {
    const signal = AbortSignal.timeout(1)
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))
    const error = abortedError(signal.reason, target)
    expect(error).toBeInstanceOf(TimeoutError)
    expect(error.code).toBe('BKTX_TIMEOUT')
    expect(error.cause).toBe(signal.reason)
    expect(error.message).toBe("the token endpoint https://buildkite.com/oauth/token did not answer before the caller's AbortSignal timed out")
    expect(error.detail).toEqual({ setting: 'token-url', option: 'signal', reason: 'timeout' })
  })

  it('says the call had not started when there is no target', () => {
    expect(abortedError(new Error('x')).message).toBe('interrupted before the call started')
    expect(abortedError(new DOMException('late', 'TimeoutError')).message).toBe("the caller's AbortSignal had timed out before the call started")
  })
})
