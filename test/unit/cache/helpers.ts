import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto'
import type { ExchangeParams, Exchanger, TokenResult } from '../../../src/exchange/types.js'
import type { AssertionKey } from '../../../src/keys/signer.js'
import type { Clock } from '../../../src/time/clock.js'

const privateKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
/** The cache only reads the fingerprint; the key object is never used. */
export const TEST_KEY: AssertionKey = {
  alg: 'ES256',
  kid: 'kid-1',
  publicKey: createPublicKey(privateKey),
  source: 'test key',
  sign: async () => {
    throw new Error('the cache never signs')
  },
  fingerprint: 'fp-0000000000000000000000000000000000000000000',
}

export function testParams(overrides: Partial<ExchangeParams> = {}): ExchangeParams {
  return {
    tokenUrl: 'https://buildkite.test/oauth/token',
    clientId: '0123456789abcdef0123',
    key: TEST_KEY,
    org: 'acme',
    subject: 'dev@acme.test',
    subjectType: 'email',
    scopes: ['read_builds', 'read_pipelines'],
    ttl: 3600,
    ...overrides,
  }
}

export interface FixedClock extends Clock {
  advance(seconds: number): void
  set(date: Date): void
}

/** A clock that only moves when told to. */
export function fixedClock(start = new Date('2026-01-01T00:00:00.000Z')): FixedClock {
  let now = start.getTime()
  return {
    now: () => new Date(now),
    advance: (seconds) => void (now += seconds * 1000),
    set: (date) => void (now = date.getTime()),
  }
}

/** An exchanger that counts its calls and mints a distinct `bktx_` token each time. */
export function fakeExchanger(clock: Clock, options: { expiresIn?: number } = {}): { exchange: Exchanger; count: () => number; tokens: string[] } {
  const tokens: string[] = []
  const exchange: Exchanger = async (params) => {
    const accessToken = `bktx_${randomBytes(20).toString('hex')}`
    tokens.push(accessToken)
    const receivedAt = clock.now()
    const expiresIn = options.expiresIn ?? params.ttl ?? 3600
    const result: TokenResult = {
      accessToken,
      tokenType: 'Bearer',
      issuedTokenType: 'urn:ietf:params:oauth:token-type:access_token',
      expiresIn,
      scopes: [...params.scopes].sort(),
      receivedAt,
      expiresAt: new Date(receivedAt.getTime() + expiresIn * 1000),
    }
    return result
  }
  return { exchange, count: () => tokens.length, tokens }
}
