import { execFileSync, spawn } from 'node:child_process'
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { InputFileError, readInputFile, readInputStream, stdinProblem } from '../../../src/fs/input.js'
import { fstatSync, openSync, closeSync, statSync } from 'node:fs'

// Issue 13: the one reader of local inputs. A FIFO, a device or a file larger than the cap
// fails at once; the cap is counted on the bytes read.

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bktx-input-'))
})
afterAll(() => rm(dir, { recursive: true, force: true }))

function problemOf(run: () => unknown): InputFileError {
  try {
    run()
  } catch (error) {
    if (error instanceof InputFileError) return error
    throw error
  }
  throw new Error('did not throw')
}

describe('readInputFile', () => {
  it('reads a regular file, through a symbolic link too', async () => {
    await writeFile(join(dir, 'a.json'), '{"é": 1}')
    await symlink(join(dir, 'a.json'), join(dir, 'link.json'))
    expect(readInputFile(join(dir, 'a.json'), 100)).toBe('{"é": 1}')
    expect(readInputFile(join(dir, 'link.json'), 100)).toBe('{"é": 1}')
  })

  it('accepts exactly the cap and refuses one byte more', async () => {
    await writeFile(join(dir, 'ten'), '0123456789')
    expect(readInputFile(join(dir, 'ten'), 10)).toBe('0123456789')
    expect(problemOf(() => readInputFile(join(dir, 'ten'), 9))).toMatchObject({ problem: 'too-large', text: 'is larger than 9 bytes' })
  })

  it('refuses a FIFO without opening it (no writer needed to return)', () => {
    const fifo = join(dir, 'fifo')
    execFileSync('mkfifo', [fifo])
    expect(problemOf(() => readInputFile(fifo, 1024))).toMatchObject({ problem: 'not-a-file', text: 'is a FIFO (named pipe), not a regular file' })
  })

  it('refuses devices and directories', () => {
    expect(problemOf(() => readInputFile('/dev/zero', 1024))).toMatchObject({ problem: 'not-a-file', text: 'is a character device, not a regular file' })
    expect(problemOf(() => readInputFile(dir, 1024))).toMatchObject({ problem: 'not-a-file', text: 'is a directory, not a regular file' })
  })

  it('counts the bytes read: a file reporting size 0 (/proc) is still capped', () => {
    // /proc/self/maps is a regular file whose stat size is 0 and whose content is larger.
    expect(statSync('/proc/self/maps').size).toBe(0)
    expect(problemOf(() => readInputFile('/proc/self/maps', 64))).toMatchObject({ problem: 'too-large' })
    expect(readInputFile('/proc/self/maps', 1024 * 1024).length).toBeGreaterThan(64)
  })

  it('a missing file is unreadable with ENOENT as the cause', () => {
    const error = problemOf(() => readInputFile(join(dir, 'nope'), 10))
    expect(error.problem).toBe('unreadable')
    expect((error.cause as { code?: string }).code).toBe('ENOENT')
    expect(error.text).toBe('cannot be read: no such file or directory (ENOENT)')
  })
})

describe('stdin', () => {
  it('a pipe, a regular file or a socket is readable; a device or a directory is not', () => {
    const fd = openSync('/dev/null', 'r')
    try {
      expect(stdinProblem(fstatSync(fd))?.text).toBe('is a character device, not a pipe or a regular file')
    } finally {
      closeSync(fd)
    }
    expect(stdinProblem(statSync(dir))?.problem).toBe('not-a-file')
    expect(stdinProblem(statSync('/proc/self/maps'))).toBeUndefined()
  })

  it('stops an endless stream at the cap', async () => {
    const endless = new Readable({
      read() {
        this.push(Buffer.alloc(64 * 1024, 0x41))
      },
    })
    await expect(readInputStream(endless, 1024 * 1024)).rejects.toMatchObject({ problem: 'too-large', text: 'is larger than 1 MiB' })
    expect(endless.destroyed).toBe(true)
  })

  it('reads a stream under the cap, from a real pipe', async () => {
    const child = spawn('printf', ['abc'], { stdio: ['ignore', 'pipe', 'ignore'] })
    expect(await readInputStream(child.stdout, 3)).toBe('abc')
  })
})
