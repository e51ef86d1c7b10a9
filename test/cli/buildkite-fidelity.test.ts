import { execFileSync, spawnSync } from 'node:child_process'
import { chmod, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createPublicKey } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { fixedClock, runCli, tempHome } from '../helpers/cli.js'
import { http } from '../helpers/http.js'
import type { MemoryAuditSink } from '../../src/server/state/audit.js'
import { baseConfig, CLIENT_ID, MEMBER, ORG, startServer, testKey } from '../helpers/server.js'
import { startStubServer } from '../helpers/stub-token-server.js'
import { tokenBody } from '../helpers/exchange.js'

// Issue 11: bktx as Buildkite's documentation and other clients meet it.

let home: Awaited<ReturnType<typeof tempHome>>
beforeEach(async () => {
  home = await tempHome()
})
afterEach(() => home.cleanup())

async function keyFile(name: string, pem: string): Promise<string> {
  const path = join(home.dir, name)
  await writeFile(path, pem, { mode: 0o600 })
  return path
}

describe('the assertion audience', () => {
  it("is https://buildkite.com/oauth/token for both of Buildkite's token URLs, else the token URL; --aud overrides", async () => {
    const path = await keyFile('k.pem', (await testKey()).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)
    const aud = async (...args: string[]) => {
      const result = await runCli(['sign', '--client-id', CLIENT_ID, '--key', path, '--json', ...args], { env: home.env })
      expect(result.code, result.stderr).toBe(0)
      return JSON.parse(result.stdout).claims.aud
    }
    expect(await aud()).toBe('https://buildkite.com/oauth/token')
    expect(await aud('--token-url', 'https://api.buildkite.com/v2/oauth/token')).toBe('https://buildkite.com/oauth/token')
    expect(await aud('--token-url', 'http://127.0.0.1:8787/oauth/token')).toBe('http://127.0.0.1:8787/oauth/token')
    expect(await aud('--token-url', 'https://api.buildkite.com/v2/oauth/token', '--aud', 'https://example.test/oauth/token')).toBe(
      'https://example.test/oauth/token',
    )
    const env = { ...home.env, BKTX_AUD: 'https://env.test/oauth/token' }
    expect(JSON.parse((await runCli(['sign', '--client-id', CLIENT_ID, '--key', path, '--json'], { env })).stdout).claims.aud).toBe(
      'https://env.test/oauth/token',
    )
    const list = await runCli(['config', 'list', '--json'], { env: { ...home.env, BKTX_TOKEN_URL: 'https://api.buildkite.com/v2/oauth/token' } })
    expect(JSON.parse(list.stdout).settings).toMatchObject({
      aud: { value: 'https://buildkite.com/oauth/token', source: 'default' },
      'api-url': { value: 'https://api.buildkite.com', source: 'default' },
    })
  })

  it('is what bktx token sends, and a wrong --aud is the documented invalid_client with advice', async () => {
    const server = await startServer()
    try {
      const path = await keyFile('k.pem', server.key.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)
      const env = {
        ...home.env,
        BKTX_TOKEN_URL: server.tokenUrl,
        BKTX_CLIENT_ID: CLIENT_ID,
        BKTX_KEY: path,
        BKTX_KID: server.key.kid,
        BKTX_ORG: ORG,
        BKTX_SUBJECT: MEMBER,
        BKTX_CACHE: 'none',
      }
      expect((await runCli(['token'], { env })).code).toBe(0)
      const wrong = await runCli(['token', '--aud', 'https://buildkite.com/oauth/token'], { env })
      expect(wrong.code).toBe(4)
      expect(wrong.stderr).toMatch(
        /invalid_client \(JWT `aud` claim is invalid\); the assertion's aud was https:\/\/buildkite\.com\/oauth\/token;.*check --aud and --token-url/,
      )
    } finally {
      await server.stop()
    }
  })
})

