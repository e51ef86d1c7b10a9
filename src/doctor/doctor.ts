// `bktx doctor`: the facts of `bktx status` as checks, then what only the network can tell:
// the token endpoint answers as one (a probe that cannot mint), this machine's clock agrees
// with it, the published JWKS holds the signing key, and the proxy and CA settings in effect.
// Nothing here mints a token or signs an assertion.
import { statSync } from 'node:fs'
import type { FetchLike } from '../deps.js'
import { isBktxError, type Advice } from '../errors.js'
import { proxySettings, trustedCAs } from '../http/fetch.js'
import { printable } from '../http/body.js'
import { proxyRoute } from '../http/proxy-route.js'
import { redactURL } from '../http/url.js'
import { isCI } from '../cache/select.js'
import { jobIdentities } from '../cache/scope.js'
import { NO_KID } from '../keys/pem.js'
import { checkJwks, type JwksCheckOptions, type JwksSource } from '../jwks/check.js'
import { formatDuration, isoSeconds } from '../time/duration.js'
import { errorCheck, fail, pass, warn, type Check } from '../checks/check.js'
import { probeTokenEndpoint } from './endpoint.js'
import { jwksChecks } from '../checks/jwks.js'
import { collectStatus, type StatusDeps, type StatusInput, type StatusReport } from './status.js'

/** The settings a token request cannot do without (the others have defaults). */
const REQUIRED = ['client-id', 'org', 'subject', 'key'] as const

/**
 * Clock skew tolerated by the reference server on `iat`, `nbf` and `exp` (docs/token-exchange.md
 * §5, bktx's choice: Buildkite does not document its own); beyond it exchanges fail.
 */
export const SKEW_FAIL_MS = 15_000
/** Below this the clocks agree as far as a Date header can tell (one-second resolution, network delay). */
export const SKEW_WARN_MS = 5_000

export interface DoctorInput extends StatusInput {
  /** A file with the JWKS registered inline; else the `jwks-uri` setting is fetched. */
  jwksFile?: string | undefined
  /** Accept an http:// JWKS URI to a loopback host. */
  allowHttpJwks: boolean
  /** An extra CA file, as the token commands take it. */
  caFile: string | undefined
  /** Bound on each request, in ms. */
  timeoutMs: number
}

export interface DoctorDeps extends StatusDeps {
  /** src/http/fetch.ts over the CLI's fetch: proxy variables and the CA file apply. */
  fetch: FetchLike
}

export interface DoctorReport {
  status: StatusReport
  checks: Check[]
}

export async function runDoctor(input: DoctorInput, deps: DoctorDeps): Promise<DoctorReport> {
  const status = await collectStatus(input, deps)
  const checks = statusChecks(status, deps)
  const network = await networkCheck(input, deps)
  checks.push(network)
  // A CA file or proxy variable that cannot be used fails every request the same way.
  if (network.status !== 'fail') {
    checks.push(...(await endpointChecks(status, input, deps)))
    checks.push(...(await publishedJwksChecks(status, input, deps)))
  }
  return { status, checks }
}

