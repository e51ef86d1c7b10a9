import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { tempHome } from '../helpers/cli.js'
import { runBin } from '../helpers/spawn.js'

let home: Awaited<ReturnType<typeof tempHome>>
beforeEach(async () => {
  home = await tempHome()
})
afterEach(() => home.cleanup())

describe('the built binary', () => {
  it('runs keygen → jwks → sign → inspect --jwks end to end', async () => {
    const keygen = await runBin(['keygen'], { env: home.env })
    expect(keygen.code).toBe(0)
    const kid = JSON.parse(keygen.stdout).keys[0].kid
    const jwksPath = join(home.dir, 'jwks.json')
    expect((await runBin(['jwks', '--out', jwksPath], { env: home.env })).code).toBe(0)
    const sign = await runBin(['sign', '--client-id', '0123456789abcdef0123'], { env: home.env })
    expect(sign.code).toBe(0)
    const inspect = await runBin(['inspect', '--json', '--jwks', jwksPath, '-'], { env: home.env, input: sign.stdout })
    expect(inspect.code).toBe(0)
    expect(JSON.parse(inspect.stdout)).toMatchObject({ header: { kid }, verified: true })
  })

  it('leaves an existing key untouched when writing the replacement fails (file size limit)', async () => {
    const out = join(home.dir, 'key.pem')
    await writeFile(out, 'the old key', { mode: 0o600 })
    // ulimit -f 0 makes every write fail with EFBIG; SIGXFSZ is ignored so the write returns.
    const result = await runBin([], { env: home.env, cwd: home.dir, shell: `ulimit -f 0; trap '' XFSZ; exec $BKTX keygen --force --out ${out}` })
    expect(result.code).toBe(3)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(/^error: cannot write .*key\.pem/)
    expect(await readFile(out, 'utf8')).toBe('the old key')
    expect((await stat(out)).mode & 0o777).toBe(0o600)
    expect(await readdir(home.dir)).not.toContainEqual(expect.stringMatching(/\.tmp$/))
  })
})
