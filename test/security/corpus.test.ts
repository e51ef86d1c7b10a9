/**
 * The attack corpus (issue 5): every case is one request against the real reference server over
 * loopback. Each asserts the exact OAuth error and description, the audit record's private
 * detail (which pins the check that caught it, so removing that check fails the case even where
 * a later layer would still refuse), that nothing was minted (audit log, token store and jti
 * cache unchanged), that nothing outside the registered JWKS URI was fetched and the canary
 * listener named by jku/x5u/kid was never contacted, and that the next valid exchange works.
 */
import { createPrivateKey, randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { parseServerConfig } from '../../src/server/config/config.js'
import { FORM, http } from '../helpers/http.js'
import {
  attackerCertificate,
  b64u,
  es256,
  es256Der,
  fixed,
  forgedForExponentOne,
  hmac,
  jws,
  makeKey,
  P256_N,
  rs256,
  segment,
  startListener,
  startSecurityServer,
  writeFigures,
  type Key,
  type Listener,
  type SecurityServer,
  type Signer,
} from './support.js'

// Test and hook timeouts are kill timers, about ten times what a loaded 2-core machine needs:
// no test here bounds a duration.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 })

const CLIENT = '0123456789abcdef0123'
const MEMBER = 'dev@acme.test'
const MEMBER_UUID = '11111111-2222-4333-8444-555555555555'
const EXCHANGE = {
  grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
  client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
  subject_token_type: 'urn:buildkite:params:oauth:token-type:user-email',
  subject_token: MEMBER,
  audience: 'acme',
}

// The public descriptions (docs/token-exchange.md §5 and docs/reference-server.md's choices), verbatim.
const AUTH = 'Client authentication failed'
const SIG = 'Invalid client assertion signature'
const AUD = 'JWT `aud` claim is invalid'
const EXP = 'JWT `exp` claim must be in the future'
const REPLAY = 'JWT has already been used (jti)'
const SUBJECT = 'Subject user must be an active member of the organization'
const EXCEEDS = 'Requested scopes exceed grantable scopes'
const MALFORMED_SCOPE = 'Requested scope is malformed'
const TARGET = 'Invalid audience organization'
const EXPIRES_IN = '`expires_in` must be a positive whole number of seconds'

interface Answer {
  status: number
  json: any
}

interface Expected {
  status: number
  error: string
  description: string
  /** The audit record's private detail: which check refused the request. */
  detail: RegExp
}

const client = (detail: RegExp, description: string = AUTH): Expected => ({ status: 401, error: 'invalid_client', description, detail })
/**
 * Failures that depend on what the server knows before the signature verifies (client id, IP
 * list, kid, JWKS) share the documented signature description: no oracle for a caller without
 * the key (docs/token-exchange.md §5).
 */
const unverified = (detail: RegExp): Expected => client(detail, SIG)
const request = (description: string, detail: RegExp = /.*/): Expected => ({ status: 400, error: 'invalid_request', description, detail })
const scope = (description: string, detail: RegExp): Expected => ({ status: 400, error: 'invalid_scope', description, detail })

let server: SecurityServer
let canary: Listener
let jwksHost: Listener
let hostileHost: Listener // a JWKS host under an attacker's control
let ec: Key // registered, kid ec-1, JWK with alg ES256
let rsa: Key // registered, kid rsa-1, JWK without alg: the key type alone must bind the algorithm
let intruder: Key // not registered
let intruderRsa: Key
let weak: Key // RSA-1024, only on the JWKS URI
let uriEc: Key // a good key on the JWKS URI
let cert: { der: Buffer; privateKey: string }

beforeAll(async () => {
  ;[ec, rsa, intruder, intruderRsa, weak, uriEc, cert] = await Promise.all([
    makeKey('EC', 'ec-1'),
    makeKey('RSA', 'rsa-1', false),
    makeKey('EC', 'intruder'),
    makeKey('RSA', 'intruder-rsa'),
    makeKey('RSA-1024', 'weak'),
    makeKey('EC', 'uri-ec'),
    attackerCertificate(),
  ])
  canary = await startListener({ keys: [intruder.jwk] })
  jwksHost = await startListener({ keys: [weak.jwk, uriEc.jwk, { ...rsa.jwk, kid: 'e1', e: 'AQ' }, { ...rsa.jwk, kid: 'e2', e: 'Ag' }] })
  hostileHost = await startListener({ keys: [] })
  server = await startSecurityServer(corpusConfig(), { jwksCooldownMs: 0 })
})

afterAll(async () => {
  await server?.stop()
  await canary?.close()
  await jwksHost?.close()
  await hostileHost?.close()
})

function corpusConfig(): unknown {
  const scopes = { grantable_scopes: ['read_builds', 'read_pipelines', 'read_user'], default_scopes: ['read_builds'] }
  return {
    organizations: [
      {
        slug: 'acme',
        members: [
          { email: MEMBER, uuid: MEMBER_UUID, name: 'Dev' },
          { email: 'gone@acme.test', active: false },
          { email: 'unverified@acme.test', verified: false },
        ],
      },
      { slug: 'other-org', members: [{ email: MEMBER }] },
      { slug: 'disabled', token_exchange_enabled: false, members: [{ email: MEMBER }] },
    ],
    apps: [
      { client_id: CLIENT, org: 'acme', name: 'corpus', jwks: { keys: [ec.jwk, rsa.jwk] }, ...scopes },
      { client_id: 'uri-app', org: 'acme', jwks_uri: `${jwksHost.url}/jwks.json`, ...scopes },
      { client_id: 'ip-app', org: 'acme', jwks: { keys: [ec.jwk] }, exchange_ips: ['127.0.0.1/32'], ...scopes },
      { client_id: 'other-app', org: 'other-org', jwks: { keys: [ec.jwk] }, ...scopes },
      { client_id: 'hostile-uri-app', org: 'acme', jwks_uri: `${hostileHost.url}/jwks.json`, ...scopes },
    ],
    allow_http_jwks: true,
    // The corpus proves the strict header policy; the default (lenient) one: server/oauth-answers.test.ts.
    strict_jws_header: true,
  }
}

// ---------------------------------------------------------------------------------------------
// Building requests

const nowS = (): number => Math.floor(Date.now() / 1000)

function claims(over: Record<string, unknown> = {}, omit: string[] = []): Record<string, unknown> {
  const now = nowS()
  const out: Record<string, unknown> = { iss: CLIENT, sub: CLIENT, aud: server.tokenUrl, iat: now, exp: now + 60, jti: randomUUID(), ...over }
  for (const name of omit) delete out[name]
  return out
}

const header = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ alg: 'ES256', typ: 'JWT', kid: 'ec-1', ...over })

/** An assertion signed by the registered EC key, with header and claim overrides. */
const good = (claimOver: Record<string, unknown> = {}, headerOver: Record<string, unknown> = {}, omit: string[] = []): string =>
  jws(header(headerOver), claims(claimOver, omit), es256(ec.privateKey))

const byRsa = (claimOver: Record<string, unknown> = {}, headerOver: Record<string, unknown> = {}): string =>
  jws({ alg: 'RS256', typ: 'JWT', kid: 'rsa-1', ...headerOver }, claims(claimOver), rs256(rsa.privateKey))

interface PostOptions {
  headers?: Record<string, string>
  localAddress?: string
  path?: string
}

async function post(assertion: string, fields: Record<string, string | undefined> = {}, options: PostOptions = {}): Promise<Answer> {
  const form = Object.entries({ ...EXCHANGE, client_assertion: assertion, ...fields }).filter((e): e is [string, string] => e[1] !== undefined)
  return postBody(new URLSearchParams(form).toString(), options)
}

async function postBody(body: string, options: PostOptions = {}): Promise<Answer> {
  const response = await http(`${server.url}${options.path ?? '/oauth/token'}`, {
    method: 'POST',
    headers: { ...FORM, ...options.headers },
    body,
    ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
  })
  return { status: response.status, json: response.json }
}

