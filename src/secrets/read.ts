import { isUtf8 } from 'node:buffer'
import type { Env } from '../env.js'
import { DBusError, withConnection, type BusConnect, type DBusConnection, type DBusValue } from './dbus.js'
import { GET_LOCKED, lockedOf, SECRET_SERVICE, sessionBusSocket } from './probe.js'

/**
 * What the Secret Service said about one item: its secret, that there is none, that it or the
 * default collection is locked, or (`unknown`) anything else: no bus, no answer in time, two
 * matching items, a secret that is not UTF-8, a provider without the `plain` algorithm. Only
 * `found` is an answer a caller may serve; the others send it to the keyring binding's path
 * (./keyring.ts), whose answer or error is then the one given.
 */
export type SecretRead = { state: 'found'; secret: string } | { state: 'none' } | { state: 'locked' } | { state: 'unknown'; detail: string }

export interface ReadOptions {
  env: Env
  uid: number
  /** Bounds the whole read, connecting included. */
  timeoutMs: number
  /** The item's `service` attribute (`bktx`). */
  service: string
  /** The item's `username` attribute: the account (src/cache/scoped-keychain.ts). */
  account: string
  /** How the bus socket is opened (default node:net's connect; the entry points pass a lighter one). */
  connect?: BusConnect | undefined
}

const SERVICE_PATH = '/org/freedesktop/secrets'
const SERVICE_INTERFACE = 'org.freedesktop.Secret.Service'

/**
 * Reads the item @napi-rs/keyring 2.1.2 keeps for (`service`, `account`) over one short D-Bus
 * connection of bktx's own, for a keychain hit answered from its memo (src/fast/hit.ts), which
 * then never loads the binding: a 3 MB native library that opens a connection of its own and
 * negotiates an encrypted session on a thread (docs/benchmarks.md). Writes, deletes and every
 * other read stay with the binding.
 *
 * The item is the one the binding reads: `SearchItems` on the service for the attributes
 * `service` and `username` (what it writes; test/keychain/read.test.ts reads items the binding
 * wrote), exactly one unlocked match, read with `Item.GetSecret` as UTF-8 (Secret Service API
 * 0.2, "org.freedesktop.Secret.Service", "org.freedesktop.Secret.Item"). Two matches, where
 * the binding reports an ambiguity, are `unknown`.
 *
 * It never raises an unlock prompt: it reads the default collection's `Locked` property as the
 * lock probe does (./probe.ts) and calls neither `Unlock` nor anything on a locked item. The
 * whole read is bounded by `timeoutMs`: a bus or service that accepts and never answers is
 * `unknown`, and nothing stays blocked (no native call, no worker thread).
 *
 * The session is `plain`: the secret comes back unencrypted in the reply, over the user's own
 * session bus socket; the binding negotiates `dh-ietf1024-sha256-aes128-cbc-pkcs7`. The Secret
 * Service API ("Transfer of Secrets") says that encryption is not meant to withstand any attack
 * on the bus: it keeps plain text out of the memory of the processes in between and out of
 * swap, and calls it "of questionable value" for clients that cannot keep their own memory from
 * being paged out, which a Node process holding the token as a JavaScript string cannot. Whoever
 * can read this user's bus traffic (the same user, or root) can ask the unlocked collection for
 * the item directly. gh's keyring library (zalando/go-keyring) reads its tokens the same way.
 */
export async function readSecret(options: ReadOptions): Promise<SecretRead> {
  const socketPath = sessionBusSocket(options.env)
  if (socketPath === undefined) return { state: 'unknown', detail: 'no D-Bus session bus' }
  try {
    return await withConnection({ socketPath, uid: options.uid, timeoutMs: options.timeoutMs, connect: options.connect }, (bus) => readItem(bus, options))
  } catch (error) {
    if (error instanceof DBusError && error.dbusName === 'bktx.Timeout') return { state: 'unknown', detail: 'timeout' }
    // A D-Bus error's name and text, or a socket's: never a secret (none has been read).
    return { state: 'unknown', detail: error instanceof Error ? error.message : String(error) }
  }
}

async function readItem(bus: DBusConnection, options: ReadOptions): Promise<SecretRead> {
  // Sent together, answered in order: none of them prompts, and only the lock decides whether the item is read.
  const [locked, session, search] = await Promise.all([
    bus.call(GET_LOCKED),
    bus.call({
      destination: SECRET_SERVICE,
      path: SERVICE_PATH,
      interface: SERVICE_INTERFACE,
      member: 'OpenSession',
      signature: 'sv',
      body: ['plain', { signature: 's', value: '' }],
    }),
    bus.call({
      destination: SECRET_SERVICE,
      path: SERVICE_PATH,
      interface: SERVICE_INTERFACE,
      member: 'SearchItems',
      signature: 'a{ss}',
      body: [
        [
          ['service', options.service],
          ['username', options.account],
        ],
      ],
    }),
  ])
  const isLocked = lockedOf(locked)
  if (isLocked === true) return { state: 'locked' }
  if (isLocked !== false) return { state: 'unknown', detail: `unexpected Locked reply ${locked.signature}` }
  const [unlockedItems, lockedItems] = search.body
  if (!isPaths(unlockedItems) || !isPaths(lockedItems)) return { state: 'unknown', detail: `unexpected SearchItems reply ${search.signature}` }
  if (lockedItems.length > 0) return { state: 'locked' }
  const [item, ...others] = unlockedItems
  if (item === undefined) return { state: 'none' }
  if (others.length > 0) return { state: 'unknown', detail: 'more than one matching item' }
  const sessionPath = session.body[1]
  if (session.signature !== 'vo' || typeof sessionPath !== 'string') return { state: 'unknown', detail: `unexpected OpenSession reply ${session.signature}` }
  // An item locked since the search is refused (IsLocked), not prompted for.
  const reply = await bus.call({
    destination: SECRET_SERVICE,
    path: item,
    interface: 'org.freedesktop.Secret.Item',
    member: 'GetSecret',
    signature: 'o',
    body: [sessionPath],
  })
  // (oayays): the session, its parameters (empty for plain), the value, its content type.
  const value = reply.signature === '(oayays)' ? (reply.body[0] as DBusValue[])[2] : undefined
  if (!Array.isArray(value)) return { state: 'unknown', detail: `unexpected GetSecret reply ${reply.signature}` }
  const bytes = Buffer.from(value as number[])
  // As the binding reads it: UTF-8, and bytes that are not are its error, never a secret.
  if (!isUtf8(bytes)) return { state: 'unknown', detail: 'the secret is not UTF-8' }
  return { state: 'found', secret: bytes.toString('utf8') }
}

function isPaths(value: DBusValue | undefined): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string')
}
