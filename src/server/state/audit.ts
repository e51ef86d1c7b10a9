import type { Journal } from './journal.js'

export type AuditType = 'token.minted' | 'token.exchange_failed' | 'token.revoked'

/**
 * One audit record (docs/token-exchange.md §6 [bktx]). Never the token or the assertion: the token only
 * as its SHA-256, the failure only as the public error plus a private detail.
 */
export interface AuditRecord {
  time: string
  type: AuditType
  org: string | null
  client_id: string | null
  user: string | null
  kid: string | null
  jti: string | null
  scopes: string[] | null
  expires_at: string | null
  ip: string | null
  token_sha256: string | null
  error: string | null
  detail: string | null
}

export interface AuditSink {
  /** Resolves once the record is durable (file sink) or stored (memory sink). */
  write(record: AuditRecord): Promise<void>
}

/** The state directory's audit.jsonl. */
export class FileAuditSink implements AuditSink {
  constructor(private readonly journal: Journal) {}

  write(record: AuditRecord): Promise<void> {
    return this.journal.append([JSON.stringify(record)])
  }
}

/**
 * Without a state directory: the most recent records in memory. Capped so memory stays bounded; the
 * oldest half is dropped in one go when the cap is reached, keeping writes O(1) amortised.
 */
export class MemoryAuditSink implements AuditSink {
  #records: AuditRecord[] = []
  constructor(private readonly cap = 10_000) {}

  get records(): readonly AuditRecord[] {
    return this.#records
  }

  async write(record: AuditRecord): Promise<void> {
    this.#records.push(record)
    if (this.#records.length > this.cap) this.#records = this.#records.slice(-Math.floor(this.cap / 2))
  }
}
