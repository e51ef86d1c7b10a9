// Buildkite's URL rules: which token URLs are Buildkite's, the assertion audience and the REST
// API that go with a token URL. Protocol facts (docs/token-exchange.md), so they live with the
// exchange; the settings table (src/config/settings.ts) derives its defaults from them.

/** The hosts of Buildkite's own token endpoints (docs/token-exchange.md §3). */
const BUILDKITE_HOSTS = new Set(['buildkite.com', 'api.buildkite.com'])

/** True when the token URL is one of Buildkite's (https, buildkite.com or api.buildkite.com). */
export function isBuildkiteTokenUrl(tokenUrl: string): boolean {
  try {
    const url = new URL(tokenUrl)
    return url.protocol === 'https:' && BUILDKITE_HOSTS.has(url.hostname)
  } catch {
    return false
  }
}

/**
 * The assertion audience for a token URL (docs/token-exchange.md §2): Buildkite documents
 * only `https://buildkite.com/oauth/token`, so both of its token endpoints get that; any other
 * server (the reference server, a test double) gets its own token URL.
 */
export function defaultAudience(tokenUrl: string): string {
  return isBuildkiteTokenUrl(tokenUrl) ? BUILDKITE_AUDIENCE : tokenUrl
}

/** The REST API for a token URL: Buildkite's API host for Buildkite, else the token URL's origin (the reference server serves both). */
export function defaultApiUrl(tokenUrl: string): string {
  return isBuildkiteTokenUrl(tokenUrl) ? 'https://api.buildkite.com' : `${new URL(tokenUrl).origin}`
}

export const BUILDKITE_AUDIENCE = 'https://buildkite.com/oauth/token'
