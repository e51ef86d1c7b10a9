import { chmod, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { MemoryAuditSink } from '../../src/server/state/audit.js'
import { fixedClock, runCli, tempHome } from '../helpers/cli.js'
import { serveJwks } from '../helpers/jwks-serve.js'
import { writeKeyFiles } from '../helpers/keys.js'
import { startStubServer, type StubServer } from '../helpers/stub-token-server.js'
import { tokenWorld, type TokenWorld } from '../helpers/token-setup.js'

let cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
  cleanups = []
})

async function world(): Promise<TokenWorld & { run: (args: string[], extra?: Record<string, string>) => ReturnType<typeof runCli> }> {
  const w = await tokenWorld()
  cleanups.push(w.cleanup)
  const env = { ...w.env, BKTX_CACHE: 'file' }
  return { ...w, env, run: (args, extra = {}) => runCli(args, { env: { ...env, ...extra } }) }
}

interface CheckDoc {
  id: string
  status: 'pass' | 'warn' | 'fail'
  message: string
  fix: string | null
}

function checks(stdout: string): CheckDoc[] {
  return (JSON.parse(stdout) as { checks: CheckDoc[] }).checks
}

function only(list: CheckDoc[], id: string): CheckDoc[] {
  return list.filter((c) => c.id === id)
}

