import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'

// Generating an RSA key takes 50-500 ms on a quiet machine and seconds on a loaded one; a
// suite that made one per case spent most of its unit-test time there. Tests take RSA keys
// from these fixtures (test/fixtures/keys, made with `openssl genpkey` for this suite only and
// used nowhere else), in turn: consecutive calls get distinct keys, as freshly generated ones
// were, up to 8 (2048 bits) or 2 (1024 bits) before one comes round again.
const COUNT = { 2048: 8, 1024: 2 } as const
const next = { 2048: 0, 1024: 0 }
const loaded = new Map<string, KeyObject>()

export function rsaFixture(bits: 2048 | 1024 = 2048): { privateKey: KeyObject; publicKey: KeyObject } {
  const name = `rsa-${bits}-${next[bits]++ % COUNT[bits]}.pem`
  let privateKey = loaded.get(name)
  if (privateKey === undefined) {
    privateKey = createPrivateKey(readFileSync(new URL(`../fixtures/keys/${name}`, import.meta.url)))
    loaded.set(name, privateKey)
  }
  return { privateKey, publicKey: createPublicKey(privateKey) }
}
