import { hash, randomBytes, randomUUID } from 'node:crypto'
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
  let out = 'bktx_'
  while (out.length < 48) {
    const byte = random.byte()
    if (byte < 248) out += BASE62[byte % 62]
  }
  return out
}

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
 */
export class TokenStore {
  readonly #tokens = new Map<string, TokenRecord>()
  readonly #jtis = new Map<string, number>()
  #journal: Journal | undefined
  readonly #limits: StoreLimits
  readonly #random = new RandomPool()
  #lastSweep = 0

  constructor(options: { journal?: Journal | undefined; limits?: StoreLimits } = {}) {
    this.#journal = options.journal
    this.#limits = options.limits ?? DEFAULT_LIMITS
  }

  /** Replays the records of a state journal written by an earlier run; expired ones are dropped. */
  replay(lines: Iterable<StateLine>, now: number): { tokens: number; jtis: number } {
    for (const record of lines) {
      if (record.t === 'mint') {
        if (record.token !== null) this.#tokens.set(record.token.sha256, { ...record.token })
        if (record.jti !== null) this.#jtis.set(jtiKey(record.jti.client_id, record.jti.jti), record.jti.until)
      } else {
        const token = this.#tokens.get(record.sha256)
        if (token !== undefined) token.revoked = true
      }
    }
    this.sweep(now, true)
    return { tokens: this.#tokens.size, jtis: this.#jtis.size }
  }

  /** From now on every change is appended to `journal` (after the replayed state was compacted into it). */
  attach(journal: Journal): void {
    this.#journal = journal
  }

  /** The live records as journal lines, to rewrite a compacted journal on start. */
  snapshotLines(): string[] {
    const lines: string[] = []
    for (const token of this.#tokens.values()) lines.push(JSON.stringify({ t: 'mint', token, jti: null } satisfies StateLine))
    for (const [key, until] of this.#jtis) {
      const split = key.indexOf('\u0000')
      const clientId = key.slice(0, split)
      const jti = key.slice(split + 1)
      lines.push(JSON.stringify({ t: 'mint', token: null, jti: { client_id: clientId, jti, until } } satisfies StateLine))
    }
    return lines
  }

  isReplay(clientId: string, jti: string, now: number): boolean {
    const until = this.#jtis.get(jtiKey(clientId, jti))
    return until !== undefined && until >= now
  }

  /** Room for one more token and jti? Sweeps first; false means refuse (503). */
  hasRoom(now: number): boolean {
    this.sweep(now)
    if (this.#tokens.size < this.#limits.maxTokens && this.#jtis.size < this.#limits.maxJtis) return true
    this.sweep(now, true)
    return this.#tokens.size < this.#limits.maxTokens && this.#jtis.size < this.#limits.maxJtis
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
      this.#jtis.set(jtiKey(jti.clientId, jti.jti), jti.until)
    }
    const token = newToken(this.#random)
    const record: TokenRecord = { ...fields, sha256: sha256Hex(token), uuid: randomUUID(), revoked: false }
    this.#tokens.set(record.sha256, record)
    const line: StateLine = { t: 'mint', token: record, jti: jti === undefined ? null : { client_id: jti.clientId, jti: jti.jti, until: jti.until } }
    const durable = this.#journal?.append([JSON.stringify(line)]) ?? Promise.resolve()
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
    return { tokens: this.#tokens.size, jtis: this.#jtis.size }
  }

  /** Drops expired tokens and jtis; at most once a second unless forced. */
  sweep(now: number, force = false): void {
    if (!force && now - this.#lastSweep < 1) return
    this.#lastSweep = now
    for (const [key, record] of this.#tokens) if (record.expiresAt <= now) this.#tokens.delete(key)
    for (const [key, until] of this.#jtis) if (until < now) this.#jtis.delete(key)
  }
}

// Client ids are printable ASCII (config.ts), so NUL cannot occur in one: the pair is unambiguous.
function jtiKey(clientId: string, jti: string): string {
  return `${clientId}\u0000${jti}`
}
