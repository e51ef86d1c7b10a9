// Which cached tokens a command line reaches: `bktx logout` and `bktx whoami` act on every
// cached token that the settings *given* select, not on the one cache key the full settings
// hash to (a token minted with `--ttl 15m` has another key than one minted without, and a
// logout that missed it would leave a live token behind while reporting success).
//
// The rule, kept simple enough to say in help:
// - the profile's identity (token URL, organisation, client ID, subject and its type) always
//   narrows, from wherever it resolved (flag, BKTX_* variable, profile, default): those values
//   say whose tokens these are, and a logout never reaches another profile's tokens;
// - scopes, TTL and key narrow only when given on the command line or by their BKTX_*
//   variable. A profile's own scope, ttl or key is a default for minting, not a filter, so a bare
//   `bktx logout` reaches every token of the profile, whatever it was minted with.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { EntryMeta } from '../cache/entry.js'
import { required, type ResolvedSetting, type ResolvedSettings } from '../config/resolve.js'
import { normaliseScopes } from '../config/settings.js'
import type { SubjectType } from '../exchange/types.js'

/** What a cached token must match to be reached; an absent member matches anything. */
export interface HeldSelector {
  tokenUrl: string
  org: string
  clientId: string
  subject: string
  subjectType: SubjectType
  /** The scope set given (compared as a set with the requested or the granted scopes). */
  scopes?: string[]
  /** The TTL given, in seconds (compared with the TTL asked when the token was minted). */
  ttl?: number
  /** The signing key given: SHA-256 of its public key (the cache's `keyFingerprint`). */
  keyFingerprint?: string
}

/** True for a value given for this call: a flag (or library option) or a BKTX_* variable. */
export function isGiven(found: ResolvedSetting | undefined): found is ResolvedSetting {
  return found !== undefined && (found.source === 'flag' || found.source.startsWith('env:'))
}

/**
 * The selector of resolved settings. `keyFingerprint` is the fingerprint of the key the
 * settings name, when `key` was given (the caller opens it; a profile's key is not opened).
 */
export function selectorOf(settings: ResolvedSettings, keyFingerprint?: string): HeldSelector {
  const selector: HeldSelector = {
    tokenUrl: required(settings, 'token-url'),
    org: required(settings, 'org'),
    clientId: required(settings, 'client-id'),
    subject: required(settings, 'subject'),
    subjectType: required(settings, 'subject-type') as SubjectType,
  }
  if (isGiven(settings.scope)) selector.scopes = normaliseScopes([settings.scope.value])
  if (isGiven(settings.ttl)) selector.ttl = Number(settings.ttl.value)
  if (keyFingerprint !== undefined) selector.keyFingerprint = keyFingerprint
  return selector
}

const sameSet = (a: readonly string[], b: readonly string[]) => {
  const x = [...new Set(a)].sort()
  const y = [...new Set(b)].sort()
  return x.length === y.length && x.every((s, i) => s === y[i])
}

/** True when the entry `meta` describes is one `selector` reaches. */
export function selects(selector: HeldSelector, meta: EntryMeta): boolean {
  if (
    meta.tokenUrl !== selector.tokenUrl ||
    meta.org !== selector.org ||
    meta.clientId !== selector.clientId ||
    meta.subject !== selector.subject ||
    meta.subjectType !== selector.subjectType
  )
    return false
  // Scopes compare as sets (docs/token-exchange.md §4): the set asked for when minting, or the
  // set granted (a token asked for with the app's defaults that holds exactly these scopes).
  if (selector.scopes !== undefined && !sameSet(meta.requestedScopes, selector.scopes) && !sameSet(meta.scopes, selector.scopes)) return false
  if (selector.ttl !== undefined && meta.requestedTtl !== selector.ttl) return false
  if (selector.keyFingerprint !== undefined && meta.keyFingerprint !== selector.keyFingerprint) return false
  return true
}

/** SHA-256 of a token, hex: what the cache records of it (`tokenSha256`) and `--expect-sha256` names. */
export function tokenSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

/** Two hex digests compared in constant time (neither is secret here, but the habit costs nothing). */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a.toLowerCase(), 'utf8')
  const y = Buffer.from(b.toLowerCase(), 'utf8')
  return x.length === y.length && timingSafeEqual(x, y)
}

// As the cache's own hint (src/cache/entry.ts): four characters are shown only of a token long
// enough that they say nothing about the rest.
const HINT_MIN_LENGTH = 20

/** The last four characters of a token, for telling tokens apart; null for a short one. */
export function tokenHint(token: string): string | null {
  return token.length >= HINT_MIN_LENGTH ? token.slice(-4) : null
}
