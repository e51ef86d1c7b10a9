import { realpathSync, statSync, type Stats } from 'node:fs'
import { dirname } from 'node:path'

// Files that steer what bktx runs and signs with (the configuration file, whose `key` may be
// `exec:COMMAND`, and the key rotation state, which names the key files a profile switches to)
// are trusted as ssh's StrictModes trusts ~/.ssh/config: only when they belong to the user
// running bktx (or to root) and nobody else can write them, nor replace them in their
// directory. Otherwise another user who owns or can write the file chooses the command bktx
// runs as this user, who is often root in CI or under `sudo -E`. The key, PIN, cache and
// server state checks refuse such files the same way.

/** Why a file is not to be trusted: who owns it, and its mode, in words; undefined when it is trusted. */
export interface Untrusted {
  reason: 'foreign-owner' | 'loose-mode' | 'foreign-dir' | 'loose-dir'
  /** Without the file's name: `is owned by uid 65534 (not you, uid 0, nor root); mode 0644`. */
  text: string
  /** The shell command that fixes it. */
  fix: string
}

/** `0644`: a mode as chmod takes it. */
export function modeText(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0')
}

/**
 * Why a file (its stat, of the descriptor read) cannot be trusted by `uid`: owned by another
 * user than `uid` and root, or writable by group or others. `uid` undefined (Windows, which has
 * no such owners and modes): always trusted.
 */
export function untrustedFile(path: string, info: Pick<Stats, 'uid' | 'mode'>, uid: number | undefined): Untrusted | undefined {
  if (uid === undefined) return undefined
  const mode = modeText(info.mode)
  if (info.uid !== uid && info.uid !== 0) {
    return { reason: 'foreign-owner', text: `is owned by uid ${info.uid}, not by you (uid ${uid}) or root (mode ${mode})`, fix: `chown ${uid} ${path}` }
  }
  if ((info.mode & 0o022) !== 0) {
    return { reason: 'loose-mode', text: `has mode ${mode} (owner uid ${info.uid}): group or others can write it`, fix: `chmod go-w ${path}` }
  }
  return undefined
}

/**
 * Why the directory holding `path` cannot be trusted: whoever can write a directory can replace
 * the files in it. The directory the path names and, when the path is a symbolic link, the one
 * holding the file it reaches must each belong to `uid` or root and be unwritable by group and
 * others, or be sticky (as /tmp is: others cannot then rename or remove a file they do not
 * own). Only those directories are checked, not every one up to `/` as ssh does.
 */
export function untrustedDir(path: string, uid: number | undefined): Untrusted | undefined {
  if (uid === undefined) return undefined
  const dirs = new Set([dirname(path)])
  try {
    dirs.add(dirname(realpathSync(path)))
  } catch {
    // Gone meanwhile: the named directory is still checked; reading the file reports the rest.
  }
  for (const dir of dirs) {
    let info: Stats
    try {
      info = statSync(dir)
    } catch {
      continue
    }
    const mode = modeText(info.mode)
    if (info.uid !== uid && info.uid !== 0) {
      return {
        reason: 'foreign-dir',
        text: `is in ${dir}, owned by uid ${info.uid}, not by you (uid ${uid}) or root (mode ${mode}): its owner can replace the file`,
        fix: `chown ${uid} ${dir}`,
      }
    }
    if ((info.mode & 0o022) !== 0 && (info.mode & 0o1000) === 0) {
      return {
        reason: 'loose-dir',
        text: `is in ${dir}, which has mode ${mode} (owner uid ${info.uid}): group or others can replace the file`,
        fix: `chmod go-w ${dir}`,
      }
    }
  }
  return undefined
}
