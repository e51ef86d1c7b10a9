import type { KeychainError } from '../errors.js'

/** The service name every bktx keychain item is filed under (`secret-tool search service bktx`). */
export const KEYCHAIN_SERVICE = 'bktx'

/** Whether a store can be used right now, found without raising an unlock prompt. */
export type StoreStatus = { ok: true } | { ok: false; error: KeychainError }

/**
 * A place for secrets keyed by account name, under one service name. Implementations bound
 * every call and report a store that is locked, absent, slow or broken as a `KeychainError`:
 * never as "not found" (which would look like a cache miss) and never by deleting anything.
 */
export interface SecretStore {
  /** The secret of `account`; `undefined` only when the store answered that there is none. */
  get(account: string): Promise<string | undefined>
  /** Creates or replaces the secret of `account`. */
  set(account: string, secret: string): Promise<void>
  /** Removes `account`; false when there was nothing to remove. */
  delete(account: string): Promise<boolean>
  /** Every account under the service (for `cache clear --all`). */
  accounts(): Promise<string[]>
  /**
   * Checks that the store answers and is unlocked, without prompting. Cheap; the answer is
   * kept for the life of the store object.
   */
  status(): Promise<StoreStatus>
}

/**
 * An in-memory SecretStore for tests. `fail` makes every call reject with a KeychainError (a
 * locked or absent keychain); `calls` records each operation for assertions.
 */
export class MemorySecretStore implements SecretStore {
  readonly items = new Map<string, string>()
  readonly calls: { op: 'get' | 'set' | 'delete' | 'accounts' | 'status'; account?: string }[] = []
  /** When set, every call fails with it (and status() reports it). */
  fail: KeychainError | undefined

  async get(account: string): Promise<string | undefined> {
    this.calls.push({ op: 'get', account })
    this.check()
    return this.items.get(account)
  }

  async set(account: string, secret: string): Promise<void> {
    this.calls.push({ op: 'set', account })
    this.check()
    this.items.set(account, secret)
  }

  async delete(account: string): Promise<boolean> {
    this.calls.push({ op: 'delete', account })
    this.check()
    return this.items.delete(account)
  }

  async accounts(): Promise<string[]> {
    this.calls.push({ op: 'accounts' })
    this.check()
    return [...this.items.keys()]
  }

  async status(): Promise<StoreStatus> {
    this.calls.push({ op: 'status' })
    return this.fail === undefined ? { ok: true } : { ok: false, error: this.fail }
  }

  private check(): void {
    if (this.fail !== undefined) throw this.fail
  }
}
