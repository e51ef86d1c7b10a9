import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto'
import { SignJWT, calculateJwkThumbprint, exportJWK, type JWK } from 'jose'
import { createTokenServer, type TokenServer } from '../../src/server/app.js'
import { parseServerConfig } from '../../src/server/config/config.js'
import { listen, type Listening } from '../../src/http/listen.js'
import type { FetchLike } from '../../src/deps.js'
import type { StoreLimits } from '../../src/server/state/store.js'
import type { Clock } from '../../src/time/clock.js'
import { postForm, type HttpResponse } from './http.js'
import { rsaFixture } from './rsa-fixtures.js'

export const CLIENT_ID = '0123456789abcdef0123'
export const ORG = 'acme'
export const MEMBER = 'dev@acme.test'

export interface TestKey {
  kid: string
  alg: 'ES256' | 'RS256'
  privateKey: KeyObject
  publicJwk: JWK
}

export async function testKey(alg: 'ES256' | 'RS256' = 'ES256', kid?: string): Promise<TestKey> {
  const { privateKey, publicKey } = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : rsaFixture(2048)
  const members = await exportJWK(publicKey)
  const id = kid ?? (await calculateJwkThumbprint(members))
  return { kid: id, alg, privateKey, publicJwk: { ...members, kid: id, use: 'sig', alg } }
}

export interface RunningServer {
  url: string
  tokenUrl: string
  server: TokenServer
  listening: Listening
  key: TestKey
  stop(): Promise<void>
}

/** A config document with one org, one app and some members; `patch` edits it. */
export function baseConfig(key: TestKey, patch: (doc: any) => void = () => undefined): any {
  const doc = {
    organizations: [
      {
        slug: ORG,
        members: [
          { email: MEMBER, uuid: '11111111-2222-4333-8444-555555555555', name: 'Dev' },
          { email: 'gone@acme.test', active: false },
          { email: 'unverified@acme.test', verified: false },
        ],
      },
      { slug: 'other-org', members: [{ email: MEMBER }] },
      { slug: 'disabled', token_exchange_enabled: false, members: [{ email: MEMBER }] },
    ],
    apps: [
      {
        client_id: CLIENT_ID,
        org: ORG,
        name: 'test app',
        jwks: { keys: [key.publicJwk] },
        grantable_scopes: ['read_builds', 'read_pipelines', 'read_user'],
        default_scopes: ['read_builds'],
        max_ttl: 3600,
      },
      { client_id: 'disabled-app', org: 'disabled', jwks: { keys: [key.publicJwk] }, grantable_scopes: ['read_builds'], default_scopes: ['read_builds'] },
    ],
  }
  patch(doc)
  return doc
}

export interface StartServerOptions {
  doc?: any
  key?: TestKey
  clock?: Clock
  stateDir?: string | undefined
  limits?: StoreLimits
  jwksCooldownMs?: number
  /** The server's outbound fetch (JWKS URIs); default the global fetch. */
  fetch?: FetchLike
  log?: string[]
  /** Private reasons on the log lines of refused requests. */
  verbose?: boolean
  repairState?: boolean
  host?: string
  requestTimeoutMs?: number
  headersTimeoutMs?: number
}

export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const key = options.key ?? (await testKey())
  const config = await parseServerConfig(options.doc ?? baseConfig(key), 'test config')
  const server = await createTokenServer(config, {
    clock: options.clock ?? { now: () => new Date() },
    fetch: options.fetch ?? ((input, init) => fetch(input, init)),
    stateDir: options.stateDir,
    process: { pid: process.pid, uid: process.getuid?.(), isAlive },
    ...(options.repairState === undefined ? {} : { repairState: options.repairState }),
    ...(options.verbose === undefined ? {} : { verbose: options.verbose }),
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    ...(options.jwksCooldownMs === undefined ? {} : { jwksCooldownMs: options.jwksCooldownMs }),
    log: (line) => options.log?.push(line),
  })
  const listening = await listen(server.handler, {
    host: options.host ?? '127.0.0.1',
    port: 0,
    expectations: 'handler',
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
    ...(options.headersTimeoutMs === undefined ? {} : { headersTimeoutMs: options.headersTimeoutMs }),
  })
  return {
    url: listening.url,
    tokenUrl: `${listening.url}/oauth/token`,
    server,
    listening,
    key,
    stop: async () => {
      await listening.close(100)
      server.close()
    },
  }
}

export interface AssertionOptions {
  key?: TestKey
  clientId?: string
  aud?: unknown
  now?: number
  lifetime?: number
  claims?: Record<string, unknown>
  header?: Record<string, unknown>
  omit?: string[]
}

/** A client assertion as `bktx sign` makes it, with overrides for negative tests. */
export async function assertion(server: { tokenUrl: string; key: TestKey }, options: AssertionOptions = {}): Promise<string> {
  const key = options.key ?? server.key
  const now = options.now ?? Math.floor(Date.now() / 1000)
  const clientId = options.clientId ?? CLIENT_ID
  const claims: Record<string, unknown> = {
    iss: clientId,
    sub: clientId,
    aud: options.aud ?? server.tokenUrl,
    iat: now,
    exp: now + (options.lifetime ?? 60),
    jti: randomUUID(),
    ...options.claims,
  }
  for (const name of options.omit ?? []) delete claims[name]
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, typ: 'JWT', kid: key.kid, ...options.header }).sign(key.privateKey)
}

export const EXCHANGE = {
  grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
  client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
  subject_token_type: 'urn:buildkite:params:oauth:token-type:user-email',
  subject_token: MEMBER,
  audience: ORG,
}

/** POSTs an exchange with a fresh assertion; `fields` override or (undefined) remove fields. */
export async function exchange(
  server: RunningServer,
  fields: Record<string, string | undefined> = {},
  options: AssertionOptions & { path?: string; headers?: Record<string, string>; localAddress?: string } = {},
): Promise<HttpResponse> {
  const form = { ...EXCHANGE, client_assertion: await assertion(server, options), ...fields }
  return postForm(`${server.url}${options.path ?? '/oauth/token'}`, form, {
    ...(options.headers === undefined ? {} : { headers: options.headers }),
    ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
  })
}

/** kill(pid, 0), as the entry points test a lock holder. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
