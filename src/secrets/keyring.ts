import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Env } from '../env.js'
import { KeychainError } from '../errors.js'
import type { BusConnect } from './dbus.js'
import { probeSecretService, type SecretServiceState } from './probe.js'
import { KEYCHAIN_SERVICE, type SecretStore, type StoreStatus } from './store.js'

/** The part of @napi-rs/keyring 2.1.2 bktx uses (see its index.d.ts). */
export interface KeyringBinding {
  AsyncEntry: new (
    service: string,
    account: string,
    options?: { linux?: { store?: 'secret-service' | 'keyutils' } },
  ) => {
    getPassword(): Promise<string | null>
    setPassword(password: string): Promise<void>
    deleteCredential(): Promise<boolean>
  }
  findCredentialsAsync(service: string): Promise<{ account: string; password: string }[]>
}

/** A native keychain call that outlived its timeout and still holds a libuv worker thread. */
export interface StuckCall {
  op: 'get' | 'set' | 'delete' | 'accounts'
  /** The item's account (a cache key, not a secret); undefined for `accounts`. */
  account: string | undefined
}

export interface KeyringStoreOptions {
  /** Environment: DBUS_SESSION_BUS_ADDRESS and XDG_RUNTIME_DIR locate the session bus. */
  env: Env
  /** The user's uid: the D-Bus EXTERNAL identity. Undefined on Windows. */
  uid: number | undefined
  /** `process.platform`. On `linux` the Secret Service is probed before the binding is used. */
  platform: string
  /** `process.arch`: on glibc Linux the binding's prebuilt package is required directly. */
  arch?: string
  /** Bound of every keychain call, in milliseconds. Default 3000 (cli/cli's keyring wrapper). */
  timeoutMs?: number
  /** Service name of the items. Default `bktx`; tests use their own. */
  service?: string
  /** Loads the native binding. Default: `createRequire(import.meta.url)('@napi-rs/keyring')`. */
  loadBinding?: () => KeyringBinding
  /**
   * Replaces the Secret Service probe (Linux). Tests use it to reach a service that answers
   * the probe but then never answers the binding.
   */
  probe?: () => Promise<SecretServiceState>
  /** How the probe opens the bus socket (default node:net's connect). */
  connect?: BusConnect | undefined
}

/** A SecretStore over the OS keychain that can report calls stuck in native code. */
export interface KeyringSecretStore extends SecretStore {
  /**
   * Calls that timed out and are still blocked in native code (an unlock prompt nobody
   * answers). While any remain, Node cannot exit by itself: the worker thread is joined at
   * exit, so `process.exit()` blocks as well. The entry point must then end the process with
   * `process.kill(process.pid, 'SIGTERM')` after flushing its output (docs/cache-and-ci.md, "Keychain failures").
   */
  stuckCalls(): readonly StuckCall[]
}

const DEFAULT_TIMEOUT_MS = 3000
// Pinned so that without a Secret Service the binding fails instead of silently using the
// kernel keyring (lost on reboot, and it wrote the secret before failing: docs/dependencies.md).
const ENTRY_OPTIONS = { linux: { store: 'secret-service' as const } }

/**
 * The OS keychain through @napi-rs/keyring (the maintained successor of keytar): Secret
 * Service on Linux, Keychain on macOS, Credential Manager on Windows.
 *
 * Failure handling, all reported as KeychainError:
 * - the binding cannot load (optional dependency missing, unsupported platform);
 * - Linux: before the first call, {@link probeSecretService} asks whether the default
 *   collection is unlocked. No bus, no provider, no default keyring, locked, or no answer all
 *   fail here, before the binding is touched, so bktx never raises an unlock prompt (a get on
 *   a locked collection prompts, and with a display blocks until answered) and never mistakes
 *   a locked keyring for a missing item (without a prompter a locked get can answer "none");
 * - every call is bounded by `timeoutMs` and runs on a libuv worker thread (AsyncEntry), so
 *   the timer can fire while native code blocks; a call that times out is remembered in
 *   `stuckCalls()` and every later call fails at once, so blocked calls never pile up and
 *   starve the thread pool that file I/O shares.
 */
