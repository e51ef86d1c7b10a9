// The store of signing-key identities (src/keys/identity.ts): one small file per key text,
// `key-<digest>.json`, in the private cache directory the token entries use (./dir.ts), read
// and written like them (private files, atomic writes). Nothing in it is secret: a public
// key's fingerprint and its algorithm, under a SHA-256 of the key's text. Whoever can write
// there can plant tokens already; a file that does not parse, or is not ours, is a miss.
import { join } from 'node:path'
import { writeFileAtomic } from '../fs/atomic.js'
import { readPrivateFile } from '../fs/private-file.js'
import type { KeyIdentity, KeyIdentityStore } from '../keys/identity.js'
import { isSigningAlg } from '../keys/policy.js'
import { openCacheDir, type CacheDirOptions } from './dir.js'

const FILE = /^[A-Za-z0-9_-]{43}$/

/** The identities kept in the cache directory `options` resolve to. */
export function keyIdentityStore(options: CacheDirOptions): KeyIdentityStore {
  let dir: Promise<string> | undefined
  const path = async (digest: string) => {
    if (!FILE.test(digest)) throw new Error('not a digest')
    dir ??= openCacheDir(options).then((choice) => choice.dir)
    return join(await dir, `key-${digest}.json`)
  }
  return {
    async get(digest) {
      try {
        const text = readPrivateFile(await path(digest), options.uid)
        if (text === undefined) return undefined
        const value = JSON.parse(text) as Record<string, unknown>
        const { fingerprint, alg } = value
        if (value['v'] !== 1 || typeof fingerprint !== 'string' || !FILE.test(fingerprint) || !isSigningAlg(alg)) return undefined
        return { fingerprint, alg } satisfies KeyIdentity
      } catch {
        return undefined
      }
    },
    async set(digest, identity) {
      try {
        await writeFileAtomic(await path(digest), `${JSON.stringify({ v: 1, fingerprint: identity.fingerprint, alg: identity.alg })}\n`, {
          mode: 0o600,
          overwrite: true,
        })
      } catch {
        // Not remembered: the next run parses the key again, as every run did before.
      }
    },
  }
}
