import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { ConfigFile } from '../config/file.js'
import { settingsFrom } from '../config/load.js'
import { describeSigningKey, type SigningKeyDescription } from '../keys/describe.js'
import { pendingRotations } from './rotate.js'

/** A profile that signs with a key, and the kid it sends (its `kid` setting, when it has one). */
export interface KeyUser {
  profile: string
  /** The profile's `kid` setting; undefined when the key's own kid is used. */
  kid: string | undefined
}

/** The part a key plays in a pending rotation of a profile. */
export interface KeyRole {
  profile: string
  role: 'old' | 'next'
  startedAt: string
  servedSince: string | null
}

export interface ListedKey {
  path: string
  /** The key as it loads on its own (no kid setting applied). */
  key: SigningKeyDescription
  usedBy: KeyUser[]
  rotations: KeyRole[]
}

/**
 * Every key bktx knows of: the profiles' keys (resolved as the token commands resolve them,
 * without the environment), the key files in the keys directory, and the keys of pending
 * rotations; each with the profiles that sign with it and its part in a rotation.
 */
export async function listKeys(input: { configPath: string; config: ConfigFile; keysDir: string; uid: number | undefined }): Promise<ListedKey[]> {
  const byPath = new Map<string, { usedBy: KeyUser[]; rotations: KeyRole[] }>()
  const entry = (path: string) => {
    let found = byPath.get(path)
    if (found === undefined) {
      found = { usedBy: [], rotations: [] }
      byPath.set(path, found)
    }
    return found
  }
  for (const profile of Object.keys(input.config.profiles).sort()) {
    const { settings } = settingsFrom(input.config, { flags: {}, env: {}, cwd: input.keysDir, configPath: input.configPath, explicitProfile: profile })
    const path = settings.key?.value
    if (path === undefined) continue
    const kid = settings.kid?.value
    entry(path).usedBy.push({ profile, kid })
  }
  let files: string[] = []
  try {
    files = readdirSync(input.keysDir)
      .filter((name) => name.endsWith('.pem') && !name.startsWith('.'))
      .sort()
  } catch {
    // No keys directory yet.
  }
  for (const name of files) entry(join(input.keysDir, name))
  for (const [profile, rotation] of Object.entries(pendingRotations(input.configPath, input.uid))) {
    for (const role of ['old', 'next'] as const) {
      entry(rotation[role].path).rotations.push({ profile, role, startedAt: rotation.startedAt, servedSince: rotation.servedSince })
    }
  }
  const listed: ListedKey[] = []
  for (const [path, found] of byPath) listed.push({ path, key: await describeSigningKey(path), ...found })
  return listed
}