export function createKeyringStore(options: KeyringStoreOptions): KeyringSecretStore {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const service = options.service ?? KEYCHAIN_SERVICE
  const loadBinding = options.loadBinding ?? (() => defaultLoadBinding(options.platform, options.arch))
  const stuck = new Set<StuckCall>()
  let binding: KeyringBinding | undefined
  let status: Promise<StoreStatus> | undefined

  const probe =
    options.probe ??
    (options.platform === 'linux' && options.uid !== undefined
      ? () => probeSecretService({ env: options.env, uid: options.uid as number, timeoutMs, connect: options.connect })
      : undefined)

  function load(): KeyringBinding {
    if (binding !== undefined) return binding
    try {
      binding = loadBinding()
    } catch (cause) {
      throw new KeychainError('keychain support is not available: the optional dependency @napi-rs/keyring did not load on this platform', {
        cause,
        detail: { reason: 'no-binding' },
        advice: ['use ', { option: 'cache', value: 'file' }, ' or ', { option: 'cache', value: 'none' }],
      })
    }
    return binding
  }

  async function checkStatus(): Promise<StoreStatus> {
    try {
      load()
    } catch (error) {
      return { ok: false, error: error as KeychainError }
    }
    if (probe === undefined) return { ok: true }
    const answer = await probe()
    switch (answer.state) {
      case 'unlocked':
      case 'unknown':
        // An answer the probe cannot read is no reason to refuse: the binding call is bounded.
        return { ok: true }
      case 'locked':
        return {
          ok: false,
          error: new KeychainError('the keychain is locked; bktx does not raise unlock prompts', {
            detail: { reason: 'locked' },
            advice: ['unlock it (for example by logging in to the desktop session) or use ', { option: 'cache', value: 'file' }],
          }),
        }
      case 'timeout':
        return { ok: false, error: new KeychainError(`the Secret Service did not answer within ${seconds(timeoutMs)}`, { detail: { reason: 'timeout' } }) }
      case 'no-bus':
      case 'no-service':
      case 'no-collection':
        // The probe's state is the reason, so `bktx status` can tell "absent" from "locked".
        return { ok: false, error: new KeychainError(`no usable keychain: ${answer.detail}`, { detail: { reason: answer.state } }) }
    }
  }

  function ensureUsable(): Promise<StoreStatus> {
    status ??= checkStatus()
    return status
  }

  async function run<T>(op: StuckCall['op'], account: string | undefined, call: (b: KeyringBinding) => Promise<T>): Promise<T> {
    if (stuck.size > 0) {
      throw new KeychainError('an earlier keychain call is still blocked (an unlock prompt?); not calling the keychain again')
    }
    const state = await ensureUsable()
    if (!state.ok) throw state.error
    const record: StuckCall = { op, account }
    let pending: Promise<T>
    try {
      pending = call(load())
    } catch (cause) {
      // The constructor is synchronous and fails at once without a bus.
      throw translate(op, cause)
    }
    let timer: NodeJS.Timeout | undefined
    let timedOut = false
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true
        stuck.add(record)
        reject(new KeychainError(`the keychain did not answer within ${seconds(timeoutMs)} (${op}); it may be waiting on an unlock prompt`))
      }, timeoutMs)
    })
    // Whenever the native call ends, even long after the timeout, it no longer blocks exit.
    pending.then(
      () => stuck.delete(record),
      () => stuck.delete(record),
    )
    try {
      return await Promise.race([pending, timeout])
    } catch (cause) {
      if (timedOut) throw cause
      throw translate(op, cause)
    } finally {
      clearTimeout(timer)
    }
  }

  const entry = (b: KeyringBinding, account: string) => new b.AsyncEntry(service, account, ENTRY_OPTIONS)

  return {
    async get(account) {
      const value = await run('get', account, (b) => entry(b, account).getPassword())
      return value ?? undefined
    },
    async set(account, secret) {
      await run('set', account, (b) => entry(b, account).setPassword(secret))
    },
    async delete(account) {
      return run('delete', account, (b) => entry(b, account).deleteCredential())
    },
    async accounts() {
      const found = await run('accounts', undefined, (b) => b.findCredentialsAsync(service))
      return found.map((c) => c.account)
    },
    status: ensureUsable,
    stuckCalls: () => [...stuck],
  }
}

function defaultLoadBinding(platform: string, arch: string | undefined): KeyringBinding {
  // require() instead of import(): about 45 ms cheaper at start-up (docs/dependencies.md).
  const require = createRequire(import.meta.url)
  const direct = glibcLinuxPackage(platform, arch)
  if (direct !== undefined) {
    try {
      // Resolved from the loader's own place, where npm or pnpm installed its optional dependency.
      return createRequire(require.resolve('@napi-rs/keyring'))(direct) as KeyringBinding
    } catch {
      // Not installed, or not loadable here: the package's own loader decides, as before.
    }
  }
  return require('@napi-rs/keyring') as KeyringBinding
}

/**
 * The prebuilt package @napi-rs/keyring's loader would pick on glibc Linux. The loader first
 * works out the C library (reading /usr/bin/ldd, else a process report) and tries local paths:
 * about 3 ms of every keychain cache hit (docs/benchmarks.md). Where a musl dynamic loader
 * exists, or on other systems, the loader itself is used.
 */
export function glibcLinuxPackage(platform: string, arch: string | undefined): string | undefined {
  const musl = platform === 'linux' && arch !== undefined ? MUSL_LOADER_ARCH[arch] : undefined
  if (musl === undefined || existsSync(`/lib/ld-musl-${musl}.so.1`)) return undefined
  return `@napi-rs/keyring-linux-${arch}-gnu`
}

const MUSL_LOADER_ARCH: Partial<Record<string, string>> = { x64: 'x86_64', arm64: 'aarch64' }

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`
}

/** A binding error as a KeychainError whose message names the likely cause, never a secret. */
function translate(op: StuckCall['op'], cause: unknown): KeychainError {
  const text = cause instanceof Error ? cause.message : String(cause)
  // Word boundaries: libdbus's "Did not receive a reply" text says "blocked", not locked.
  if (/\b(is ?locked|locked|unlock|prompt)\b/i.test(text)) {
    return new KeychainError(`the keychain is locked (${op} refused)`, {
      cause,
      detail: { reason: 'locked' },
      advice: ['unlock it or use ', { option: 'cache', value: 'file' }],
    })
  }
  if (/did not receive a reply|timeout/i.test(text)) {
    return new KeychainError(`the Secret Service did not answer (${op})`, { cause })
  }
  if (/dbus|d-bus/i.test(text)) {
    return new KeychainError(`no usable keychain: the D-Bus session bus is not reachable (${op})`, { cause })
  }
  // The binding's messages describe the platform error; they never contain the secret.
  const brief = text.split('\n')[0]?.slice(0, 160) ?? ''
  return new KeychainError(`the keychain failed (${op}): ${brief}`, { cause })
}
