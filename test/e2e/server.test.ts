import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { tempHome } from '../helpers/cli.js'
import { http, postForm } from '../helpers/http.js'
import { EXCHANGE, MEMBER } from '../helpers/server.js'
import { runBin } from '../helpers/spawn.js'
import { spawnServer } from '../helpers/spawn-server.js'

let home: Awaited<ReturnType<typeof tempHome>>
beforeEach(async () => {
  home = await tempHome()
})
afterEach(() => home.cleanup())

describe('bktx server as a child process', () => {
  it('serves exchanges from bktx sign, logs requests without secrets, persists state, and stops on SIGTERM', async () => {
    const key = join(home.dir, 'key.pem')
    expect((await runBin(['keygen', '--out', key], { env: home.env })).code).toBe(0)
    const stateDir = join(home.dir, 'state')
    const server = await spawnServer(
      ['--member', MEMBER, '--jwks', key, '--client-id', 'cli-app', '--state-dir', stateDir, '--grantable', 'read_builds read_user'],
      home.env,
    )
    const tokenUrl = `${server.url}/oauth/token`
    const jwt = (await runBin(['sign', '--client-id', 'cli-app', '--key', key, '--token-url', tokenUrl], { env: home.env })).stdout.trim()
    const minted = await postForm(tokenUrl, { ...EXCHANGE, client_assertion: jwt, scope: 'read_user' })
    expect(minted.status).toBe(200)
    const token = minted.json.access_token as string
    expect((await http(`${server.url}/v2/access-token`, { headers: { Authorization: `Bearer ${token}` } })).json.scopes).toEqual(['read_user'])

    const { code } = await server.stop('SIGTERM')
    expect(code).toBe(0)
    const log = server.stderr()
    expect(log).toMatch(/^POST \/oauth\/token 200 \d+ms 127\.0\.0\.1$/m)
    expect(log).toMatch(/^GET \/v2\/access-token 200 \d+ms 127\.0\.0\.1$/m)
    expect(log).not.toContain(token)
    expect(log).not.toContain(jwt)
    expect(server.stdout()).toBe('')

    // Restarted on the same state directory: the token still works.
    const again = await spawnServer(['--member', MEMBER, '--jwks', key, '--client-id', 'cli-app', '--state-dir', stateDir], home.env)
    try {
      expect((await http(`${again.url}/v2/access-token`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200)
    } finally {
      await again.stop()
    }
    const audit = (await readFile(join(stateDir, 'audit.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    expect(audit[0]).toMatchObject({ type: 'token.minted', client_id: 'cli-app', user: MEMBER, scopes: ['read_user'] })
  })

  it('reads a server config file given with --config, and names the field of an invalid one', async () => {
    const config = join(home.dir, 'server.json')
    await import('node:fs/promises').then((fs) =>
      fs.writeFile(
        config,
        JSON.stringify({
          organizations: [{ slug: 'acme', members: [] }],
          apps: [{ client_id: 'x', org: 'acme', jwks_uri: 'https://example.test/jwks', grantable_scopes: ['read_builds'], max_ttl: 10 }],
        }),
      ),
    )
    const result = await runBin(['server', '--config', config, '--port', '0'], { env: home.env })
    expect(result.code).toBe(3)
    expect(result.stdout).toBe('')
    expect(result.stderr).toBe(`error: config file ${config}: apps[0].max_ttl: must be an integer from 30 to 86400\n`)
  })

  it('names the flag of a bad quick flag', async () => {
    const result = await runBin(['server', '--port', '0', '--member', MEMBER, '--jwks-uri', 'https://example.test/j', '--exchange-ips', '10.0.0.0/99'], {
      env: home.env,
    })
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/^error: --exchange-ips: "10\.0\.0\.0\/99" is not an IP address or CIDR range/)
  })
})
