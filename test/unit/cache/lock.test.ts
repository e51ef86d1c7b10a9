// The cache entry lock (src/cache/lock.ts) in-process: taken over only when its holder is gone,
// never for its age, and never held by two at once, however many wait over a dead holder's lock.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { lockEntry, type LockProcess } from '../../../src/cache/lock.js'
import { CacheError } from '../../../src/errors.js'
import { processAlive } from '../../../src/term/process-info.js'

const self: LockProcess = { pid: process.pid, isAlive: processAlive }
const HAS_PROC = existsSync(`/proc/${process.pid}/stat`)

async function lockPath(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bktx-lock-'))
  return join(dir, `${'a'.repeat(32)}.lock`)
}

const nonce = (): string => randomBytes(16).toString('hex')
/** A lock file as a holder of `pid` (start time `start`, or none) writes it. */
const holderText = (pid: number, start = '-'): string => `${pid} ${start} ${nonce()}\n`
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** A pid that no process has: a child that has exited (its pid is not reused this soon). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  await new Promise((resolve) => child.once('exit', resolve))
  return child.pid as number
}

const children: ChildProcess[] = []
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL')
})
/** A live process that is not this one. */
async function livePid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
  children.push(child)
  await new Promise((resolve) => child.once('spawn', resolve))
  return child.pid as number
}

/** /proc/<pid>/stat field 22 (the process's start time). */
async function startOf(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] as string
}

