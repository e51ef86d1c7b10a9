// What one fast-path run read, for its hit memo (./memo.ts): the file system calls (reported by
// ./observed-fs.ts, which stands for node:fs in dist/fast-token.cjs) and the environment
// variables (read through a Proxy over the run's copy of the environment). Anything the memo
// could not check again spoils the run's observation, and no memo is written: a write, an
// asynchronous file call, a keychain call, the environment enumerated, an unusual error.
import type { Stats } from 'node:fs'
import type { Env } from '../env.js'
import { ABSENT, identity, type Probe, type Seen } from './memo.js'

export interface Observation {
  /** Every call seen, once per probe and path. */
  readonly seen: ReadonlyMap<string, Seen>
  /** The newest mtime or ctime of a non-directory seen, per path (./remember.ts, racy times). */
  readonly times: ReadonlyMap<string, number>
  /** The environment variables read. */
  readonly envNames: ReadonlySet<string>
  /** The parent process name the run asked for ('' unknown), or null. */
  readonly parent: string | null
  /** Why no memo can be written for this run; undefined while it can. */
  readonly spoiled: string | undefined
}

class Observer implements Observation {
  readonly seen = new Map<string, Seen>()
  readonly times = new Map<string, number>()
  readonly envNames = new Set<string>()
  parent: string | null = null
  spoiled: string | undefined
  paused = false

  spoil(why: string): void {
    this.spoiled ??= why
  }

  note(probe: Probe, path: unknown, seen: string, info?: Stats): void {
    if (typeof path !== 'string') {
      this.spoil(`${probe} of a path that is not a string`)
      return
    }
    const key = `${probe}\0${path}`
    const before = this.seen.get(key)
    // Two calls that saw different things: the file changed during the run.
    if (before !== undefined && before[2] !== seen) {
      this.spoil(`${path} changed during the run`)
      return
    }
    this.seen.set(key, [probe, path, seen])
    if (info !== undefined && !info.isDirectory()) this.times.set(path, Math.max(this.times.get(path) ?? 0, info.mtimeMs, info.ctimeMs))
  }
}

let active: Observer | undefined
let wired = false

/** Called by ./observed-fs.ts as it loads: only then are file system calls seen at all. */
export function markFsObserved(): void {
  wired = true
}

/** Whether this bundle's file system calls are observed (dist/fast-token.cjs; not the standalone executable's bundle). */
export function fsObserved(): boolean {
  return wired
}

/** The observer of the running fast path, while it observes and is not paused. */
export function observer(): Observer | undefined {
  return active?.paused === false ? active : undefined
}

/** Notes a stat-like result, or its error: absence is seen, any other error spoils the run. */
export function noteStat(probe: Probe, path: unknown, info: Stats | undefined): void {
  const o = observer()
  if (o !== undefined) o.note(probe, path, info === undefined ? ABSENT : identity(info), info)
}

export interface Observing {
  /** The environment `target`, every read of it observed. */
  env(target: Record<string, string | undefined>): Env
  /** Runs `read` unobserved and notes its answer as the parent process's name. */
  parent(read: () => string | undefined): string | undefined
  spoil(why: string): void
  /** Ends the observation. */
  stop(): Observation
}

/** Starts observing this run (one at a time: a second start spoils both). */
export function observe(): Observing {
  const o = new Observer()
  if (active !== undefined) {
    active.spoil('observed twice')
    o.spoil('observed twice')
  }
  active = o
  const name = (key: string | symbol): void => {
    if (typeof key === 'string') o.envNames.add(key)
  }
  return {
    env: (target) =>
      new Proxy(target, {
        get(t, key) {
          name(key)
          return Reflect.get(t, key)
        },
        has(t, key) {
          name(key)
          return Reflect.has(t, key)
        },
        getOwnPropertyDescriptor(t, key) {
          name(key)
          return Reflect.getOwnPropertyDescriptor(t, key)
        },
        // Every name read would be a dependency: a memo cannot list them.
        ownKeys(t) {
          o.spoil('the environment was enumerated')
          return Reflect.ownKeys(t)
        },
        set(t, key, value) {
          o.spoil('the environment was changed')
          return Reflect.set(t, key, value)
        },
        deleteProperty(t, key) {
          o.spoil('the environment was changed')
          return Reflect.deleteProperty(t, key)
        },
        defineProperty(t, key, attributes) {
          o.spoil('the environment was changed')
          return Reflect.defineProperty(t, key, attributes)
        },
      }),
    parent(read) {
      o.paused = true
      try {
        const found = read()
        o.parent = found ?? ''
        return found
      } finally {
        o.paused = false
      }
    },
    spoil: (why) => o.spoil(why),
    stop() {
      if (active === o) active = undefined
      return o
    },
  }
}