/** Re-encodes one segment of a valid assertion, keeping the others (and the signature). */
function tamper(assertion: string, index: 0 | 1, edit: (value: Record<string, unknown>) => void): string {
  const parts = assertion.split('.')
  const value = JSON.parse(Buffer.from(parts[index] as string, 'base64url').toString()) as Record<string, unknown>
  edit(value)
  parts[index] = segment(value)
  return parts.join('.')
}

const nested = (depth: number): string => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`

const twoSegments = (signer: Signer): Buffer => signer('x')
const zeros = Buffer.alloc(32)
const rs = (r: Buffer, s: Buffer): Signer => fixed(Buffer.concat([r, s]))
const validRS = (): { r: Buffer; s: Buffer } => {
  const sig = es256(ec.privateKey)('whatever')
  return { r: sig.subarray(0, 32), s: sig.subarray(32) }
}
const plusOne = (n: Buffer): Buffer => {
  const out = Buffer.from(n)
  out[31] = (out[31] as number) + 1
  return out
}

// ---------------------------------------------------------------------------------------------
// The corpus

interface AttackCase {
  cls: string
  name: string
  send: () => Promise<Answer>
  expect: Expected
  /** A request that names another host (jku, x5u, kid URL): the canary must stay silent. */
  pointsElsewhere?: boolean
}

const cases: AttackCase[] = []
const add = (cls: string, name: string, expected: Expected, send: () => Promise<Answer>, pointsElsewhere = false): void => {
  cases.push({ cls, name, send, expect: expected, pointsElsewhere })
}

const ALG = /alg .* not allowed/
// ----- alg none, in any spelling (RFC 8725 §3.1)
for (const alg of ['none', 'None', 'NONE', 'nOnE', 'none ', ' none', 'none\u0000']) {
  add('alg none', `alg ${JSON.stringify(alg)} with a signature`, client(ALG), () => post(jws(header({ alg }), claims(), es256(ec.privateKey))))
}
add('alg none', 'alg none with an empty signature', client(/segment is empty or not base64url/), () =>
  post(`${segment(header({ alg: 'none' }))}.${segment(claims())}.`),
)
add('alg none', 'alg missing', client(ALG), () => post(jws({ typ: 'JWT', kid: 'ec-1' }, claims(), es256(ec.privateKey))))
add('alg none', 'alg null', client(ALG), () => post(good({}, { alg: null })))
add('alg none', 'alg as an array ["ES256"]', client(ALG), () => post(good({}, { alg: ['ES256'] })))
add('alg none', 'alg lower case es256', client(ALG), () => post(good({}, { alg: 'es256' })))
add('alg none', 'alg PS256 (RSA-PSS, not allowed)', client(ALG), () => post(jws({ alg: 'PS256', typ: 'JWT', kid: 'rsa-1' }, claims(), rs256(rsa.privateKey))))
add('alg none', 'alg EdDSA', client(ALG), () => post(good({}, { alg: 'EdDSA' })))

// ----- HMAC with the public key's bytes as the secret (key confusion, CVE-2016-10555 family)
const ecPem = (): string => ec.publicKey.export({ format: 'pem', type: 'spki' }).toString()
const rsaPem = (): string => rsa.publicKey.export({ format: 'pem', type: 'spki' }).toString()
add('key confusion', 'HS256 keyed with the EC public key PEM', client(ALG), () => post(jws(header({ alg: 'HS256' }), claims(), hmac('sha256', ecPem()))))
add('key confusion', 'HS256 keyed with the RSA public key PEM', client(ALG), () =>
  post(jws(header({ alg: 'HS256', kid: 'rsa-1' }), claims(), hmac('sha256', rsaPem()))),
)
add('key confusion', 'HS384 keyed with the RSA public key DER', client(ALG), () =>
  post(jws(header({ alg: 'HS384', kid: 'rsa-1' }), claims(), hmac('sha384', rsa.publicKey.export({ format: 'der', type: 'spki' })))),
)
add('key confusion', 'HS256 keyed with the JWK JSON', client(ALG), () => post(jws(header({ alg: 'HS256' }), claims(), hmac('sha256', JSON.stringify(ec.jwk)))))
add('key confusion', 'HS512 keyed with the JWK x coordinate', client(ALG), () =>
  post(jws(header({ alg: 'HS512' }), claims(), hmac('sha512', String(ec.jwk.x)))),
)
add('key confusion', 'HS256 without kid', client(ALG), () => post(jws({ alg: 'HS256', typ: 'JWT' }, claims(), hmac('sha256', ecPem()))))

// ----- ECDSA r = 0 / s = 0 (CVE-2022-21449 "psychic signatures") and out-of-range r, s
const BAD_SIG = client(/signature does not verify/, SIG)
add('ECDSA r,s', 'r = 0, s = 0', BAD_SIG, () => post(jws(header(), claims(), rs(zeros, zeros))))
add('ECDSA r,s', 'r = 0, s valid', BAD_SIG, () => post(jws(header(), claims(), rs(zeros, validRS().s))))
add('ECDSA r,s', 'r valid, s = 0', BAD_SIG, () => post(jws(header(), claims(), rs(validRS().r, zeros))))
add('ECDSA r,s', 'r = s = n (the group order)', BAD_SIG, () => post(jws(header(), claims(), rs(P256_N, P256_N))))
add('ECDSA r,s', 'r = n + 1, s = n + 1 (≡ 1 mod n)', BAD_SIG, () => post(jws(header(), claims(), rs(plusOne(P256_N), plusOne(P256_N)))))
add('ECDSA r,s', 'r = s = 2^256 - 1', BAD_SIG, () => post(jws(header(), claims(), rs(Buffer.alloc(32, 0xff), Buffer.alloc(32, 0xff)))))
add('ECDSA r,s', 'a 63-byte signature', BAD_SIG, () => post(jws(header(), claims(), (i) => es256(ec.privateKey)(i).subarray(1))))
add('ECDSA r,s', 'a 65-byte signature', BAD_SIG, () => post(jws(header(), claims(), (i) => Buffer.concat([Buffer.from([0]), es256(ec.privateKey)(i)]))))

// ----- DER-encoded ECDSA signatures (JWS wants the raw r||s, RFC 7518 §3.4)
add('DER signature', 'a valid signature in DER encoding', BAD_SIG, () => post(jws(header(), claims(), es256Der(ec.privateKey))))
add('DER signature', 'DER without kid', BAD_SIG, () => post(jws({ alg: 'ES256', typ: 'JWT' }, claims(), es256Der(ec.privateKey))))
add('DER signature', 'DER truncated to 64 bytes', BAD_SIG, () => post(jws(header(), claims(), (i) => es256Der(ec.privateKey)(i).subarray(0, 64))))

// ----- A valid signature by another key under a registered kid
add('foreign key', 'EC intruder key under kid ec-1', BAD_SIG, () => post(jws(header(), claims(), es256(intruder.privateKey))))
add('foreign key', 'RSA intruder key under kid rsa-1', BAD_SIG, () =>
  post(jws({ alg: 'RS256', typ: 'JWT', kid: 'rsa-1' }, claims(), rs256(intruderRsa.privateKey))),
)
add('foreign key', 'EC intruder key without kid', BAD_SIG, () => post(jws({ alg: 'ES256', typ: 'JWT' }, claims(), es256(intruder.privateKey))))
add('foreign key', 'RSA intruder key without kid', BAD_SIG, () => post(jws({ alg: 'RS256', typ: 'JWT' }, claims(), rs256(intruderRsa.privateKey))))
add('foreign key', 'intruder key under the JWKS URI kid uri-ec', BAD_SIG, () =>
  post(jws(header({ kid: 'uri-ec' }), claims({ iss: 'uri-app', sub: 'uri-app' }), es256(intruder.privateKey))),
)

// ----- kid values: unknown, empty, non-string, hostile
const KID_SHAPE = /kid is not a non-empty string/
const NO_KEY = /no key in the JWKS matches/
add('kid', 'unknown kid', unverified(NO_KEY), () => post(good({}, { kid: 'nope' })))
add('kid', 'kid of another app', unverified(NO_KEY), () => post(good({}, { kid: 'uri-ec' })))
add('kid', 'kid with a trailing space', unverified(NO_KEY), () => post(good({}, { kid: 'ec-1 ' })))
add('kid', 'kid in another case', unverified(NO_KEY), () => post(good({}, { kid: 'EC-1' })))
add('kid', 'kid with a Cyrillic homoglyph', unverified(NO_KEY), () => post(good({}, { kid: 'е' + 'c-1' })))
add('kid', 'kid with a NUL byte', unverified(NO_KEY), () => post(good({}, { kid: 'ec-1\u0000' })))
add('kid', 'kid "__proto__"', unverified(NO_KEY), () => post(good({}, { kid: '__proto__' })))
add('kid', 'kid "constructor"', unverified(NO_KEY), () => post(good({}, { kid: 'constructor' })))
add('kid', 'kid with path traversal', unverified(NO_KEY), () => post(good({}, { kid: '../../../../etc/passwd' })))
add('kid', 'kid with SQL', unverified(NO_KEY), () => post(good({}, { kid: "' OR '1'='1' --" })))
add('kid', 'kid naming a URL (the canary)', unverified(NO_KEY), () => post(good({}, { kid: `${canary.url}/kid` })), true)
add('kid', 'kid of 255 characters (allowed shape, unknown)', unverified(NO_KEY), () => post(good({}, { kid: 'k'.repeat(255) })))
add('kid', 'empty kid', client(KID_SHAPE), () => post(good({}, { kid: '' })))
add('kid', 'kid of 256 characters', client(KID_SHAPE), () => post(good({}, { kid: 'k'.repeat(256) })))
for (const kid of [0, 1, true, null, ['ec-1'], { kid: 'ec-1' }]) {
  add('kid', `kid ${JSON.stringify(kid)}`, client(KID_SHAPE), () => post(good({}, { kid })))
}

// ----- Key references in the header: never followed (RFC 8725 §3.10)
const REFERENCE = /key references are never followed/
add(
  'key reference',
  'jku naming an attacker JWKS',
  client(REFERENCE),
  () => post(jws(header({ jku: `${canary.url}/jwks.json`, kid: 'intruder' }), claims(), es256(intruder.privateKey))),
  true,
)
add('key reference', 'jku plus the registered kid and key', client(REFERENCE), () => post(good({}, { jku: `${canary.url}/jwks.json` })), true)
add(
  'key reference',
  'jku on the JWKS URI app',
  client(REFERENCE),
  () => post(jws(header({ jku: `${canary.url}/jwks.json`, kid: 'intruder' }), claims({ iss: 'uri-app', sub: 'uri-app' }), es256(intruder.privateKey))),
  true,
)
add(
  'key reference',
  'x5u naming an attacker certificate',
  client(REFERENCE),
  () => post(jws(header({ x5u: `${canary.url}/cert.pem`, kid: undefined }), claims(), es256(intruder.privateKey))),
  true,
)
add('key reference', 'x5c with an attacker certificate', client(REFERENCE), () =>
  post(jws({ alg: 'ES256', typ: 'JWT', x5c: [cert.der.toString('base64')] }, claims(), (i) => es256(createPrivateKey(cert.privateKey))(i))),
)
add('key reference', 'x5c under the registered kid', client(REFERENCE), () => post(good({}, { x5c: [cert.der.toString('base64')] })))
add('key reference', 'embedded jwk of the attacker key', client(REFERENCE), () =>
  post(jws({ alg: 'ES256', typ: 'JWT', jwk: intruder.jwk }, claims(), es256(intruder.privateKey))),
)
add('key reference', 'embedded jwk under the registered kid', client(REFERENCE), () =>
  post(jws(header({ jwk: intruder.jwk }), claims(), es256(intruder.privateKey))),
)
add('key reference', 'x5t thumbprint', client(REFERENCE), () => post(good({}, { x5t: b64u(Buffer.alloc(20, 1)) })))
add('key reference', 'x5t#S256 thumbprint', client(REFERENCE), () => post(good({}, { 'x5t#S256': b64u(Buffer.alloc(32, 1)) })))

// ----- crit and unencoded payloads (RFC 7515 §4.1.11, RFC 7797)
const CRIT = /header has crit/
add('crit/b64', 'crit naming an unknown extension', client(CRIT), () => post(good({}, { crit: ['x-bktx-unknown'], 'x-bktx-unknown': true })))
add('crit/b64', 'crit naming exp', client(CRIT), () => post(good({}, { crit: ['exp'] })))
add('crit/b64', 'crit empty', client(CRIT), () => post(good({}, { crit: [] })))
add('crit/b64', 'crit as a string', client(CRIT), () => post(good({}, { crit: 'b64' })))
add('crit/b64', 'b64:false with crit ["b64"]', client(CRIT), () => post(good({}, { b64: false, crit: ['b64'] })))
add('crit/b64', 'b64:false without crit', client(/header has b64/), () => post(good({}, { b64: false })))
add('crit/b64', 'b64:true', client(/header has b64/), () => post(good({}, { b64: true })))

// ----- RSA under 2048 bits (served by a JWKS URI; an inline one is refused at load, see below)
const WEAK = /key or JWKS problem: .*2048/
add('weak RSA', 'RS256 by a 1024-bit key on the JWKS URI (kid weak)', unverified(WEAK), () =>
  post(jws({ alg: 'RS256', typ: 'JWT', kid: 'weak' }, claims({ iss: 'uri-app', sub: 'uri-app' }), rs256(weak.privateKey))),
)
add('weak RSA', 'RS256 by the 1024-bit key without kid', unverified(WEAK), () =>
  post(jws({ alg: 'RS256', typ: 'JWT' }, claims({ iss: 'uri-app', sub: 'uri-app' }), rs256(weak.privateKey))),
)

// ----- RSA public exponent 1 (or even): with e = 1 the padded hash itself is a valid signature
add('weak RSA', 'a forged RS256 signature under an e = 1 key on the JWKS URI', unverified(NO_KEY), () =>
  post(jws({ alg: 'RS256', typ: 'JWT', kid: 'e1' }, claims({ iss: 'uri-app', sub: 'uri-app' }), forgedForExponentOne(256))),
)
// Without kid every RS256 key is tried; with the e = 1 and e = 2 keys dropped, only the 1024-bit
// one is left, which jose refuses to use.
add('weak RSA', 'the same forgery without kid', unverified(WEAK), () =>
  post(jws({ alg: 'RS256', typ: 'JWT' }, claims({ iss: 'uri-app', sub: 'uri-app' }), forgedForExponentOne(256))),
)
add('weak RSA', 'RS256 under an e = 2 key on the JWKS URI', unverified(NO_KEY), () =>
  post(jws({ alg: 'RS256', typ: 'JWT', kid: 'e2' }, claims({ iss: 'uri-app', sub: 'uri-app' }), rs256(rsa.privateKey))),
)

// ----- A JWKS host under an attacker's control (docs/token-exchange.md §9: 200 only, no redirects, 100 KiB)
const asHostile = (respond: NonNullable<Listener['respond']>): Promise<Answer> => {
  hostileHost.respond = respond
  return post(jws(header({ kid: 'intruder' }), claims({ iss: 'hostile-uri-app', sub: 'hostile-uri-app' }), es256(intruder.privateKey)))
}
add(
  'JWKS host',
  'a redirect to another host (the canary)',
  unverified(/JWKS URI answered HTTP 302/),
  () => asHostile((_req, res) => res.writeHead(302, { Location: `${canary.url}/jwks.json` }).end()),
  true,
)
add('JWKS host', 'a redirect to a file: URL', unverified(/JWKS URI answered HTTP 301/), () =>
  asHostile((_req, res) => res.writeHead(301, { Location: 'file:///etc/passwd' }).end()),
)
add('JWKS host', 'a 150 KiB JWKS, declared', unverified(/JWKS larger than 102400 bytes/), () =>
  asHostile((_req, res) => {
    const text = JSON.stringify({ keys: [intruder.jwk], pad: 'x'.repeat(150 * 1024) })
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text)
  }),
)
add('JWKS host', 'a 150 KiB JWKS, chunked', unverified(/JWKS larger than 102400 bytes/), () =>
  asHostile((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' })
    res.write(`{"keys":[${JSON.stringify(intruder.jwk)}],"pad":"`)
    for (let i = 0; i < 15; i++) res.write('x'.repeat(10 * 1024))
    res.end('"}')
  }),
)
add('JWKS host', 'an HTTP 500', unverified(/JWKS URI answered HTTP 500/), () => asHostile((_req, res) => res.writeHead(500).end('{"keys":[]}')))
add('JWKS host', 'a 204 with no body', unverified(/JWKS URI answered HTTP 204/), () => asHostile((_req, res) => res.writeHead(204).end()))
add('JWKS host', 'not JSON', unverified(/JWKS URI answered a body that is not JSON/), () =>
  asHostile((_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('<html>')),
)
add('JWKS host', 'a JWKS whose keys is not an array', unverified(/JWKS URI answered JSON without a "keys" array/), () =>
  asHostile((_req, res) => res.writeHead(200).end('{"keys":{"kid":"intruder"}}')),
)

// ----- Algorithm / key type mismatch (the key type binds the algorithm, RFC 8725 §3.1)
add('alg/key type', 'RS256 header over the EC key (kid ec-1)', unverified(NO_KEY), () => post(jws(header({ alg: 'RS256' }), claims(), es256(ec.privateKey))))
add('alg/key type', 'ES256 header over the RSA key (kid rsa-1, its JWK has no alg)', unverified(NO_KEY), () =>
  post(jws(header({ kid: 'rsa-1' }), claims(), rs256(rsa.privateKey))),
)
add('alg/key type', 'RS256 header, EC signature, no kid', BAD_SIG, () => post(jws({ alg: 'RS256', typ: 'JWT' }, claims(), es256(ec.privateKey))))
add('alg/key type', 'ES256 header, RSA signature, no kid', BAD_SIG, () => post(jws({ alg: 'ES256', typ: 'JWT' }, claims(), rs256(rsa.privateKey))))
add('alg/key type', 'RS256 header over the JWKS URI EC key', unverified(NO_KEY), () =>
  post(jws(header({ alg: 'RS256', kid: 'uri-ec' }), claims({ iss: 'uri-app', sub: 'uri-app' }), es256(uriEc.privateKey))),
)

// ----- Header members beyond alg, typ, kid (docs/token-exchange.md §9): refused, never ignored
const MEMBER_NOT_ALLOWED = /header member .* not allowed \(alg, typ, kid only\)/
add('header members', 'zip "DEF" (a compressed payload)', client(MEMBER_NOT_ALLOWED), () => post(good({}, { zip: 'DEF' })))
add('header members', 'cty "JWT" (a nested token)', client(MEMBER_NOT_ALLOWED), () => post(good({}, { cty: 'JWT' })))
add('header members', 'enc (a JWE member)', client(MEMBER_NOT_ALLOWED), () => post(good({}, { enc: 'A256GCM' })))
add('header members', 'a private member', client(MEMBER_NOT_ALLOWED), () => post(good({}, { 'x-tenant': 'acme' })))
add('header members', 'a claim copied into the header (iss)', client(MEMBER_NOT_ALLOWED), () => post(good({}, { iss: CLIENT })))
add('header members', '"__proto__" as a member', client(MEMBER_NOT_ALLOWED), () =>
  post(jws('{"alg":"ES256","typ":"JWT","kid":"ec-1","__proto__":{"alg":"none"}}', claims(), es256(ec.privateKey))),
)

// ----- One encoding per value (RFC 4648 §3.5): the spare bits of a segment's last character
// must be zero, or two spellings of one signature would both verify
const NON_CANONICAL = /not canonical base64url/
/** The same bytes with the last character's spare bits set: base64url decoders ignore them. */
const spareBits = (segment: string): string => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const spare = segment.length % 4 === 2 ? 0b1111 : segment.length % 4 === 3 ? 0b11 : 0
  if (spare === 0) throw new Error(`segment of length ${segment.length} has no spare bits`)
  const last = alphabet.indexOf(segment.at(-1) as string)
  return segment.slice(0, -1) + (alphabet[last | 1] as string)
}
add('canonical base64url', "the signature with its last character's spare bits set (it still decodes to the same bytes)", client(NON_CANONICAL), () => {
  const parts = good().split('.')
  return post(`${parts[0]}.${parts[1]}.${spareBits(parts[2] as string)}`)
})
/** Signs the exact segment texts given (a key holder can sign a non-canonical spelling too). */
const signedAs = (head: string, payload: string): string => `${head}.${payload}.${b64u(es256(ec.privateKey)(`${head}.${payload}`))}`
add('canonical base64url', 'the header with spare bits set, signed as sent', client(NON_CANONICAL), () => {
  // 28 bytes of JSON: 38 characters, the last with 4 spare bits.
  const head = segment({ alg: 'ES256', kid: 'ec-1' })
  return post(signedAs(spareBits(head), segment(claims())))
})
add('canonical base64url', 'the payload with spare bits set, signed as sent', client(NON_CANONICAL), () => {
  let payload = segment(claims())
  for (let pad = 'x'; payload.length % 4 === 0; pad += 'x') payload = segment(claims({ pad }))
  return post(signedAs(segment(header()), spareBits(payload)))
})
add('canonical base64url', 'a segment of 4n+1 characters (no whole byte in the last one), signed as sent', client(NON_CANONICAL), () => {
  const head = segment({ alg: 'ES256', typ: 'JWT' }) // 27 bytes: 36 characters
  expect(head.length % 4).toBe(0)
  return post(signedAs(`${head}A`, segment(claims())))
})

