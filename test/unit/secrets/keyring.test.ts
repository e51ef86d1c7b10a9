import { describe, expect, it } from 'vitest'
import { KeychainError } from '../../../src/errors.js'
import { createKeyringStore, type KeyringBinding } from '../../../src/secrets/keyring.js'
import type { SecretServiceState } from '../../../src/secrets/probe.js'
import { MemorySecretStore } from '../../../src/secrets/store.js'
import { terminateIfKeychainStuck } from '../../../src/secrets/exit.js'

interface FakeBinding extends KeyringBinding {
  constructed: { service: string; account: string; options: unknown }[]
  items: Map<string, string>
  /** What the next native call does. */
  next: 'ok' | 'hang' | { reject: string }
  release: () => void
}

function fakeBinding(): FakeBinding {
  let releaseHang: () => void = () => undefined
  const binding: FakeBinding = {
    constructed: [],
    items: new Map(),
    next: 'ok',
    release: () => releaseHang(),
    AsyncEntry: class {
      constructor(
        private readonly service: string,
        private readonly account: string,
        options?: unknown,
      ) {
        binding.constructed.push({ service, account, options })
      }
      private behave<T>(value: () => T): Promise<T> {
        const next = binding.next
        if (next === 'hang') return new Promise<T>((resolve) => (releaseHang = () => resolve(value())))
        if (typeof next === 'object') return Promise.reject(new Error(next.reject))
        return Promise.resolve(value())
      }
      getPassword() {
        return this.behave(() => binding.items.get(`${this.service}/${this.account}`) ?? null)
      }
      setPassword(password: string) {
        return this.behave(() => void binding.items.set(`${this.service}/${this.account}`, password))
      }
      deleteCredential() {
        return this.behave(() => binding.items.delete(`${this.service}/${this.account}`))
      }
    },
    findCredentialsAsync: async (service: string) => {
      if (typeof binding.next === 'object') throw new Error(binding.next.reject)
      return [...binding.items.entries()]
        .filter(([k]) => k.startsWith(`${service}/`))
        .map(([k, password]) => ({ account: k.slice(service.length + 1), password }))
    },
  }
  return binding
}

function store(binding: FakeBinding, state: SecretServiceState = { state: 'unlocked' }, timeoutMs = 100) {
  let probes = 0
  const s = createKeyringStore({
    env: {},
    uid: 1000,
    platform: 'linux',
    timeoutMs,
    loadBinding: () => binding,
    probe: async () => {
      probes++
      return state
    },
  })
  return { s, probes: () => probes }
}

