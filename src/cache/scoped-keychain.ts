import type { SecretStore } from '../secrets/store.js'
import { isCacheKey } from './key.js'

/**
 * The keychain as one cache scope sees it (./scope.ts): the item of entry `K` is account
 * `<scope>.<K>` under the `bktx` service. The keychain is the user's, shared by every HOME and
 * every CI job of the user; naming items by scope keeps one scope from reading, replacing or
 * (`cache clear --all`) deleting another's. Items of versions before scopes are named `K`
 * alone: {@link legacyKeychain} finds them for `cache clear --all` in a home scope.
 */
export function scopedKeychain(store: SecretStore, scope: string): SecretStore {
  const prefix = `${scope}.`
  const account = (key: string) => `${prefix}${key}`
  return {
    get: (key) => store.get(account(key)),
    set: (key, secret) => store.set(account(key), secret),
    delete: (key) => store.delete(account(key)),
    async accounts() {
      return (await store.accounts()).filter((a) => a.startsWith(prefix) && isCacheKey(a.slice(prefix.length))).map((a) => a.slice(prefix.length))
    },
    status: () => store.status(),
  }
}

/** Items written before scopes existed (account = the bare cache key), for `cache clear --all` in a home scope. */
export function legacyKeychain(store: SecretStore): Pick<SecretStore, 'delete' | 'accounts'> {
  return {
    delete: (key) => (isCacheKey(key) ? store.delete(key) : Promise.resolve(false)),
    accounts: async () => (await store.accounts()).filter(isCacheKey),
  }
}
