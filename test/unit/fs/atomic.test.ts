import { mkdtemp, readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FileError, FileExistsError } from '../../../src/errors.js'
import { writeFileAtomic } from '../../../src/fs/atomic.js'

async function dir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'bktx-atomic-'))
}

describe('writeFileAtomic', () => {
  it('creates the file with the mode and parent directories with dirMode', async () => {
    const root = await dir()
    const path = join(root, 'a', 'b', 'key.pem')
    await writeFileAtomic(path, 'secret', { mode: 0o600, dirMode: 0o700, overwrite: false })
    expect(await readFile(path, 'utf8')).toBe('secret')
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect((await stat(join(root, 'a'))).mode & 0o777).toBe(0o700)
    expect(await readdir(join(root, 'a', 'b'))).toEqual(['key.pem'])
  })

  it('refuses to replace an existing file unless overwrite is set, leaving no temporary file', async () => {
    const root = await dir()
    const path = join(root, 'key.pem')
    await writeFile(path, 'old')
    await expect(writeFileAtomic(path, 'new', { mode: 0o600, overwrite: false })).rejects.toBeInstanceOf(FileExistsError)
    expect(await readFile(path, 'utf8')).toBe('old')
    expect(await readdir(root)).toEqual(['key.pem'])
    await writeFileAtomic(path, 'new', { mode: 0o600, overwrite: true })
    expect(await readFile(path, 'utf8')).toBe('new')
    expect(await readdir(root)).toEqual(['key.pem'])
  })

  it('reports a typed error when the directory cannot be made', async () => {
    const root = await dir()
    await writeFile(join(root, 'file'), 'x')
    await expect(writeFileAtomic(join(root, 'file', 'key.pem'), 'x', { mode: 0o600, overwrite: false })).rejects.toBeInstanceOf(FileError)
  })
})
