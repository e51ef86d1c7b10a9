// The public keys of key sources, for `bktx jwks` and `bktx server`: what to register with the
// token exchange application. The keys as keys/load.ts describes them (kid, alg, public JWK).
import { KeyError } from '../errors.js'
import { parseKeys, loadKeyFile, type LoadedKey } from './load.js'
import { parseKeySource } from './source.js'
import { envKeyText, type KeyDeps, type KeySpec } from './open.js'
import { readTokenPublicKey } from './pkcs11/key.js'
import { readPublicKeyFile } from './public-key.js'
import { NO_KID } from './pem.js'

/**
 * The public keys of a source: every key of a file (a JWKS may hold several), the key of a
 * variable, the public half of a token key (read from the token itself, or the `public-key`
 * file when set), or the `public-key` file of an external signer. Never a private member.
 */
export async function loadPublicKeys(settings: KeySpec, deps: KeyDeps): Promise<LoadedKey[]> {
  const source = parseKeySource(settings.key)
  // `none` is how the key signs (no kid header), not a name to publish it under.
  const publishedKid = settings.kid === NO_KID ? undefined : settings.kid
  const kidOption = publishedKid === undefined ? {} : { kid: publishedKid }
  switch (source.kind) {
    case 'file':
      return loadKeyFile(source.path, kidOption)
    case 'env':
      return publicOnly(await parseKeys(envKeyText(source.name, deps.env), source.text, kidOption))
    case 'pkcs11':
    case 'exec': {
      let pem: string
      let kid = publishedKid
      if (settings.publicKey !== undefined) {
        const file = await readPublicKeyFile(settings.publicKey, publishedKid)
        pem = file.publicKey.export({ format: 'pem', type: 'spki' }) as string
        kid ??= file.kid
      } else if (source.kind === 'pkcs11') {
        const publicKey = await readTokenPublicKey({
          uri: source.uri,
          source: source.text,
          kid: publishedKid,
          publicKeyPath: undefined,
          pkcs11Module: settings.pkcs11Module,
          pinSource: settings.pinSource,
          env: deps.env,
          home: deps.home,
          uid: deps.uid,
        })
        pem = publicKey.export({ format: 'pem', type: 'spki' }) as string
      } else {
        throw new KeyError(`${source.text}: an external signer's public key comes from the public-key setting, which is not set`, {
          detail: { setting: 'public-key', reason: 'missing' },
          advice: [{ set: 'public-key' }],
        })
      }
      return parseKeys(pem, source.text, kid === undefined ? {} : { kid })
    }
  }
}

/** The same keys without their private halves (an env: key is a private key). */
function publicOnly(keys: LoadedKey[]): LoadedKey[] {
  return keys.map((key) => ({ ...key, privateKey: undefined }))
}