describe('the API URL follows the token URL', () => {
  it('whoami and logout reach the reference server without --api-url', async () => {
    const server = await startServer()
    try {
      const path = await keyFile('k.pem', server.key.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)
      const env = {
        ...home.env,
        BKTX_TOKEN_URL: server.tokenUrl,
        BKTX_CLIENT_ID: CLIENT_ID,
        BKTX_KEY: path,
        BKTX_KID: server.key.kid,
        BKTX_ORG: ORG,
        BKTX_SUBJECT: MEMBER,
        BKTX_CACHE: 'file',
      }
      const who = await runCli(['whoami', '--mint', '--json'], { env })
      expect(who.code, who.stderr).toBe(0)
      expect(JSON.parse(who.stdout).user.email).toBe(MEMBER)
      const token = JSON.parse((await runCli(['token', '--json'], { env })).stdout).token
      const logout = await runCli(['logout'], { env })
      expect(logout.stderr).toMatch(/✓ revoked and forgot token …/)
      expect((await http(`${server.url}/v2/access-token`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(401)
    } finally {
      await server.stop()
    }
  })
})

describe("keys as Buildkite's docs make them, with docs-style kids", () => {
  for (const [alg, generate] of [
    ['ES256', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out']],
    ['RS256', ['genrsa', '-out']],
  ] as const) {
    it(`${alg}: the docs' openssl command, a JWKS with kid my-key-1, minted with that kid and with none`, async () => {
      const path = join(home.dir, 'private_key.pem')
      execFileSync('openssl', [...generate, path, ...(alg === 'RS256' ? ['2048'] : [])], { stdio: 'ignore' })
      const jwk = createPublicKey(execFileSync('openssl', ['pkey', '-in', path, '-pubout'], { encoding: 'utf8' })).export({ format: 'jwk' })
      const key = await testKey(alg, 'my-key-1')
      const doc = baseConfig(key, (d) => {
        d.apps[0].jwks = { keys: [{ ...jwk, kid: 'my-key-1', use: 'sig', alg }] }
      })
      const server = await startServer({ doc, key })
      try {
        const env = {
          ...home.env,
          BKTX_TOKEN_URL: server.tokenUrl,
          BKTX_CLIENT_ID: CLIENT_ID,
          BKTX_KEY: path,
          BKTX_ORG: ORG,
          BKTX_SUBJECT: MEMBER,
          BKTX_CACHE: 'none',
        }
        // Without a kid setting, bktx sends the thumbprint, which the docs-style JWKS does not hold.
        expect((await runCli(['token'], { env })).code).toBe(4)
        const named = await runCli(['token', '--kid', 'my-key-1'], { env })
        expect(named.code, named.stderr).toBe(0)
        const none = await runCli(['token', '--kid', 'none'], { env })
        expect(none.code, none.stderr).toBe(0)
        const signed = (await runCli(['sign', '--kid', 'none'], { env })).stdout.trim()
        expect(decodeProtectedHeader(signed)).toEqual({ alg, typ: 'JWT' })
        const audit = (server.server.state.audit as MemoryAuditSink).records
        expect(audit.filter((r) => r.type === 'token.minted').map((r) => r.kid)).toEqual(['my-key-1', null])
      } finally {
        await server.stop()
      }
    })
  }
})

describe('private key files', () => {
  it('refuses a key readable or writable by others, with the chmod fix, in sign, token and jwks', async () => {
    const path = await keyFile('k.pem', (await testKey()).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)
    for (const mode of [0o644, 0o640, 0o620, 0o604]) {
      await chmod(path, mode)
      for (const args of [
        ['sign', '--client-id', CLIENT_ID, '--key', path],
        ['jwks', '--key', path],
        ['token', '--client-id', CLIENT_ID, '--key', path, '--org', ORG, '--subject', MEMBER, '--token-url', 'http://127.0.0.1:9/oauth/token'],
      ]) {
        const result = await runCli(args, { env: home.env })
        expect(result.code, `${mode.toString(8)} ${args[0]}`).toBe(3)
        expect(result.stderr).toContain(`has mode 0${mode.toString(8)}`)
        expect(result.stderr).toContain(`run \`chmod 600 ${path}\``)
      }
    }
    // A public key file may be world-readable.
    const pub = join(home.dir, 'k.pub.pem')
    await writeFile(pub, createPublicKey((await testKey()).privateKey).export({ format: 'pem', type: 'spki' }), { mode: 0o644 })
    expect((await runCli(['jwks', '--key', pub], { env: home.env })).code).toBe(0)
  })

  it('says "encrypted" and how to decrypt, for PKCS#8 and traditional PEMs, and how to convert an OpenSSH key', async () => {
    const plain = join(home.dir, 'plain.pem')
    execFileSync('openssl', ['genrsa', '-out', plain, '2048'], { stdio: 'ignore' })
    const pkcs8 = join(home.dir, 'pkcs8.pem')
    execFileSync('openssl', ['pkey', '-in', plain, '-aes256', '-passout', 'pass:secret', '-out', pkcs8])
    const traditional = join(home.dir, 'traditional.pem')
    execFileSync('openssl', ['rsa', '-in', plain, '-aes128', '-traditional', '-passout', 'pass:secret', '-out', traditional], { stdio: 'ignore' })
    for (const [path, kind] of [
      [pkcs8, /encrypted private key \(PKCS#8\)/],
      [traditional, /encrypted private key \(traditional PEM, Proc-Type: 4,ENCRYPTED\)/],
    ] as const) {
      await chmod(path, 0o600)
      const result = await runCli(['sign', '--client-id', CLIENT_ID, '--key', path], { env: home.env })
      expect(result.code).toBe(3)
      expect(result.stderr).toMatch(kind)
      expect(result.stderr).toContain('bktx does not prompt for passphrases')
      expect(result.stderr).toContain(`openssl pkey -in ${path} -out ${path}.plain`)
      expect(result.stderr).not.toContain('secret')
    }
    if (spawnSync('ssh-keygen', ['-?'], { stdio: 'ignore' }).error === undefined) {
      const ssh = join(home.dir, 'id_ecdsa')
      execFileSync('ssh-keygen', ['-q', '-t', 'ecdsa', '-N', '', '-f', ssh])
      const result = await runCli(['sign', '--client-id', CLIENT_ID, '--key', ssh], { env: home.env })
      expect(result.stderr).toMatch(/OpenSSH private key, a format bktx cannot read; convert a copy to PKCS#8: .*ssh-keygen -p -m PKCS8/)
    }
  })
})

describe('a grant narrower than the request', () => {
  it('says so once, on stderr, when the TTL is capped; --json shows what was asked', async () => {
    const server = await startServer()
    try {
      const path = await keyFile('k.pem', server.key.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)
      const env = {
        ...home.env,
        BKTX_TOKEN_URL: server.tokenUrl,
        BKTX_CLIENT_ID: CLIENT_ID,
        BKTX_KEY: path,
        BKTX_KID: server.key.kid,
        BKTX_ORG: ORG,
        BKTX_SUBJECT: MEMBER,
        BKTX_CACHE: 'file',
      }
      const clock = fixedClock(new Date())
      const first = await runCli(['token', '--ttl', '2h', '--json'], { env, clock })
      expect(first.code).toBe(0)
      expect(first.stderr).toBe(
        "warning: the token lives 1h, not the 2h asked for (the application's maximum lifetime is probably lower); ask for at most that with --ttl, or raise the maximum in the application\n",
      )
      expect(JSON.parse(first.stdout)).toMatchObject({ requested_ttl: 7200, expires_in: 3600, requested_scopes: [], cached: false })
      const again = await runCli(['token', '--ttl', '2h'], { env, clock })
      expect(again.stderr).toBe('')
    } finally {
      await server.stop()
    }
  })

  it('says which scopes were not granted', async () => {
    const stub = await startStubServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(tokenBody({ scope: 'read_builds' })))
    })
    try {
      const path = await keyFile('k.pem', (await testKey()).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)
      const result = await runCli(
        [
          'token',
          '--cache',
          'none',
          '--token-url',
          `${stub.origin}/oauth/token`,
          '--client-id',
          CLIENT_ID,
          '--key',
          path,
          '--org',
          ORG,
          '--subject',
          MEMBER,
          '--scope',
          'read_builds read_user',
        ],
        { env: home.env },
      )
      expect(result.code).toBe(0)
      expect(result.stderr).toBe(
        "warning: the token was granted read_builds, without read_user that was asked for; check --scope against the application's grantable scopes\n",
      )
    } finally {
      await stub.close()
    }
  })
})

describe('a third-party verifier: PyJWT', () => {
  const python = '/usr/bin/python3'
  const hasPyJWT = spawnSync(python, ['-c', 'import jwt, cryptography'], { stdio: 'ignore' }).status === 0
  it.runIf(hasPyJWT || process.env['CI'] !== undefined)('verifies what bktx sign makes, ES256 and RS256, with and without a kid', async () => {
    for (const alg of ['ES256', 'RS256'] as const) {
      const key = await testKey(alg)
      const path = await keyFile(`${alg}.pem`, key.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)
      const pub = join(home.dir, `${alg}.pub.pem`)
      await writeFile(pub, createPublicKey(key.privateKey).export({ format: 'pem', type: 'spki' }))
      for (const kid of [[], ['--kid', 'none']]) {
        const jwt = (await runCli(['sign', '--client-id', CLIENT_ID, '--key', path, ...kid], { env: home.env })).stdout.trim()
        const script = [
          'import jwt, sys, json',
          'token, pub, alg = sys.argv[1], open(sys.argv[2]).read(), sys.argv[3]',
          'claims = jwt.decode(token, pub, algorithms=[alg], audience="https://buildkite.com/oauth/token", issuer=sys.argv[4], options={"require": ["exp", "iat", "iss", "sub", "aud", "jti"]})',
          'print(json.dumps({"header": jwt.get_unverified_header(token), "sub": claims["sub"], "life": claims["exp"] - claims["iat"]}))',
        ].join('\n')
        const out = JSON.parse(execFileSync(python, ['-c', script, jwt, pub, alg, CLIENT_ID], { encoding: 'utf8' }))
        expect(out).toEqual({ header: { alg, typ: 'JWT', ...(kid.length === 0 ? { kid: key.kid } : {}) }, sub: CLIENT_ID, life: 60 })
        expect(decodeJwt(jwt).iss).toBe(CLIENT_ID)
      }
    }
  })
  if (!hasPyJWT && process.env['CI'] === undefined) it.skip('PyJWT is not installed (Debian python3-jwt); skipped outside CI', () => undefined)
})