/** The offline checks: what `bktx status` shows, judged. */
export function statusChecks(status: StatusReport, deps: Pick<StatusDeps, 'clock' | 'uid' | 'env'>): Check[] {
  const checks: Check[] = []
  const { settings, key, cache } = status
  checks.push(
    pass(
      'config',
      status.config.exists
        ? `${status.config.path}, profile "${status.profile.name}"`
        : `no configuration file at ${status.config.path}: settings come from the environment and flags (profile "${status.profile.name}")`,
    ),
  )
  const missing = REQUIRED.filter((name) => settings[name] === undefined)
  if (missing.length === 0) checks.push(pass('settings', `${REQUIRED.join(', ')} are set`))
  for (const name of missing)
    checks.push(
      fail(
        'settings',
        `${name} is not set`,
        name === 'key' ? ['make a key with ', { command: 'keygen' }, ', or ', { set: 'key', value: 'PATH' }] : [{ set: name }],
      ),
    )

  if (key !== undefined) {
    if (key.loads) {
      const kid = key.headerKid === undefined ? 'no kid header (kid none)' : `kid ${printable(key.kid, 100)} (${key.kidOrigin})`
      checks.push(pass('key', `${key.source.text}: ${key.alg}, ${kid}${key.file === undefined ? '' : `, mode ${octal(key.file.mode)}`}`))
    } else {
      const unreadable = key.error.detail.reason === 'unreadable'
      checks.push(
        errorCheck(
          'key',
          key.error,
          unreadable
            ? [
                `make it readable by the user that runs bktx${deps.uid === undefined ? '' : ` (uid ${deps.uid})`}, or point `,
                { setting: 'key' },
                ' at a key it can read',
              ]
            : ['check ', { setting: 'key' }, ', or make a new key with ', { command: 'keygen' }],
        ),
      )
    }
  }

  if (typeof cache.dirState !== 'string') checks.push(errorCheck('cache', cache.dirState, ['remove it, or use ', { option: 'cache', value: 'none' }]))
  else if (!cache.usable) checks.push(fail('cache', `${cache.mode}: ${cache.reason}`, ['unlock the keychain, or ', { set: 'cache', value: 'file' }]))
  else
    checks.push(
      pass(
        'cache',
        `${cache.mode}: new tokens go to ${cache.backend === 'none' ? 'no cache' : `the ${cache.backend} cache`} (${cache.reason})${cache.dirState === 'ok' ? `; metadata in ${cache.dir}` : ''}`,
      ),
    )

  const kc = cache.keychain
  const detail = kc.detail === undefined ? '' : `: ${kc.detail}`
  if (kc.state === 'available') checks.push(pass('keychain', 'available (answers unlocked; bktx never raises an unlock prompt)'))
  else if (cache.mode === 'keychain')
    checks.push(fail('keychain', `${kc.state}${detail}`, [kc.state === 'locked' ? 'unlock it, or ' : 'use the file cache: ', { set: 'cache', value: 'file' }]))
  else if (cache.mode === 'auto' && cache.backend === 'file' && !isCI(deps.env) && jobIdentities(deps.env).length === 0) {
    const unlock = kc.state === 'locked' ? 'unlock it, or ' : ''
    checks.push(
      warn('keychain', `${kc.state}${detail}; the auto cache falls back to files and says so once a day`, [
        `${unlock}to use files without trying the keychain, `,
        { set: 'cache', value: 'file' },
      ]),
    )
  } else checks.push(pass('keychain', `${kc.state}, and not needed (cache ${cache.mode}: ${cache.backend})`))

  if (status.tokens !== undefined) {
    const now = deps.clock.now().getTime()
    const valid = status.tokens.filter((t) => !t.expired && t.currentKey !== false)
    const soonest = valid[0]
    checks.push(
      pass(
        'tokens',
        status.tokens.length === 0
          ? 'none cached for this profile'
          : `${status.tokens.length} cached for this profile, ${valid.length} servable${soonest === undefined ? '' : ` (the next expires in ${formatDuration((soonest.expiresAt.getTime() - now) / 1000)})`}`,
      ),
    )
  }
  const rotation = status.rotation
  if (rotation instanceof Error) checks.push(errorCheck('rotation', rotation, ['remove it to forget the rotations it held']))
  else if (rotation !== undefined) {
    // Not a failure (the old key signs meanwhile), but unfinished work.
    checks.push(
      warn(
        'rotation',
        `a key rotation is pending since ${isoSeconds(new Date(rotation.startedAt))}: ${printable(rotation.old.kid, 100)} signs until ${printable(rotation.next.kid, 100)} takes over`,
        [
          'see when it can finish with ',
          { command: 'key rotate', options: ['status'], profile: status.profile.explicit ? status.profile.name : undefined },
          ', then run ',
          { command: 'key rotate', options: ['finish'], profile: status.profile.explicit ? status.profile.name : undefined },
        ],
      ),
    )
  }
  return checks
}

function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0')
}

async function networkCheck(input: DoctorInput, deps: DoctorDeps): Promise<Check> {
  const tokenUrl = input.settings['token-url']?.value
  const parts: string[] = []
  if (tokenUrl !== undefined) {
    const url = new URL(tokenUrl)
    const route = proxyRoute(url, proxySettings(deps.env))
    if (route.via === 'proxy') {
      if (route.proxy === '(not a URL)') {
        return fail('network', `${route.variable} (or its lower-case form) is not an http:// or https:// proxy URL`, ['fix or unset it'])
      }
      parts.push(`${url.host} through the proxy ${route.proxy} (${route.variable})`)
    } else {
      parts.push(`${url.host} directly${route.reason === 'no-proxy-match' ? ' (NO_PROXY lists it)' : ' (no proxy variable)'}`)
    }
  }
  if (input.caFile !== undefined) {
    try {
      await trustedCAs({ env: deps.env, caFile: input.caFile })
      parts.push(`trusting the CAs in ${input.caFile} too`)
    } catch (error) {
      if (!isBktxError(error)) throw error
      return errorCheck('network', error, ['check ', { option: 'ca-file' }])
    }
  }
  const extra = deps.env['NODE_EXTRA_CA_CERTS']
  if (extra !== undefined && extra !== '') {
    try {
      statSync(extra)
      parts.push(`NODE_EXTRA_CA_CERTS=${extra}`)
    } catch {
      return warn('network', `NODE_EXTRA_CA_CERTS names ${extra}, which cannot be read: Node trusts none of it`, ['fix or unset NODE_EXTRA_CA_CERTS'])
    }
  }
  return pass('network', parts.length === 0 ? 'direct' : parts.join('; '))
}