// ----- typ
const TYP = /typ .* is not JWT/
add('typ', 'typ JWE-ish "JOSE+JSON"', client(TYP), () => post(good({}, { typ: 'JOSE+JSON' })))
add('typ', 'typ "at+jwt" (an access token, not an assertion)', client(TYP), () => post(good({}, { typ: 'at+jwt' })))
add('typ', 'typ as a number', client(TYP), () => post(good({}, { typ: 1 })))

// ----- exp
const EXP_SHAPE = /exp missing or not a NumericDate/
add('exp', 'exp missing', client(EXP_SHAPE), () => post(good({}, {}, ['exp'])))
add('exp', 'exp an hour ago', client(/exp .* is in the past/, EXP), () => post(good({ iat: nowS() - 3660, exp: nowS() - 3600 })))
add('exp', 'exp 16 s ago (beyond the 15 s tolerance)', client(/exp .* is in the past/, EXP), () => post(good({ iat: nowS() - 60, exp: nowS() - 16 })))
add('exp', 'exp 0', client(/exp .* is in the past/, EXP), () => post(good({ exp: 0 })))
add('exp', 'exp negative', client(/exp .* is in the past/, EXP), () => post(good({ exp: -1 })))
add('exp', 'exp as a string', client(EXP_SHAPE), () => post(good({ exp: String(nowS() + 60) })))
add('exp', 'exp null', client(EXP_SHAPE), () => post(good({ exp: null })))
add('exp', 'exp true', client(EXP_SHAPE), () => post(good({ exp: true })))
add('exp', 'exp as an array', client(EXP_SHAPE), () => post(good({ exp: [nowS() + 60] })))
add('exp', 'exp 1e400 (Infinity once parsed)', client(EXP_SHAPE), () =>
  post(jws(header(), JSON.stringify(claims({ exp: 1 })).replace('"exp":1', '"exp":1e400'), es256(ec.privateKey))),
)
const LIFETIME = /exp - iat = .* exceeds 300/
add('exp', 'exp ten years ahead', client(LIFETIME), () => post(good({ exp: nowS() + 10 * 365 * 86400 })))
add('exp', 'exp 2^53 ahead', client(LIFETIME), () => post(good({ exp: 2 ** 53 })))

