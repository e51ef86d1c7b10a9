// Issue 22, finding 5: a host application whose Object.prototype was polluted (a deep merge of
// parsed JSON, anywhere) must not steer the library. Every option that names a command, a path
// or a URL is set on Object.prototype only, never passed: the call must behave as if it were
// not set. The prototype is restored in `finally`, whatever happens.
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { generateKey, getToken, signClientAssertion, whoami, type FetchFunction } from '../../../src/api/index.js'
import { startReferenceServer } from '../../../src/api/server.js'
import { resolveSettings } from '../../../src/config/resolve.js'
import { SETTING_NAMES, SETTINGS } from '../../../src/config/settings.js'
import { useStrictMsw } from '../../helpers/msw.js'
import { writeKeyFiles } from '../../helpers/keys.js'
import { testKey } from '../../helpers/server.js'

useStrictMsw()

let dir: string
let key: { privatePath: string; publicPath: string }
let marker: string
const proto = Object.prototype as Record<string, unknown>

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bktx-pollution-'))
  key = await writeKeyFiles(dir, 'ES256')
  marker = join(dir, 'the-polluted-command-ran')
})
afterAll(() => rm(dir, { recursive: true, force: true }))
// Each case on its own: a command one case ran must not fail the next.
beforeEach(() => rm(marker, { force: true }))

/** Runs `task` with Object.prototype[name] = value, restored afterwards; the rejection, if any. */
async function polluted(values: Record<string, unknown>, task: () => Promise<unknown>): Promise<unknown> {
  try {
    for (const [name, value] of Object.entries(values)) proto[name] = value
    await task()
    return undefined
  } catch (error) {
    return error
  } finally {
    for (const name of Object.keys(values)) delete proto[name]
  }
}

/** A fetch that records every URL and answers 401, so no call gets further than its first request. */
function recorder(): FetchFunction & { urls: string[] } {
  const urls: string[] = []
  const f: FetchFunction = async (input) => {
    urls.push(String(input))
    return Response.json({ error: 'invalid_client' }, { status: 401 })
  }
  return Object.assign(f, { urls })
}

const exec = () => `exec:touch ${marker}`
const base = () => ({ config: false as const, env: { HOME: dir }, clientId: 'c', org: 'acme', subject: 'a@example.com', cache: 'none' as const })
const missing = (setting: string) => expect.objectContaining({ code: 'BKTX_SETTING_MISSING', detail: expect.objectContaining({ setting }) })

describe('the settings layer reads own properties only', () => {
  it('no setting is found on Object.prototype: flags, environment and profiles alike', () => {
    const values: Record<string, unknown> = {}
    for (const name of SETTING_NAMES) {
      values[name] = name === 'key' ? exec() : 'polluted'
      values[SETTINGS[name].env] = 'polluted'
    }
    let resolved: Record<string, unknown> = {}
    return polluted(values, async () => {
      resolved = resolveSettings({ flags: {}, env: {}, profiles: [{ name: 'default', profile: {} }], configDir: dir, cwd: dir }) as Record<string, unknown>
    }).then((error) => {
      expect(error).toBeUndefined()
      for (const name of SETTING_NAMES)
        if (SETTINGS[name].default === undefined && SETTINGS[name].derive === undefined) expect(resolved[name], name).toBeUndefined()
    })
  })
})

