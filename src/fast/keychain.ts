// The entry of dist/fast-keychain.cjs: the keychain item reader of a hit answered from its memo
// (./hit.ts), which bin/bktx.js loads, with a code cache of its own, only for a memo whose
// token is in the OS keychain; a file hit never reads it. It touches `process` because it is
// an entry point.
import { connect as netConnect } from 'node:net'
import type { BusConnect } from '../secrets/dbus.js'
import { readSecret } from '../secrets/read.js'
import { KEYCHAIN_SERVICE } from '../secrets/store.js'
import { pipeSocketConnector } from '../term/process.js'
import type { KeychainRead } from './hit.js'

/**
 * Short, because a keychain that does not answer in time costs nothing but speed here: the hit
 * is then left to dist/fast-token.cjs, whose lock probe and binding call have the keychain's
 * full 3 s bound and report the failure (src/secrets/keyring.ts). A Secret Service that is
 * running answers in a few milliseconds.
 */
const READ_TIMEOUT_MS = 1000

/** The secret of the `bktx` item of `account`, read over bktx's own D-Bus client (src/secrets/read.ts); undefined for anything but a clean read. */
export const readKeychainToken: KeychainRead = async ({ env, uid, account }) => {
  // The bus socket over Node's pipe handle, as the lock probe opens it (src/fast/main.ts):
  // node:net and the stream code it compiles would cost the hit more than the read.
  const pipe = pipeSocketConnector()
  const connect: BusConnect = pipe ?? ((path) => netConnect(path))
  const read = await readSecret({ env, uid, timeoutMs: READ_TIMEOUT_MS, service: KEYCHAIN_SERVICE, account, connect })
  return read.state === 'found' ? read.secret : undefined
}