// ----- exp - iat > 300 s
add('lifetime', 'exp - iat = 301', client(LIFETIME), () => post(good({ exp: nowS() + 301 })))
add('lifetime', 'exp - iat = 86400', client(LIFETIME), () => post(good({ exp: nowS() + 86400 })))
add('lifetime', 'iat long ago, exp soon', client(LIFETIME), () => post(good({ iat: nowS() - 3600 })))

// ----- iat and nbf in the future beyond 15 s; missing or malformed iat
const IAT_FUTURE = /iat .* is in the future/
const IAT_SHAPE = /iat missing or not a NumericDate/
const NBF = /nbf is not a NumericDate or is in the future/
add('iat/nbf', 'iat 16 s ahead', client(IAT_FUTURE), () => post(good({ iat: nowS() + 16, exp: nowS() + 60 })))
add('iat/nbf', 'iat an hour ahead', client(IAT_FUTURE), () => post(good({ iat: nowS() + 3600, exp: nowS() + 3660 })))
add('iat/nbf', 'iat missing', client(IAT_SHAPE), () => post(good({}, {}, ['iat'])))
add('iat/nbf', 'iat as a string', client(IAT_SHAPE), () => post(good({ iat: String(nowS()) })))
add('iat/nbf', 'iat null', client(IAT_SHAPE), () => post(good({ iat: null })))
add('iat/nbf', 'nbf 16 s ahead', client(NBF), () => post(good({ nbf: nowS() + 16 })))
add('iat/nbf', 'nbf a day ahead', client(NBF), () => post(good({ nbf: nowS() + 86400 })))
add('iat/nbf', 'nbf as a string', client(NBF), () => post(good({ nbf: String(nowS()) })))
add('iat/nbf', 'nbf null', client(NBF), () => post(good({ nbf: null })))