describe('the cache entry lock', () => {
  it('is a 0600 file naming this process while held, and gone once released', async () => {
    const path = await lockPath()
    const release = await lockEntry(path, { process: self })
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    const [pid, start, id] = (await readFile(path, 'utf8')).trimEnd().split(' ')
    expect(Number(pid)).toBe(process.pid)
    if (HAS_PROC) expect(start).toBe(await startOf(process.pid))
    expect(id).toMatch(/^[0-9a-f]{32}$/)
    await release()
    await release() // twice: still no throw
    expect(await readdir(join(path, '..'))).toEqual([])
    await (await lockEntry(path, { process: self }))()
  })

  it('ends a wait without the lock once `until` says what it waited for is there', async () => {
    const path = await lockPath()
    const first = await lockEntry(path, { process: self })
    let ready = false
    let asked = 0
    const waiting = lockEntry(path, {
      process: self,
      until: async () => {
        asked++
        return ready
      },
    })
    for (let i = 0; i < 10; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    ready = true
    // Resolves without the lock, while the first still holds it: the lock file is the first's.
    expect(await waiting).toBeUndefined()
    expect(asked).toBeGreaterThan(0)
    expect((await readFile(path, 'utf8')).startsWith(`${process.pid} `)).toBe(true)
    await first()
    expect(await readdir(join(path, '..'))).toEqual([])
  })

  it('makes a second acquirer wait until the first releases', async () => {
    const path = await lockPath()
    const first = await lockEntry(path, { process: self })
    let second: (() => Promise<void>) | undefined
    const waiting = lockEntry(path, { process: self }).then((release) => (second = release))
    // However long it is given, it does not get the lock while the first holds it.
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    expect(second).toBeUndefined()
    await first()
    await waiting
    expect(second).toBeDefined()
    await second?.()
  })

  it('takes over the lock of a holder that is gone (a pid no process has)', async () => {
    const path = await lockPath()
    await writeFile(path, holderText(await deadPid()), { mode: 0o600 })
    const release = await lockEntry(path, { process: self, waitMs: 30_000 })
    expect(Number((await readFile(path, 'utf8')).split(' ')[0])).toBe(process.pid)
    await release()
  })

  it('takes over the lock of a holder judged gone by the injected liveness test', async () => {
    const path = await lockPath()
    await writeFile(path, holderText(4242), { mode: 0o600 })
    const release = await lockEntry(path, { process: { pid: 7, isAlive: (pid) => pid !== 4242 }, procDir: join(path, '..', 'no-proc'), waitMs: 30_000 })
    expect((await readFile(path, 'utf8')).startsWith('7 - ')).toBe(true)
    await release()
  })

  it.skipIf(!HAS_PROC)('takes over the lock of a holder whose pid now names a process started at another time (pid reuse)', async () => {
    const path = await lockPath()
    const pid = await livePid()
    await writeFile(path, holderText(pid, String(Number(await startOf(pid)) - 1)), { mode: 0o600 })
    const release = await lockEntry(path, { process: self, waitMs: 30_000 })
    expect(Number((await readFile(path, 'utf8')).split(' ')[0])).toBe(process.pid)
    await release()
  })

  it('never takes over the lock of a live holder, however old the lock file', async () => {
    const path = await lockPath()
    const pid = await livePid()
    const text = holderText(pid, HAS_PROC ? await startOf(pid) : '-')
    await writeFile(path, text, { mode: 0o600 })
    const hoursAgo = new Date(Date.now() - 5 * 3600_000)
    await utimes(path, hoursAgo, hoursAgo)
    const error = await lockEntry(path, { process: self, waitMs: 400 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CacheError)
    expect((error as Error).message).toBe(`another bktx process held the cache lock ${path} for more than 0 s; if none is running, remove that file`)
    expect(await readFile(path, 'utf8')).toBe(text)
  })

  it('waits out waitMs for a live holder in this process, then fails with a CacheError', async () => {
    const path = await lockPath()
    const held = await lockEntry(path, { process: self })
    await expect(lockEntry(path, { process: self, waitMs: 1_000 })).rejects.toThrow(
      new CacheError(`another bktx process held the cache lock ${path} for more than 1 s; if none is running, remove that file`),
    )
    await held()
  })

  it('never takes over a lock it cannot judge: no pid recorded, or a directory (an older bktx)', async () => {
    const path = await lockPath()
    const dead = await deadPid()
    // Without an injected process, even a gone holder is only waited for.
    await writeFile(path, holderText(dead), { mode: 0o600 })
    await expect(lockEntry(path, { waitMs: 200 })).rejects.toThrow(/remove that file$/)
    await writeFile(path, holderText(0), { mode: 0o600 })
    await expect(lockEntry(path, { process: self, waitMs: 200 })).rejects.toThrow(/remove that file$/)
    const dir = `${path.slice(0, -5)}.other.lock`
    await mkdir(dir)
    await expect(lockEntry(dir, { process: self, waitMs: 200 })).rejects.toThrow(/remove that directory$/)
  })

  it('releases only a lock that is still its own', async () => {
    const path = await lockPath()
    const release = await lockEntry(path, { process: self })
    const other = holderText(process.pid)
    await writeFile(path, other, { mode: 0o600 })
    await release()
    expect(await readFile(path, 'utf8')).toBe(other)
  })

  describe("many acquirers over a gone holder's lock", () => {
    /**
     * `n` acquirers in this process, each posing as a live process of its own pid (so they judge
     * one another by the liveness test, as separate processes do), take the lock in turn over a
     * lock left by a gone holder. Returns the most that ever held it at once.
     */
    async function contend(n: number, setUp: (path: string) => Promise<void>, isAlive?: (pid: number) => boolean): Promise<{ most: number; done: number }> {
      const path = await lockPath()
      await setUp(path)
      const procDir = join(path, '..', 'no-proc')
      const live = new Set(Array.from({ length: n }, (_, i) => 1000 + i))
      let holding = 0
      let most = 0
      let done = 0
      await Promise.all(
        [...live].map(async (pid) => {
          const release = await lockEntry(path, { process: { pid, isAlive: isAlive ?? ((p) => live.has(p)) }, procDir, waitMs: 60_000 })
          holding++
          most = Math.max(most, holding)
          // Hold it for a while and several turns of the event loop, where the others poll.
          await new Promise((resolve) => setTimeout(resolve, 20))
          await tick()
          holding--
          done++
          await release()
        }),
      )
      return { most, done }
    }

    it('one holds it at a time', async () => {
      const result = await contend(40, async (path) => writeFile(path, holderText(99), { mode: 0o600 }))
      expect(result).toEqual({ most: 1, done: 40 })
    }, 60_000)

    it('one holds it at a time, also when the first to take it over died doing so (its claim left behind)', async () => {
      const result = await contend(40, async (path) => {
        const gone = holderText(99)
        await writeFile(path, gone, { mode: 0o600 })
        // Holder 98 claimed the takeover of 99's lock and died; 97 claimed 98's right and died too.
        const claimOf98 = holderText(98)
        await writeFile(`${path}.${gone.trimEnd().split(' ')[2]}.takeover`, claimOf98, { mode: 0o600 })
        await writeFile(`${path}.${claimOf98.trimEnd().split(' ')[2]}.takeover`, holderText(97), { mode: 0o600 })
      })
      expect(result).toEqual({ most: 1, done: 40 })
    }, 60_000)

    it('(the test above can fail) a lock judged by something other than liveness is held by many at once', async () => {
      const result = await contend(
        40,
        async (path) => writeFile(path, holderText(99), { mode: 0o600 }),
        () => false,
      )
      expect(result.most).toBeGreaterThan(1)
    }, 60_000)
  })

  it("waits while a live process is taking a gone holder's lock over", async () => {
    const path = await lockPath()
    const gone = holderText(99)
    await writeFile(path, gone, { mode: 0o600 })
    await writeFile(`${path}.${gone.trimEnd().split(' ')[2]}.takeover`, holderText(50), { mode: 0o600 })
    const proc = { pid: 7, isAlive: (pid: number) => pid === 50 }
    await expect(lockEntry(path, { process: proc, procDir: join(path, '..', 'no-proc'), waitMs: 300 })).rejects.toThrow(/held the cache lock/)
    expect(await readFile(path, 'utf8')).toBe(gone)
  })
})
