// Issue 22, finding 2: a PKCS#11 module runs its constructors inside bktx as soon as it is
// loaded, so `pkcs11-module` (setting, flag, BKTX_PKCS11_MODULE) is never joined to the working
// directory, and a module file another user owns or can write is not loaded.
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { resolveSettings } from '../../../src/config/resolve.js'
import { Pkcs11ModuleError, SettingInvalidError } from '../../../src/errors.js'
import { parsePkcs11Uri } from '../../../src/keys/pkcs11-uri.js'
import { withSession, type TokenTarget } from '../../../src/keys/pkcs11/token.js'

const FAKE = fileURLToPath(new URL('../../fixtures/fake-pkcs11.cjs', import.meta.url))
const READY = 0x400
const uid = process.getuid?.()
const g = globalThis as unknown as { fakePkcs11?: { flags: number; calls?: string[]; loaded?: string } }
const dirs: string[] = []

afterEach(() => {
  delete g.fakePkcs11
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

function resolveModule(where: 'flag' | 'env', value: string, cwd: string) {
  return resolveSettings({
    flags: where === 'flag' ? { 'pkcs11-module': value } : {},
    env: where === 'env' ? { BKTX_PKCS11_MODULE: value } : {},
    profiles: [],
    configDir: cwd,
    cwd,
  })['pkcs11-module']?.value
}

function target(modulePath: string): TokenTarget {
  return {
    uri: parsePkcs11Uri('pkcs11:token=fake;object=k'),
    source: 'pkcs11:token=fake;object=k',
    modulePath,
    pin: () => undefined,
    pinFrom: 'BKTX_PKCS11_PIN',
    binding: FAKE,
    uid,
  }
}

async function load(modulePath: string): Promise<{ error: unknown; loaded: string | undefined }> {
  g.fakePkcs11 = { flags: READY }
  try {
    await withSession(target(modulePath), {}, () => undefined)
    return { error: undefined, loaded: g.fakePkcs11.loaded }
  } catch (error) {
    return { error, loaded: g.fakePkcs11.loaded }
  }
}

describe('pkcs11-module is never resolved against the working directory', () => {
  it.each(['flag', 'env'] as const)('a relative path with a slash (%s) is refused, naming the setting', (where) => {
    const cwd = mkdtempSync(join(tmpdir(), 'bktx-mod-'))
    dirs.push(cwd)
    for (const value of ['./opensc-pkcs11.so', 'lib/opensc-pkcs11.so', '../x/opensc-pkcs11.so']) {
      let error: unknown
      try {
        resolveModule(where, value, cwd)
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(SettingInvalidError)
      expect((error as Error).message).toMatch(where === 'env' ? /^BKTX_PKCS11_MODULE: must be an absolute path/ : /^pkcs11-module: must be an absolute path/)
    }
  })

  it.each(['flag', 'env'] as const)('a bare name (%s) goes to the system loader unchanged, an absolute path as it is', (where) => {
    const cwd = mkdtempSync(join(tmpdir(), 'bktx-mod-'))
    dirs.push(cwd)
    expect(resolveModule(where, 'opensc-pkcs11.so', cwd)).toBe('opensc-pkcs11.so')
    expect(resolveModule(where, '/usr/lib/opensc-pkcs11.so', cwd)).toBe('/usr/lib/opensc-pkcs11.so')
  })

  it('a bare name reaches the loader as given, not joined to the working directory (nor statted there)', async () => {
    const { error, loaded } = await load('opensc-pkcs11.so')
    expect(loaded).toBe('opensc-pkcs11.so')
    // The fake has no key objects: what follows loading fails as a token error, not a module error.
    expect(error).not.toBeInstanceOf(Pkcs11ModuleError)
  })

  it('a relative path with a slash is refused before anything is loaded', async () => {
    const { error, loaded } = await load('lib/opensc-pkcs11.so')
    expect(error).toBeInstanceOf(SettingInvalidError)
    expect(loaded).toBeUndefined()
  })
})

describe.skipIf(uid === undefined)('a module file another user can change is not loaded', () => {
  it.each([0o666, 0o620, 0o602])('a module with mode %s is refused, naming the file and the fix, before loading', async (mode) => {
    const dir = mkdtempSync(join(tmpdir(), 'bktx-mod-'))
    dirs.push(dir)
    const module = join(dir, 'module.so')
    copyFileSync(FAKE, module)
    chmodSync(module, mode)
    const { error, loaded } = await load(module)
    expect(error).toBeInstanceOf(Pkcs11ModuleError)
    expect((error as Error).message).toContain(`the PKCS#11 module ${module} has mode 0${mode.toString(8)}`)
    expect((error as Pkcs11ModuleError).detail).toMatchObject({ setting: 'pkcs11-module', file: module, reason: 'loose-mode' })
    expect(loaded).toBeUndefined()
    chmodSync(module, 0o644)
    expect((await load(module)).loaded).toBe(module)
  })

  it('a module in a directory others can write is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bktx-mod-'))
    dirs.push(dir)
    chmodSync(dir, 0o777)
    const module = join(dir, 'module.so')
    copyFileSync(FAKE, module)
    chmodSync(module, 0o644)
    const { error, loaded } = await load(module)
    expect((error as Pkcs11ModuleError).detail).toMatchObject({ reason: 'loose-dir' })
    expect(loaded).toBeUndefined()
  })
})
