import { failed, type Check } from '../checks/check.js'
import { ChecksFailedError } from '../errors.js'
import { makeFetch, type BktxFetch } from '../http/fetch.js'
import { renderAdvice } from '../term/describe.js'
import type { Context } from './context.js'

// How checking commands (doctor, jwks check, key rotate) print their findings: one line per
// check on stdout (the report is the command's output), `fix:` under anything not PASS.

const LABEL = { pass: 'PASS', warn: 'WARN', fail: 'FAIL' } as const

/** The report as text: `PASS  id  message`, then `fix: ...` lines. */
export function checksText(checks: readonly Check[], ctx: Context): string {
  const width = Math.max(0, ...checks.map((c) => c.id.length))
  const indent = ' '.repeat(6 + width + 2)
  return checks
    .map((c) => {
      const line = `${LABEL[c.status]}  ${c.id.padEnd(width)}  ${c.message}`
      return c.fix === undefined || c.status === 'pass' ? line : `${line}\n${indent}fix: ${renderAdvice(c.fix, { profile: ctx.explicitProfile })}`
    })
    .join('\n')
}

/** The checks as JSON: `{id, status, message, fix}` with `fix` rendered (null for PASS). */
export function checksDocument(checks: readonly Check[], ctx: Context): Array<Record<string, unknown>> {
  return checks.map((c) => ({
    id: c.id,
    status: c.status,
    message: c.message,
    fix: c.fix === undefined || c.status === 'pass' ? null : renderAdvice(c.fix, { profile: ctx.explicitProfile }),
  }))
}

/** `N checks: P passed, W warnings, F failed`. */
export function checksSummary(checks: readonly Check[]): string {
  const count = (s: Check['status']) => checks.filter((c) => c.status === s).length
  const warnings = count('warn')
  return `${checks.length} check${checks.length === 1 ? '' : 's'}: ${count('pass')} passed, ${warnings} warning${warnings === 1 ? '' : 's'}, ${count('fail')} failed`
}

/** Ends the command with exit 11 (BKTX_CHECKS_FAILED) when a check failed; the report is already out. */
export function throwIfFailed(checks: readonly Check[], what: string): void {
  const bad = failed(checks)
  if (bad.length === 0) return
  const ids = [...new Set(bad.map((c) => c.id))].join(', ')
  throw new ChecksFailedError(
    `${what}: ${bad.length} check${bad.length === 1 ? '' : 's'} failed (${ids}); the report says how to fix ${bad.length === 1 ? 'it' : 'them'}`,
  )
}

/** Runs `call` with the fetch token commands use (proxy variables, `--ca-file`), then closes it. */
export async function withFetch<T>(ctx: Context, caFile: string | undefined, call: (fetch: BktxFetch) => Promise<T>): Promise<T> {
  const fetch = makeFetch({
    env: ctx.deps.env,
    caFile: caFile === undefined ? undefined : ctx.absolute(caFile),
    userAgent: `bktx/${ctx.deps.version}`,
    fetch: ctx.deps.fetch,
  })
  try {
    if (fetch.route.length > 0) ctx.out.debug(`connecting through ${fetch.route.join(' and ')}`)
    return await call(fetch)
  } finally {
    await fetch.close()
  }
}
