// Key rotation as a workflow (docs/token-exchange.md §1): Buildkite caches a JWKS URI for
// up to an hour, so a new key may sign only once the published set has held it for that long.
//   start:  generate the next key; publish old + new (or print that JWKS to register); record it.
//   status: check the published JWKS serves both keys; record when the new kid was first seen.
//   finish: once it has been served for an hour (or when forced), switch the profile to the new
//           key and publish it alone (keeping the old one while other profiles still sign with it).
//   cancel: forget the next key and publish the old one alone again.
// With no `jwks-uri` (a JWKS registered inline) there is nothing to fetch and no cache to wait
// out: the steps are the same, and the wait is explained rather than enforced.
import { dirname, join } from 'node:path'
import type { ConfigFile } from '../config/file.js'
import { saveConfigFile } from '../config/file.js'
import { settingsFrom } from '../config/load.js'
import type { ResolvedSettings } from '../config/resolve.js'
import type { FetchLike } from '../deps.js'
import { InputError, KeyError, SettingInvalidError, SettingMissingError, isBktxError, type Advice } from '../errors.js'
import { fail, pass, warn, type Check } from '../checks/check.js'
import { jwksChecks, problemFix, sourceName } from '../checks/jwks.js'
import { writeFileAtomic } from '../fs/atomic.js'
import { buildJwks, serializeJwks, type PublicJWKS } from '../jwks/build.js'
import { checkJwks } from '../jwks/check.js'
import { JWKS_CACHE_MAX_AGE_MS } from '../jwks/limits.js'
import { describeSigningKey, type LoadedKeyDescription } from '../keys/describe.js'
import { NO_KID, withKidLabel } from '../keys/pem.js'
import type { SigningAlg } from '../keys/policy.js'
import { keyFingerprint } from '../keys/thumbprint.js'
import type { Clock } from '../time/clock.js'
import { formatDuration, isoSeconds } from '../time/duration.js'
import { loadRotations, rotationStatePath, saveRotations, type Rotation, type RotationKey } from './state.js'

export interface RotationScope {
  configPath: string
  /** The loaded configuration file; finishing changes the profile's key and saves it. */
  config: ConfigFile
  profile: string
  /** The profile's settings, resolved as the token commands resolve them. */
  settings: ResolvedSettings
  /** Where new keys go by default. */
  keysDir: string
  /** The user running bktx: the rotation state must be safe from other users (src/fs/trust.ts). */
  uid: number | undefined
  /** Accept an http:// JWKS URI to a loopback host. */
  allowHttpJwks: boolean
}

export interface RotationDeps {
  clock: Clock
  /** For the JWKS URI (src/http/fetch.ts: proxy and CA settings apply). */
  fetch: FetchLike
}

export interface StartOptions {
  /** Default: the algorithm of the current key. */
  alg?: SigningAlg | undefined
  bits?: number | undefined
  /** Default: the RFC 7638 thumbprint. */
  kid?: string | undefined
  /** Default: `<keysDir>/<kid>.pem`. */
  newKeyPath?: string | undefined
  /** Publish the JWKS of both keys here (atomically, mode 0644) rather than return it for printing. */
  out?: string | undefined
}

export interface Progress {
  rotation: Rotation
  checks: Check[]
  /** When the new key may sign: an hour after the JWKS URI was first seen serving it; undefined while it is not served, or with no URI. */
  readyAt: Date | undefined
  /** Nothing failed and the wait is over (always true of the wait without a JWKS URI); false once `switched`. */
  ready: boolean
  /**
   * The profile signs with the new key already, the rotation still pending: a `--finish` that
   * switched but could not end the rotation. `--finish` then publishes and ends it; `--cancel`
   * refuses (it would unpublish the key in use).
   */
  switched: boolean
}

export interface Started extends Progress {
  jwks: PublicJWKS
}

export interface Finished extends Progress {
  /** False when refused (checks failed or the hour is not over, and not forced). */
  finished: boolean
  /** The JWKS published (or to register) after the switch. */
  jwks: PublicJWKS | undefined
  /** Other profiles that still sign with the old key: it stays in the published JWKS. */
  stillUsingOld: string[]
}

const FORCE_ADVICE: Advice = [', or now with ', { option: 'force' }, ' if Buildkite cannot have fetched the JWKS that lacked it']

/** The profile's key, which must come from the profile: a rotation switches the profile's key. */
function profileKeyPath(scope: RotationScope): string {
  const key = scope.settings.key
  if (key === undefined) throw new SettingMissingError('key')
  if (!key.source.startsWith('profile:')) {
    throw new SettingInvalidError('key', "overrides the profile's key, and a rotation switches the profile's key", {
      source: key.source,
      advice: ['leave it unset for the rotation (and the token commands after it)'],
    })
  }
  return key.value
}

