import { isAbsolute, resolve as resolvePath } from 'node:path'
import { hasKeyScheme, KeySourceError, parseKeySource, parsePinSource } from '../keys/source.js'
import { parseDuration } from '../time/duration.js'
import { CACHE_MODES } from '../cache/modes.js'
import { defaultApiUrl, defaultAudience } from '../exchange/buildkite.js'

/**
 * The settings a profile can hold. Each resolves flag > environment > profile > default
 * (src/config/resolve.ts). Validators return the normalised value or throw a message.
 */
export const SETTING_NAMES = [
  'token-url',
  'aud',
  'client-id',
  'org',
  'subject',
  'subject-type',
  'key',
  'kid',
  'public-key',
  'pkcs11-module',
  'pin-source',
  'scope',
  'ttl',
  'api-url',
  'cache',
  'jwks-uri',
] as const

export type SettingName = (typeof SETTING_NAMES)[number]

export interface SettingSpec {
  /** The environment variable that sets it (the CLI's flag is `--NAME`). */
  env: string
  default?: string
  /**
   * A default that depends on other settings (resolved first): `aud` and `api-url` follow the
   * token URL. Its source is still `default`.
   */
  derive?: (resolved: (name: SettingName) => string | undefined) => string | undefined
  description: string
  /** Normalises a value or throws an Error whose message says what is wrong. */
  validate(value: string): string
  /**
   * For settings that name files: the value with a relative path made absolute against `base`
   * (the working directory for flags and variables, the config file's directory for profiles).
   */
  resolvePath?(value: string, base: string): string
}

export class InvalidSettingValue extends Error {}

function fail(message: string): never {
  throw new InvalidSettingValue(message)
}

