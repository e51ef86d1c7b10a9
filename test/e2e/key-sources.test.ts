// env:NAME keys and exec: signers end to end, from the built binary against `bktx server`.
// The signers are shell scripts over openssl, as a KMS recipe would be; the faulty ones return
// garbage, exit non-zero, hang (with a child of their own), or sign with another key.
import { createPrivateKey, generateKeyPairSync } from 'node:crypto'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tempHome } from '../helpers/cli.js'
import { MEMBER } from '../helpers/server.js'
import { runBin } from '../helpers/spawn.js'
import { spawnServer, type ServerProcess } from '../helpers/spawn-server.js'
import { rsaFixture } from '../helpers/rsa-fixtures.js'

let home: Awaited<ReturnType<typeof tempHome>>
let server: ServerProcess
let env: Record<string, string>
let dir: string
let envKeyPem: string

const pem = (key: { export(o: object): string | Buffer }, type: 'pkcs8' | 'spki') => key.export({ format: 'pem', type }) as string

async function script(name: string, body: string): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, `#!/bin/sh\nset -e\n${body}\n`, { mode: 0o700 })
  return path
}

const run = (args: string[], extra: Record<string, string | undefined> = {}) => runBin(args, { env: { ...env, ...extra }, timeoutMs: 30_000 })

beforeAll(async () => {
  home = await tempHome()
  dir = home.dir
  const es = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const rs = rsaFixture(2048)
  const envKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  await writeFile(join(dir, 'es.pem'), pem(es.privateKey, 'pkcs8'), { mode: 0o600 })
  await writeFile(join(dir, 'es.pub.pem'), pem(es.publicKey, 'spki'))
  await writeFile(join(dir, 'rs.pem'), pem(rs.privateKey, 'pkcs8'), { mode: 0o600 })
  await writeFile(join(dir, 'rs.pub.jwk'), JSON.stringify({ ...rs.publicKey.export({ format: 'jwk' }), kid: 'rsa-kms-key' }))
  await writeFile(join(dir, 'env.pub.pem'), pem(envKey.publicKey, 'spki'))
  await writeFile(join(dir, 'other-es.pem'), pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'pkcs8'), { mode: 0o600 })
  envKeyPem = pem(envKey.privateKey, 'pkcs8')

  const jwks = await runBin(
    ['jwks', '--key', join(dir, 'es.pub.pem'), '--key', join(dir, 'rs.pub.jwk'), '--key', join(dir, 'env.pub.pem'), '--out', join(dir, 'jwks.json')],
    { env: home.env },
  )
  expect(jwks.code).toBe(0)
  server = await spawnServer(['--member', MEMBER, '--org', 'acme', '--jwks', join(dir, 'jwks.json'), '--client-id', 'ext-client'], home.env)
  env = {
    ...home.env,
    BKTX_TOKEN_URL: `${server.url}/oauth/token`,
    BKTX_API_URL: server.url,
    BKTX_CLIENT_ID: 'ext-client',
    BKTX_ORG: 'acme',
    BKTX_SUBJECT: MEMBER,
    BKTX_CACHE: 'file',
  }
}, 60_000)

afterAll(async () => {
  await server?.stop()
  await home?.cleanup()
})