async function loadedKey(path: string, kidSetting: string | undefined): Promise<LoadedKeyDescription> {
  const key = await describeSigningKey(path, kidSetting)
  if (!key.loads) throw key.error
  return key
}

function toRef(key: LoadedKeyDescription): RotationKey {
  // Rotation works on key files (it writes the next one); describeSigningKey describes files.
  return { path: key.source.text, kid: key.kid, alg: key.alg, fingerprint: key.fingerprint }
}

/**
 * A rotation key whose file no longer holds the key recorded when the rotation started. A
 * rotation publishes each key under the kid recorded for it and switches the profile to the
 * recorded path: a file replaced meanwhile would be published under the recorded kid and signed
 * with, so every step compares the SPKI fingerprint and refuses.
 */
function replacedKey(ref: RotationKey, role: 'old' | 'new', fingerprint: string, profile: string): KeyError {
  return new KeyError(
    `the ${role} key file ${ref.path} no longer holds the key recorded when the rotation of profile "${profile}" started (kid ${ref.kid}): its fingerprint is ${fingerprint}, not ${ref.fingerprint}`,
    {
      detail: { file: ref.path, reason: 'replaced' },
      advice:
        role === 'new'
          ? [
              'put the recorded key back, or move this file away and drop the rotation with ',
              { command: 'key rotate', options: ['cancel'], profile },
              ', then start again',
            ]
          : ['put the recorded key back; the profile signs with this file until the rotation finishes'],
    },
  )
}

/** Refuses a rotation key file that holds another key than recorded; with `mustLoad` false, one that does not load passes (the step does not use it). */
async function checkRecorded(ref: RotationKey, role: 'old' | 'new', profile: string, options: { mustLoad: boolean } = { mustLoad: true }): Promise<void> {
  const key = await describeSigningKey(ref.path, ref.kid)
  if (!key.loads) {
    if (options.mustLoad) throw key.error
    return
  }
  if (key.fingerprint !== ref.fingerprint) throw replacedKey(ref, role, key.fingerprint, profile)
}

/** The JWKS of rotation keys, each under the kid recorded for it, refused unless each file still holds the recorded key. */
async function jwksOf(keys: readonly { ref: RotationKey; role: 'old' | 'new' }[], profile: string): Promise<PublicJWKS> {
  const { loadKeyFile } = await import('../keys/load.js')
  const loaded = []
  for (const { ref, role } of keys) {
    for (const key of await loadKeyFile(ref.path, { kid: ref.kid })) {
      const fingerprint = keyFingerprint(key.publicKey)
      if (fingerprint !== ref.fingerprint) throw replacedKey(ref, role, fingerprint, profile)
      loaded.push(key)
    }
  }
  return buildJwks(loaded)
}

/** The profiles of the file that sign with the key at `path` (resolved as the token commands resolve them, without the environment). */
function profilesSigningWith(scope: RotationScope, config: ConfigFile, path: string): string[] {
  return Object.keys(config.profiles).filter((name) => {
    try {
      return (
        settingsFrom(config, { flags: {}, env: {}, cwd: dirname(scope.configPath), configPath: scope.configPath, explicitProfile: name }).settings.key
          ?.value === path
      )
    } catch {
      return false
    }
  })
}

async function publish(path: string, jwks: PublicJWKS): Promise<void> {
  // A JWKS is public: 0644 so a web server can read it; atomic so it never serves half a file.
  await writeFileAtomic(path, serializeJwks(jwks), { mode: 0o644, dirMode: 0o755, overwrite: true })
}

function pending(scope: RotationScope): { path: string; rotation: Rotation } {
  const path = rotationStatePath(scope.configPath)
  const rotation = loadRotations(path, scope.uid).rotations[scope.profile]
  if (rotation === undefined) {
    throw new InputError(`no key rotation is pending for profile "${scope.profile}"`, {
      detail: { file: path, reason: 'no-rotation' },
      advice: ['start one with ', { command: 'key rotate', profile: scope.profile }],
    })
  }
  return { path, rotation }
}

async function saveRotation(scope: RotationScope, statePath: string, rotation: Rotation | undefined): Promise<void> {
  const profile = scope.profile
  const file = loadRotations(statePath, scope.uid)
  if (rotation === undefined) delete file.rotations[profile]
  else file.rotations[profile] = rotation
  await saveRotations(statePath, file)
}

