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
    profiles: [{ name: 'p', profile: { org: 'from-profile', key: 'keys/k.pem' } }],
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
    expect(selectProfile({ profiles: {} }, FILE, undefined)).toEqual({ name: 'default', profile: {}, chain: [{ name: 'default', profile: {} }] })
    expect(() => selectProfile({ profiles: { ci: {} } }, FILE, 'cj')).toThrow(/no such profile \(profiles: ci\)/)
  })
})

describe('profile inheritance (issue 14)', () => {
  const config = parseConfig(
    JSON.stringify({
      profiles: {
        default: { 'client-id': 'abc', org: 'acme', key: '/k/default.pem', scope: 'read_builds' },
        ci: { subject: 'ci@acme.test', scope: 'read_pipelines' },
        nightly: { extends: 'ci', ttl: '2h' },
        alone: { extends: null, org: 'solo' },
      },
    }),
    FILE,
  )
  const resolve = (profile: string) =>
    resolveSettings({ flags: {}, env: {}, profiles: selectProfile(config, FILE, profile).chain, configDir: '/cfg', cwd: '/work' })

  it('a profile inherits what it does not set from default, and says from where', () => {
    const ci = resolve('ci')
    expect(ci['client-id']).toEqual({ value: 'abc', source: 'profile:default' })
    expect(ci.subject).toEqual({ value: 'ci@acme.test', source: 'profile:ci' })
    expect(ci.scope).toEqual({ value: 'read_pipelines', source: 'profile:ci' })
  })

  it('follows extends, nearest first, and extends: null stands alone', () => {
    expect(selectProfile(config, FILE, 'nightly').chain.map((p) => p.name)).toEqual(['nightly', 'ci', 'default'])
    const nightly = resolve('nightly')
    expect([nightly.ttl?.source, nightly.subject?.source, nightly.org?.source]).toEqual(['profile:nightly', 'profile:ci', 'profile:default'])
    expect(resolve('alone')['client-id']).toBeUndefined()
    expect(resolve('alone').org?.value).toBe('solo')
  })

  it('refuses a cycle or a missing parent, naming the field', () => {
    const cyclic = parseConfig(JSON.stringify({ profiles: { a: { extends: 'b' }, b: { extends: 'a' } } }), FILE)
    expect(() => selectProfile(cyclic, FILE, 'a')).toThrow(/profiles\.b\.extends: makes a cycle \(a → b → a\)/)
    const orphan = parseConfig(JSON.stringify({ profiles: { a: { extends: 'nope' } } }), FILE)
    expect(() => selectProfile(orphan, FILE, 'a')).toThrow(/profiles\.a\.extends: names no profile "nope"/)
    expect(() => parseConfig(JSON.stringify({ profiles: { a: { extends: 3 } } }), FILE)).toThrow(/profiles\.a\.extends: must be the name of another profile/)
  })
})

describe('normaliseScopes', () => {
  it('splits, dedupes and sorts', () => {
    expect(normaliseScopes(['read_pipelines  read_builds', 'read_builds'])).toEqual(['read_builds', 'read_pipelines'])
  })
})