describe('createKeyringStore', () => {
  it('pins the Linux store to secret-service and files items under service bktx', async () => {
    const binding = fakeBinding()
    const { s } = store(binding)
    await s.set('acct', 'secret')
    expect(await s.get('acct')).toBe('secret')
    expect(await s.get('other')).toBeUndefined()
    expect(await s.accounts()).toEqual(['acct'])
    expect(await s.delete('acct')).toBe(true)
    expect(binding.constructed[0]).toEqual({ service: 'bktx', account: 'acct', options: { linux: { store: 'secret-service' } } })
  })

  it('probes once per store', async () => {
    const binding = fakeBinding()
    const { s, probes } = store(binding)
    await s.get('a')
    await s.get('b')
    await s.status()
    expect(probes()).toBe(1)
  })

  for (const [state, message] of [
    [{ state: 'locked' }, /keychain is locked/],
    [{ state: 'no-bus', detail: 'no bus here' }, /no usable keychain: no bus here/],
    [{ state: 'no-service', detail: 'nobody home' }, /no usable keychain: nobody home/],
    [{ state: 'no-collection', detail: 'no default keyring' }, /no default keyring/],
    [{ state: 'timeout' }, /did not answer within 100 ms/],
  ] as const) {
    it(`refuses every call when the probe says ${state.state}, without touching the binding`, async () => {
      const binding = fakeBinding()
      const { s } = store(binding, state)
      for (const call of [() => s.get('a'), () => s.set('a', 'x'), () => s.delete('a'), () => s.accounts()]) {
        await expect(call()).rejects.toThrow(message)
        await expect(call()).rejects.toBeInstanceOf(KeychainError)
      }
      expect(await s.status()).toMatchObject({ ok: false, error: expect.any(KeychainError) })
      expect(binding.constructed).toEqual([])
    })
  }

  it('lets the binding try when the probe cannot tell', async () => {
    const binding = fakeBinding()
    const { s } = store(binding, { state: 'unknown', detail: 'odd reply' })
    await s.set('a', 'x')
    expect(await s.get('a')).toBe('x')
  })

  it('reports a binding that cannot load as a KeychainError', async () => {
    const s = createKeyringStore({
      env: {},
      uid: 1000,
      platform: 'linux',
      loadBinding: () => {
        throw new Error("Cannot find module '@napi-rs/keyring-linux-x64-gnu'")
      },
      probe: async () => ({ state: 'unlocked' }),
    })
    await expect(s.get('a')).rejects.toThrow(/optional dependency @napi-rs\/keyring did not load/)
    expect(await s.status()).toMatchObject({ ok: false })
  })

  it('skips the probe off Linux', async () => {
    const binding = fakeBinding()
    const s = createKeyringStore({ env: {}, uid: 501, platform: 'darwin', loadBinding: () => binding })
    await s.set('a', 'x')
    expect(await s.get('a')).toBe('x')
  })

  it('names a locked keyring in binding errors, and does not mistake "blocked" for "locked"', async () => {
    const binding = fakeBinding()
    const { s } = store(binding)
    binding.next = { reject: "Couldn't access platform storage: Secret Service: unlock prompt was dismissed" }
    await expect(s.get('a')).rejects.toThrow(/keychain is locked \(get refused\)/)
    binding.next = { reject: 'zbus error: org.freedesktop.Secret.Error.IsLocked: Cannot get secret of a locked object' }
    await expect(s.accounts()).rejects.toThrow(/keychain is locked/)
    binding.next = {
      reject:
        'Platform failure: DBus error: Did not receive a reply. Possible causes include: the remote application did not send a reply, the message bus security policy blocked the reply',
    }
    await expect(s.set('a', 'x')).rejects.toThrow(/Secret Service did not answer \(set\)/)
    binding.next = { reject: 'Platform failure: DBus error: Using X11 for dbus-daemon autolaunch was disabled at compile time' }
    await expect(s.get('a')).rejects.toThrow(/D-Bus session bus is not reachable/)
    binding.next = { reject: 'Ambiguous: two items match' }
    await expect(s.delete('a')).rejects.toThrow(/keychain failed \(delete\): Ambiguous/)
  })

  it('bounds a call that never returns, remembers it, and refuses later calls at once', async () => {
    const binding = fakeBinding()
    const { s } = store(binding, { state: 'unlocked' }, 50)
    binding.next = 'hang'
    const started = performance.now()
    await expect(s.set('a', 'x')).rejects.toThrow(/did not answer within 50 ms \(set\)/)
    // A lower bound (the timeout did not fire early): load can only lengthen the wait.
    expect(performance.now() - started).toBeGreaterThanOrEqual(45)
    expect(s.stuckCalls()).toEqual([{ op: 'set', account: 'a' }])
    binding.next = 'ok'
    const constructed = binding.constructed.length
    await expect(s.get('a')).rejects.toThrow(/still blocked/)
    expect(binding.constructed.length).toBe(constructed)
    // When the native call finally returns, the store is usable again.
    binding.release()
    await new Promise((r) => setTimeout(r, 0))
    expect(s.stuckCalls()).toEqual([])
    expect(await s.get('a')).toBe('x')
  })
})

describe('terminateIfKeychainStuck', () => {
  it('does nothing when no call is stuck', () => {
    const lines: string[] = []
    let killed = 0
    expect(terminateIfKeychainStuck([], 4, { writeErr: (l) => void lines.push(l), terminate: () => void killed++ })).toBe(false)
    expect([lines, killed]).toEqual([[], 0])
  })

  it('says what the exit status becomes, then terminates', () => {
    const lines: string[] = []
    let killed = 0
    const ended = terminateIfKeychainStuck([{ op: 'set', account: 'k' }], 0, { writeErr: (l) => void lines.push(l), terminate: () => void killed++ })
    expect(ended).toBe(true)
    expect(killed).toBe(1)
    expect(lines.join('')).toMatch(/keychain call \(set\) is still blocked.*exit status is 143 instead of 0/)
  })
})

describe('MemorySecretStore', () => {
  it('stores, and fails every call with the configured KeychainError', async () => {
    const m = new MemorySecretStore()
    await m.set('a', '1')
    expect(await m.get('a')).toBe('1')
    m.fail = new KeychainError('locked')
    await expect(m.get('a')).rejects.toThrow('locked')
    expect(await m.status()).toEqual({ ok: false, error: m.fail })
    m.fail = undefined
    expect(await m.delete('a')).toBe(true)
    expect(await m.accounts()).toEqual([])
  })
})
