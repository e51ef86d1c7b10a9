import type { Advice, BktxError } from '../errors.js'

/** PASS, WARN or FAIL: a warning is worth fixing but does not stop tokens from being minted. */
export type CheckStatus = 'pass' | 'warn' | 'fail'

/** One finding of `bktx doctor` (and `bktx jwks check`, `bktx key rotate`). */
export interface Check {
  /** Stable: `config`, `settings`, `key`, `cache`, `keychain`, `tokens`, `token-endpoint`, `clock`, `jwks`, `jwks-kid`, `network`. */
  id: string
  status: CheckStatus
  /** What was found, in words (no flag names: the CLI renders `fix`). */
  message: string
  /** What fixes it; set for every WARN and FAIL. */
  fix?: Advice
}

export function pass(id: string, message: string): Check {
  return { id, status: 'pass', message }
}

export function warn(id: string, message: string, fix: Advice): Check {
  return { id, status: 'warn', message, fix }
}

export function fail(id: string, message: string, fix: Advice): Check {
  return { id, status: 'fail', message, fix }
}

export function failed(checks: readonly Check[]): Check[] {
  return checks.filter((c) => c.status === 'fail')
}

/** A FAIL from an error: its message, and its advice (or `fallback` when it has none). */
export function errorCheck(id: string, error: BktxError, fallback: Advice): Check {
  return fail(id, error.message, error.advice !== undefined && error.advice.length > 0 ? error.advice : fallback)
}
