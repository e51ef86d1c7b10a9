import { execFile } from 'node:child_process'
import { createHash, createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { exportJWK, type JWK } from 'jose'
import type { TokenServer } from '../../src/server/app.js'
import type { MemoryAuditSink } from '../../src/server/state/audit.js'
import type { Listening } from '../../src/http/listen.js'
import type { StoreLimits } from '../../src/server/state/store.js'
import type { Clock } from '../../src/time/clock.js'
import { startServer } from '../helpers/server.js'

// ---------------------------------------------------------------------------------------------
// Figures for docs/security/figures.md: each test file counts what it did and, when BKTX_SECURITY_FIGURES
// names a directory, writes them there as <file>.json (scripts/security-figures.mjs sums them).

export function writeFigures(name: string, figures: Record<string, unknown>): void {
  const dir = process.env['BKTX_SECURITY_FIGURES']
  if (dir === undefined || dir === '') return
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify({ file: name, ...figures }, null, 2)}\n`)
}

// ---------------------------------------------------------------------------------------------
// Keys and hand-made JWS: the attack corpus needs tokens that no well-behaved library would sign.

export interface Key {
  kid: string
  privateKey: KeyObject
  publicKey: KeyObject
  /** The public JWK as registered (kid added; `alg` only when `withAlg`). */
  jwk: JWK
}

export async function makeKey(kind: 'EC' | 'RSA' | 'RSA-1024', kid: string, withAlg = true): Promise<Key> {
  const pair = kind === 'EC' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: kind === 'RSA' ? 2048 : 1024 })
  const members = await exportJWK(pair.publicKey)
  const jwk: JWK = { ...members, kid, use: 'sig', ...(withAlg ? { alg: kind === 'EC' ? 'ES256' : 'RS256' } : {}) }
  return { kid, privateKey: pair.privateKey, publicKey: pair.publicKey, jwk }
}

export const b64u = (value: string | Buffer | Uint8Array): string => Buffer.from(value).toString('base64url')

/** A JSON segment: objects are serialised, strings are taken as the exact JSON text. */
export const segment = (value: unknown): string => b64u(typeof value === 'string' ? value : JSON.stringify(value))

export type Signer = (input: string) => Buffer

export const es256 =
  (key: KeyObject): Signer =>
  (input) =>
    sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
export const es256Der =
  (key: KeyObject): Signer =>
  (input) =>
    sign('sha256', Buffer.from(input), { key, dsaEncoding: 'der' })
export const rs256 =
  (key: KeyObject): Signer =>
  (input) =>
    sign('sha256', Buffer.from(input), key)
export const hmac =
  (hash: 'sha256' | 'sha384' | 'sha512', secret: string | Buffer): Signer =>
  (input) =>
    createHmac(hash, secret).update(input).digest()
export const fixed =
  (signature: Buffer): Signer =>
  () =>
    signature

/** header.payload.signature, where header and payload are objects or exact JSON text. */
export function jws(header: unknown, payload: unknown, signer: Signer): string {
  const input = `${segment(header)}.${segment(payload)}`
  return `${input}.${b64u(signer(input))}`
}

/**
 * An RS256 "signature" that verifies under any RSA key with public exponent 1 (s^1 mod n = s):
 * the EMSA-PKCS1-v1_5 encoding of the hash itself, computable from the public modulus alone.
 */
export const forgedForExponentOne =
  (modulusBytes: number): Signer =>
  (input) => {
    const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), createHash('sha256').update(input).digest()])
    return Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(modulusBytes - digestInfo.length - 3, 0xff), Buffer.from([0]), digestInfo])
  }

/** The P-256 group order n: r and s must lie in [1, n-1] (FIPS 186-4 §6.4). */
export const P256_N = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex')

// ---------------------------------------------------------------------------------------------
// A self-signed X.509 certificate for an attacker's key (x5c): node:crypto cannot issue one.

export async function attackerCertificate(): Promise<{ der: Buffer; privateKey: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'bktx-x5c-'))
  try {
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.der'),
      '-outform',
      'DER',
      '-days',
      '2',
      '-subj',
      '/CN=attacker',
    ])
    return { der: readFileSync(join(dir, 'cert.der')), privateKey: readFileSync(join(dir, 'key.pem'), 'utf8') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------------------------
// Listeners: a canary that must never be contacted, and a JWKS host that may be.

export interface Listener {
  url: string
  hits: string[]
  /** What it serves at any path (JSON). */
  body: unknown
  /** When set, answers instead (a hostile JWKS host: redirects, huge bodies, errors). */
  respond: ((req: IncomingMessage, res: ServerResponse) => void) | undefined
  close(): Promise<void>
}

export async function startListener(body: unknown = {}): Promise<Listener> {
  const hits: string[] = []
  const listener: Listener = { url: '', hits, body, respond: undefined, close: async () => undefined }
  const server: Server = createServer((req: IncomingMessage, res) => {
    hits.push(`${req.method} ${req.url}`)
    if (listener.respond !== undefined) return listener.respond(req, res)
    const text = JSON.stringify(listener.body)
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) })
    res.end(text)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  listener.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  listener.close = () => new Promise((resolve) => server.close(() => resolve()))
  return listener
}

// ---------------------------------------------------------------------------------------------
// The reference server in-process, with every outbound fetch recorded.

export interface SecurityServer {
  url: string
  tokenUrl: string
  server: TokenServer
  listening: Listening
  /** Every URL the server fetched (JWKS URIs). */
  fetched: string[]
  /** The server's request log lines. */
  log: string[]
  audit(): MemoryAuditSink['records']
  stop(): Promise<void>
}

export async function startSecurityServer(
  doc: unknown,
  options: {
    clock?: Clock
    limits?: StoreLimits
    stateDir?: string
    requestTimeoutMs?: number
    headersTimeoutMs?: number
    jwksCooldownMs?: number
    verbose?: boolean
  } = {},
): Promise<SecurityServer> {
  const fetched: string[] = []
  const log: string[] = []
  const running = await startServer({
    ...options,
    doc,
    log,
    fetch: (input, init) => {
      fetched.push(String(input))
      return fetch(input, init)
    },
  })
  return {
    ...running,
    fetched,
    log,
    audit: () => (running.server.state.audit as unknown as MemoryAuditSink).records,
  }
}

// Raw sockets: shared with the other listener tests.
export { rawRequest, withoutInterim, type RawResult } from '../helpers/raw-http.js'
