import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runCli, tempHome } from '../helpers/cli.js'
import { cliServer } from '../helpers/cli-server.js'

// `bktx server` failures that happen before it listens: the quick flags' values are checked by
// src/server/config/config.ts, and the CLI names the flag, not the document field it went to.

let home: Awaited<ReturnType<typeof tempHome>>
beforeEach(async () => {
  home = await tempHome()
})
afterEach(() => home.cleanup())

const QUICK = ['server', '--port', '0', '--member', 'dev@acme.test', '--jwks-uri', 'https://example.test/jwks']

describe('bktx server quick flags', () => {
  it.each([
    [['--exchange-ips', '10.0.0.0/8,10.0.0.0/99'], 'error: --exchange-ips: "10.0.0.0/99" is not an IP address or CIDR range'],
    [['--token-ips', 'x'], 'error: --token-ips: "x" is not an IP address or CIDR range'],
    [['--grantable', 'read_everything'], 'error: --grantable: "read_everything" is not a Buildkite scope'],
    [['--grantable', 'read_builds', '--default-scopes', 'read_user'], 'error: --default-scopes: must be a subset of grantable_scopes (not: read_user)'],
    [['--member', 'nobody'], 'error: --member: must be an email address'],
    [['--org', 'Acme Inc'], 'error: --org: must be a slug: lowercase letters, digits and dashes'],
    [['--client-id', 'a b'], 'error: --client-id: must be 1 to 255 printable characters'],
    [['--aud', 'not-a-url'], 'error: --aud: must be an absolute URL'],
    [['--max-ttl', '20'], 'error: --max-ttl: must be an integer from 30 to 86400'],
  ])('%j is a usage error naming the flag', async (args, message) => {
    const result = await runCli([...QUICK, ...args], { env: home.env })
    expect(result.code).toBe(2)
    expect(result.stdout).toBe('')
    expect(result.stderr.split('\n')[0]).toBe(message)
  })

  it('says which flag allows an http JWKS URI to loopback', async () => {
    const result = await runCli(['server', '--port', '0', '--member', 'dev@acme.test', '--jwks-uri', 'http://127.0.0.1:9/jwks'], { env: home.env })
    expect(result.code).toBe(2)
    expect(result.stderr.split('\n')[0]).toBe('error: --jwks-uri: must be https://; http:// to a loopback host needs --allow-http-jwks')
  })

  it('asks for a member when neither --member nor the profile subject names one', async () => {
    const result = await runCli(['server', '--port', '0', '--jwks-uri', 'https://example.test/jwks'], { env: home.env })
    expect(result.code).toBe(2)
    expect(result.stdout).toBe('')
    expect(result.stderr.split('\n')[0]).toBe('error: name at least one organisation member: --member EMAIL (or set the profile subject)')
  })

  it('refuses --jwks with --jwks-uri, and quick flags with --config', async () => {
    const both = await runCli([...QUICK, '--jwks', 'k.pem'], { env: home.env })
    expect(both.code).toBe(2)
    expect(both.stderr.split('\n')[0]).toBe('error: give --jwks or --jwks-uri, not both')
    const config = join(home.dir, 'server.json')
    await writeFile(config, '{}')
    const mixed = await runCli(['server', '--config', config, '--org', 'acme', '--require-jti'], { env: home.env })
    expect(mixed.code).toBe(2)
    expect(mixed.stderr.split('\n')[0]).toBe('error: --config describes the organisations and apps; do not combine it with --org, --require-jti')
  })
})

describe('bktx server --config', () => {
  it('names the file and the field of an invalid configuration, with the flag that helps', async () => {
    const config = join(home.dir, 'server.json')
    await writeFile(
      config,
      JSON.stringify({
        organizations: [{ slug: 'acme' }],
        apps: [{ client_id: 'x', org: 'acme', jwks_uri: 'http://127.0.0.1:9/jwks', grantable_scopes: 'read_builds' }],
      }),
    )
    const result = await runCli(['server', '--config', config, '--port', '0'], { env: home.env })
    expect(result.code).toBe(3)
    expect(result.stderr).toBe(`error: config file ${config}: apps[0].jwks_uri: must be https://; http:// to a loopback host needs --allow-http-jwks\n`)
  })

  it('refuses a file that is not JSON', async () => {
    const config = join(home.dir, 'server.json')
    await writeFile(config, 'organizations: []')
    const result = await runCli(['server', '--config', config, '--port', '0'], { env: home.env })
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(new RegExp(`^error: config file ${config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: is not valid JSON \\(`))
  })
})

describe('bktx server and V8', () => {
  it('bounds the young generation from before it says it listens until it shuts down (src/term/young-generation.ts)', async () => {
    const events: string[] = []
    const server = await cliServer(['--member', 'dev@acme.test', '--jwks-uri', 'https://example.test/jwks'], home.env, {
      boundYoungGeneration: async (maxBytes) => {
        events.push(`bound to ${maxBytes}`)
        return () => events.push('undone')
      },
    })
    events.push('listening')
    expect((await fetch(`${server.url}/nope`)).status).toBe(404)
    const stopped = await server.stop()
    expect(stopped.code).toBe(0)
    // 2 MiB semi-spaces (docs/benchmarks.md, ninth run), V8's own sizing back before the process ends and writes its code cache.
    expect(events).toEqual([`bound to ${2 * 1024 * 1024}`, 'listening', 'undone'])
  })
})