async function endpointChecks(status: StatusReport, input: DoctorInput, deps: DoctorDeps): Promise<Check[]> {
  const tokenUrl = status.settings['token-url']?.value
  if (tokenUrl === undefined) return []
  const shown = redactURL(tokenUrl)
  let answer
  try {
    answer = await probeTokenEndpoint(tokenUrl, deps, { timeoutMs: input.timeoutMs })
  } catch (error) {
    if (!isBktxError(error)) throw error
    return [errorCheck('token-endpoint', error, ['check ', { setting: 'token-url' }])]
  }
  const checks: Check[] = []
  const checkUrl: Advice = ['check ', { setting: 'token-url' }]
  const described =
    answer.error === undefined ? '' : ` ${printable(answer.error, 60)}${answer.description === undefined ? '' : ` (${printable(answer.description, 160)})`}`
  if (answer.status >= 300 && answer.status < 400) {
    checks.push(
      fail(
        'token-endpoint',
        `${shown} answered HTTP ${answer.status}${answer.location === undefined ? '' : `, a redirect to ${printable(answer.location, 200)}`}; bktx never follows redirects with an assertion`,
        ['set ', { setting: 'token-url' }, ' to the URL that answers'],
      ),
    )
  } else if (answer.status === 429) {
    checks.push(warn('token-endpoint', `${shown} answered HTTP 429: rate limited${described}`, ['cache tokens (the default) and retry later']))
  } else if (answer.status >= 500) {
    checks.push(
      fail('token-endpoint', `${shown} answered HTTP ${answer.status}${described}`, ['retry later; if it persists, check ', { setting: 'token-url' }]),
    )
  } else if (answer.error === 'unsupported_grant_type') {
    checks.push(
      warn(
        'token-endpoint',
        `${shown} answered${described}: it does not take the token exchange grant, or token exchange is not enabled for the organisation`,
        ['check ', { setting: 'token-url' }, ' and that token exchange is enabled'],
      ),
    )
  } else if (answer.error !== undefined && answer.status !== 400 && answer.status !== 401) {
    // RFC 6749 §5.2: error responses are 400 (401 for a failed client authentication).
    checks.push(
      fail(
        'token-endpoint',
        `${shown} answered HTTP ${answer.status}${described}: a token endpoint refuses a request without an assertion with 400 or 401`,
        checkUrl,
      ),
    )
  } else if (answer.error !== undefined) {
    checks.push(
      pass(
        'token-endpoint',
        `${shown} answered HTTP ${answer.status}${described}, as a token endpoint answers a request without an assertion (${answer.elapsedMs} ms)`,
      ),
    )
  } else if (answer.status === 200) {
    checks.push(fail('token-endpoint', `${shown} answered HTTP 200 to a request without a client assertion: not a token exchange endpoint`, checkUrl))
  } else {
    checks.push(
      fail(
        'token-endpoint',
        `${shown} answered HTTP ${answer.status} without an OAuth error${answer.json ? '' : ' (not JSON)'}: not a token endpoint`,
        checkUrl,
      ),
    )
  }

  const skew = answer.skewMs
  if (skew === undefined) {
    checks.push(warn('clock', `${shown} sent no Date header to compare clocks with`, ["check that this machine's clock is right (NTP)"]))
  } else {
    const size = Math.abs(skew)
    const words = `this machine's clock is ${size < 1000 ? 'within 1s of' : `${formatDuration(size / 1000)} ${skew > 0 ? 'ahead of' : 'behind'}`} the token endpoint's (its Date header: ${printable(answer.date ?? '', 60)})`
    const sync: Advice = ["sync this machine's clock (NTP): assertions are checked against the server's time with 15s of tolerance"]
    if (size > SKEW_FAIL_MS) checks.push(fail('clock', words, sync))
    else if (size > SKEW_WARN_MS) checks.push(warn('clock', words, sync))
    else checks.push(pass('clock', words))
  }
  return checks
}

async function publishedJwksChecks(status: StatusReport, input: DoctorInput, deps: DoctorDeps): Promise<Check[]> {
  const uri = status.settings['jwks-uri']?.value
  const source: JwksSource | undefined =
    input.jwksFile !== undefined ? { kind: 'file', path: input.jwksFile } : uri !== undefined ? { kind: 'url', url: uri } : undefined
  if (source === undefined) {
    return [
      warn('jwks', 'no published JWKS to check against the signing key', [
        'give the JWKS URL registered with the application: ',
        { set: 'jwks-uri', value: 'URL' },
        ' (for a JWKS registered inline, save it to a file and pass it with ',
        { option: 'jwks', value: 'FILE' },
        ')',
      ]),
    ]
  }
  const key = status.key
  const options: JwksCheckOptions = { allowHttp: input.allowHttpJwks }
  if (key?.loads === true) {
    options.publicKey = key.publicKey
    options.kid = key.headerKid
  } else {
    const kid = status.settings.kid?.value
    if (kid !== undefined && kid !== NO_KID) options.kid = kid
  }
  try {
    return jwksChecks(await checkJwks(source, options, { fetch: deps.fetch }), { what: 'the signing key' })
  } catch (error) {
    if (!isBktxError(error)) throw error
    return [errorCheck('jwks', error, ['check ', source.kind === 'url' ? { setting: 'jwks-uri' } : { option: 'jwks' }])]
  }
}
