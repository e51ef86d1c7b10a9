import type { KeySpec } from '../keys/open.js'
import { required, type ResolvedSettings } from './resolve.js'

/**
 * The key spec of resolved settings (`key` is required): the key folder takes these values,
 * never the settings themselves (src/keys/open.ts).
 */
export function keySpecOf(settings: ResolvedSettings): KeySpec {
  return {
    key: required(settings, 'key'),
    kid: settings.kid?.value,
    publicKey: settings['public-key']?.value,
    pkcs11Module: settings['pkcs11-module']?.value,
    pinSource: settings['pin-source']?.value,
  }
}
