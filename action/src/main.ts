// The Action's main step: mint one Buildkite API token with bktx's library, in this process,
// and hand it to the job. Order matters: the private key is masked before anything else is
// read or printed, and the token before any output or variable names it. Nothing is cached and
// nothing is written but the runner's own file commands (no key file: the key reaches bktx as an
// `env:` source in an in-memory environment object).
import { getToken, MemorySecretStore } from '../../src/api/index.js'
import { SETTINGS } from '../../src/config/settings.js'
import { parseDuration } from '../../src/time/duration.js'
import { describeError, InputError, KEY_VARIABLE } from './describe.js'
import { command, fileCommand, input, mask, rawInput, type Env, type Runner } from './runner.js'

export async function main(runner: Runner, now: () => Date = () => new Date()): Promise<number> {
  const env = runner.env
  // First of all: every line of the key, before validation could echo anything.
  const privateKey = rawInput(env, 'private-key')
  if (privateKey.trim() !== '') mask(runner, privateKey)
  try {
    const options = readInputs(env, privateKey)
    const token = await getToken({
      ...options.settings,
      env: options.env,
      // Only the inputs: no profile file of the runner's user, and no cache (a self-hosted
      // runner's next job, maybe another repository's, must not be served this token).
      config: false,
      cache: 'none',
      secretStore: new MemorySecretStore(),
      timeoutMs: options.timeoutMs,
      onNotice: (message) => command(runner, 'notice', message),
    })
    mask(runner, token.token)
    const expiresAt = token.expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z')
    const expiresIn = String(Math.max(0, Math.round((token.expiresAt.getTime() - now().getTime()) / 1000)))
    if (options.revoke) {
      // The post step revokes exactly this token, whatever a later step does to the variable.
      fileCommand(runner, 'GITHUB_STATE', 'token', token.token)
      fileCommand(runner, 'GITHUB_STATE', 'api-url', options.apiUrl ?? '')
      fileCommand(runner, 'GITHUB_STATE', 'token-url', options.settings.tokenUrl ?? '')
    }
    fileCommand(runner, 'GITHUB_OUTPUT', 'token', token.token)
    fileCommand(runner, 'GITHUB_OUTPUT', 'expires-at', expiresAt)
    fileCommand(runner, 'GITHUB_OUTPUT', 'expires-in', expiresIn)
    fileCommand(runner, 'GITHUB_OUTPUT', 'scopes', token.scopes.join(' '))
    if (options.exportEnv) {
      // The names the bk CLI and Buildkite's Terraform provider read.
      fileCommand(runner, 'GITHUB_ENV', 'BUILDKITE_API_TOKEN', token.token)
      fileCommand(runner, 'GITHUB_ENV', 'BKTX_TOKEN_EXPIRES_AT', expiresAt)
    }
    runner.write(`Minted a Buildkite API token (scopes: ${token.scopes.join(' ') || 'none'}; expires ${expiresAt})\n`)
    return 0
  } catch (error) {
    command(runner, 'error', describeError(error))
    return 1
  }
}

interface Options {
  settings: {
    clientId?: string
    org?: string
    subject?: string
    key: string
    publicKey?: string
    kid?: string
    scopes?: string[]
    ttl?: number
    tokenUrl?: string
  }
  apiUrl: string | undefined
  env: Env
  timeoutMs: number
  exportEnv: boolean
  revoke: boolean
}

const optional = (value: string) => (value === '' ? undefined : value)

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const value = input(env, name)
  if (value === '') return fallback
  // The YAML 1.2 core schema's booleans, as core.getBooleanInput accepts them.
  if (['true', 'True', 'TRUE'].includes(value)) return true
  if (['false', 'False', 'FALSE'].includes(value)) return false
  throw new InputError(`${name}: must be true or false, not "${value}"`)
}

function seconds(env: Env, name: string): number | undefined {
  const value = input(env, name)
  if (value === '') return undefined
  const parsed = parseDuration(value)
  if (parsed === undefined || parsed === 0) throw new InputError(`${name}: must be a duration such as 900, 15m or 1h, not "${value}"`)
  return parsed
}

export function readInputs(env: Env, privateKey: string): Options {
  const key = input(env, 'key')
  const hasPrivateKey = privateKey.trim() !== ''
  if (hasPrivateKey && key !== '') throw new InputError('give one of private-key or key, not both')
  if (!hasPrivateKey && key === '') {
    // The usual cause: GitHub does not pass secrets to workflows run for pull requests from forks.
    throw new InputError(
      'private-key is empty and no key is given: if private-key comes from a secret, that secret is not set, or this run is for a pull request from a fork (GitHub does not pass secrets to workflows triggered from forks); give private-key (the PEM or JWK text, from a secret) or key',
    )
  }
  if (/^pkcs11:/i.test(key))
    throw new InputError("key: a pkcs11: key needs bktx's PKCS#11 binding, which this action does not carry; use an exec: signer or private-key")
  const scope = input(env, 'scope')
  const ttl = seconds(env, 'ttl')
  const timeout = seconds(env, 'timeout')
  const settings: Options['settings'] = { key: hasPrivateKey ? `env:${KEY_VARIABLE}` : key }
  const set = <K extends keyof Options['settings']>(name: K, value: Options['settings'][K] | undefined) => {
    if (value !== undefined) settings[name] = value
  }
  set('clientId', optional(input(env, 'client-id')))
  set('org', optional(input(env, 'org')))
  set('subject', optional(input(env, 'subject')))
  set('publicKey', optional(input(env, 'public-key')))
  set('kid', optional(input(env, 'kid')))
  set('tokenUrl', optional(input(env, 'token-url')))
  set('ttl', ttl)
  if (scope !== '') settings.scopes = scope.split(/[\s,]+/).filter((s) => s !== '')
  return {
    settings,
    apiUrl: optional(input(env, 'api-url')),
    env: bktxEnv(env, hasPrivateKey ? privateKey : undefined),
    timeoutMs: (timeout ?? 30) * 1000,
    exportEnv: boolean(env, 'export-env', true),
    revoke: boolean(env, 'revoke', true),
  }
}

// What bktx reads from its environment as settings: the inputs replace all of them.
const SETTING_VARIABLES = new Set([...Object.values(SETTINGS).map((spec) => spec.env), 'BKTX_PROFILE', 'BKTX_CONFIG', 'BKTX_PKCS11_PIN'])

/**
 * The environment bktx sees: the job's (proxies, HOME, what an exec: signer needs) without
 * bktx's own setting variables, which would otherwise fill in what the inputs leave unset (the
 * inputs are the whole configuration), and without the inputs and state; the key text only
 * here, in memory.
 */
export function bktxEnv(env: Env, privateKey: string | undefined): Env {
  const out: Env = Object.create(null)
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith('INPUT_') || name.startsWith('STATE_') || SETTING_VARIABLES.has(name)) continue
    out[name] = value
  }
  if (privateKey !== undefined) out[KEY_VARIABLE] = privateKey
  return out
}