// ----- aud
const AUD_BAD = client(/aud .* is not this endpoint/, AUD)
add('aud', "Buildkite's production endpoint", AUD_BAD, () => post(good({ aud: 'https://buildkite.com/oauth/token' })))
add('aud', 'the endpoint with a trailing slash', AUD_BAD, () => post(good({ aud: `${server.tokenUrl}/` })))
add('aud', 'the endpoint with a query', AUD_BAD, () => post(good({ aud: `${server.tokenUrl}?x=1` })))
add('aud', 'the server root', AUD_BAD, () => post(good({ aud: server.url })))
add('aud', 'https instead of http', AUD_BAD, () => post(good({ aud: server.tokenUrl.replace('http:', 'https:') })))
add('aud', 'an array with the endpoint and another value', AUD_BAD, () => post(good({ aud: [server.tokenUrl, 'https://evil.test/'] })))
add('aud', 'an array with another value first', AUD_BAD, () => post(good({ aud: ['https://evil.test/', server.tokenUrl] })))
add('aud', 'an array with the endpoint twice', AUD_BAD, () => post(good({ aud: [server.tokenUrl, server.tokenUrl] })))
add('aud', 'an empty array', AUD_BAD, () => post(good({ aud: [] })))
add('aud', 'a nested array', AUD_BAD, () => post(good({ aud: [[server.tokenUrl]] })))
add('aud', 'a number', AUD_BAD, () => post(good({ aud: 8787 })))
add('aud', 'an object', AUD_BAD, () => post(good({ aud: { url: server.tokenUrl } })))
add('aud', 'null', AUD_BAD, () => post(good({ aud: null })))
add('aud', 'missing', AUD_BAD, () => post(good({}, {}, ['aud'])))
add('aud', 'a spoofed Host header and aud naming it', AUD_BAD, () =>
  post(good({ aud: 'http://evil.test/oauth/token' }), {}, { headers: { Host: 'evil.test' } }),
)

// ----- iss and sub
const ISS_SUB = /iss differs from sub/
const ISS_SHAPE = /iss or sub missing or not a string/
add('iss/sub', 'iss = client id, sub another', client(ISS_SUB), () => post(good({ sub: 'someone-else' })))
add('iss/sub', 'sub = client id, iss another app', client(ISS_SUB), () => post(good({ iss: 'ip-app' })))
add('iss/sub', 'iss with a trailing space', client(ISS_SUB), () => post(good({ iss: `${CLIENT} ` })))
add('iss/sub', 'iss missing', client(ISS_SHAPE), () => post(good({}, {}, ['iss'])))
add('iss/sub', 'sub missing', client(ISS_SHAPE), () => post(good({}, {}, ['sub'])))
add('iss/sub', 'iss as an array', client(ISS_SHAPE), () => post(good({ iss: [CLIENT] })))
add('iss/sub', 'iss and sub numbers', client(ISS_SHAPE), () => post(good({ iss: 123, sub: 123 })))

// ----- unknown client id (signed by a registered key)
const UNKNOWN = /unknown client id/
for (const id of ['ffffffffffffffffffff', '0123456789ABCDEF0123', '__proto__', 'constructor', 'toString', '', `${CLIENT}\u0000`]) {
  add('unknown client', `client id ${JSON.stringify(id)}`, unverified(UNKNOWN), () => post(good({ iss: id, sub: id })))
}

// ----- jti (replays below, in their own tests)
const JTI = /jti is not a string of 1 to 255 bytes/
add('jti', 'jti of 256 ASCII bytes', client(JTI), () => post(good({ jti: 'j'.repeat(256) })))
add('jti', 'jti of 128 characters but 256 UTF-8 bytes', client(JTI), () => post(good({ jti: 'é'.repeat(128) })))
add('jti', 'jti of 4000 bytes', client(JTI), () => post(good({ jti: 'j'.repeat(4000) })))
add('jti', 'empty jti', client(JTI), () => post(good({ jti: '' })))
add('jti', 'jti as a number', client(JTI), () => post(good({ jti: 12345 })))
add('jti', 'jti null', client(JTI), () => post(good({ jti: null })))
add('jti', 'jti as an object', client(JTI), () => post(good({ jti: { id: 'x' } })))

// ----- Tampering with a validly signed assertion
add('tampered', 'payload exp raised after signing', BAD_SIG, () => post(tamper(good(), 1, (c) => (c['exp'] = (c['exp'] as number) + 200))))
add('tampered', 'payload sub changed after signing', BAD_SIG, () =>
  post(tamper(good({ iss: 'other-app', sub: 'other-app' }), 1, (c) => ((c['iss'] = CLIENT), (c['sub'] = CLIENT)))),
)
add('tampered', 'payload jti changed after signing', BAD_SIG, () => post(tamper(good(), 1, (c) => (c['jti'] = randomUUID()))))
add('tampered', 'header typ changed after signing', BAD_SIG, () => post(tamper(good(), 0, (h) => (h['typ'] = 'jwt'))))
add('tampered', 'header kid removed after signing', BAD_SIG, () => post(tamper(good(), 0, (h) => delete h['kid'])))
add('tampered', 'signature with one bit flipped', BAD_SIG, () => {
  const parts = good().split('.')
  const sig = Buffer.from(parts[2] as string, 'base64url')
  sig[10] = (sig[10] as number) ^ 1
  return post(`${parts[0]}.${parts[1]}.${b64u(sig)}`)
})
add('tampered', 'payload of one assertion, signature of another', BAD_SIG, () => {
  const a = good().split('.')
  const b = good().split('.')
  return post(`${a[0]}.${b[1]}.${a[2]}`)
})