describe('library options are own properties only', () => {
  it('getToken: key (an exec: command) is not run', async () => {
    const fetch = recorder()
    const error = await polluted({ key: exec() }, () => getToken({ ...base(), tokenUrl: 'https://bktx.invalid/oauth/token', publicKey: key.publicPath, fetch }))
    expect(existsSync(marker)).toBe(false)
    expect(error).toEqual(missing('key'))
  })

  it('getToken: BKTX_KEY inherited by the env object is not a variable', async () => {
    const error = await polluted({ BKTX_KEY: exec(), BKTX_PUBLIC_KEY: key.publicPath }, () =>
      getToken({ ...base(), tokenUrl: 'https://bktx.invalid/oauth/token', fetch: recorder() }),
    )
    expect(existsSync(marker)).toBe(false)
    expect(error).toEqual(missing('key'))
  })

  it('getToken: publicKey (which lets an exec: signer run) is not used', async () => {
    const error = await polluted({ publicKey: key.publicPath }, () =>
      getToken({ ...base(), tokenUrl: 'https://bktx.invalid/oauth/token', key: exec(), fetch: recorder() }),
    )
    expect(existsSync(marker)).toBe(false)
    expect(error).toEqual(missing('public-key'))
  })

  it('getToken: tokenUrl receives no assertion', async () => {
    const fetch = recorder()
    await polluted({ tokenUrl: 'https://attacker.invalid/oauth/token' }, () => getToken({ ...base(), key: key.privatePath, fetch }))
    // The default, Buildkite's token URL, instead.
    expect(fetch.urls).toEqual(['https://buildkite.com/oauth/token'])
  })

  it('getToken: caFile is not read (with a fetch of its own, it would be refused)', async () => {
    const fetch = recorder()
    await polluted({ caFile: join(dir, 'no-such-ca.pem') }, () =>
      getToken({ ...base(), tokenUrl: 'https://bktx.invalid/oauth/token', key: key.privatePath, fetch }),
    )
    expect(fetch.urls).toEqual(['https://bktx.invalid/oauth/token'])
  })

  it('whoami: apiUrl receives no token', async () => {
    const fetch = recorder()
    await polluted({ apiUrl: 'https://attacker.invalid' }, () =>
      whoami('bktx_token', { config: false, env: {}, tokenUrl: 'https://bktx.invalid/oauth/token', fetch }),
    )
    expect(fetch.urls.some((url) => url.includes('attacker'))).toBe(false)
    expect(fetch.urls).toEqual(['https://bktx.invalid/v2/access-token'])
  })

  it('signClientAssertion: config (a file whose key is an exec: command) is not loaded', async () => {
    const file = join(dir, 'evil-config.json')
    await writeFile(file, JSON.stringify({ profiles: { default: { key: exec(), 'public-key': key.publicPath } } }), { mode: 0o600 })
    const error = await polluted({ config: file }, () =>
      signClientAssertion({ env: { HOME: dir, XDG_CONFIG_HOME: join(dir, 'no-config') }, clientId: 'c', tokenUrl: 'https://bktx.invalid/oauth/token' }),
    )
    expect(existsSync(marker)).toBe(false)
    expect(error).toEqual(missing('key'))
  })

  it('signClientAssertion: profile does not pick another profile of the file', async () => {
    const file = join(dir, 'two-profiles.json')
    await writeFile(file, JSON.stringify({ profiles: { default: {}, evil: { key: exec(), 'public-key': key.publicPath } } }), { mode: 0o600 })
    const error = await polluted({ profile: 'evil' }, () =>
      signClientAssertion({ config: file, env: {}, clientId: 'c', tokenUrl: 'https://bktx.invalid/oauth/token' }),
    )
    expect(existsSync(marker)).toBe(false)
    expect(error).toEqual(missing('key'))
  })

  it('signClientAssertion: pkcs11Module and pinSource are not used', async () => {
    const error = await polluted({ pkcs11Module: join(dir, 'evil.so'), pinSource: `file:${join(dir, 'pin')}` }, () =>
      signClientAssertion({
        config: false,
        env: {},
        clientId: 'c',
        tokenUrl: 'https://bktx.invalid/oauth/token',
        key: 'pkcs11:token=t;object=k',
        publicKey: key.publicPath,
      }),
    )
    expect(error).toEqual(missing('pkcs11-module'))
  })

  it('generateKey: out does not choose where the private key is written', async () => {
    const evil = join(dir, 'evil-key.pem')
    let path: string | undefined
    const error = await polluted({ out: evil }, async () => {
      path = (await generateKey({ config: false, env: { HOME: dir, XDG_DATA_HOME: join(dir, 'data') } })).path
    })
    expect(error).toBeUndefined()
    expect(existsSync(evil)).toBe(false)
    expect(path).toBeDefined()
    expect(path).not.toBe(evil)
  })

  it('startReferenceServer: host, stateDir and the quick form are not taken from the prototype', async () => {
    const k = await testKey()
    const stateDir = join(dir, 'evil-state')
    let url: string | undefined
    const error = await polluted({ host: '0.0.0.0', stateDir }, async () => {
      const server = await startReferenceServer({
        config: { quick: { org: 'acme', members: ['a@example.com'], clientId: 'c', jwks: { keys: [k.publicJwk] } } } as never,
      })
      url = server.url
      await server.close()
    })
    expect(error).toBeUndefined()
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:/)
    expect(existsSync(stateDir)).toBe(false)
    // A full configuration with `quick` only on the prototype is not read as the quick form.
    const full = await polluted({ quick: { org: 'acme', members: ['a@example.com'], clientId: 'c', jwks: { keys: [k.publicJwk] } } }, () =>
      startReferenceServer({ config: { apps: 'not-a-list' } as never }).then((s) => s.close()),
    )
    expect(full).toEqual(expect.objectContaining({ code: 'BKTX_CONFIG_INVALID' }))
  })
})
