import { defaultAudience } from './buildkite.js'
import type { Advice } from '../errors.js'
import { formatDuration } from '../time/duration.js'
import type { SubjectType } from './types.js'

/** What was asked, so an error message can say what to change. */
export interface RequestContext {
  tokenUrl: string
  /** The assertion's aud, when known. */
  audience?: string | undefined
  clientId: string
  org: string
  subject: string
  subjectType: SubjectType
  scopes: readonly string[]
  /** The signing key's kid (undefined: the assertion had none). */
  key?: { kid: string | undefined }
}

/**
 * Local clock minus the server's, in ms, from the response Date header (RFC 9110 §6.6.1), or
 * undefined when there is none. Date has one-second resolution, so small values mean "in sync".
 */
export function clockSkewMs(date: string | null, receivedAt: Date): number | undefined {
  if (date === null) return undefined
  const server = Date.parse(date)
  if (Number.isNaN(server)) return undefined
  return receivedAt.getTime() - server
}

/** Below this the clocks agree as far as a Date header can tell (one-second resolution, network delay). */
const SKEW_NOTICE_MS = 5_000

function skewAdvice(skewMs: number | undefined, serverDate: string | null): Advice {
  if (skewMs === undefined) {
    return ["the response has no Date header to compare clocks with: check that this machine's clock is right (NTP)"]
  }
  if (Math.abs(skewMs) < SKEW_NOTICE_MS) {
    return [
      `this machine's clock agrees with the server's Date header (${serverDate}) to within ${formatDuration(SKEW_NOTICE_MS / 1000)}, so clock skew is not the likely cause; check `,
      { setting: 'token-url' },
    ]
  }
  const direction = skewMs > 0 ? 'ahead of' : 'behind'
  return [
    `this machine's clock is ${formatDuration(Math.abs(skewMs) / 1000)} ${direction} the server's (its Date header says ${serverDate}). ` +
      "The assertion is valid for at most 300 s from this machine's time, so sync the clock (NTP) and retry",
  ]
}

/**
 * The advice for one OAuth error (RFC 6749 §5.2, RFC 8693 §2.2.2, docs/token-exchange.md
 * §5): what to check, with the settings that matter as references.
 */
export function oauthErrorAdvice(
  error: string,
  description: string | undefined,
  context: RequestContext,
  time: { skewMs: number | undefined; serverDate: string | null },
): Advice {
  const text = description ?? ''
  switch (error) {
    case 'invalid_client': {
      // Buildkite's descriptions name the claim: "JWT `exp` claim must be in the future"; an
      // `iat` in the future is invalid_client too.
      if (/\b(exp|iat|nbf)\b/.test(text)) return skewAdvice(time.skewMs, time.serverDate)
      if (/already been used|\bjti\b.*used/i.test(text)) {
        return [
          'each assertion may be used once. bktx signs a new one with a new jti for every attempt, so the same request reached the server twice: check for a proxy that retries POST requests',
        ]
      }
      if (/must contain a `?jti/i.test(text)) {
        return ['bktx always sends a jti, so something between bktx and the server altered the request: check ', { setting: 'token-url' }, ' and any proxy']
      }
      if (/\baud\b/.test(text)) {
        return [
          `the assertion's aud was ${context.audience ?? defaultAudience(context.tokenUrl)}; it must be the token endpoint URL the server knows itself by (Buildkite documents https://buildkite.com/oauth/token): check `,
          { setting: 'aud' },
          ' and ',
          { setting: 'token-url' },
        ]
      }
      const kid = context.key === undefined ? '' : context.key.kid === undefined ? ' (no kid was sent)' : ` (kid ${context.key.kid})`
      if (/signature/i.test(text)) {
        // Servers give this text for an unknown client too, so as not to tell a caller without
        // the key which client ids exist (the reference server does, docs/security/threat-model.md §1): name all three.
        return [
          `the assertion did not verify against the JWKS registered for client ${context.clientId}: check `,
          { setting: 'client-id' },
          ', ',
          { setting: 'key' },
          ' and ',
          { setting: 'kid' },
          `${kid}, and that the application's JWKS holds this key (a JWKS URI is cached by Buildkite for up to an hour)`,
        ]
      }
      return [
        'check ',
        { setting: 'client-id' },
        ` (${context.clientId}), `,
        { setting: 'key' },
        ' and ',
        { setting: 'kid' },
        `${kid}, and that the application's JWKS registration holds this key ` +
          "(a JWKS URI is cached by Buildkite for up to an hour; the app's allowed IPs apply too). The server's audit log has the detail",
      ]
    }
    case 'invalid_request':
      if (/subject|member/i.test(text)) {
        const how = context.subjectType === 'email' ? 'by email, with a verified email address' : 'by user UUID'
        return [
          `the subject must be an active member of ${context.org}, named ${how}: check `,
          { setting: 'subject' },
          ` (${context.subject}) and `,
          { setting: 'subject-type' },
          ` (${context.subjectType})`,
        ]
      }
      if (/expires_in/i.test(text)) return ['check ', { setting: 'ttl' }, ': a whole number of seconds']
      return [
        'the server rejected the request as malformed; check that ',
        { setting: 'token-url' },
        ' points at a token exchange endpoint and the values of ',
        { setting: 'subject' },
        ', ',
        { setting: 'org' },
        ', ',
        { setting: 'scope' },
        ' and ',
        { setting: 'ttl' },
      ]
    case 'invalid_scope':
      return context.scopes.length === 0
        ? [
            "no scopes were requested, so the application's default scopes applied, and it has none or they are not grantable: pass ",
            { setting: 'scope' },
            ' with scopes the application may grant',
          ]
        : [`requested scopes: ${context.scopes.join(' ')}. Ask only for scopes the token exchange application may grant (`, { setting: 'scope' }, ')']
    case 'invalid_target':
      return [
        { setting: 'org' },
        ` must be the organisation slug, as in buildkite.com/<slug>, not its display name (asked for "${context.org}"), and the application must belong to that organisation`,
      ]
    case 'unsupported_grant_type':
      return ['token exchange is not enabled for this organisation: an administrator must enable it and register the application']
    case 'unauthorized_client':
      return [`client ${context.clientId} may not use token exchange: check the application's settings`]
    case 'invalid_grant':
      return [
        'the subject was not accepted: check ',
        { setting: 'subject' },
        ` (${context.subject}) and `,
        { setting: 'subject-type' },
        ` (${context.subjectType})`,
      ]
    default:
      return ['check the settings shown by ', { command: 'config list' }, ", and the server's documentation for this error"]
  }
}
