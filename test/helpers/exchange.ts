import { createPublicKey, verify, type KeyObject } from 'node:crypto'
import type { ExchangeParams } from '../../src/exchange/types.js'
import { toAssertionKey } from '../../src/keys/signer.js'
import type { Sleep } from '../../src/http/retry.js'
import { makeKey } from './keys.js'

export const TOKEN_URL = 'https://buildkite.test/oauth/token'
export const API_URL = 'https://api.buildkite.test'
export const TOKEN = `bktx_${'a1B2'.repeat(10)}`

const keys = new Map<string, KeyObject>()
function key(kind: 'ES256' | 'RS256'): KeyObject {
  let k = keys.get(kind)
  if (k === undefined) keys.set(kind, (k = makeKey(kind).privateKey))
  return k
}

/** Exchange parameters with a fresh-per-file key; override any field. */
export function makeParams(overrides: Partial<ExchangeParams> = {}, kind: 'ES256' | 'RS256' = 'ES256'): ExchangeParams {
  return {
    tokenUrl: TOKEN_URL,
    clientId: '0123456789abcdef0123',
    key: toAssertionKey(key(kind), 'test-kid', 'test key'),
    org: 'acme',
    subject: 'dev+ci@acme.test',
    subjectType: 'email',
    scopes: ['read_builds', 'read_pipelines'],
    ttl: 900,
    ...overrides,
  }
}

/** A docs/token-exchange.md §4 success body. */
export function tokenBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    access_token: TOKEN,
    issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    token_type: 'Bearer',
    expires_in: 900,
    scope: 'read_builds read_pipelines',
    ...overrides,
  }
}

export function jsonResponse(body: unknown, init: { status?: number; headers?: Record<string, string> } = {}): Response {
  return new Response(typeof body === 'string' ? body : JSON.stringify(body), {
    status: init.status ?? 200,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...init.headers },
  })
}

/** A sleep that returns at once and records what it was asked to wait, in ms. */
export function recordingSleep(): Sleep & { waits: number[] } {
  const waits: number[] = []
  const sleep: Sleep = async (ms, signal) => {
    if (signal.aborted) throw signal.reason
    waits.push(ms)
  }
  return Object.assign(sleep, { waits })
}

export interface DecodedJWS {
  header: Record<string, unknown>
  payload: Record<string, unknown>
}

/** Verifies a compact JWS with node:crypto alone (not jose, which signed it) and decodes it. */
export function verifyJWS(jws: string, key: KeyObject): DecodedJWS {
  const parts = jws.split('.')
  if (parts.length !== 3) throw new Error('not a compact JWS')
  const [h, p, s] = parts as [string, string, string]
  const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>
  const publicKey = key.type === 'private' ? createPublicKey(key) : key
  const data = Buffer.from(`${h}.${p}`)
  const signature = Buffer.from(s, 'base64url')
  const ok =
    header['alg'] === 'ES256'
      ? verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)
      : header['alg'] === 'RS256'
        ? verify('sha256', data, publicKey, signature)
        : false
  if (!ok) throw new Error(`signature does not verify (alg ${String(header['alg'])})`)
  return { header, payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown> }
}

/** The error a promise rejects with; fails the test when it resolves. */
export async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (error) {
    return error as Error
  }
  throw new Error('expected a failure')
}
