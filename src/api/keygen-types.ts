// The public types of `generateKey` (see ./types.ts for why they are written out here).
import type { PublicJWKS, SettingsSourceOptions } from './types.js'

/** What `bktx keygen` does for a key file; `profile` and `config` say where the key is recorded. */
export interface GenerateKeyOptions extends SettingsSourceOptions {
  /** Default `ES256` (P-256). */
  alg?: 'ES256' | 'RS256'
  /** RSA modulus length, RS256 only. Default 2048. */
  bits?: 2048 | 3072 | 4096
  /** Key ID; also names the file when `out` is not given. Default: the RFC 7638 thumbprint of the public key. */
  kid?: string
  /** The private key file (relative to the working directory). Default `$XDG_CONFIG_HOME/bktx/keys/<kid>.pem`. */
  out?: string
  /** Replace an existing file (the key in it is lost). Default false: an existing file rejects with BKTX_FILE_EXISTS. */
  force?: boolean
}

/**
 * A generated key. The profile named by `profile` (or $BKTX_PROFILE) now signs with it; without
 * one, the default profile does only when it had no key yet. With `config: false` no profile is
 * touched.
 */
export interface GeneratedKey {
  kid: string
  alg: 'ES256' | 'RS256'
  /** The private key file, written 0600 in a 0700 directory. */
  path: string
  /** The profile that now names the key; null when none does. */
  profile: string | null
  /** The key the profile named before (the one it still signs with when `profile` is null). */
  previousKey: string | undefined
  /** The public JWKS to register with the token exchange application. */
  jwks: PublicJWKS
}
