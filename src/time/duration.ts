const UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }
// Digits then an optional unit; nothing else (no signs, spaces, fractions or exponents).
const DURATION = /^(\d{1,9})([smhd]?)$/

/**
 * Parses a duration of whole seconds: `90`, `90s`, `15m`, `1h`, `1d`. Returns `undefined` for
 * anything else, so callers raise the error that fits their context (usage, config field).
 */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text)
  if (match === null) return undefined
  const seconds = Number(match[1]) * (UNITS[match[2] ?? ''] ?? 1)
  return Number.isSafeInteger(seconds) ? seconds : undefined
}

/** `3600` → `1h`, `90` → `1m30s`: for messages. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s}s`
  const parts: string[] = []
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const r = s % 60
  if (h > 0) parts.push(`${h}h`)
  if (m > 0) parts.push(`${m}m`)
  if (r > 0) parts.push(`${r}s`)
  return parts.join('')
}

/** An instant as ISO 8601 to the second (`2026-11-30T05:00:00Z`): for messages. */
export function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z')
}
