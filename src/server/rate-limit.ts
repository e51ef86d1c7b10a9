export interface RateDecision {
  allowed: boolean
  limit: number
  /** Requests counted in the current window, this one included. */
  current: number
  remaining: number
  /** Seconds until the window resets. */
  reset: number
}

const WINDOW_S = 60

/**
 * Exchanges per minute per organisation (docs/token-exchange.md §6), in fixed one-minute windows on the
 * injected clock. State is one entry per configured organisation, so it cannot grow.
 */
export class RateLimiter {
  readonly #windows = new Map<string, { start: number; count: number }>()

  take(org: string, limit: number, now: number): RateDecision {
    let window = this.#windows.get(org)
    if (window === undefined || now >= window.start + WINDOW_S) {
      window = { start: now - (now % WINDOW_S), count: 0 }
      this.#windows.set(org, window)
    }
    window.count++
    const reset = Math.max(1, Math.ceil(window.start + WINDOW_S - now))
    return { allowed: window.count <= limit, limit, current: window.count, remaining: Math.max(0, limit - window.count), reset }
  }
}

/** The REST API's rate-limit headers (docs/token-exchange.md §6). */
export function rateLimitHeaders(decision: RateDecision): Record<string, string> {
  return {
    'RateLimit-Limit': String(decision.limit),
    'RateLimit-Remaining': String(decision.remaining),
    'RateLimit-Reset': String(decision.reset),
  }
}