// ----- Segments and encoding
const SEGMENTS = /assertion has \d+ segments, not 3/
const ENCODING = /segment is empty or not base64url/
add('segments', 'one segment', client(SEGMENTS), () => post(segment(header())))
add('segments', 'two segments', client(SEGMENTS), () => post(`${segment(header())}.${segment(claims())}`))
add('segments', 'four segments', client(SEGMENTS), () => post(`${good()}.${b64u(twoSegments(es256(ec.privateKey)))}`))
add('segments', 'five segments (a JWE)', client(SEGMENTS), () => post([segment({ alg: 'RSA-OAEP', enc: 'A256GCM' }), 'a', 'b', 'c', 'd'].join('.')))
add('segments', 'a trailing dot', client(SEGMENTS), () => post(`${good()}.`))
add('segments', 'empty header segment', client(ENCODING), () => post(`.${segment(claims())}.${b64u(Buffer.alloc(64))}`))
for (const [name, edit] of [
  ['"+" in the header', (p: string[]) => (p[0] = `${p[0]}+`)],
  ['"/" in the payload', (p: string[]) => (p[1] = `${p[1]}/`)],
  ['"=" padding on the signature', (p: string[]) => (p[2] = `${p[2]}=`)],
  ['a space in the payload', (p: string[]) => (p[1] = `${(p[1] as string).slice(0, 5)} ${(p[1] as string).slice(5)}`)],
  ['a newline in the signature', (p: string[]) => (p[2] = `${(p[2] as string).slice(0, 5)}\n${(p[2] as string).slice(5)}`)],
  ['a percent sign', (p: string[]) => (p[1] = `%${p[1]}`)],
  ['a non-ASCII letter', (p: string[]) => (p[0] = `${p[0]}é`)],
  ['standard base64 (+/) instead of base64url', (p: string[]) => (p[2] = Buffer.from(p[2] as string, 'base64url').toString('base64'))],
] as const) {
  add('encoding', name, client(ENCODING), () => {
    const parts = good().split('.')
    edit(parts)
    return post(parts.join('.'))
  })
}

// ----- Header and payload shapes
const NOT_OBJECT = /(header|payload) is not a JSON object/
const NOT_JSON = /(header|payload) is not JSON/
const sig64 = fixed(Buffer.alloc(64, 7))
add('payload shape', 'payload an array', client(NOT_OBJECT), () => post(jws(header(), [claims()], es256(ec.privateKey))))
add('payload shape', 'payload a string', client(NOT_OBJECT), () => post(jws(header(), '"a string"', es256(ec.privateKey))))
add('payload shape', 'payload a number', client(NOT_OBJECT), () => post(jws(header(), '42', es256(ec.privateKey))))
add('payload shape', 'payload null', client(NOT_OBJECT), () => post(jws(header(), 'null', es256(ec.privateKey))))
add('payload shape', 'header an array', client(NOT_OBJECT), () => post(jws([header()], claims(), es256(ec.privateKey))))
add('payload shape', 'payload not JSON', client(NOT_JSON), () => post(jws(header(), '{iss: x}', sig64)))
add('payload shape', 'payload with a trailing comma', client(NOT_JSON), () => post(jws(header(), '{"iss":"x",}', sig64)))
add('payload shape', 'payload not UTF-8', client(/payload is not base64url UTF-8/), () =>
  post(`${segment(header())}.${b64u(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))}.${b64u(Buffer.alloc(64))}`),
)
add('payload shape', 'payload nested 33 deep', client(/payload: nesting deeper than 32/), () => post(jws(header(), nested(33), es256(ec.privateKey))))
add('payload shape', 'payload nested 1500 deep', client(/payload: nesting deeper than 32/), () =>
  post(jws(header(), `{"a":${'['.repeat(1500)}${']'.repeat(1500)}}`, sig64)),
)
add('payload shape', 'header nested 40 deep', client(/header: nesting deeper than 32/), () => post(jws(`{"alg":"ES256","x":${nested(40)}}`, claims(), sig64)))

// ----- Duplicate JSON members (RFC 7515 §5.2, RFC 8725 §3.1: two parsers, two readings)
const DUP = /duplicate member/
const claimText = (): string => JSON.stringify(claims())
add('duplicate members', 'header with alg twice', client(/header: duplicate member "alg"/), () =>
  post(jws('{"alg":"ES256","typ":"JWT","kid":"ec-1","alg":"ES256"}', claims(), es256(ec.privateKey))),
)
add('duplicate members', 'header alg none then ES256', client(/header: duplicate member "alg"/), () =>
  post(jws('{"alg":"none","kid":"ec-1","alg":"ES256"}', claims(), es256(ec.privateKey))),
)
add('duplicate members', 'payload with iss twice', client(/payload: duplicate member "iss"/), () =>
  post(jws(header(), claimText().replace('{', '{"iss":"other-app",'), es256(ec.privateKey))),
)
add('duplicate members', 'payload with an escaped duplicate (i\\u0073s)', client(/payload: duplicate member "iss"/), () =>
  post(jws(header(), claimText().replace('{', '{"i\\u0073s":"other-app",'), es256(ec.privateKey))),
)
add('duplicate members', 'payload with exp twice', client(/payload: duplicate member "exp"/), () =>
  post(jws(header(), claimText().replace('{', `{"exp":${nowS() + 100000},`), es256(ec.privateKey))),
)
add('duplicate members', 'payload with a nested duplicate', client(DUP), () =>
  post(jws(header(), claimText().replace('{', '{"x":{"a":1,"a":2},'), es256(ec.privateKey))),
)

// ----- Size
add(
  'size',
  'a 1 MiB assertion (body over 64 KiB: 413 unread)',
  { status: 413, error: 'invalid_request', description: 'Request body exceeds 65536 bytes', detail: /request body over 64 KiB/ },
  () => post(good({ pad: 'x'.repeat(1024 * 1024) })),
)
add('size', 'a 9 KiB assertion', client(/assertion of \d+ bytes exceeds 8192/), () => post(good({ pad: 'x'.repeat(9 * 1024) })))

// ----- Scopes
const NOT_GRANTABLE = /not grantable/
const MALFORMED = /^scope /
add('scope', 'a scope outside the grantable set', scope(EXCEEDS, NOT_GRANTABLE), () => post(good(), { scope: 'write_builds' }))
add('scope', 'a grantable scope plus one outside', scope(EXCEEDS, NOT_GRANTABLE), () => post(good(), { scope: 'read_builds write_builds' }))
add('scope', 'an unknown scope', scope(EXCEEDS, NOT_GRANTABLE), () => post(good(), { scope: 'admin' }))
add('scope', 'a comma-separated list', scope(EXCEEDS, NOT_GRANTABLE), () => post(good(), { scope: 'read_builds,read_pipelines' }))
add('scope', 'a scope of another case', scope(EXCEEDS, NOT_GRANTABLE), () => post(good(), { scope: 'READ_BUILDS' }))
add('scope', '"__proto__"', scope(EXCEEDS, NOT_GRANTABLE), () => post(good(), { scope: '__proto__' }))
for (const [name, value] of [
  ['only a space', ' '],
  ['a leading space', ' read_builds'],
  ['a trailing space', 'read_builds '],
  ['two spaces between', 'read_builds  read_pipelines'],
  ['a tab between', 'read_builds\tread_pipelines'],
  ['a newline between', 'read_builds\nread_pipelines'],
  ['a no-break space between', 'read_builds\u00a0read_pipelines'],
  ['a double quote', 'read_builds"'],
  ['a backslash', 'read_builds\\'],
  ['a NUL', 'read_builds\u0000'],
] as const) {
  add('scope', `odd whitespace or characters: ${name}`, scope(MALFORMED_SCOPE, MALFORMED), () => post(good(), { scope: value }))
}

// ----- expires_in
for (const value of ['-1', '0', '-0', '1.5', '60.0', '1e3', 'abc', '0x10', '+60', ' 60', '60 ', '060', '١٢٠', 'Infinity', 'NaN']) {
  add('expires_in', `expires_in ${JSON.stringify(value)}`, request(EXPIRES_IN, /^expires_in /), () => post(good(), { expires_in: value }))
}

