// What the `key` setting names: a file, an environment variable, a key in a PKCS#11 token, or an
// external signer. Pure parsing, no I/O: settings validation, the cache-hit path and every
// command that needs a key start here.
import { SettingInvalidError } from '../errors.js'
import { parsePkcs11Uri, Pkcs11UriError, type Pkcs11Uri } from './pkcs11-uri.js'

export type KeySource =
  /** A PEM or JWK file (an absolute path once settings are resolved). */
  | { kind: 'file'; path: string; text: string }
  /** `env:NAME`: the PEM or JWK text in an environment variable; never written anywhere. */
  | { kind: 'env'; name: string; text: string }
  /** `pkcs11:…` (RFC 7512): the key stays in the token, which signs. */
  | { kind: 'pkcs11'; uri: Pkcs11Uri; text: string }
  /** `exec:COMMAND`: a program that signs the JWS signing input it reads on stdin. */
  | { kind: 'exec'; command: string; text: string }

/** A `key` or `pin-source` value that does not parse: a usage error naming the setting. */
export class KeySourceError extends SettingInvalidError {}

// POSIX names for environment variables: what `export NAME=...` accepts.
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
// A scheme is matched without the i flag, which means the same here (ASCII letters only) but
// makes V8 build Unicode case sets on a cache hit's first match, about 1 ms.
const SCHEME = /^([A-Za-z0-9]+):/
const KEY_SCHEMES = new Set(['env', 'pkcs11', 'exec'])

/** True when the value names a source by scheme (anything else is a file path). */
export function hasKeyScheme(value: string): boolean {
  const scheme = SCHEME.exec(value)?.[1]?.toLowerCase()
  return scheme !== undefined && KEY_SCHEMES.has(scheme)
}

/**
 * Reads a `key` value. A value that does not start with `env:`, `pkcs11:` or `exec:` is a path
 * (a file literally named `env:x` is reached as `./env:x`). Throws KeySourceError with what is
 * wrong, never quoting more than the value itself (which holds no secret: not even `pkcs11:`
 * URIs, whose `pin-value` is refused).
 */
export function parseKeySource(value: string): KeySource {
  const scheme = SCHEME.exec(value)?.[1]?.toLowerCase()
  if (scheme === 'env') {
    const name = value.slice(4)
    if (!ENV_NAME.test(name)) throw new KeySourceError('key', `env:${name} does not name an environment variable (letters, digits and "_")`)
    return { kind: 'env', name, text: value }
  }
  if (scheme === 'pkcs11') {
    try {
      return { kind: 'pkcs11', uri: parsePkcs11Uri(value), text: value }
    } catch (cause) {
      if (cause instanceof Pkcs11UriError) throw new KeySourceError('key', `not a usable PKCS#11 URI (RFC 7512): ${cause.message}`)
      throw cause
    }
  }
  if (scheme === 'exec') {
    const command = value.slice(5).trim()
    if (command === '') throw new KeySourceError('key', 'exec: needs a command after the colon')
    return { kind: 'exec', command, text: value }
  }
  return { kind: 'file', path: value, text: value }
}

/** How `pin-source` names the PIN: an environment variable or a file. */
export type PinSource = { kind: 'env'; name: string } | { kind: 'file'; path: string }

/** Reads a `pin-source` value: `env:NAME`, `file:PATH` or a path (RFC 7512 §2.4 uses file: URIs). */
export function parsePinSource(value: string): PinSource {
  if (/^env:/i.test(value)) {
    const name = value.slice(4)
    if (!ENV_NAME.test(name)) throw new KeySourceError('pin-source', `env:${name} does not name an environment variable (letters, digits and "_")`)
    return { kind: 'env', name }
  }
  if (/^file:/i.test(value)) {
    // file:///run/pin and file:/run/pin both name /run/pin.
    const path = decodeURIComponent(value.slice(5).replace(/^\/\/(?=\/)/, ''))
    if (path === '') throw new KeySourceError('pin-source', 'file: needs a path')
    return { kind: 'file', path }
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(value) && !/^[A-Za-z]:[\\/]/.test(value)) {
    throw new KeySourceError('pin-source', 'must be env:NAME, file:PATH or a path (a PIN is never given directly)')
  }
  return { kind: 'file', path: value }
}
