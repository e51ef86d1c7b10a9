/** The one source of "now". Core code reads time only through an injected Clock. */
export interface Clock {
  now(): Date
}

// The only place bktx reads the system time; everything else receives a Clock.
export const systemClock: Clock = { now: () => new Date() }

/** Seconds since the epoch, as JWT NumericDate (RFC 7519 §2). */
export function epochSeconds(clock: Clock): number {
  return Math.floor(clock.now().getTime() / 1000)
}
