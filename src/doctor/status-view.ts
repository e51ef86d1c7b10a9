// What `bktx status` prints, from its report: the text table and the --json document. Both the
// full CLI (src/cli/commands/status.ts) and the fast path (src/fast/status.ts, which answers
// `bktx status` without commander or chalk) print exactly what statusOutput returns, so the
// two cannot differ. Here, below the CLI, so that the fast path imports nothing of cli/
// (scripts/build.mjs bundles it into dist/fast-status.cjs); the document's field names are
// checked against its table in src/cli/json-fields.ts where the CLI re-exports it.
import { SETTING_NAMES } from '../config/settings.js'
import type { StatusReport } from './status.js'
import { printable } from '../http/body.js'
import type { KidOrigin, SigningKeyDescription } from '../keys/describe.js'
import { describeError } from '../term/describe.js'
import { terminalSafeJSON } from '../text/sanitize.js'
import type { Clock } from '../time/clock.js'
import { formatDuration, isoSeconds } from '../time/duration.js'

/**
 * What the rendering needs of the run (a Context is one): the profile named explicitly, which
 * error messages mention, and the clock the token lifetimes are counted from.
 */
export interface StatusView {
  readonly explicitProfile: string | undefined
  readonly deps: { readonly clock: Clock }
}

/** Everything `bktx status` writes on stdout: the --json document or the text, each ending with a newline. */
export function statusOutput(report: StatusReport, view: StatusView, json: boolean): string {
  // As Output.document and Output.data (src/cli/output.ts) write them.
  if (json) return `${terminalSafeJSON(JSON.stringify(statusDocument(report, view), null, 2))}\n`
  const text = statusText(report, view)
  return text.endsWith('\n') ? text : `${text}\n`
}

/** The `--json` document of a status report (docs/troubleshooting.md, "bktx status"): stable field names, those of its table in src/cli/json-fields.ts. */
export function statusDocument(report: StatusReport, view: StatusView) {
  const { key, cache } = report
  const now = view.deps.clock.now().getTime()
  return {
    profile: report.profile.name,
    profile_explicit: report.profile.explicit,
    config: report.config,
    settings: report.settings,
    key: key === undefined ? null : keyDocument(key, report, view),
    cache: {
      mode: cache.mode,
      backend: cache.backend,
      reason: cache.reason,
      usable: cache.usable,
      dir: cache.dir,
      dir_state: typeof cache.dirState === 'string' ? cache.dirState : 'unsafe',
      dir_error: typeof cache.dirState === 'string' ? null : describeError(cache.dirState, { profile: view.explicitProfile }),
      keychain: { state: cache.keychain.state, detail: cache.keychain.detail ?? null },
    },
    tokens:
      report.tokens?.map((t) => ({
        scopes: t.scopes,
        cache: t.backend,
        received_at: t.receivedAt.toISOString(),
        expires_at: t.expiresAt.toISOString(),
        expires_in: Math.max(0, Math.round((t.expiresAt.getTime() - now) / 1000)),
        expired: t.expired,
        current_key: t.currentKey ?? null,
        token_hint: t.tokenHint ?? null,
      })) ?? null,
    rotation:
      report.rotation === undefined
        ? null
        : report.rotation instanceof Error
          ? { error: describeError(report.rotation, { profile: view.explicitProfile }) }
          : {
              started_at: report.rotation.startedAt,
              old_kid: report.rotation.old.kid,
              next_kid: report.rotation.next.kid,
              next_path: report.rotation.next.path,
              served_since: report.rotation.servedSince,
            },
  }
}

function keyDocument(key: SigningKeyDescription, report: StatusReport, view: StatusView): Record<string, unknown> {
  const common = {
    source: key.source,
    setting_source: report.settings.key?.source ?? null,
    file: key.file === undefined ? null : { mode: octal(key.file.mode), private: key.file.private, uid: key.file.uid },
  }
  if (!key.loads) return { ...common, loads: false, error: { code: key.error.code, message: describeError(key.error, { profile: view.explicitProfile }) } }
  return {
    ...common,
    loads: true,
    error: null,
    alg: key.alg,
    kid: key.kid,
    kid_origin: key.kidOrigin,
    header_kid: key.headerKid ?? null,
    fingerprint: key.fingerprint,
  }
}

export function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0')
}

const KID_ORIGIN: Record<KidOrigin, string> = {
  setting: 'from the kid setting',
  label: "from the file's bktx-kid label",
  jwk: "the JWK's own kid",
  thumbprint: 'its RFC 7638 thumbprint',
}

