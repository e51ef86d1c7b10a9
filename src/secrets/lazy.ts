import type { Env } from '../env.js'
import { KeychainError } from '../errors.js'
import type { BusConnect } from './dbus.js'
import type { KeyringSecretStore, StuckCall } from './keyring.js'
import type { SecretStore, StoreStatus } from './store.js'

/**
 * The OS keychain store, loaded on first use: most runs (every command but the token ones, and
 * the file cache) never need the keyring module, its D-Bus probe or the native binding.
 *
 * A keyring module that cannot be loaded at all (a user's bundle that left it, or what it
 * needs, out) is a keychain that is not available, like a binding that does not load: status()
 * reports a KeychainError, so `auto` falls back to the file cache, and every call rejects with
 * it, never with the loader's raw MODULE_NOT_FOUND.
 */
export function lazyKeyringStore(options: {
  env: Env
  uid: number | undefined
  platform: string
  arch?: string
  /** How the lock probe opens the bus socket (./dbus.ts BusConnect); default node:net's connect. */
  connect?: BusConnect | undefined
}): SecretStore & {
  stuckCalls(): readonly StuckCall[]
} {
  let store: Promise<KeyringSecretStore> | undefined
  let loaded: KeyringSecretStore | undefined
  const load = (): Promise<KeyringSecretStore> => {
    store ??= import('./keyring.js').then(
      (keyring) => (loaded = keyring.createKeyringStore(options)),
      (cause: unknown) => {
        throw new KeychainError('keychain support is not available: the keyring module did not load (is bktx bundled without it?)', {
          cause,
          detail: { reason: 'no-binding' },
          advice: ['use ', { option: 'cache', value: 'file' }, ' or ', { option: 'cache', value: 'none' }],
        })
      },
    )
    return store
  }
  return {
    get: async (account) => (await load()).get(account),
    set: async (account, secret) => (await load()).set(account, secret),
    delete: async (account) => (await load()).delete(account),
    accounts: async () => (await load()).accounts(),
    status: async (): Promise<StoreStatus> => {
      try {
        return await (await load()).status()
      } catch (error) {
        if (error instanceof KeychainError) return { ok: false, error }
        throw error
      }
    },
    stuckCalls: () => loaded?.stuckCalls() ?? [],
  }
}
