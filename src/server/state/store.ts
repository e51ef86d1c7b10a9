import { hash, randomBytes } from 'node:crypto'
import type { Journal } from './journal.js'

export interface TokenRecord {
  sha256: string
  uuid: string
  org: string
  clientId: string
  user: { uuid: string; email: string; name: string }
  scopes: string[]
  description: string
  /** Seconds since the epoch. */
  createdAt: number
  expiresAt: number
  revoked: boolean
}

export interface StoreLimits {
  /** Live tokens kept at most; beyond it exchanges are refused (503) rather than memory growing. */
  maxTokens: number
  /** Used jtis remembered at most (each only until its exp plus tolerance). */
  maxJtis: number
}

export const DEFAULT_LIMITS: StoreLimits = { maxTokens: 250_000, maxJtis: 250_000 }

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

/**
 * Random bytes drawn from the CSPRNG in 4 KiB batches, as Node's randomUUID does: one
 * getrandom call per ~80 tokens instead of one per token. Each TokenStore has its own.
 */
export class RandomPool {
  #pool = Buffer.alloc(0)
  #offset = 0

  byte(): number {
    if (this.#offset >= this.#pool.length) {
      this.#pool = randomBytes(4096)
      this.#offset = 0
    }
    return this.#pool[this.#offset++] as number
  }
}

/**
 * `bktx_` + 43 base62 characters (docs/token-exchange.md §6): 43 × log2(62) ≈ 256 bits, the entropy of
 * 32 random bytes. Each character comes from one random byte below 248 (= 4 × 62) so every
 * character is uniform; bytes of 248 and above are discarded.
 */
export function newToken(random: RandomPool = new RandomPool()): string {
  // Written into one buffer and read out as one string: appending 43 characters to a string made
  // about 40 intermediate strings per token, garbage that brought the next collection closer.
  let length = TOKEN_PREFIX.length
  while (length < TOKEN_LENGTH) {
    const byte = random.byte()
    if (byte < 248) TOKEN_BYTES[length++] = BASE62_BYTES[byte % 62] as number
  }
  return TOKEN_BYTES.toString('latin1', 0, TOKEN_LENGTH)
}

const TOKEN_PREFIX = 'bktx_'
const TOKEN_LENGTH = 48
const BASE62_BYTES = Buffer.from(BASE62, 'latin1')
// Its own memory, not a slice of Buffer's shared pool; the prefix is written once.
const TOKEN_BYTES = Buffer.alloc(TOKEN_LENGTH, TOKEN_PREFIX, 'latin1')

/**
 * A random (version 4) UUID, RFC 9562 §5.4, lowercase as crypto.randomUUID gives it, from the
 * store's pool. Written into one buffer and read out as one string: Node 20's randomUUID joins
 * sixteen hex pairs and four dashes with +, and a token record kept that chain of about fifteen
 * strings for its whole life.
 */
export function newUuid(random: RandomPool = new RandomPool()): string {
  let at = 0
  for (let n = 0; n < 16; n++) {
    let byte = random.byte()
    if (n === 6) byte = (byte & 0x0f) | 0x40
    else if (n === 8) byte = (byte & 0x3f) | 0x80
    if (n === 4 || n === 6 || n === 8 || n === 10) UUID_BYTES[at++] = 0x2d
    UUID_BYTES[at++] = HEX_BYTES[byte >> 4] as number
    UUID_BYTES[at++] = HEX_BYTES[byte & 0x0f] as number
  }
  return UUID_BYTES.toString('latin1', 0, 36)
}

const HEX_BYTES = Buffer.from('0123456789abcdef', 'latin1')
const UUID_BYTES = Buffer.alloc(36)

// crypto.hash (Node 20.12): the one-shot form, without a Hash object per call; about a fifth of
// createHash's cost, paid once per token minted and once per API request.
export function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex')
}

export type StateLine =
  | { t: 'mint'; token: TokenRecord | null; jti: { client_id: string; jti: string; until: number } | null }
  | { t: 'revoke'; sha256: string }

/**
 * One line of state.jsonl as this server writes it, or undefined when it is anything else: not
 * JSON, or JSON of another shape. Checked member by member so a damaged line cannot put a
 * record of the wrong types in the store.
 */
export function parseStateLine(text: string): StateLine | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!isObject(value)) return undefined
  if (value['t'] === 'revoke') return isSha256(value['sha256']) ? { t: 'revoke', sha256: value['sha256'] } : undefined
  if (value['t'] !== 'mint') return undefined
  const token = value['token']
  const jti = value['jti']
  if (token !== null && !isTokenRecord(token)) return undefined
  if (jti !== null && !(isObject(jti) && isText(jti['client_id']) && isText(jti['jti']) && isNumber(jti['until']))) return undefined
  if (token === null && jti === null) return undefined
  return value as StateLine
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isText = (v: unknown): v is string => typeof v === 'string' && v !== ''
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)
const isSha256 = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v)