/** A column label and its lines. */
function block(label: string, lines: readonly string[]): string {
  return lines.map((line, i) => `${(i === 0 ? label : '').padEnd(10)}${line}`).join('\n')
}

/** One line for the key: algorithm, kid and where it comes from, mode, whether it loads. */
export function keyLine(key: SigningKeyDescription, view: Pick<StatusView, 'explicitProfile'>): string {
  const mode = key.file === undefined ? '' : `mode ${octal(key.file.mode)}${key.file.private ? '' : ' (group or others have access)'}, `
  if (!key.loads) return `${mode}does not load: ${describeError(key.error, { profile: view.explicitProfile })}`
  const kid =
    key.headerKid === undefined
      ? `no kid header (kid none; published as ${printable(key.kid, 300)})`
      : `kid ${printable(key.kid, 300)} (${KID_ORIGIN[key.kidOrigin]})`
  return `${key.alg}, ${kid}, ${mode}loads`
}

export function statusText(report: StatusReport, view: StatusView): string {
  const { settings, key, cache } = report
  const now = view.deps.clock.now().getTime()
  const rows = SETTING_NAMES.map(
    (name) => [name, settings[name] === undefined ? '(unset)' : printable(settings[name].value, 500), settings[name]?.source ?? ''] as const,
  )
  const w0 = Math.max(...rows.map((r) => r[0].length))
  const w1 = Math.max(...rows.map((r) => r[1].length))
  const keychain = `keychain ${cache.keychain.state}${cache.keychain.detail === undefined ? '' : ` (${cache.keychain.detail})`}`
  const dir =
    cache.dirState === 'ok'
      ? `directory ${cache.dir}`
      : cache.dirState === 'absent'
        ? `directory ${cache.dir} (not created yet)`
        : `directory unusable: ${describeError(cache.dirState, { profile: view.explicitProfile })}`
  const sections = [
    block('profile', [`${report.profile.name}${report.profile.explicit ? '' : ' (the default; --profile or BKTX_PROFILE picks another)'}`]),
    block('config', [`${report.config.path}${report.config.exists ? '' : ' (no such file: defaults and environment only)'}`]),
    block(
      'settings',
      rows.map(([k, v, s]) => `${k.padEnd(w0)}  ${v.padEnd(w1)}  ${s}`.trimEnd()),
    ),
    block('key', key === undefined ? ['(no key set: run `bktx keygen`)'] : [`${key.source.text} (${settings.key?.source ?? ''})`, keyLine(key, view)]),
    block('cache', [`${cache.mode} → ${cache.backend}: ${cache.reason}`, keychain, dir]),
    block('tokens', tokenLines(report, now)),
    ...(report.rotation === undefined ? [] : [block('rotation', rotationLines(report, view))]),
  ]
  return sections.join('\n')
}

function rotationLines(report: StatusReport, view: StatusView): string[] {
  const rotation = report.rotation
  if (rotation === undefined) return []
  if (rotation instanceof Error) return [`unreadable: ${describeError(rotation, { profile: view.explicitProfile })}`]
  const served = rotation.servedSince === null ? 'not yet seen published' : `new key published since ${isoSeconds(new Date(rotation.servedSince))}`
  return [
    `pending since ${isoSeconds(new Date(rotation.startedAt))}: ${printable(rotation.old.kid, 100)} → ${printable(rotation.next.kid, 100)} (${served}); \`bktx key rotate --status\` says when it can finish`,
  ]
}

function tokenLines(report: StatusReport, now: number): string[] {
  const { tokens } = report
  if (tokens === undefined) {
    return [
      typeof report.cache.dirState === 'string'
        ? "(client-id, org and subject must be set to tell which cached tokens are this profile's)"
        : '(the cache directory is unusable)',
    ]
  }
  if (tokens.length === 0) return ['(none cached)']
  const scopes = tokens.map((t) => (t.scopes.length === 0 ? '(no scopes)' : t.scopes.join(' ')))
  const width = Math.max(...scopes.map((s) => s.length))
  return tokens.map((t, i) => {
    const left = t.expired ? 'expired' : `expires in ${formatDuration((t.expiresAt.getTime() - now) / 1000)}`
    const other = t.currentKey === false ? '  (minted with another key: not served)' : ''
    return `${(scopes[i] ?? '').padEnd(width)}  ${left}  ${t.backend}${t.tokenHint === undefined ? '' : `  …${t.tokenHint}`}${other}`
  })
}
