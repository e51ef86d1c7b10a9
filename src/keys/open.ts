// The signing key the settings name, whatever its source (./source.ts): a file or variable
// signed here, a PKCS#11 token, or an external signer. The token commands, `sign` and the
// library all open keys here; the cache-hit path too, which needs only the public half: no
// module is loaded and no signer runs until sign() is called.
import type { Env } from '../env.js'
import { KeyError, SettingMissingError } from '../errors.js'
import { envKeyShape } from './env-text.js'
import type { KeyIdentityStore } from './identity.js'
import { NO_KID } from './pem.js'
import { assertionKeyFromText, loadAssertionKey, makeAssertionKey, type AssertionKey } from './signer.js'
import { parseKeySource, parsePinSource } from './source.js'
import { readPublicKeyFile } from './public-key.js'
import { pkcs11AssertionKey } from './pkcs11/key.js'
import { DEFAULT_PIN_VARIABLE } from './pkcs11/pin.js'

/**
 * Which key signs and how to reach it: the values of the key settings (`key`, `kid`,
 * `public-key`, `pkcs11-module`, `pin-source`), wherever they came from.
 */
export interface KeySpec {
  key: string
  kid?: string | undefined
  publicKey?: string | undefined
  pkcs11Module?: string | undefined
  pinSource?: string | undefined
}

export interface KeyDeps {
  env: Env
  home: string
  uid: number | undefined
  /** Working directory of an external signer; default bktx's own. */
  cwd?: string | undefined
  /** For tests: another binding package in place of pkcs11js (a missing one: a build without it). */
  pkcs11Binding?: string | undefined
  /** Identities of keys parsed before (./identity.ts): a file or variable key read again is not parsed again. */
  identities?: KeyIdentityStore | undefined
}

/** Opens the signing key. See {@link KeySpec} and ./source.ts for the sources. */
export async function openKey(settings: KeySpec, deps: KeyDeps): Promise<AssertionKey> {
  const source = parseKeySource(settings.key)
  switch (source.kind) {
    case 'file':
      return loadAssertionKey(source.path, settings.kid, deps.identities)
    case 'env':
      return assertionKeyFromText(envKeyText(source.name, deps.env), settings.kid, source.text, deps.identities)
    case 'pkcs11':
      return pkcs11AssertionKey({
        uri: source.uri,
        source: source.text,
        kid: settings.kid,
        publicKeyPath: settings.publicKey,
        pkcs11Module: settings.pkcs11Module,
        pinSource: settings.pinSource,
        env: deps.env,
        home: deps.home,
        uid: deps.uid,
        identities: deps.identities,
      })
    case 'exec': {
      if (settings.publicKey === undefined) throw new SettingMissingError('public-key')
      const { publicKey, kid } = await readPublicKeyFile(settings.publicKey, settings.kid === NO_KID ? undefined : settings.kid)
      const key: AssertionKey = makeAssertionKey(
        publicKey,
        settings.kid,
        source.text,
        async (input, options) => {
          const { runSigner } = await import('./exec.js')
          return runSigner(input, {
            command: source.command,
            source: source.text,
            alg: key.alg,
            kid: key.kid ?? '',
            publicKey,
            env: deps.env,
            signal: options?.signal,
            cwd: deps.cwd,
          })
        },
        kid,
      )
      return key
    }
  }
}

/**
 * The key text of an `env:NAME` key, in the shape the loaders read (a one-line or base64 PEM,
 * a base64 DER key: ./env-text.ts).
 */
export function envKeyText(name: string, env: Env): string {
  const text = env[name]
  if (text === undefined || text.trim() === '') {
    throw new KeyError(`env:${name}: the variable is ${text === undefined ? 'not set' : 'empty'}`, {
      detail: { setting: 'key', reason: 'variable-missing' },
      advice: [`put the PEM or JWK text of the private key in ${name}, or check `, { setting: 'key' }],
    })
  }
  return envKeyShape(text, `env:${name}`)
}

/**
 * The environment variables that hold key material or a PIN for these settings: `bktx exec`
 * removes them from its command's environment, which needs the token, not the means to mint one
 * (they remain readable in bktx's own /proc/PID/environ by the same user: docs/security/threat-model.md §9).
 */
export function secretVariables(settings: KeySpec): string[] {
  const names = new Set<string>([DEFAULT_PIN_VARIABLE])
  try {
    const source = parseKeySource(settings.key)
    if (source.kind === 'env') names.add(source.name)
    const pin = settings.pinSource ?? (source.kind === 'pkcs11' ? source.uri.pinSource : undefined)
    if (pin !== undefined) {
      const parsed = parsePinSource(pin)
      if (parsed.kind === 'env') names.add(parsed.name)
    }
  } catch {
    // An invalid setting has failed long before exec gets here.
  }
  return [...names]
}