describe('bktx doctor', () => {
  it('passes a working setup against the reference server, and mints nothing', async () => {
    const w = await world()
    const jwksFile = join(w.home.dir, 'jwks.json')
    expect((await w.run(['jwks', '--out', jwksFile])).code).toBe(0)
    const result = await w.run(['doctor', '--jwks', jwksFile, '--json'])
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    const doc = JSON.parse(result.stdout)
    expect(doc.ok).toBe(true)
    expect(doc.checks.map((c: CheckDoc) => `${c.status} ${c.id}`)).toEqual([
      'pass config',
      'pass settings',
      'pass key',
      'pass cache',
      'pass keychain',
      'pass tokens',
      'pass network',
      'pass token-endpoint',
      'pass clock',
      'pass jwks',
      'pass jwks-kid',
    ])
    expect(only(doc.checks, 'token-endpoint')[0]?.message).toMatch(/answered HTTP 400 invalid_request/)
    expect(only(doc.checks, 'jwks-kid')[0]?.message).toBe(`${jwksFile} holds kid ${w.server.key.kid}, with the public key of the signing key`)
    expect(doc.status.key.kid).toBe(w.server.key.kid)
    // The probe reached the token endpoint and was refused before any client authentication.
    const audit = (w.server.server.state.audit as MemoryAuditSink).records
    expect(audit.map((r) => [r.type, r.error])).toEqual([['token.exchange_failed', 'invalid_request']])
    expect(w.mints()).toBe(0)

    const text = await w.run(['doctor', '--jwks', jwksFile])
    expect(text.code).toBe(0)
    expect(
      text.stdout
        .split('\n')
        .slice(0, -2)
        .every((line) => /^(PASS|WARN|FAIL) {2}/.test(line)),
    ).toBe(true)
    expect(text.stdout.trimEnd().split('\n').at(-1)).toBe('11 checks: 11 passed, 0 warnings, 0 failed')
  })

  it("fails when the published JWKS lacks the signing key's kid, or has it with another key (bktx jwks serve)", async () => {
    const w = await world()
    const other = await writeKeyFiles(w.home.dir, 'ES256', 'other')
    const served = await serveJwks([other.publicPath], w.home.env)
    cleanups.push(served.stop)
    const result = await w.run(['doctor', '--allow-http-jwks', '--json'], { BKTX_JWKS_URI: served.url })
    expect(result.code).toBe(11)
    const list = checks(result.stdout)
    expect(only(list, 'jwks')[0]?.status).toBe('pass')
    expect(only(list, 'jwks-kid')[0]).toMatchObject({
      status: 'fail',
      message: expect.stringContaining(`has no key with kid ${w.server.key.kid}, the signing key (kids in the set: `),
    })
    expect(only(list, 'jwks-kid')[0]?.fix).toMatch(/`bktx jwks --out`.*`bktx key rotate`/)
    expect(list.filter((c) => c.status === 'fail').map((c) => c.id)).toEqual(['jwks-kid'])
    // Under --json the failure is a JSON line on stderr too; the report is the data on stdout.
    expect(JSON.parse(result.stderr)).toEqual({
      error: { code: 'BKTX_CHECKS_FAILED', message: 'doctor: 1 check failed (jwks-kid); the report says how to fix it', exit: 11 },
    })

    // The same kid with another public key is no better.
    const impostor = join(w.home.dir, 'impostor.jwk')
    const { publicKey } = await import('../helpers/keys.js').then((m) => m.makeKey('ES256'))
    await writeFile(impostor, JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: w.server.key.kid }] }))
    const swapped = await w.run(['doctor', '--jwks', impostor, '--json'])
    expect(swapped.code).toBe(11)
    expect(only(checks(swapped.stdout), 'jwks-kid')[0]?.message).toMatch(/has kid .*, but with a public key other than that of the signing key/)

    // Buildkite fetches https only: http to loopback needs the reference server's opt-in.
    const plain = await w.run(['doctor', '--json'], { BKTX_JWKS_URI: served.url })
    expect(only(checks(plain.stdout), 'jwks')[0]).toMatchObject({ status: 'fail', message: expect.stringContaining('must be https://') })
  })

  describe("clock skew, from the token endpoint's Date header (a stub server)", () => {
    async function stub(date: (now: Date) => string | undefined): Promise<{ server: StubServer; bodies: string[]; headers: Array<Record<string, unknown>> }> {
      const bodies: string[] = []
      const headers: Array<Record<string, unknown>> = []
      const server = await startStubServer((req, res, body) => {
        bodies.push(body)
        headers.push({ ...req.headers })
        res.sendDate = false
        const value = date(new Date())
        res.writeHead(400, { 'content-type': 'application/json', ...(value === undefined ? {} : { date: value }) })
        res.end(JSON.stringify({ error: 'invalid_request', error_description: 'Missing required parameter `client_assertion`' }))
      })
      cleanups.push(() => server.close())
      return { server, bodies, headers }
    }

    it.each([
      ['2 minutes ahead of this machine: FAIL', 120, 'fail', /clock is 2m\d*s? behind the token endpoint's/],
      ['8 s behind this machine: WARN', -8, 'warn', /clock is [89]s ahead of the token endpoint's/],
      ['in step: PASS', 0, 'pass', /within 1s of the token endpoint's/],
    ])('a server clock %s', async (_name, offset, status, message) => {
      const w = await world()
      const clock = fixedClock('2026-11-30T12:00:00.500Z')
      const { server, bodies, headers } = await stub(() => new Date(clock.now().getTime() - 500 + offset * 1000).toUTCString())
      const result = await runCli(['doctor', '--json', '--token-url', `${server.origin}/oauth/token`], { env: w.env, clock })
      const clockCheck = only(checks(result.stdout), 'clock')[0]
      expect(clockCheck).toMatchObject({ status, message: expect.stringMatching(message) })
      if (status !== 'pass') expect(clockCheck?.fix).toMatch(/NTP/)
      expect(result.code).toBe(status === 'fail' ? 11 : 0)
      // The probe: a token exchange grant without an assertion, no Authorization header.
      expect(bodies).toEqual([
        'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer',
      ])
      expect(headers[0]).toMatchObject({ 'content-type': 'application/x-www-form-urlencoded' })
      expect(headers[0]).not.toHaveProperty('authorization')
    })

    it('warns when there is no Date header to compare with', async () => {
      const w = await world()
      const { server } = await stub(() => undefined)
      const result = await runCli(['doctor', '--json', '--token-url', `${server.origin}/oauth/token`], { env: w.env })
      expect(only(checks(result.stdout), 'clock')[0]).toMatchObject({ status: 'warn', message: expect.stringContaining('sent no Date header') })
    })
  })

  it('reports a 0644 key as FAIL with the chmod fix, and goes on with the other checks', async () => {
    const w = await world()
    await chmod(w.keyPath, 0o644)
    const result = await w.run(['doctor'])
    expect(result.code).toBe(11)
    expect(result.stdout).toMatch(
      new RegExp(`^FAIL {2}key +private key file ${w.keyPath} has mode 0644: other users can read it, so bktx will not use it$`, 'm'),
    )
    expect(result.stdout).toContain(`fix: run \`chmod 600 ${w.keyPath}\``)
    expect(result.stdout).toMatch(/^PASS {2}token-endpoint/m)
    expect(result.stderr).toMatch(/^error: doctor: 1 check failed \(key\)/)
  })

  it('fails on a token URL that is not a token endpoint, or does not answer', async () => {
    const w = await world()
    const wrong = await w.run(['doctor', '--json', '--token-url', `${w.server.url}/oauth/nope`])
    expect(only(checks(wrong.stdout), 'token-endpoint')[0]).toMatchObject({
      status: 'fail',
      message: expect.stringMatching(/answered HTTP 404 without an OAuth error: not a token endpoint/),
      fix: 'check --token-url',
    })
    const stub = await startStubServer(() => undefined)
    const port = new URL(stub.origin).port
    await stub.close()
    const closed = await w.run(['doctor', '--json', '--token-url', `http://127.0.0.1:${port}/oauth/token`])
    expect(closed.code).toBe(11)
    expect(only(checks(closed.stdout), 'token-endpoint')[0]).toMatchObject({
      status: 'fail',
      message: expect.stringMatching(/cannot reach the token endpoint .*: connection refused \(ECONNREFUSED\)$/),
    })
    expect(only(checks(closed.stdout), 'clock')).toEqual([])
  })

  it('turns an invalid configuration file into a FAIL, and names the profile in the fix of a missing setting', async () => {
    const h = await tempHome()
    cleanups.push(h.cleanup)
    const config = join(h.dir, 'config.json')
    await writeFile(config, '{"profiles": {"default": {"ttl": "ten"}}}')
    const broken = await runCli(['doctor', '--config', config, '--json'], { env: h.env })
    expect(broken.code).toBe(11)
    expect(checks(broken.stdout)).toEqual([
      {
        id: 'config',
        status: 'fail',
        message: `config file ${config}: profiles.default.ttl: must be a duration such as 900, 15m or 1h`,
        fix: 'fix it, then run this again',
      },
    ])

    await writeFile(config, '{"profiles": {"ci": {"subject": "ci@acme.test"}}}')
    const missing = await runCli(['doctor', '--config', config, '--profile', 'ci', '--json', '--token-url', 'http://127.0.0.1:9/oauth/token'], { env: h.env })
    const settings = only(checks(missing.stdout), 'settings')
    expect(settings.map((c) => c.message)).toEqual(['client-id is not set', 'org is not set', 'key is not set'])
    expect(settings[0]?.fix).toBe('pass --client-id, set BKTX_CLIENT_ID, or run `bktx config set client-id VALUE --profile ci`')
  })
})