describe('exec: external signers', () => {
  it('an openssl ES256 signer (DER on stdout) mints a token; it gets the signing input on stdin and the alg and kid in its environment', async () => {
    const signer = await script(
      'es-signer.sh',
      `cat > "${dir}/signing-input"\necho "$BKTX_SIGNING_ALG $BKTX_SIGNING_KID" > "${dir}/signer-env"\nopenssl dgst -sha256 -sign "${dir}/es.pem" "${dir}/signing-input"`,
    )
    const result = await run(['token', '--key', `exec:${signer}`, '--public-key', join(dir, 'es.pub.pem')])
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^bktx_\w+\n$/)
    const jwt = (await run(['sign', '--key', `exec:${signer}`, '--public-key', join(dir, 'es.pub.pem')])).stdout.trim()
    expect(await readFile(join(dir, 'signing-input'), 'utf8')).toBe(jwt.split('.').slice(0, 2).join('.'))
    const kid = JSON.parse(Buffer.from(jwt.split('.')[0] as string, 'base64url').toString()).kid
    expect(await readFile(join(dir, 'signer-env'), 'utf8')).toBe(`ES256 ${kid}\n`)
  })

  it('an RS256 signer that signs a digest (openssl pkeyutl, base64 on stdout) mints a token; kid from the public JWK', async () => {
    const signer = await script('rs-signer.sh', `openssl dgst -sha256 -binary | openssl pkeyutl -sign -inkey "${dir}/rs.pem" -pkeyopt digest:sha256 | base64`)
    const result = await run(['sign', '--key', `exec:${signer}`, '--public-key', join(dir, 'rs.pub.jwk'), '--json'])
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout).header).toEqual({ alg: 'RS256', typ: 'JWT', kid: 'rsa-kms-key' })
    const token = await run(['token', '--key', `exec:${signer}`, '--public-key', join(dir, 'rs.pub.jwk')])
    expect(token.code).toBe(0)
  })

  it('a cache hit does not run the signer', async () => {
    const counter = join(dir, 'runs')
    const signer = await script('counting-signer.sh', `echo run >> "${counter}"\nopenssl dgst -sha256 -sign "${dir}/es.pem"`)
    const args = ['token', '--key', `exec:${signer}`, '--public-key', join(dir, 'es.pub.pem'), '--scope', 'read_pipelines']
    const first = await run(args)
    const second = await run(args)
    const third = await run(['env', '--json', ...args.slice(1)])
    expect(first.code).toBe(0)
    expect(second.stdout).toBe(first.stdout)
    expect(JSON.parse(third.stdout).BUILDKITE_API_TOKEN).toBe(first.stdout.trim())
    expect(await readFile(counter, 'utf8')).toBe('run\n')
  })

  const faults: [string, string, RegExp, string][] = [
    ['returns garbage', 'echo not-a-signature', /printed 16 bytes that are not an ES256 signature/, 'bad-output'],
    ['exits non-zero', 'echo "kms: AccessDenied" >&2\nexit 3', /exited with status 3/, 'exit-status'],
    ['signs with another key', `openssl dgst -sha256 -sign "${'OTHER_KEY'}"`, /does not verify with its public key/, 'bad-signature'],
  ]
  for (const [what, body, message] of faults) {
    it(`a signer that ${what}: exit 10 (BKTX_SIGNER), nothing on stdout`, async () => {
      const signer = await script(`fault-${what.replace(/\W/g, '-')}.sh`, body.replace('OTHER_KEY', join(dir, 'other-es.pem')))
      const result = await run(['token', '--no-cache', '--verbose', '--key', `exec:${signer}`, '--public-key', join(dir, 'es.pub.pem')])
      expect(result.code).toBe(10)
      expect(result.stdout).toBe('')
      expect(result.stderr).toMatch(message)
      expect(result.stderr).toContain('code BKTX_SIGNER')
      if (what === 'exits non-zero') expect(result.stderr).toContain('kms: AccessDenied') // its own stderr passes through
    })
  }

  it('a signer that hangs is stopped at --timeout, with the processes it started: exit 10', async () => {
    const marker = `${3000 + Math.floor(Math.random() * 900)}.5`
    const signer = await script('hanging-signer.sh', `sleep ${marker} &\nsleep ${marker}`)
    // The signer would sleep for an hour: only bktx stopping it at --timeout ends this run
    // with exit 10 (run's 30 s kill timer would end it by SIGKILL, code null).
    const result = await run(['token', '--no-cache', '--timeout', '2s', '--verbose', '--key', `exec:${signer}`, '--public-key', join(dir, 'es.pub.pem')])
    expect(result.code).toBe(10)
    expect(result.stderr).toContain('did not answer in time; it was stopped')
    expect(result.stderr).toContain('code BKTX_SIGNER')
    // Killed with the signer: they end within moments (polled up to 10 s, so that a loaded
    // machine's slow reaping is not mistaken for an hour-long sleep left behind).
    let left = await processesRunning(`sleep ${marker}`)
    for (let i = 0; i < 100 && left.length > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      left = await processesRunning(`sleep ${marker}`)
    }
    expect(left).toEqual([])
  })

  it('an exec: key without a public-key is a usage error (exit 2)', async () => {
    const result = await run(['token', '--key', 'exec:true'])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('public-key is not set')
  })
})