/** Generates the next key, publishes (or returns) the JWKS of both, records the rotation. */
export async function startRotation(scope: RotationScope, options: StartOptions, deps: RotationDeps): Promise<Started> {
  const oldPath = profileKeyPath(scope)
  const statePath = rotationStatePath(scope.configPath)
  const existing = loadRotations(statePath, scope.uid).rotations[scope.profile]
  if (existing !== undefined) {
    throw new InputError(`a key rotation of profile "${scope.profile}" is pending since ${existing.startedAt} (new key ${existing.next.kid})`, {
      detail: { file: statePath, reason: 'rotation-pending' },
      advice: [
        'see it with ',
        { command: 'key rotate', options: ['status'], profile: scope.profile },
        ', end it with ',
        { command: 'key rotate', options: ['finish'], profile: scope.profile },
        ' or drop it with ',
        { command: 'key rotate', options: ['cancel'], profile: scope.profile },
      ],
    })
  }
  const old = await loadedKey(oldPath, scope.settings.kid?.value)
  const { generateSigningKey } = await import('../keys/generate.js')
  const generated = await generateSigningKey({
    alg: options.alg ?? old.alg,
    ...(options.bits === undefined ? {} : { bits: options.bits }),
    ...(options.kid === undefined ? {} : { kid: options.kid }),
  })
  if (generated.kid === old.kid)
    throw new InputError(`the new key's kid "${generated.kid}" is the old key's; every key in a JWKS needs its own kid`, { advice: ['choose another kid'] })
  const newPath = options.newKeyPath ?? join(scope.keysDir, `${generated.kid}.pem`)
  await writeFileAtomic(newPath, options.kid === undefined ? generated.privatePem : withKidLabel(generated.privatePem, options.kid), {
    mode: 0o600,
    dirMode: 0o700,
    overwrite: false,
    existsAdvice: ['choose another path for the new key'],
  })
  const next = await loadedKey(newPath, undefined)
  const rotation: Rotation = {
    old: toRef(old),
    next: toRef(next),
    startedAt: deps.clock.now().toISOString(),
    out: options.out ?? null,
    servedSince: null,
    servedBy: null,
  }
  const jwks = await jwksOf(
    [
      { ref: rotation.old, role: 'old' },
      { ref: rotation.next, role: 'new' },
    ],
    scope.profile,
  )
  if (options.out !== undefined) await publish(options.out, jwks)
  await saveRotation(scope, statePath, rotation)
  // With `--out` into what a JWKS server serves, the new kid may be visible already: the hour starts now.
  const progress = await observe(scope, rotation, 'status', deps)
  await saveRotation(scope, statePath, progress.rotation)
  // Nothing is broken yet (the old key still signs): what is not published yet is a warning.
  const checks = progress.checks.map((c) => (c.status === 'fail' ? { ...c, status: 'warn' as const } : c))
  return { ...progress, checks, jwks }
}

/** Checks the published JWKS against the pending rotation and records when the new kid was first served. */
export async function rotationStatus(scope: RotationScope, deps: RotationDeps): Promise<Progress> {
  const { path, rotation } = pending(scope)
  await checkRecorded(rotation.old, 'old', scope.profile)
  await checkRecorded(rotation.next, 'new', scope.profile)
  const progress = await observe(scope, rotation, 'status', deps)
  await saveRotation(scope, path, progress.rotation)
  return progress
}

/**
 * What the published JWKS says about a rotation. `finish` makes an unfinished wait a FAIL
 * (status reports it as a WARN). The returned rotation has `servedSince` updated: set when the
 * URI is first seen serving the new key, cleared when it no longer does (the hour starts again).
 */
async function observe(scope: RotationScope, rotation: Rotation, mode: 'status' | 'finish', deps: RotationDeps): Promise<Progress> {
  const progress = await observeJwks(scope, rotation, mode, deps)
  if (!profilesSigningWith(scope, scope.config, rotation.next.path).includes(scope.profile)) return { ...progress, switched: false }
  // Not "ready to switch": switched already. Finishing publishes the new key alone and ends it.
  const checks = [
    ...progress.checks,
    warn(
      'switched',
      `profile "${scope.profile}" signs with the new key ${rotation.next.kid} already, but the rotation did not end (a finish that could not publish, or was interrupted)`,
      ['end it with ', { command: 'key rotate', options: ['finish'], profile: scope.profile }, ', which publishes the new key and needs no wait now'],
    ),
  ]
  return { ...progress, checks, ready: false, switched: true }
}