// ----- Subject
add('subject', 'an unknown subject', request(SUBJECT, /is not an active, verified member/), () => post(good(), { subject_token: 'stranger@acme.test' }))
add('subject', 'an inactive member', request(SUBJECT, /is not an active, verified member/), () => post(good(), { subject_token: 'gone@acme.test' }))
add('subject', 'an unverified email', request(SUBJECT, /is not an active, verified member/), () => post(good(), { subject_token: 'unverified@acme.test' }))
add('subject', 'a member of another org only', request(SUBJECT, /is not an active, verified member/), () =>
  post(good(), { subject_token: 'nobody@other-org.test' }),
)
add('subject', 'an unknown uuid', request(SUBJECT, /is not an active member/), () =>
  post(good(), { subject_token_type: 'urn:buildkite:params:oauth:token-type:user-uuid', subject_token: '99999999-2222-4333-8444-555555555555' }),
)
add('subject', 'an email given as a uuid', request(SUBJECT, /is not an active member/), () =>
  post(good(), { subject_token_type: 'urn:buildkite:params:oauth:token-type:user-uuid' }),
)
add('subject', 'a uuid given as an email', request(SUBJECT, /is not an active, verified member/), () => post(good(), { subject_token: MEMBER_UUID }))
add('subject', 'an unknown subject_token_type', request('Unsupported `subject_token_type`', /subject_token_type/), () =>
  post(good(), { subject_token_type: 'urn:ietf:params:oauth:token-type:jwt' }),
)
add('subject', 'subject_token missing', request('Missing required parameter `subject_token`'), () => post(good(), { subject_token: undefined }))

