// The public half of a PKCS#11 key, recorded the first time bktx reads it from the token, so
// that later runs know the key's fingerprint (and so the cache key) without loading the
// module: a cache hit with a token key costs what one with a key file costs.
import { createPublicKey, type KeyObject } from 'node:crypto'
import { join } from 'node:path'
import { sha256Hex } from '../hash/sha256.js'
import { readPrivateFile } from '../fs/private-file.js'
import { resolvePaths } from '../paths.js'
import type { Env } from '../env.js'
import { writeFileAtomic } from '../fs/atomic.js'

export interface RecordDeps {
  env: Env
  home: string
  uid: number | undefined
}

/**
 * `$XDG_CACHE_HOME/bktx/keys/<hash>.json`, named by the URI and the module: the same URI in
 * another module is another key. Not a secret (a public key), but it decides which cached
 * token is served, so it is written 0600 in a 0700 directory and read only when it is ours.
 */
export function recordPath(source: string, modulePath: string, deps: RecordDeps): string {
  // Hashed in JS, as the cache scope is: a cache hit then never loads node:crypto (src/hash/sha256.ts).
  const name = sha256Hex(JSON.stringify(['bktx-key-record-v1', source, modulePath])).slice(0, 32)
  return join(resolvePaths(deps.env, deps.home).cacheDir, 'keys', `${name}.json`)
}

/** The recorded public key, or undefined (none yet, or unusable: then the token is asked again). */
export function readKeyRecord(source: string, modulePath: string, deps: RecordDeps): KeyObject | undefined {
  const text = readKeyRecordText(source, modulePath, deps)
  return text === undefined ? undefined : parseKeyRecord(text, source, modulePath)
}

/** The record's text as stored (what a key identity is remembered under, ./identity.ts), or undefined. */
export function readKeyRecordText(source: string, modulePath: string, deps: RecordDeps): string | undefined {
  return readPrivateFile(recordPath(source, modulePath, deps), deps.uid)
}

/** The public key a record's text holds for this URI and module, or undefined. */
export function parseKeyRecord(text: string, source: string, modulePath: string): KeyObject | undefined {
  try {
    const record = JSON.parse(text) as { source?: unknown; module?: unknown; jwk?: unknown }
    if (record.source !== source || record.module !== modulePath || typeof record.jwk !== 'object' || record.jwk === null) return undefined
    return createPublicKey({ key: record.jwk as Record<string, string>, format: 'jwk' })
  } catch {
    return undefined
  }
}

/** Records the public key; a record that cannot be written only costs the next run a module load. */
export async function writeKeyRecord(source: string, modulePath: string, publicKey: KeyObject, deps: RecordDeps): Promise<void> {
  const jwk = publicKey.export({ format: 'jwk' })
  try {
    await writeFileAtomic(recordPath(source, modulePath, deps), `${JSON.stringify({ source, module: modulePath, jwk })}\n`, {
      mode: 0o600,
      dirMode: 0o700,
      overwrite: true,
    })
  } catch {
    // See above.
  }
}