async function observeJwks(scope: RotationScope, rotation: Rotation, mode: 'status' | 'finish', deps: RotationDeps): Promise<Omit<Progress, 'switched'>> {
  const uri = scope.settings['jwks-uri']?.value
  const now = deps.clock.now()
  if (uri === undefined) {
    const checks = [
      warn(
        'jwks',
        `no jwks-uri is set, so bktx cannot see what the application holds; a JWKS registered inline is used at once, with no cache to wait out, but it must hold both kids (${rotation.old.kid}, ${rotation.next.kid}) before the new key signs`,
        [
          'register the JWKS of both keys with the application; if it fetches a JWKS URI, ',
          { set: 'jwks-uri', value: 'URL' },
          ' so that bktx checks it and waits out the hour Buildkite may cache it',
        ],
      ),
    ]
    return { rotation, checks, readyAt: undefined, ready: true }
  }
  const next = await loadedKey(rotation.next.path, rotation.next.kid)
  if (next.fingerprint !== rotation.next.fingerprint) throw replacedKey(rotation.next, 'new', next.fingerprint, scope.profile)
  let report
  try {
    report = await checkJwks(
      { kind: 'url', url: uri },
      { kid: rotation.next.kid, publicKey: next.publicKey, allowHttp: scope.allowHttpJwks },
      { fetch: deps.fetch },
    )
  } catch (error) {
    if (!isBktxError(error)) throw error
    // Not reachable now: nothing is learned, nothing recorded.
    return { rotation, checks: [fail('jwks', error.message, ['check ', { setting: 'jwks-uri' }])], readyAt: undefined, ready: false }
  }
  if (report.http === undefined) {
    // Refused before any request (an http:// URI without allow-http-jwks, a URL with a password):
    // nothing was fetched, so nothing is known of either kid, and nothing is recorded.
    const name = sourceName(report.source)
    const checks = report.problems.map((problem) =>
      fail('jwks', `the JWKS at ${name} was not fetched, so neither kid was checked: the URI ${problem.problem}`, problemFix(problem)),
    )
    return { rotation, checks, readyAt: undefined, ready: false }
  }
  const checks = jwksChecks(report, { what: 'the new key' })
  const old = report.keys.find((k) => k.kid === rotation.old.kid)
  const oldKey = await describeSigningKey(rotation.old.path, rotation.old.kid)
  if (report.bytes === undefined) {
    // Answered but not read (a redirect, a status other than 200, too large): the jwks check
    // says why; whether the old kid is there is unknown, not missing.
  } else if (old === undefined) {
    checks.push(
      fail('jwks-old', `the JWKS lacks kid ${rotation.old.kid}, the old key, which signs until the rotation finishes: exchanges fail meanwhile`, [
        'publish the JWKS of both keys (',
        { command: 'jwks', options: ['out'] },
        ')',
      ]),
    )
  } else if (oldKey.loads && !old.publicKey.equals(oldKey.publicKey)) {
    checks.push(
      fail('jwks-old', `the JWKS has kid ${rotation.old.kid}, but not with the old key's public key`, [
        'publish the JWKS of both keys (',
        { command: 'jwks', options: ['out'] },
        ')',
      ]),
    )
  } else {
    checks.push(pass('jwks-old', `the JWKS still holds kid ${rotation.old.kid}, the old key, which signs until the rotation finishes`))
  }
  const served = report.ok
  const updated: Rotation = { ...rotation }
  if (!served) {
    updated.servedSince = null
    updated.servedBy = null
  } else if (updated.servedSince === null || updated.servedBy !== uri) {
    updated.servedSince = now.toISOString()
    updated.servedBy = uri
  }
  let readyAt: Date | undefined
  let waited = false
  if (updated.servedSince !== null) {
    const since = new Date(updated.servedSince)
    readyAt = new Date(since.getTime() + JWKS_CACHE_MAX_AGE_MS)
    const elapsed = (now.getTime() - since.getTime()) / 1000
    if (now.getTime() >= readyAt.getTime()) {
      waited = true
      checks.push(
        pass(
          'wait',
          `first seen serving the new key ${isoSeconds(since)}, ${formatDuration(elapsed)} ago: Buildkite's cache of the JWKS (up to 1h) holds it by now`,
        ),
      )
    } else {
      const left = formatDuration((readyAt.getTime() - now.getTime()) / 1000)
      const message = `first seen serving the new key ${isoSeconds(since)}, ${formatDuration(elapsed)} ago: Buildkite may keep a JWKS it fetched before then for up to 1h`
      const fix: Advice = [
        `finish at ${isoSeconds(readyAt)} or later (in ${left}) with `,
        { command: 'key rotate', options: ['finish'], profile: scope.profile },
        ...FORCE_ADVICE,
      ]
      checks.push(mode === 'finish' ? fail('wait', message, fix) : warn('wait', message, fix))
    }
  }
  return { rotation: updated, checks, readyAt, ready: waited && !checks.some((c) => c.status === 'fail') }
}

