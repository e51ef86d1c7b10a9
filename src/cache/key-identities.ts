// The store of signing-key identities (src/keys/identity.ts): one small file per key text,
// `key-<digest>.json`, in the private cache directory the token entries use (./dir.ts), read
// and written like them (private files, atomic writes). Nothing in it is secret: a public
// key's fingerprint, its algorithm and its RFC 7638 thumbprint, under a SHA-256 of the key's
// text. `bktx status` reads it too ({@link readKeyIdentity}), never writes it. Whoever can write
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
  const open = () => (dir ??= openCacheDir(options).then((choice) => choice.dir))
  const path = async (digest: string) => {
    if (!FILE.test(digest)) throw new Error('not a digest')
    return join(await open(), `key-${digest}.json`)
  }
  return {
    async get(digest) {
      try {
        return readKeyIdentity(await open(), digest, options.uid)
      } catch {
        return undefined
      }
    },
    async set(digest, identity) {
      try {
        const record = {
          v: 1,
          fingerprint: identity.fingerprint,
          alg: identity.alg,
          ...(identity.thumbprint === undefined ? {} : { thumbprint: identity.thumbprint }),
        }
        await writeFileAtomic(await path(digest), `${JSON.stringify(record)}\n`, {
          mode: 0o600,
          overwrite: true,
        })
      } catch {
        // Not remembered: the next run parses the key again, as every run did before.
      }
    },
  }
}

/**
 * The identity remembered under `digest` in the cache directory `dir`, or undefined (none, not
 * ours, not private, or not of this shape). Reads only: the caller has checked that `dir` is a
 * private directory of `uid` (`bktx status`: src/doctor/status.ts), as {@link keyIdentityStore}
 * opens it.
 */
export function readKeyIdentity(dir: string, digest: string, uid: number | undefined): KeyIdentity | undefined {
  if (!FILE.test(digest)) return undefined
  try {
    const text = readPrivateFile(join(dir, `key-${digest}.json`), uid)
    if (text === undefined) return undefined
    const value = JSON.parse(text) as Record<string, unknown>
    const { fingerprint, alg, thumbprint } = value
    if (value['v'] !== 1 || typeof fingerprint !== 'string' || !FILE.test(fingerprint) || !isSigningAlg(alg)) return undefined
    if (thumbprint !== undefined && (typeof thumbprint !== 'string' || !FILE.test(thumbprint))) return undefined
    return { fingerprint, alg, ...(thumbprint === undefined ? {} : { thumbprint }) } satisfies KeyIdentity
  } catch {
    return undefined
  }
}