function url(value: string): string {
  let parsed: URL
  try {
    parsed = new URL(value)
  } catch {
    fail('must be an absolute http(s) URL')
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') fail('must be an http(s) URL')
  if (parsed.username !== '' || parsed.password !== '') fail('must not contain credentials')
  return parsed.href
}

/** Rewords a key-source parse error as a settings validation error. */
function keySyntax<T>(parse: (value: string) => T, value: string): T {
  try {
    return parse(value)
  } catch (cause) {
    if (cause instanceof KeySourceError) fail(cause.problem)
    throw cause
  }
}

const relativePath = (value: string, base: string): string => (isAbsolute(value) ? value : resolvePath(base, value))

function nonEmpty(value: string): string {
  if (value.trim() === '' || value !== value.trim()) fail('must be a non-empty value without surrounding spaces')
  return value
}

// Buildkite organisation slugs: lowercase letters, digits and dashes (docs/token-exchange.md §3: the slug,
// not the display name).
const ORG_SLUG = /^[a-z0-9][a-z0-9-]{0,99}$/
// Scope names are lowercase words joined by underscores (docs/token-exchange.md §7).
const SCOPE = /^[a-z][a-z_]*$/

/** Splits a space-separated (or repeated) scope list into a sorted set. */
export function normaliseScopes(values: readonly string[]): string[] {
  const set = new Set<string>()
  for (const value of values) {
    for (const scope of value.split(/[\s,]+/)) {
      if (scope === '') continue
      if (!SCOPE.test(scope)) fail(`"${scope}" is not a scope name (e.g. read_builds)`)
      set.add(scope)
    }
  }
  return [...set].sort()
}

export const SETTINGS: Record<SettingName, SettingSpec> = {
  'token-url': {
    env: 'BKTX_TOKEN_URL',
    default: 'https://buildkite.com/oauth/token',
    description: 'token endpoint URL',
    validate: url,
  },
  aud: {
    env: 'BKTX_AUD',
    description: "the client assertion's aud claim (default: https://buildkite.com/oauth/token for Buildkite's token URLs, else the token URL)",
    derive: (get) => {
      const tokenUrl = get('token-url')
      return tokenUrl === undefined ? undefined : defaultAudience(tokenUrl)
    },
    validate: url,
  },
  'client-id': {
    env: 'BKTX_CLIENT_ID',
    description: "the token exchange application's Client ID",
    validate: nonEmpty,
  },
  org: {
    env: 'BKTX_ORG',
    description: 'organisation slug (not the display name)',
    validate: (value) => {
      if (!ORG_SLUG.test(value)) fail('must be an organisation slug: lowercase letters, digits and dashes')
      return value
    },
  },
  subject: {
    env: 'BKTX_SUBJECT',
    description: 'the user to mint a token for: email or user UUID',
    validate: nonEmpty,
  },
  'subject-type': {
    env: 'BKTX_SUBJECT_TYPE',
    default: 'email',
    description: 'how the subject is named: email or uuid',
    validate: (value) => {
      if (value !== 'email' && value !== 'uuid') fail('must be "email" or "uuid"')
      return value
    },
  },
  key: {
    env: 'BKTX_KEY',
    description: 'the signing key: a PEM or JWK file, env:NAME, a pkcs11: URI (RFC 7512) or exec:COMMAND',
    validate: (value) => {
      nonEmpty(value)
      keySyntax(parseKeySource, value)
      return value
    },
    resolvePath: (value, base) => (hasKeyScheme(value) ? value : relativePath(value, base)),
  },
  kid: {
    env: 'BKTX_KID',
    description: "key ID in the assertion header, or none to send no kid (default: the key file's own kid, else its RFC 7638 thumbprint)",
    validate: nonEmpty,
  },
  'public-key': {
    env: 'BKTX_PUBLIC_KEY',
    description: 'public half of a pkcs11: or exec: key: PEM, JWK or JWKS file (with kid when it holds several)',
    validate: nonEmpty,
    resolvePath: relativePath,
  },
  'pkcs11-module': {
    env: 'BKTX_PKCS11_MODULE',
    description: 'PKCS#11 module (.so/.dylib/.dll) for pkcs11: keys whose URI has no module-path: an absolute path, or a bare name for the system loader',
    // Loading a module runs its constructors inside bktx before any check can refuse it. A path
    // relative to the working directory would load a library from wherever bktx runs (in CI,
    // the checked-out repository), so, as for the URI's module-path (RFC 7512 §2.4 names it an
    // absolute path), only an absolute path is taken; a bare name goes to the system loader's
    // search (dlopen(3) never looks in the working directory for a name without a slash).
    validate: (value) => {
      nonEmpty(value)
      if (!isAbsolute(value) && /[\\/]/.test(value))
        fail('must be an absolute path (or a bare library name such as opensc-pkcs11.so for the system loader), not a path relative to the working directory')
      return value
    },
  },
  'pin-source': {
    env: 'BKTX_PIN_SOURCE',
    description: 'where the PKCS#11 PIN is read: env:NAME or file:PATH (default: $BKTX_PKCS11_PIN)',
    validate: (value) => {
      nonEmpty(value)
      keySyntax(parsePinSource, value)
      return value
    },
    resolvePath: (value, base) => {
      const source = parsePinSource(value)
      return source.kind === 'file' && !isAbsolute(source.path) ? `file:${resolvePath(base, source.path)}` : value
    },
  },
  scope: {
    env: 'BKTX_SCOPE',
    description: "scopes to request, space separated (default: the app's default scopes)",
    validate: (value) => normaliseScopes([value]).join(' '),
  },
  ttl: {
    env: 'BKTX_TTL',
    description: "token lifetime to request: 90, 90s, 15m, 1h (capped at the app's maximum)",
    validate: (value) => {
      const seconds = parseDuration(value)
      if (seconds === undefined || seconds < 1) fail('must be a duration such as 900, 15m or 1h')
      return String(seconds)
    },
  },
  'api-url': {
    env: 'BKTX_API_URL',
    description: "REST API base URL, for whoami and revocation (default: https://api.buildkite.com for Buildkite's token URLs, else the token URL's origin)",
    derive: (get) => {
      const tokenUrl = get('token-url')
      return tokenUrl === undefined ? undefined : defaultApiUrl(tokenUrl)
    },
    validate: url,
  },
  cache: {
    env: 'BKTX_CACHE',
    default: 'auto',
    description: 'token cache: auto, keychain, file or none',
    validate: (value) => {
      if (!(CACHE_MODES as readonly string[]).includes(value)) fail(`must be auto, keychain, file or none, not "${value}"`)
      return value
    },
  },
  // Not part of a token request: what Buildkite fetches the application's keys from, so that
  // doctor and key rotation can check it (docs/token-exchange.md §1).
  'jwks-uri': {
    env: 'BKTX_JWKS_URI',
    description: 'the JWKS URL registered with the token exchange application (https), checked by doctor and key rotate',
    validate: url,
  },
}

// Protocol vocabulary lives below the settings table: the cache modes in src/cache/, the
// Buildkite URL rules in src/exchange/. Re-exported for the CLI's use.
export { CACHE_MODES, type CacheMode } from '../cache/modes.js'
export { BUILDKITE_AUDIENCE, defaultApiUrl, defaultAudience, isBuildkiteTokenUrl } from '../exchange/buildkite.js'

export function isSettingName(name: string): name is SettingName {
  return (SETTING_NAMES as readonly string[]).includes(name)
}