// ----- Audience (the organisation)
const TARGET_BAD = { status: 400, error: 'invalid_target', description: TARGET, detail: /is not the app's organisation acme/ }
for (const audience of ['other-org', 'disabled', 'ACME', 'acme ', 'Acme Inc', 'acme\u0000', '__proto__']) {
  add('audience', `audience ${JSON.stringify(audience)}`, TARGET_BAD, () => post(good(), { audience }))
}
add('audience', 'audience missing', TARGET_BAD, () => post(good(), { audience: undefined }))
add('audience', "another org's app naming acme", { ...TARGET_BAD, detail: /is not the app's organisation other-org/ }, () =>
  post(good({ iss: 'other-app', sub: 'other-app' }), { audience: 'acme' }),
)

// ----- Authorization header (docs/token-exchange.md §3)
const AUTHZ = request('Authorization header is not accepted; authenticate with client_assertion', /Authorization header/)
add('Authorization header', 'Basic client credentials', AUTHZ, () =>
  post(good(), {}, { headers: { Authorization: `Basic ${Buffer.from(`${CLIENT}:secret`).toString('base64')}` } }),
)
add('Authorization header', 'a Bearer token', AUTHZ, () =>
  post(good(), {}, { headers: { Authorization: 'Bearer bktx_0000000000000000000000000000000000000000000' } }),
)
add('Authorization header', 'an empty Authorization header', AUTHZ, () => post(good(), {}, { headers: { Authorization: '' } }))

// ----- Exchange IP list, judged on the socket (bind the client to 127.0.0.2)
const IP = unverified(/outside the app's exchange IP list/)
add('exchange IP', 'from 127.0.0.2, outside 127.0.0.1/32', IP, () => post(good({ iss: 'ip-app', sub: 'ip-app' }), {}, { localAddress: '127.0.0.2' }))
add('exchange IP', 'from 127.0.0.2 claiming X-Forwarded-For 127.0.0.1', IP, () =>
  post(
    good({ iss: 'ip-app', sub: 'ip-app' }),
    {},
    { localAddress: '127.0.0.2', headers: { 'X-Forwarded-For': '127.0.0.1', 'X-Real-IP': '127.0.0.1', Forwarded: 'for=127.0.0.1' } },
  ),
)
add('exchange IP', 'from 127.0.0.2 with a bad signature (IP checked before keys)', IP, () =>
  post(jws(header(), claims({ iss: 'ip-app', sub: 'ip-app' }), es256(intruder.privateKey)), {}, { localAddress: '127.0.0.2' }),
)

// ----- Form smuggling and request shape
add('form', 'client_assertion twice', request('Parameter `client_assertion` must not be included more than once'), async () =>
  postBody(`${new URLSearchParams({ ...EXCHANGE, client_assertion: good() })}&client_assertion=${good()}`),
)
add('form', 'grant_type twice, the second empty', request('Parameter `grant_type` must not be included more than once'), async () =>
  postBody(`${new URLSearchParams({ ...EXCHANGE, client_assertion: good() })}&grant_type=`),
)
add('form', 'a parameter name that is not printable, twice', request('Parameter `parameter` must not be included more than once'), async () =>
  postBody(`${new URLSearchParams({ ...EXCHANGE, client_assertion: good() })}&%00x=1&%00x=2`),
)
add(
  'form',
  'grant_type client_credentials',
  { status: 400, error: 'unsupported_grant_type', description: 'Only the token exchange grant type is supported', detail: /grant_type/ },
  () => post(good(), { grant_type: 'client_credentials' }),
)
add('form', 'client_assertion_type saml2-bearer', client(/client_assertion_type/), () =>
  post(good(), { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer' }),
)
add('form', 'client_assertion empty', request('Missing required parameter `client_assertion`'), () => post(''))
add('form', 'a JSON body', request('Content-Type must be application/x-www-form-urlencoded', /content type/), () =>
  postBody(JSON.stringify({ ...EXCHANGE, client_assertion: good() }), { headers: { 'Content-Type': 'application/json' } }),
)
add('form', 'a multipart body', request('Content-Type must be application/x-www-form-urlencoded', /content type/), () =>
  postBody('--x\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\nx\r\n--x--', { headers: { 'Content-Type': 'multipart/form-data; boundary=x' } }),
)

// ---------------------------------------------------------------------------------------------

/** One valid exchange: proves the server still serves, and mints exactly one token. */
async function followUp(): Promise<void> {
  const before = server.server.state.store.size.tokens
  const response = await post(good())
  expect(response.status, JSON.stringify(response.json)).toBe(200)
  expect(server.server.state.store.size.tokens).toBe(before + 1)
}

const counted = { cases: 0, requests: 0, classes: new Set<string>(), pointingElsewhere: 0 }

describe('attack corpus: each request is refused by the check meant for it, and mints nothing', () => {
  it.each(cases.map((c) => [`${c.cls}: ${c.name}`, c] as const))('%s', async (_title, attack) => {
    const store = server.server.state.store.size
    const audited = server.audit().length
    const fetched = server.fetched.length
    const answer = await attack.send()
    counted.cases++
    counted.requests += 2
    counted.classes.add(attack.cls)
    if (attack.pointsElsewhere === true) counted.pointingElsewhere++

    expect(answer.status, JSON.stringify(answer.json)).toBe(attack.expect.status)
    expect(answer.json).toEqual({ error: attack.expect.error, error_description: attack.expect.description })
    const records = server.audit().slice(audited)
    expect(records).toHaveLength(1)
    expect(records[0]).toMatchObject({ type: 'token.exchange_failed', error: attack.expect.error, token_sha256: null, scopes: null })
    expect(records[0]?.detail).toMatch(attack.expect.detail)
    expect(server.server.state.store.size).toEqual(store)
    // Only registered JWKS URIs may ever be fetched; the canary never.
    for (const url of server.fetched.slice(fetched)) expect([`${jwksHost.url}/jwks.json`, `${hostileHost.url}/jwks.json`]).toContain(url)
    expect(canary.hits).toEqual([])
    await followUp()
  })
})

describe('replays', () => {
  it('a replayed jti is refused after a successful exchange, and mints nothing', async () => {
    const jwt = good()
    expect((await post(jwt)).status).toBe(200)
    const store = server.server.state.store.size
    for (let i = 0; i < 3; i++) {
      const again = await post(jwt)
      expect(again.json).toEqual({ error: 'invalid_client', error_description: REPLAY })
    }
    // Same jti, new signature and new times: still a replay.
    const jti = (JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString()) as { jti: string }).jti
    expect((await post(good({ jti }))).json.error_description).toBe(REPLAY)
    // Same jti through the other endpoint path: still a replay.
    expect((await post(good({ jti, aud: `${server.url}/v2/oauth/token` }), {}, { path: '/v2/oauth/token' })).json.error_description).toBe(REPLAY)
    expect(server.server.state.store.size).toEqual(store)
    expect(
      server
        .audit()
        .slice(-5)
        .every((r) => r.type === 'token.exchange_failed' && /already used/.test(r.detail ?? '')),
    ).toBe(true)
    counted.cases += 3
    counted.requests += 6
    counted.classes.add('replay')
    await followUp()
  })

  it('a jti is per client: the same jti under another app is not a replay', async () => {
    const jti = randomUUID()
    expect((await post(good({ jti }))).status).toBe(200)
    expect((await post(good({ jti, iss: 'other-app', sub: 'other-app' }), { audience: 'other-org' })).status).toBe(200)
    counted.requests += 2
  })

  it.each([16, 50])('of %d concurrent requests with one jti, exactly one mints', async (n) => {
    const jwt = good()
    const store = server.server.state.store.size.tokens
    const audited = server.audit().length
    const answers = await Promise.all(Array.from({ length: n }, () => post(jwt)))
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1)
    expect(answers.filter((a) => a.json.error_description === REPLAY)).toHaveLength(n - 1)
    expect(server.server.state.store.size.tokens).toBe(store + 1)
    const records = server.audit().slice(audited)
    expect(records.filter((r) => r.type === 'token.minted')).toHaveLength(1)
    expect(records.filter((r) => r.type === 'token.exchange_failed')).toHaveLength(n - 1)
    counted.cases++
    counted.requests += n
    await followUp()
  })
})

describe('boundaries that must still be accepted (so the refusals above are not an artefact)', () => {
  const accepted: Array<[string, () => Promise<Answer>, Record<string, unknown>?]> = [
    ['ES256 with kid', () => post(good())],
    ['RS256 with kid (JWK without alg)', () => post(byRsa())],
    ['no kid: every key is tried', () => post(good({}, { kid: undefined }))],
    ['no jti (the org does not require one)', () => post(good({}, {}, ['jti']))],
    ['typ absent', () => post(good({}, { typ: undefined }))],
    ['typ "jwt" in lower case', () => post(good({}, { typ: 'jwt' }))],
    ['aud as a one-element array', () => post(good({ aud: [server.tokenUrl] }))],
    ['aud naming localhost', () => post(good({ aud: server.tokenUrl.replace('127.0.0.1', 'localhost') }))],
    ['aud /v2/oauth/token', () => post(good({ aud: `${server.url}/v2/oauth/token` }))],
    ['exp 10 s ago (within tolerance)', () => post(good({ iat: nowS() - 70, exp: nowS() - 10 }))],
    ['iat 10 s ahead (within tolerance)', () => post(good({ iat: nowS() + 10, exp: nowS() + 70 }))],
    ['nbf 10 s ahead (within tolerance)', () => post(good({ nbf: nowS() + 10 }))],
    ['exp - iat = 300 exactly', () => post(good({ exp: nowS() + 300 }))],
    ['jti of 255 bytes', () => post(good({ jti: 'j'.repeat(255) }))],
    ['kid of the JWKS URI key', () => post(jws(header({ kid: 'uri-ec' }), claims({ iss: 'uri-app', sub: 'uri-app' }), es256(uriEc.privateKey)))],
    ['ip-app from 127.0.0.1', () => post(good({ iss: 'ip-app', sub: 'ip-app' }), {}, { localAddress: '127.0.0.1' })],
    ['duplicated scopes are merged', () => post(good(), { scope: 'read_builds read_builds read_pipelines' }), { scope: 'read_builds read_pipelines' }],
    ['an empty scope counts as omitted', () => post(good(), { scope: '' }), { scope: 'read_builds' }],
    ['a huge expires_in is capped', () => post(good(), { expires_in: '999999999999999999999999' }), { expires_in: 3600 }],
    ['an empty expires_in counts as omitted', () => post(good(), { expires_in: '' }), { expires_in: 3600 }],
    ['the subject email in another case', () => post(good(), { subject_token: 'DEV@ACME.test' })],
  ]
  it.each(accepted)('%s', async (_name, send, fields) => {
    const store = server.server.state.store.size.tokens
    const answer = await send()
    expect(answer.status, JSON.stringify(answer.json)).toBe(200)
    expect(answer.json).toMatchObject({ access_token: expect.stringMatching(/^bktx_[0-9A-Za-z]{43}$/), ...fields })
    expect(server.server.state.store.size.tokens).toBe(store + 1)
    counted.requests++
  })
})

describe('JWKS URI fetches cannot be amplified', () => {
  it('random unknown kids refetch the JWKS at most once per 30 s cooldown, one fetch at a time', async () => {
    const host = await startListener({ keys: [uriEc.jwk] })
    const doc = corpusConfig() as { apps: Array<Record<string, unknown>> }
    doc.apps = [{ client_id: 'uri-app', org: 'acme', jwks_uri: `${host.url}/jwks.json`, grantable_scopes: ['read_builds'], default_scopes: ['read_builds'] }]
    // The default cooldown, on a clock that stands still: however long the flood takes on a
    // loaded machine, it all falls within one cooldown, so the count below is exact.
    const frozen = new Date()
    const own = await startSecurityServer(doc, { clock: { now: () => frozen } })
    try {
      const send = (kid: string, key: Key): Promise<Answer> => {
        const now = Math.floor(frozen.getTime() / 1000)
        const assertion = jws(
          header({ kid }),
          { iss: 'uri-app', sub: 'uri-app', aud: own.tokenUrl, iat: now, exp: now + 60, jti: randomUUID() },
          es256(key.privateKey),
        )
        return http(own.tokenUrl, { method: 'POST', headers: FORM, body: new URLSearchParams({ ...EXCHANGE, client_assertion: assertion }).toString() }).then(
          (r) => ({ status: r.status, json: r.json }),
        )
      }
      expect((await send('uri-ec', uriEc)).status).toBe(200)
      expect(host.hits).toHaveLength(1)
      const flood = await Promise.all(Array.from({ length: 40 }, (_, i) => send(`random-${i}-${randomUUID()}`, intruder)))
      for (const answer of flood) expect(answer.json).toEqual({ error: 'invalid_client', error_description: SIG })
      for (let i = 0; i < 20; i++) expect((await send(`sequential-${i}`, intruder)).status).toBe(401)
      // The first unknown kid may refetch once (a rotation); the other 59 ride on the cooldown.
      expect(host.hits.length).toBeLessThanOrEqual(2)
      expect((await send('uri-ec', uriEc)).status).toBe(200)
      expect(canary.hits).toEqual([])
      counted.cases += 2
      counted.requests += 62
      counted.classes.add('JWKS amplification')
    } finally {
      await own.stop()
      await host.close()
    }
  })
})

describe('RSA keys under 2048 bits', () => {
  it('are refused when the server configuration is loaded, naming the key', async () => {
    const doc = corpusConfig() as { apps: Array<Record<string, unknown>> }
    doc.apps[0] = { ...doc.apps[0], jwks: { keys: [ec.jwk, weak.jwk] } }
    await expect(parseServerConfig(doc, 'weak.json')).rejects.toThrow(
      /apps\[0\]\.jwks\.keys\[1\]: RSA key of 1024 bits; Buildkite requires RS256 keys of at least 2048 bits/,
    )
    counted.cases++
  })

  it('and RSA keys with public exponent 1 or 2 are refused at load too (e = 1 makes forgery trivial)', async () => {
    for (const [e, shown] of [
      ['AQ', '1'],
      ['Ag', '2'],
      ['AA', '0'],
    ]) {
      const doc = corpusConfig() as { apps: Array<Record<string, unknown>> }
      doc.apps[0] = { ...doc.apps[0], jwks: { keys: [{ ...rsa.jwk, e }] } }
      await expect(parseServerConfig(doc, 'e.json')).rejects.toThrow(
        new RegExp(`apps\\[0\\]\\.jwks\\.keys\\[0\\]: RSA key with public exponent ${shown}; it must be odd and at least 3`),
      )
      counted.cases++
    }
  })
})

afterAll(() => {
  writeFigures('corpus', {
    cases: counted.cases,
    classes: counted.classes.size,
    requests: counted.requests,
    pointing_elsewhere: counted.pointingElsewhere,
    canary_hits: canary?.hits.length ?? 0,
  })
})
