// Errors as one `::error::` line: bktx's message and advice, with settings named as this
// action's inputs (the inputs are named after the settings).
import { isBktxError, type Advice, type AdvicePart } from '../../src/api/index.js'

/** The inputs of action.yml, in its order. */
export const INPUTS = [
  'client-id',
  'org',
  'subject',
  'private-key',
  'key',
  'public-key',
  'kid',
  'scope',
  'ttl',
  'token-url',
  'api-url',
  'export-env',
  'revoke',
  'timeout',
] as const

/** The environment variable that carries the private-key input to bktx's `env:` key source, in memory only. */
export const KEY_VARIABLE = 'BKTX_ACTION_PRIVATE_KEY'

const isInput = (name: string) => (INPUTS as readonly string[]).includes(name)
const named = (name: string) => (isInput(name) ? `the ${name} input` : `bktx's ${name} setting`)

function part(p: AdvicePart): string {
  if (typeof p === 'string') return p
  if ('setting' in p) return named(p.setting)
  if ('option' in p) return p.option === 'timeout' ? 'the timeout input' : p.value === undefined ? `the ${p.option} option` : `${p.option} ${p.value}`
  if ('set' in p) return p.value === undefined ? `set ${named(p.set)}` : `set ${named(p.set)} to ${p.value}`
  return `bktx ${p.command}`
}

function adviceOf(advice: Advice | undefined): string {
  return (advice ?? []).map(part).join('')
}

/** An error in one line: message, then advice after a semicolon, as bktx's CLI writes it. */
export function describeError(error: unknown): string {
  if (isBktxError(error)) {
    const advice = adviceOf(error.advice)
    const text = advice === '' ? error.message : `${error.message}; ${advice}`
    return `${text.replaceAll(`env:${KEY_VARIABLE}`, 'the private-key input').replaceAll(KEY_VARIABLE, 'the private-key input')} [${error.code}]`
  }
  if (error instanceof InputError) return error.message
  return `unexpected failure: ${error instanceof Error ? error.message : String(error)}`
}

/** A bad input of this action (not a bktx setting problem). */
export class InputError extends Error {}