function isTokenRecord(v: unknown): v is TokenRecord {
  if (!isObject(v)) return false
  const user = v['user']
  return (
    isSha256(v['sha256']) &&
    isText(v['uuid']) &&
    isText(v['org']) &&
    isText(v['clientId']) &&
    isObject(user) &&
    isText(user['uuid']) &&
    isText(user['email']) &&
    typeof user['name'] === 'string' &&
    Array.isArray(v['scopes']) &&
    v['scopes'].every(isText) &&
    typeof v['description'] === 'string' &&
    isNumber(v['createdAt']) &&
    isNumber(v['expiresAt']) &&
    typeof v['revoked'] === 'boolean'
  )
}

/**
 * Issued tokens (by SHA-256 only), revocations and used jtis. With a journal, every change is
 * appended and flushed before the caller answers; on start the journal is replayed, expired
 * records dropped. Memory stays bounded: expired entries are swept and both maps are capped.
 * Each entry is also queued by its expiry, so a sweep touches only what has expired: the work
 * per request stays O(log n), never a walk over every live token (250,000 at the cap) on the
 * event loop, which held every request in flight for that long.
 */
export class TokenStore {
  readonly #tokens = new Map<string, TokenRecord>()
  // Used jtis per client id: the jti string itself is the key (no composite key string per
  // token to build, flatten and keep), and the client ids are the configured apps'.
  readonly #jtis = new Map<string, Map<string, number>>()
  #jtiCount = 0
  readonly #tokenExpiry = new ExpiryQueue<string>()
  readonly #jtiExpiry = new ExpiryQueue<string>()
  #journal: Journal | undefined
  readonly #limits: StoreLimits
  readonly #random = new RandomPool()

  constructor(options: { journal?: Journal | undefined; limits?: StoreLimits } = {}) {
    this.#journal = options.journal
    this.#limits = options.limits ?? DEFAULT_LIMITS
  }

