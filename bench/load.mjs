// The reference server under abuse, run in this process from dist/server-internal.js as
// test/security/load.test.ts runs it (that test asserts what is answered; this measures how fast
// and how much heap):
// - valid exchanges from 25 connections alone, then beside a flood of garbage (forged
//   signatures, expired assertions, junk forms) from 50 more;
// - heap growth over 3,000 requests at a small store cap, where every request is refused.
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import autocannon from 'autocannon'
import { exportJWK } from 'jose'
import { createTokenServer, listen, parseServerConfig } from '../dist/server-internal.js'

const CLIENT_ID = '0123456789abcdef0123'
const MEMBER = 'dev@acme.test'
const KID = 'bench'

function ecKey() {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' })
}

const b64u = (value) => Buffer.from(value).toString('base64url')

/** A compact ES256 JWS signed with node:crypto: tens of thousands are signed per run. */
function jws(payload, privateKey) {
  const input = `${b64u(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: KID }))}.${b64u(JSON.stringify(payload))}`
  return `${input}.${b64u(sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }))}`
}

function exchangeBody(assertion) {
  return new URLSearchParams({
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: assertion,
    subject_token: MEMBER,
    subject_token_type: 'urn:buildkite:params:oauth:token-type:user-email',
    audience: 'acme',
  }).toString()
}

/** `count` exchange bodies, each with its own jti, signed by `privateKey` at `nowS`. */
function bodies(server, privateKey, count, nowS = Math.floor(Date.now() / 1000)) {
  return Array.from({ length: count }, () =>
    exchangeBody(jws({ iss: CLIENT_ID, sub: CLIENT_ID, aud: server.tokenUrl, iat: nowS, exp: nowS + 120, jti: randomUUID() }, privateKey)),
  )
}

async function start(publicKey, limits) {
  const jwk = { ...(await exportJWK(publicKey)), kid: KID, use: 'sig', alg: 'ES256' }
  const config = await parseServerConfig(
    {
      organizations: [{ slug: 'acme', members: [{ email: MEMBER }] }],
      apps: [{ client_id: CLIENT_ID, org: 'acme', jwks: { keys: [jwk] }, grantable_scopes: ['read_builds'], default_scopes: ['read_builds'], max_ttl: 3600 }],
    },
    'bench config',
  )
  const server = await createTokenServer(config, { clock: { now: () => new Date() }, fetch, ...(limits === undefined ? {} : { limits }) })
  const listening = await listen(server.handler, { host: '127.0.0.1', port: 0 })
  return {
    url: listening.url,
    tokenUrl: `${listening.url}/oauth/token`,
    stop: async () => {
      await listening.close(100)
      server.close()
    },
  }
}

/** Each request takes the next body of the pool (cycling, which shows as non-2xx replays). */
function run(url, pool, { connections, duration, amount }) {
  let next = 0
  return autocannon({
    url,
    connections,
    ...(duration === undefined ? {} : { duration }),
    ...(amount === undefined ? {} : { amount }),
    requests: [
      {
        method: 'POST',
        path: '/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        setupRequest: (req) => ({ ...req, body: pool[next++ % pool.length] }),
      },
    ],
  })
}

function summary(result) {
  const seconds = (result.finish.getTime() - result.start.getTime()) / 1000
  return {
    requests: result.requests.total,
    rps: Math.round(result.requests.total / seconds),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    statuses: Object.fromEntries(Object.entries(result.statusCodeStats).map(([status, { count }]) => [status, count])),
  }
}

export async function benchLoad({ duration = 5, validConnections = 25, floodConnections = 50 } = {}) {
  const { privateKey, publicKey } = ecKey()
  const intruder = ecKey()
  const results = {}

  let server = await start(publicKey)
  try {
    // More bodies than the fastest run here can use: a replayed jti would count as non-2xx.
    const pool = (count) => bodies(server, privateKey, count)
    results.alone = summary(await run(server.url, pool(60_000), { connections: validConnections, duration }))
    const now = Math.floor(Date.now() / 1000)
    const junk = [
      'grant_type=x',
      'a=1&a=2',
      '%%%',
      'client_assertion=a.b.c&grant_type=urn:ietf:params:oauth:grant-type:token-exchange&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      'x'.repeat(2000),
    ]
    const garbage = [
      ...bodies(server, intruder.privateKey, 500, now),
      ...bodies(server, privateKey, 200, now - 3600),
      ...junk.flatMap((j) => Array(60).fill(j)),
    ]
    const valid = pool(60_000)
    const [underFlood, flood] = await Promise.all([
      run(server.url, valid, { connections: validConnections, duration }),
      run(server.url, garbage, { connections: floodConnections, duration }),
    ])
    results.underFlood = summary(underFlood)
    results.flood = summary(flood)
  } finally {
    await server.stop()
  }
  // Completions within the one run, against the share the connection counts would give: a busy
  // machine slows both sides alike.
  const fair = validConnections / (validConnections + floodConnections)
  results.share = results.underFlood.requests / (results.underFlood.requests + results.flood.requests) / fair
  results.throughputRatio = results.underFlood.requests / results.alone.requests

  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc')
  server = await start(publicKey, { maxTokens: 500, maxJtis: 500 })
  try {
    await run(server.url, bodies(server, privateKey, 1_000), { connections: 50, amount: 1_000 })
    const pool = bodies(server, privateKey, 3_000)
    gc()
    const before = process.memoryUsage().heapUsed
    results.atCap = summary(await run(server.url, pool, { connections: 50, amount: 3_000 }))
    pool.length = 0
    gc()
    results.atCap.heapGrowthBytes = process.memoryUsage().heapUsed - before
  } finally {
    await server.stop()
  }
  return results
}
