import { readdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../fs/atomic.js'
import type { SecretStore, StoreStatus } from '../secrets/store.js'
import { isCacheKey } from './key.js'
import { readPrivateFile } from '../fs/private-file.js'

/**
 * A SecretStore of files: the secret of account `K` is `<dir>/K.token`, mode 0600, written
 * atomically, read only when it is a regular file of ours that nobody else can read. Accounts
 * are cache keys; anything else is refused, so names can never leave the directory.
 */
export class FileSecretStore implements SecretStore {
  readonly dir: string
  readonly #uid: number | undefined

  /** `dir` must already be checked by `openPrivateDir`. */
  constructor(options: { dir: string; uid: number | undefined }) {
    this.dir = options.dir
    this.#uid = options.uid
  }

  #path(account: string): string {
    if (!isCacheKey(account)) throw new TypeError('file secret store accounts are cache keys')
    return join(this.dir, `${account}.token`)
  }

  async get(account: string): Promise<string | undefined> {
    if (!isCacheKey(account)) return undefined
    return readPrivateFile(this.#path(account), this.#uid)
  }

  /** Throws FileError when the file cannot be written. */
  async set(account: string, secret: string): Promise<void> {
    await writeFileAtomic(this.#path(account), secret, { mode: 0o600, overwrite: true })
  }

  async delete(account: string): Promise<boolean> {
    if (!isCacheKey(account)) return false
    return unlink(this.#path(account)).then(
      () => true,
      () => false,
    )
  }

  async accounts(): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[])
    return names
      .filter((name) => name.endsWith('.token'))
      .map((name) => name.slice(0, -6))
      .filter(isCacheKey)
  }

  async status(): Promise<StoreStatus> {
    return { ok: true }
  }
}