  /** Replays the records of a state journal written by an earlier run; expired ones are dropped. */
  replay(lines: Iterable<StateLine>, now: number): { tokens: number; jtis: number } {
    for (const record of lines) {
      if (record.t === 'mint') {
        if (record.token !== null) this.#addToken(tokenRecord(record.token, record.token.sha256, record.token.uuid, record.token.revoked))
        if (record.jti !== null) this.#addJti(record.jti.client_id, record.jti.jti, record.jti.until)
      } else {
        const token = this.#tokens.get(record.sha256)
        if (token !== undefined) token.revoked = true
      }
    }
    this.sweep(now)
    return { tokens: this.#tokens.size, jtis: this.#jtiCount }
  }

  /** From now on every change is appended to `journal` (after the replayed state was compacted into it). */
  attach(journal: Journal): void {
    this.#journal = journal
  }

  /** The live records as journal lines, to rewrite a compacted journal on start. */
  snapshotLines(): string[] {
    const lines: string[] = []
    for (const token of this.#tokens.values()) lines.push(JSON.stringify({ t: 'mint', token, jti: null } satisfies StateLine))
    for (const [clientId, jtis] of this.#jtis) {
      for (const [jti, until] of jtis) lines.push(JSON.stringify({ t: 'mint', token: null, jti: { client_id: clientId, jti, until } } satisfies StateLine))
    }
    return lines
  }

  isReplay(clientId: string, jti: string, now: number): boolean {
    const until = this.#jtis.get(clientId)?.get(jti)
    return until !== undefined && until >= now
  }

  /** Room for one more token and jti? Sweeps first; false means refuse (503). */
  hasRoom(now: number): boolean {
    this.sweep(now)
    return this.#tokens.size < this.#limits.maxTokens && this.#jtiCount < this.#limits.maxJtis
  }

  /**
   * Atomically (no await between check and set) claims a jti and records a new token. Returns
   * undefined when the jti was claimed meanwhile by a concurrent request: exactly one of two
   * concurrent exchanges with one jti mints (docs/token-exchange.md §2, §9).
   */
  mint(
    fields: Omit<TokenRecord, 'sha256' | 'uuid' | 'revoked'>,
    jti: { clientId: string; jti: string; until: number } | undefined,
    now: number,
  ): { token: string; record: TokenRecord; durable: Promise<void> } | undefined {
    if (jti !== undefined) {
      if (this.isReplay(jti.clientId, jti.jti, now)) return undefined
      this.#addJti(jti.clientId, jti.jti, jti.until)
    }
    const token = newToken(this.#random)
    const record = tokenRecord(fields, sha256Hex(token), newUuid(this.#random), false)
    this.#addToken(record)
    const durable =
      this.#journal?.append([
        JSON.stringify({
          t: 'mint',
          token: record,
          jti: jti === undefined ? null : { client_id: jti.clientId, jti: jti.jti, until: jti.until },
        } satisfies StateLine),
      ]) ?? Promise.resolve()
    return { token, record, durable }
  }

  /** A token that is known, not expired and not revoked. */
  find(token: string, now: number): TokenRecord | undefined {
    const record = this.#tokens.get(sha256Hex(token))
    if (record === undefined || record.revoked || record.expiresAt <= now) return undefined
    return record
  }

  revoke(record: TokenRecord): Promise<void> {
    record.revoked = true
    return this.#journal?.append([JSON.stringify({ t: 'revoke', sha256: record.sha256 })]) ?? Promise.resolve()
  }

  get size(): { tokens: number; jtis: number } {
    return { tokens: this.#tokens.size, jtis: this.#jtiCount }
  }

  /**
   * Drops expired tokens (expiresAt <= now, as find refuses them) and jtis (until < now, as
   * isReplay no longer counts them), taking them from the front of the expiry queues: each
   * sweep costs what it removes. A queued entry whose map entry was since replaced (a jti used
   * again after it expired) is skipped; the newer entry has its own place in the queue.
   */
  sweep(now: number): void {
    for (let key = this.#tokenExpiry.popUntil(now, true); key !== undefined; key = this.#tokenExpiry.popUntil(now, true)) {
      const record = this.#tokens.get(key)
      if (record !== undefined && record.expiresAt <= now) this.#tokens.delete(key)
    }
    for (let entry = this.#jtiExpiry.popEntryUntil(now, false); entry !== undefined; entry = this.#jtiExpiry.popEntryUntil(now, false)) {
      const jtis = this.#jtis.get(entry.group)
      const until = jtis?.get(entry.key)
      if (jtis !== undefined && until !== undefined && until < now) {
        jtis.delete(entry.key)
        this.#jtiCount--
      }
    }
  }

  #addToken(record: TokenRecord): void {
    this.#tokens.set(record.sha256, record)
    this.#tokenExpiry.push(record.expiresAt, record.sha256)
  }

  #addJti(clientId: string, jti: string, until: number): void {
    let jtis = this.#jtis.get(clientId)
    if (jtis === undefined) {
      jtis = new Map()
      this.#jtis.set(clientId, jtis)
    }
    if (!jtis.has(jti)) this.#jtiCount++
    jtis.set(jti, until)
    this.#jtiExpiry.push(until, jti, clientId)
  }
}

/**
 * Every member named, in the order mint has always written them to state.jsonl.
 * Not `{ ...fields, sha256, uuid, revoked }`: V8 (Node 20) gives an object spread and then
 * extended a hidden class of its own, so each live token kept one, with its descriptors and an
 * out-of-object property array, a few hundred bytes more per token.
 */
function tokenRecord(fields: Omit<TokenRecord, 'sha256' | 'uuid' | 'revoked'>, sha256: string, uuid: string, revoked: boolean): TokenRecord {
  return {
    org: fields.org,
    clientId: fields.clientId,
    user: fields.user,
    scopes: fields.scopes,
    description: fields.description,
    createdAt: fields.createdAt,
    expiresAt: fields.expiresAt,
    sha256,
    uuid,
    revoked,
  }
}

/**
 * A binary min-heap of (time, key, group) in parallel arrays: no object per entry, so a queued
 * entry costs the store two array slots (three with a group) beside the map entry it shadows.
 */
export class ExpiryQueue<K> {
  readonly #times: number[] = []
  readonly #keys: K[] = []
  readonly #groups: string[] = []

  get length(): number {
    return this.#times.length
  }

  push(time: number, key: K, group = ''): void {
    const times = this.#times
    const keys = this.#keys
    const groups = this.#groups
    let i = times.length
    times.push(time)
    keys.push(key)
    groups.push(group)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if ((times[parent] as number) <= time) break
      times[i] = times[parent] as number
      keys[i] = keys[parent] as K
      groups[i] = groups[parent] as string
      i = parent
    }
    times[i] = time
    keys[i] = key
    groups[i] = group
  }

  /** The key of the earliest entry if its time is <= `now` (`inclusive`) or < `now`, removed; else undefined. */
  popUntil(now: number, inclusive: boolean): K | undefined {
    return this.popEntryUntil(now, inclusive)?.key
  }

  popEntryUntil(now: number, inclusive: boolean): { key: K; group: string } | undefined {
    const times = this.#times
    if (times.length === 0) return undefined
    const first = times[0] as number
    if (inclusive ? first > now : first >= now) return undefined
    const keys = this.#keys
    const groups = this.#groups
    const entry = { key: keys[0] as K, group: groups[0] as string }
    const time = times.pop() as number
    const key = keys.pop() as K
    const group = groups.pop() as string
    const n = times.length
    if (n > 0) {
      let i = 0
      for (;;) {
        let child = 2 * i + 1
        if (child >= n) break
        if (child + 1 < n && (times[child + 1] as number) < (times[child] as number)) child++
        if ((times[child] as number) >= time) break
        times[i] = times[child] as number
        keys[i] = keys[child] as K
        groups[i] = groups[child] as string
        i = child
      }
      times[i] = time
      keys[i] = key
      groups[i] = group
    }
    return entry
  }
}
