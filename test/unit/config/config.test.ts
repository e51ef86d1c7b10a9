import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../../src/config/file.js'
import { resolveSettings, selectProfile } from '../../../src/config/resolve.js'
import { normaliseScopes } from '../../../src/config/settings.js'
import { ConfigError, SettingInvalidError } from '../../../src/errors.js'

const FILE = '/cfg/config.json'

describe('parseConfig', () => {
  it('reads profiles and normalises values', () => {
    const config = parseConfig(JSON.stringify({ profiles: { ci: { org: 'acme', ttl: 900, scope: 'read_pipelines read_builds' } } }), FILE)
    expect(config.profiles['ci']).toEqual({ org: 'acme', ttl: '900', scope: 'read_builds read_pipelines' })
  })

  it.each([
    ['{', undefined, /not valid JSON/],
    ['[]', undefined, /JSON object/],
    ['{"profile": {}}', 'profile', /not a known field/],
    ['{"profiles": []}', 'profiles', /object of named profiles/],
    ['{"profiles": {"a b": {}}}', 'profiles.a b', /profile name/],
    ['{"profiles": {"ci": {"orgg": "x"}}}', 'profiles.ci.orgg', /not a known setting/],
    ['{"profiles": {"ci": {"org": "Acme Inc"}}}', 'profiles.ci.org', /slug/],
    ['{"profiles": {"ci": {"ttl": "soon"}}}', 'profiles.ci.ttl', /duration/],
    ['{"profiles": {"ci": {"token-url": "ftp://x"}}}', 'profiles.ci.token-url', /http/],
    ['{"profiles": {"ci": {"org": 5}}}', 'profiles.ci.org', /string/],
  ])('%s is an error naming the file and field', (text, field, problem) => {
    const error = (() => {
      try {
        parseConfig(text, FILE)
      } catch (e) {
        return e
      }
      return undefined
    })()
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).field).toBe(field)
    expect((error as ConfigError).message).toContain(FILE)
    expect((error as ConfigError).message).toMatch(problem)
  })
})

describe('resolveSettings', () => {
  const input = {
    flags: {},
    env: {},
    profileName: 'p',
    profile: { org: 'from-profile', key: 'keys/k.pem' },
    configDir: '/cfg',
    cwd: '/work',
  }

  it('takes flag over env over profile over default, and records the source', () => {
    const all = resolveSettings({ ...input, flags: { org: 'from-flag' }, env: { BKTX_ORG: 'from-env' } })
    expect(all.org).toEqual({ value: 'from-flag', source: 'flag' })
    expect(resolveSettings({ ...input, env: { BKTX_ORG: 'from-env' } }).org).toEqual({ value: 'from-env', source: 'env:BKTX_ORG' })
    expect(resolveSettings(input).org).toEqual({ value: 'from-profile', source: 'profile:p' })
    expect(resolveSettings(input)['token-url']).toEqual({ value: 'https://buildkite.com/oauth/token', source: 'default' })
    expect(resolveSettings(input).subject).toBeUndefined()
  })

  it('resolves relative key paths: profile against the config dir, flags against the cwd', () => {
    expect(resolveSettings(input).key?.value).toBe('/cfg/keys/k.pem')
    expect(resolveSettings({ ...input, flags: { key: 'mine.pem' } }).key?.value).toBe('/work/mine.pem')
  })

  it('treats an empty variable as unset', () => {
    expect(resolveSettings({ ...input, env: { BKTX_ORG: '' } }).org?.source).toBe('profile:p')
  })

  it('names the variable of an invalid environment value', () => {
    expect(() => resolveSettings({ ...input, env: { BKTX_SUBJECT_TYPE: 'name' } })).toThrow(/BKTX_SUBJECT_TYPE/)
    expect(() => resolveSettings({ ...input, flags: { ttl: 'x' } })).toThrow(SettingInvalidError)
  })

  it('errors on an explicit profile the file lacks, not on a missing default', () => {
    expect(selectProfile({ profiles: {} }, FILE, undefined)).toEqual({ name: 'default', profile: {} })
    expect(() => selectProfile({ profiles: { ci: {} } }, FILE, 'cj')).toThrow(/no such profile \(profiles: ci\)/)
  })
})

describe('normaliseScopes', () => {
  it('splits, dedupes and sorts', () => {
    expect(normaliseScopes(['read_pipelines  read_builds', 'read_builds'])).toEqual(['read_builds', 'read_pipelines'])
  })
})
