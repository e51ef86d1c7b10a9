import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runCli, tempHome } from '../helpers/cli.js'

let home: Awaited<ReturnType<typeof tempHome>>
beforeEach(async () => {
  home = await tempHome()
})
afterEach(() => home.cleanup())

describe('bktx config', () => {
  it('sets, gets and lists with sources; flag > env > profile > default', async () => {
    expect((await runCli(['config', 'set', 'org', 'acme'], { env: home.env })).code).toBe(0)
    expect((await runCli(['config', 'set', 'org', 'acme-ci', '--profile', 'ci'], { env: home.env })).code).toBe(0)
    expect((await runCli(['config', 'get', 'org'], { env: home.env })).stdout).toBe('acme\n')
    expect((await runCli(['config', 'get', 'org', '--profile', 'ci'], { env: home.env })).stdout).toBe('acme-ci\n')
    expect((await runCli(['config', 'get', 'org'], { env: { ...home.env, BKTX_PROFILE: 'ci' } })).stdout).toBe('acme-ci\n')
    expect((await runCli(['config', 'get', 'org'], { env: { ...home.env, BKTX_ORG: 'env-org' } })).stdout).toBe('env-org\n')

    const list = await runCli(['config', 'list', '--json'], { env: { ...home.env, BKTX_SUBJECT: 'a@b.c' } })
    const doc = JSON.parse(list.stdout)
    expect(doc.profile).toBe('default')
    expect(doc.settings.org).toEqual({ value: 'acme', source: 'profile:default' })
    expect(doc.settings.subject).toEqual({ value: 'a@b.c', source: 'env:BKTX_SUBJECT' })
    expect(doc.settings['token-url']).toEqual({ value: 'https://buildkite.com/oauth/token', source: 'default' })

    const text = await runCli(['config', 'list'], { env: home.env })
    expect(text.stdout).toMatch(/^org +acme +profile:default$/m)
    expect(text.stdout).toMatch(/^client-id +\(unset\)$/m)
  })

  it('writes the file 0600 and keeps other profiles', async () => {
    await runCli(['config', 'set', 'org', 'a', '--profile', 'one'], { env: home.env })
    await runCli(['config', 'set', 'ttl', '15m', '--profile', 'two'], { env: home.env })
    const path = (await runCli(['config', 'path'], { env: home.env })).stdout.trim()
    expect(path).toBe(join(home.env.XDG_CONFIG_HOME, 'bktx', 'config.json'))
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ profiles: { one: { org: 'a' }, two: { ttl: '900' } } })
    await runCli(['config', 'unset', 'org', '--profile', 'one'], { env: home.env })
    expect(JSON.parse(await readFile(path, 'utf8')).profiles.one).toEqual({})
  })

  it('refuses bad keys and values with exit 2', async () => {
    const unknown = await runCli(['config', 'set', 'colour', 'red'], { env: home.env })
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/unknown setting "colour"/)
    expect(unknown.stderr).toMatch(/Usage: bktx config set/)
    const bad = await runCli(['config', 'set', 'subject-type', 'name'], { env: home.env })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/subject-type: must be "email" or "uuid"/)
  })

  it('reports an invalid file with its path and field, exit 3, and never overwrites it', async () => {
    const path = join(home.dir, 'config.json')
    const content = '{"profiles": {"default": {"subject-type": "name"}}}'
    await writeFile(path, content)
    for (const args of [
      ['config', 'list'],
      ['config', 'set', 'org', 'x'],
    ]) {
      const result = await runCli([...args, '--config', path], { env: home.env })
      expect(result).toEqual({ code: 3, stdout: '', stderr: `error: config file ${path}: profiles.default.subject-type: must be "email" or "uuid"\n` })
    }
    expect(await readFile(path, 'utf8')).toBe(content)
  })

  it('reports an unreadable config (a directory) with exit 3', async () => {
    const result = await runCli(['config', 'list', '--config', home.dir], { env: home.env })
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/: is a directory, not a regular file$/m)
  })

  it('uses BKTX_CONFIG, and --config over it', async () => {
    const a = join(home.dir, 'a.json')
    await writeFile(a, JSON.stringify({ profiles: { default: { org: 'from-a' } } }))
    expect((await runCli(['config', 'get', 'org'], { env: { ...home.env, BKTX_CONFIG: a } })).stdout).toBe('from-a\n')
    const b = join(home.dir, 'b.json')
    await writeFile(b, JSON.stringify({ profiles: { default: { org: 'from-b' } } }))
    expect((await runCli(['config', 'get', 'org', '--config', b], { env: { ...home.env, BKTX_CONFIG: a } })).stdout).toBe('from-b\n')
  })

  it('errors on an unknown explicit profile', async () => {
    await runCli(['config', 'set', 'org', 'a', '--profile', 'ci'], { env: home.env })
    const result = await runCli(['config', 'get', 'org', '--profile', 'cj'], { env: home.env })
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/profiles\.cj: no such profile \(profiles: ci\)/)
  })

  it('refuses a profile name that is not one before any lookup: __proto__ and friends, with no file yet (issue 22)', async () => {
    const path = join(home.env.XDG_CONFIG_HOME, 'bktx', 'config.json')
    for (const name of ['__proto__', '../x', '-x', '']) {
      // Before the fix `config set … --profile __proto__` printed "✓", exited 0 and saved nothing.
      const set = await runCli(['config', 'set', 'org', 'evil', '--profile', name], { env: home.env })
      expect(set.code, name).toBe(2)
      expect(set.stderr.split('\n')[0], name).toBe(
        `error: --profile: "${name}" is not a valid profile name (letters, digits, ".", "_", "-"; at most 64 characters)`,
      )
      expect(set.stdout).toBe('')
      // BKTX_PROFILE named an existing profile when the file was missing ('' means "default").
      if (name === '') continue
      const get = await runCli(['config', 'get', 'org'], { env: { ...home.env, BKTX_PROFILE: name } })
      expect(get.code, name).toBe(2)
      expect(get.stderr.split('\n')[0]).toBe(
        `error: BKTX_PROFILE: "${name}" is not a valid profile name (letters, digits, ".", "_", "-"; at most 64 characters)`,
      )
      const doc = await runCli(['config', 'list', '--json'], { env: { ...home.env, BKTX_PROFILE: name } })
      expect(doc.code).toBe(2)
      expect(JSON.parse(doc.stderr)).toMatchObject({ error: { code: 'BKTX_SETTING_INVALID', exit: 2 } })
    }
    expect(({} as Record<string, unknown>)['org']).toBeUndefined()
    await expect(readFile(path, 'utf8')).rejects.toMatchObject({ code: 'ENOENT' })
    // Names of Object.prototype's members are valid names: no profile until one is made, then a real one.
    for (const name of ['constructor', 'toString', 'hasOwnProperty']) {
      const missing = await runCli(['config', 'get', 'org'], { env: { ...home.env, BKTX_PROFILE: name } })
      expect(missing.code, name).toBe(3)
      expect(missing.stderr).toContain(`profiles.${name}: no such profile`)
    }
    expect((await runCli(['config', 'set', 'org', 'ctor', '--profile', 'constructor'], { env: home.env })).code).toBe(0)
    expect((await runCli(['config', 'get', 'org', '--profile', 'constructor'], { env: home.env })).stdout).toBe('ctor\n')
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ profiles: { constructor: { org: 'ctor' } } })
    expect((await runCli(['config', 'unset', 'org', '--profile', 'constructor'], { env: home.env })).code).toBe(0)
    // With a file, the same.
    expect((await runCli(['config', 'set', 'org', 'acme'], { env: home.env })).code).toBe(0)
    expect((await runCli(['config', 'set', 'org', 'evil', '--profile', '__proto__'], { env: home.env })).code).toBe(2)
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ profiles: { constructor: {}, default: { org: 'acme' } } })
  })
})