describe('env: keys', () => {
  it('mints from a PEM in a variable, serves the cache hit, and writes the key nowhere', async () => {
    const first = await run(['token', '--key', 'env:CI_SIGNING_KEY'], { CI_SIGNING_KEY: envKeyPem })
    expect(first.stderr).toBe('')
    expect(first.code).toBe(0)
    const second = await run(['token', '--key', 'env:CI_SIGNING_KEY'], { CI_SIGNING_KEY: envKeyPem })
    expect(second.stdout).toBe(first.stdout)
    const files = await allFiles(home.dir)
    for (const file of files) expect(await readFile(file, 'utf8').catch(() => ''), file).not.toContain(envKeyPem.split('\n')[1])
  })

  // Issue 20: what CI secret stores hand out; uncached, so each shape mints (and signs) itself.
  it('takes a one-line PEM with literal \\n, base64 of the PEM and base64 of a DER key', async () => {
    const oneLine = envKeyPem.trim().replace(/\n/g, '\\n')
    const base64Pem = Buffer.from(envKeyPem).toString('base64')
    const der = createPrivateKey(envKeyPem).export({ format: 'der', type: 'sec1' }).toString('base64')
    const tokens = []
    for (const value of [oneLine, base64Pem, der]) {
      const result = await run(['token', '--key', 'env:CI_SIGNING_KEY', '--no-cache'], { CI_SIGNING_KEY: value })
      expect(result.stderr).toBe('')
      expect(result.code).toBe(0)
      tokens.push(result.stdout)
    }
    expect(new Set(tokens).size).toBe(3)
    const junk = await run(['token', '--key', 'env:CI_SIGNING_KEY'], { CI_SIGNING_KEY: 'bm90IGEga2V5' })
    expect(junk.code).toBe(3)
    expect(junk.stderr).toContain('env:CI_SIGNING_KEY holds no key bktx can read: expected a PEM block')
    expect(junk.stderr).not.toContain('bm90IGEga2V5')
  })

  it('takes a JWK too', async () => {
    const jwk = JSON.stringify(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }))
    const result = await run(['sign', '--key', 'env:CI_JWK'], { CI_JWK: jwk })
    expect(result.code).toBe(0)
  })

  it('bktx exec: the key variable does not reach the command, other variables do', async () => {
    const result = await run(
      ['exec', '--key', 'env:CI_SIGNING_KEY', '--', 'sh', '-c', 'echo "${CI_SIGNING_KEY:-gone} ${KEEP:-lost} ${BUILDKITE_API_TOKEN:+token}"'],
      { CI_SIGNING_KEY: envKeyPem, KEEP: 'kept' },
    )
    expect(result.code).toBe(0)
    expect(result.stdout).toBe('gone kept token\n')
  })

  // Issue 22, finding 3 (docs/security/threat-model.md §9): what bktx exec does not hide. The key is gone from the
  // command's environment, but bktx, its parent, keeps it in its own initial environment, which
  // any process of the same uid reads. The documentation says so; should bktx ever hand off so
  // that its parent holds no key, this test fails and the documentation changes with it.
  it.skipIf(process.platform !== 'linux')('bktx exec: what a same-uid process reads (the key is in /proc/$PPID/environ, not in the environment)', async () => {
    const result = await run(
      [
        'exec',
        '--key',
        'env:CI_SIGNING_KEY',
        '--',
        'sh',
        '-c',
        'echo "env:${CI_SIGNING_KEY:+present}"; tr "\\0" "\\n" < /proc/$PPID/environ | grep -q "^CI_SIGNING_KEY=-----BEGIN" && echo parent:present',
      ],
      { CI_SIGNING_KEY: envKeyPem },
    )
    expect(result.code).toBe(0)
    expect(result.stdout).toBe('env:\nparent:present\n')
  })

  it('an unset or unreadable variable is exit 3 naming the variable, never echoing its text', async () => {
    const unset = await run(['token', '--key', 'env:NOT_SET_HERE'])
    expect(unset.code).toBe(3)
    expect(unset.stderr).toContain('env:NOT_SET_HERE: the variable is not set')
    const junk = await run(['token', '--key', 'env:CI_SIGNING_KEY'], {
      CI_SIGNING_KEY: '-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXRleHQtc2hvdWxkLW5vdC1hcHBlYXI=\n-----END PRIVATE KEY-----\n',
    })
    expect(junk.code).toBe(3)
    expect(junk.stderr).toContain('env:CI_SIGNING_KEY')
    expect(junk.stderr).not.toContain('c2VjcmV0')
  })
})

/** Pids whose command line is exactly `command` (read from /proc: no procps needed). */
async function processesRunning(command: string): Promise<string[]> {
  const found: string[] = []
  for (const pid of (await readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
    if (cmdline.split('\0').filter(Boolean).join(' ') === command) found.push(pid)
  }
  return found
}

async function allFiles(root: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name))
  }
  return out
}