/**
 * Switches the profile to the new key when the published JWKS has served it for the hour
 * Buildkite may cache a JWKS (or `force`), then publishes the new key alone (the old one too
 * while other profiles of the file still sign with it) to `out` or the rotation's `out`, or
 * returns that JWKS to register. Refused: `finished` false, nothing switched.
 *
 * Publish first, switch last: should publishing fail, the profile still signs with the old key,
 * which the JWKS still holds, and the rotation stays pending. (Switching first left the profile
 * on the new key with the rotation pending, and `--cancel` then unpublished the key in use.)
 */
export async function finishRotation(scope: RotationScope, options: { force: boolean; out?: string | undefined }, deps: RotationDeps): Promise<Finished> {
  profileKeyPath(scope)
  const { path: statePath, rotation } = pending(scope)
  await checkRecorded(rotation.old, 'old', scope.profile, { mustLoad: false })
  await checkRecorded(rotation.next, 'new', scope.profile)
  const progress = await observe(scope, rotation, 'finish', deps)
  if (!progress.ready && !progress.switched && !options.force) {
    await saveRotation(scope, statePath, progress.rotation)
    return { ...progress, finished: false, jwks: undefined, stillUsingOld: [] }
  }
  const switched: ConfigFile = { profiles: Object.assign(Object.create(null) as ConfigFile['profiles'], scope.config.profiles) }
  if (!progress.switched) {
    const profile = { ...scope.config.profiles[scope.profile], key: rotation.next.path }
    // The new key's kid is its own (the file names it); a `none` policy (no kid header) stays.
    if (profile.kid !== NO_KID) delete profile.kid
    switched.profiles[scope.profile] = profile
  }
  // Profiles that inherit this profile's key follow it; the others on the old key keep it published.
  const stillUsingOld = profilesSigningWith(scope, switched, rotation.old.path).filter((name) => name !== scope.profile)
  const jwks = await jwksOf(
    stillUsingOld.length > 0
      ? [
          { ref: rotation.next, role: 'new' },
          { ref: rotation.old, role: 'old' },
        ]
      : [{ ref: rotation.next, role: 'new' }],
    scope.profile,
  )
  const out = options.out ?? rotation.out ?? undefined
  if (out !== undefined) await publish(out, jwks)
  if (!progress.switched) {
    await saveConfigFile(scope.configPath, switched)
    scope.config.profiles = switched.profiles
  }
  await saveRotation(scope, statePath, undefined)
  return { ...progress, rotation: { ...progress.rotation, out: out ?? null }, finished: true, jwks, stillUsingOld }
}

/**
 * Drops the pending rotation: the new key file stays (nothing signs with it); the old key is
 * published alone again. Refused while a profile of the file signs with the new key (that JWKS
 * would unpublish it), or when a key file no longer holds the recorded key.
 */
export async function cancelRotation(scope: RotationScope, options: { out?: string | undefined }): Promise<{ rotation: Rotation; jwks: PublicJWKS }> {
  const { path: statePath, rotation } = pending(scope)
  const users = profilesSigningWith(scope, scope.config, rotation.next.path)
  if (users.length > 0) {
    const who = users.length === 1 ? `profile "${users[0]}" signs` : `profiles ${users.map((u) => `"${u}"`).join(', ')} sign`
    throw new InputError(`${who} with the new key ${rotation.next.kid} (${rotation.next.path}) already: cancelling would unpublish the key in use`, {
      detail: { file: statePath, reason: 'new-key-in-use' },
      advice: [
        'end the rotation with ',
        { command: 'key rotate', options: ['finish'], profile: scope.profile },
        `, or point the profile back at the old key (${rotation.old.path}) first`,
      ],
    })
  }
  // The new key is not published or used any more: a file that does not load is no obstacle, but
  // one holding another key is not the rotation's to call unused.
  await checkRecorded(rotation.next, 'new', scope.profile, { mustLoad: false })
  const jwks = await jwksOf([{ ref: rotation.old, role: 'old' }], scope.profile)
  const out = options.out ?? rotation.out ?? undefined
  if (out !== undefined) await publish(out, jwks)
  await saveRotation(scope, statePath, undefined)
  return { rotation: { ...rotation, out: out ?? null }, jwks }
}

/** Every pending rotation of a configuration file, by profile. */
export function pendingRotations(configPath: string, uid: number | undefined): Record<string, Rotation> {
  return loadRotations(rotationStatePath(configPath), uid).rotations
}
