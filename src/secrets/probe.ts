import { statSync } from 'node:fs'
import { join } from 'node:path'
import type { Env } from '../env.js'
import { busSocketPath, DBusError, withConnection, type BusConnect, type DBusCall, type DBusMessage } from './dbus.js'

/**
 * What the Secret Service said about the collection new items go to (the `default` alias,
 * where @napi-rs/keyring writes). Only `unlocked` means a call through the binding can
 * neither prompt nor hang on an unlock prompt; the other definite answers mean it would.
 */
export type SecretServiceState =
  | { state: 'unlocked' }
  | { state: 'locked' }
  | { state: 'no-bus'; detail: string }
  | { state: 'no-service'; detail: string }
  | { state: 'no-collection'; detail: string }
  | { state: 'timeout' }
  /** The bus answered in a way this probe does not understand: let the binding try (bounded). */
  | { state: 'unknown'; detail: string }

export interface ProbeOptions {
  env: Env
  uid: number
  timeoutMs: number
  /** How the bus socket is opened (default node:net's connect; the entry points pass a lighter one). */
  connect?: BusConnect | undefined
}

export const SECRET_SERVICE = 'org.freedesktop.secrets'
const DEFAULT_COLLECTION = '/org/freedesktop/secrets/aliases/default'

/** `Properties.Get(Collection, "Locked")` of the default collection: a read that never prompts. */
export const GET_LOCKED: DBusCall = {
  destination: SECRET_SERVICE,
  path: DEFAULT_COLLECTION,
  interface: 'org.freedesktop.DBus.Properties',
  member: 'Get',
  args: ['org.freedesktop.Secret.Collection', 'Locked'],
}

/** The session bus's socket path, as libdbus and sd-bus find it; undefined when there is none to try. */
export function sessionBusSocket(env: Env): string | undefined {
  const address = env['DBUS_SESSION_BUS_ADDRESS']
  const runtime = env['XDG_RUNTIME_DIR']
  // Without the variable, libdbus and sd-bus look for the per-user bus in $XDG_RUNTIME_DIR.
  return address !== undefined && address !== '' ? busSocketPath(address) : runtime?.startsWith('/') ? join(runtime, 'bus') : undefined
}

/** The `Locked` property in a reply to {@link GET_LOCKED}; undefined when the reply is not a boolean variant. */
export function lockedOf(reply: DBusMessage): boolean | undefined {
  const variant = reply.body[0]
  const locked = typeof variant === 'object' && variant !== null && !Array.isArray(variant) ? variant.value : undefined
  return typeof locked === 'boolean' ? locked : undefined
}

/**
 * Asks the Secret Service whether its default collection is locked, over a short private
 * D-Bus connection: `org.freedesktop.DBus.Properties.Get(Collection, "Locked")` on
 * `/org/freedesktop/secrets/aliases/default` (Secret Service API 0.2, "Collection" and
 * "Aliases"). Reading a property never raises a prompt, unlike a get, set or delete through
 * the binding on a locked collection (which pops the unlock prompt and, with a display, blocks
 * until it is answered; without one it fails, or answers "no such item", depending on the
 * provider). About a millisecond on a running daemon. Like the binding, it lets the bus start
 * a Secret Service that is installed but not running (D-Bus activation).
 */
export async function probeSecretService(options: ProbeOptions): Promise<SecretServiceState> {
  const socketPath = sessionBusSocket(options.env)
  if (socketPath === undefined) {
    return { state: 'no-bus', detail: 'DBUS_SESSION_BUS_ADDRESS is not set (no D-Bus session bus)' }
  }
  // No socket there at all (no session bus: SSH, containers, CI): said without a connection,
  // in the words connect() uses for it, so `bktx status` (which probes on every run) need not
  // load node:net nor start a timer (issue 23). An abstract socket (leading NUL) has no file.
  if (!socketPath.startsWith('\0') && noSuchFile(socketPath)) {
    return { state: 'no-bus', detail: `cannot connect to the D-Bus session bus (connect ENOENT ${socketPath})` }
  }
  try {
    const reply = await withConnection({ socketPath, uid: options.uid, timeoutMs: options.timeoutMs, connect: options.connect }, (bus) => bus.call(GET_LOCKED))
    const locked = lockedOf(reply)
    if (locked === false) return { state: 'unlocked' }
    if (locked === true) return { state: 'locked' }
    return { state: 'unknown', detail: `unexpected reply signature ${reply.signature}` }
  } catch (error) {
    if (!(error instanceof DBusError)) return { state: 'unknown', detail: String(error) }
    switch (error.dbusName) {
      case 'bktx.NoBus':
        return { state: 'no-bus', detail: `cannot connect to the D-Bus session bus (${error.message.replace(/^bktx\.NoBus: /, '')})` }
      case 'bktx.Timeout':
        return { state: 'timeout' }
      case 'org.freedesktop.DBus.Error.ServiceUnknown':
      case 'org.freedesktop.DBus.Error.NameHasNoOwner':
      case 'org.freedesktop.DBus.Error.Spawn.ChildExited':
      case 'org.freedesktop.DBus.Error.Spawn.ExecFailed':
        return { state: 'no-service', detail: 'no Secret Service provider (gnome-keyring, KeePassXC, KWallet) is running' }
      case 'org.freedesktop.DBus.Error.UnknownObject':
      case 'org.freedesktop.DBus.Error.UnknownMethod':
      case 'org.freedesktop.Secret.Error.NoSuchObject':
        // gnome-keyring answers UnknownMethod for a default alias that names no collection.
        return { state: 'no-collection', detail: 'the Secret Service has no default keyring' }
      default:
        return { state: 'unknown', detail: error.dbusName }
    }
  }
}

/** True when nothing is at `path` (ENOENT, as connect() would report); any other answer is left to connect(). */
function noSuchFile(path: string): boolean {
  try {
    statSync(path)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT'
  }
}
