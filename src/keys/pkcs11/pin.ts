import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs'
import type { Env } from '../../env.js'
import { FileError, Pkcs11PinError } from '../../errors.js'
import { errnoText } from '../../fs/atomic.js'
import { parsePinSource } from '../source.js'

/** The variable read for the PIN when no pin-source is configured. */
export const DEFAULT_PIN_VARIABLE = 'BKTX_PKCS11_PIN'

/**
 * The PIN, from the first of: the `pin-source` setting, the URI's own pin-source attribute
 * (RFC 7512 §2.4), the BKTX_PKCS11_PIN variable. Never from a command-line argument (it would
 * show in `ps` and shell history), and never put in a message: errors name where it was read.
 * Undefined when none is configured.
 */
export function readPin(pinSource: string | undefined, env: Env): string | undefined {
  if (pinSource === undefined) {
    const value = env[DEFAULT_PIN_VARIABLE]
    return value === undefined || value === '' ? undefined : value
  }
  const source = parsePinSource(pinSource)
  if (source.kind === 'env') {
    const value = env[source.name]
    if (value === undefined || value === '') {
      throw new Pkcs11PinError(`pin-source env:${source.name}: the variable is not set`, {
        detail: { setting: 'pin-source', reason: 'pin-missing' },
        advice: ['set ', source.name, ', or check ', { setting: 'pin-source' }],
      })
    }
    return value
  }
  return readPinFile(source.path)
}

/** A PIN file: ours, not readable by group or others (like a key file), one line. */
function readPinFile(path: string): string {
  let text: string
  let fd: number | undefined
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0))
    const info = fstatSync(fd)
    if (!info.isFile()) throw new FileError(`PIN file ${path} is not a regular file`, { detail: { setting: 'pin-source', file: path, reason: 'not-a-file' } })
    if (info.size > 4096)
      throw new FileError(`PIN file ${path} is larger than 4 KiB; not a PIN`, { detail: { setting: 'pin-source', file: path, reason: 'too-large' } })
    if ((info.mode & 0o077) !== 0) {
      throw new FileError(`PIN file ${path} can be read by others (mode ${(info.mode & 0o777).toString(8)})`, {
        detail: { setting: 'pin-source', file: path, reason: 'loose-mode' },
        advice: [`make it private: chmod 600 ${path}`],
      })
    }
    text = readFileSync(fd, 'utf8')
  } catch (cause) {
    if (cause instanceof FileError) throw cause
    throw new FileError(`cannot read PIN file ${path}: ${errnoText(cause)}`, { cause, detail: { setting: 'pin-source', file: path, reason: 'unreadable' } })
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
  // One trailing newline is the editor's, not the PIN's.
  const pin = text.replace(/\r?\n$/, '')
  if (pin === '') throw new Pkcs11PinError(`PIN file ${path} is empty`, { detail: { setting: 'pin-source', file: path, reason: 'pin-missing' } })
  return pin
}
