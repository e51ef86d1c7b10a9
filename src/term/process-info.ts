// The OS's answers about this process, for src/bin.ts (kept apart from ./process.ts, which
// the fast path loads: this one needs node:child_process where there is no /proc, and loads
// it only there, when asked: every command starts with this module loaded).
import { readFileSync } from 'node:fs'
import type { ProcessInfo } from '../deps.js'
import { commandBase, linuxParentName } from './parent.js'

/** What Linux's /proc (or `ps` elsewhere) tells about this process. */
export function systemProcessInfo(): ProcessInfo {
  return {
    pid: process.pid,
    isAlive: processAlive,
    parentName() {
      if (process.platform === 'linux') return linuxParentName(process.ppid)
      try {
        const name =
          process.platform === 'win32'
            ? ''
            : execFileSync()('ps', ['-o', 'comm=', '-p', String(process.ppid)], { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] })
        return commandBase(name)
      } catch {
        return undefined
      }
    },
    inForeground() {
      try {
        if (process.platform === 'linux') {
          // /proc/self/stat: "pid (comm) state ppid pgrp session tty_nr tpgid ..."; comm may
          // hold spaces and parentheses, so fields are counted after the last ')'.
          const stat = readFileSync('/proc/self/stat', 'utf8')
          const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
          const [pgrp, ttyNr, tpgid] = [Number(fields[2]), Number(fields[4]), Number(fields[5])]
          return ttyNr !== 0 && tpgid > 0 && tpgid === pgrp
        }
        if (process.platform === 'win32') return undefined
        const [pgid, tpgid] = execFileSync()('ps', ['-o', 'pgid=,tpgid=', '-p', String(process.pid)], {
          encoding: 'utf8',
          timeout: 2000,
          stdio: ['ignore', 'pipe', 'ignore'],
        })
          .trim()
          .split(/\s+/)
          .map(Number)
        return pgid !== undefined && tpgid !== undefined && tpgid > 0 && pgid === tpgid
      } catch {
        return undefined
      }
    },
  }
}

/**
 * Whether a process of this pid exists: `kill(pid, 0)` delivers nothing and fails with ESRCH
 * when there is no such process, EPERM when it exists but belongs to another user.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** node:child_process's execFileSync, loaded on first use (only where there is no /proc). */
function execFileSync(): typeof import('node:child_process').execFileSync {
  return process.getBuiltinModule('node:child_process').execFileSync
}
