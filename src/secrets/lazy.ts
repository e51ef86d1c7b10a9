import type { Env } from '../env.js'
import type { KeyringSecretStore, StuckCall } from './keyring.js'
import type { SecretStore, StoreStatus } from './store.js'

/**
 * The OS keychain store, loaded on first use: most runs (every command but the token ones, and
 * the file cache) never need the keyring module, its D-Bus probe or the native binding.
 */
export function lazyKeyringStore(options: { env: Env; uid: number | undefined; platform: string; arch?: string }): SecretStore & {
  stuckCalls(): readonly StuckCall[]
} {
  let store: KeyringSecretStore | undefined
  const load = async (): Promise<KeyringSecretStore> => {
    store ??= (await import('./keyring.js')).createKeyringStore(options)
    return store
  }
  return {
    get: async (account) => (await load()).get(account),
    set: async (account, secret) => (await load()).set(account, secret),
    delete: async (account) => (await load()).delete(account),
    accounts: async () => (await load()).accounts(),
    status: async (): Promise<StoreStatus> => (await load()).status(),
    stuckCalls: () => store?.stuckCalls() ?? [],
  }
}
