import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { profileNames, runComplete } from '../../../src/complete/fast.js'
import { programTable } from '../../../src/cli/completion-program.js'

// `bktx complete` as the completion scripts call it, and the profile names it reads.

let home: string
beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'bktx-complete-'))
})
afterAll(() => rm(home, { recursive: true, force: true }))

const at = (file: string, env: Record<string, string> = {}) => ({ env: { BKTX_CONFIG: join(home, file), ...env }, home, cwd: home })

describe('bktx complete (fast)', () => {
  it('answers the request after `--`', () => {
    let out = ''
    runComplete(['--', 'tok'], { table: programTable(), env: {}, home, cwd: home, write: (text) => (out += text) })
    expect(out).toMatch(/^token\t.+\n:4\n$/)
  })

  it('reads the profile names of the XDG configuration file, default first', async () => {
    await mkdir(join(home, 'xdg', 'bktx'), { recursive: true })
    await writeFile(join(home, 'xdg', 'bktx', 'config.json'), JSON.stringify({ profiles: { ci: {}, default: {}, 'bad name': {} } }))
    expect(profileNames({ env: { XDG_CONFIG_HOME: join(home, 'xdg') }, home, cwd: home })).toEqual(['default', 'ci'])
  })

  it('offers `default` without a file, and nothing for a file it cannot read', async () => {
    expect(profileNames(at('missing.json'))).toEqual(['default'])
    await writeFile(join(home, 'broken.json'), '{"profiles": ')
    expect(profileNames(at('broken.json'))).toEqual([])
    await writeFile(join(home, 'array.json'), '{"profiles": []}')
    expect(profileNames(at('array.json'))).toEqual([])
    expect(profileNames({ env: { BKTX_CONFIG: home }, home, cwd: home })).toEqual([])
  })
})
