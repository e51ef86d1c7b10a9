// The signing key the settings name, described for `bktx status` and `doctor` whatever its
// source, without signing anything or running a signer: status is offline and must stay fast
// and prompt-free. A PKCS#11 module is loaded and initialised only to know that it can be (no
// session, no PIN: ./pkcs11/probe.ts). A file is described by keys/describe.ts.
import { isBktxError, KeyError } from '../errors.js'
import { describePublicKey, describeSigningKey, kidOrigin, type KeyIdentityReader, type SigningKeyDescription } from './describe.js'
import { parseKeySource } from './source.js'
import { envKeyText, type KeyDeps, type KeySpec } from './open.js'
import { readPublicKeyFile } from './public-key.js'
import { readKeyRecord } from './record.js'
import { assertionKeyFromText } from './signer.js'

/** With `identities`, a key file a token command parsed before is described from its remembered identity (`bktx status`). */
export async function describeConfiguredKey(settings: KeySpec, deps: KeyDeps, identities?: KeyIdentityReader): Promise<SigningKeyDescription> {
  const source = parseKeySource(settings.key)
  const fail = (described: Parameters<typeof describePublicKey>[0], error: unknown): SigningKeyDescription => {
    if (!isBktxError(error)) throw error
    return { ...described, loads: false, error }
  }
  switch (source.kind) {
    case 'file':
      return describeSigningKey(source.path, settings.kid, identities)
    case 'env': {
      const described = { source: { kind: 'env' as const, name: source.name, text: source.text }, file: undefined }
      try {
        const text = envKeyText(source.name, deps.env)
        const key = await assertionKeyFromText(text, undefined, source.text)
        const own = key.kid === undefined ? undefined : { kid: key.kid, origin: kidOrigin(text, key.kid) }
        return describePublicKey(described, key.publicKey, settings.kid, own)
      } catch (error) {
        return fail(described, error)
      }
    }
    case 'exec': {
      const described = { source: { kind: 'exec' as const, command: source.command, text: source.text }, file: undefined }
      try {
        if (settings.publicKey === undefined) {
          throw new KeyError(`${source.text}: an external signer's public key comes from the public-key setting, which is not set`, {
            detail: { setting: 'public-key', reason: 'missing' },
            advice: [{ set: 'public-key' }],
          })
        }
        const file = await readPublicKeyFile(settings.publicKey, undefined)
        return describePublicKey(described, file.publicKey, settings.kid, file.kid === undefined ? undefined : { kid: file.kid, origin: 'jwk' })
      } catch (error) {
        return fail(described, error)
      }
    }
    case 'pkcs11': {
      const described = { source: { kind: 'pkcs11' as const, text: source.text }, file: undefined }
      try {
        const modulePath = source.uri.modulePath ?? settings.pkcs11Module
        // A recorded or configured public half says nothing of whether the token can sign here:
        // without the binding or the module every signature fails.
        const { probePkcs11 } = await import('./pkcs11/probe.js')
        await probePkcs11({ modulePath, uid: deps.uid, binding: deps.pkcs11Binding })
        if (settings.publicKey !== undefined) {
          const file = await readPublicKeyFile(settings.publicKey, undefined)
          return describePublicKey(described, file.publicKey, settings.kid, file.kid === undefined ? undefined : { kid: file.kid, origin: 'jwk' })
        }
        const recorded = modulePath === undefined ? undefined : readKeyRecord(source.text, modulePath, deps)
        if (recorded === undefined) {
          // Reading it from the token would load the module (and may want a PIN): not here.
          throw new KeyError(`${source.text}: the public key has not been read from the token yet`, {
            detail: { reason: 'not-recorded' },
            advice: ['bktx reads and records it on first use; ', { command: 'jwks' }, ' does that now'],
          })
        }
        return describePublicKey(described, recorded, settings.kid, undefined)
      } catch (error) {
        return fail(described, error)
      }
    }
  }
}
