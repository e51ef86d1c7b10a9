// pkcs11: keys end to end, from the built binary, against a real PKCS#11 token (SoftHSM2,
// initialised per run in a temporary directory) and `bktx server`: keygen inside the token,
// exchange, the cache hit that never loads the module, and the typed failures (missing module,
// wrong PIN, no PIN, missing binding). Skipped without SoftHSM2 and opensc, except in CI.
import { createPublicKey, verify } from 'node:crypto'
import { readdirSync, statSync } from 'node:fs'
import { chmod, cp, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tempHome } from '../helpers/cli.js'
import { MEMBER } from '../helpers/server.js'
import { runBin } from '../helpers/spawn.js'
import { spawnServer, type ServerProcess } from '../helpers/spawn-server.js'
import { PIN, runSoftHsm, softHsm, type SoftHsm } from '../fixtures/softhsm.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const WRONG_PIN = '918273'

describe.skipIf(!runSoftHsm)('pkcs11: keys in a SoftHSM2 token', () => {
  let home: Awaited<ReturnType<typeof tempHome>>
  let hsm: SoftHsm
  let server: ServerProcess
  let stateDir: string
  let env: Record<string, string>
  let esUri: string
  let rsUri: string

  const mints = async () =>
    (await readFile(join(stateDir, 'audit.jsonl'), 'utf8').catch(() => '')).split('\n').filter((l) => l.includes('"token.minted"')).length
  const run = (args: string[], extra: Record<string, string | undefined> = {}) => runBin(args, { env: { ...env, ...extra }, timeoutMs: 30_000 })

  beforeAll(async () => {
    home = await tempHome()
    hsm = await softHsm(home.dir)
    hsm.initToken('bktx')
    env = { ...home.env, ...hsm.env, BKTX_PKCS11_MODULE: hsm.module, BKTX_PKCS11_PIN: PIN, BKTX_CACHE: 'file' }

    const es = await run(['keygen', '--key', 'pkcs11:token=bktx;object=ci', '--json'])
    expect(es.stderr).toContain('sensitive, not extractable')
    expect(es.code).toBe(0)
    const rs = await run(['keygen', '--key', 'pkcs11:token=bktx;object=ci-rsa;id=%52%53', '--alg', 'RS256', '--profile', 'rsa', '--json'])
    expect(rs.code).toBe(0)
    const esDoc = JSON.parse(es.stdout)
    const rsDoc = JSON.parse(rs.stdout)
    esUri = esDoc.uri
    rsUri = rsDoc.uri
    const jwksFile = join(home.dir, 'jwks.json')
    await writeFile(jwksFile, JSON.stringify({ keys: [...esDoc.jwks.keys, ...rsDoc.jwks.keys] }))

    stateDir = join(home.dir, 'state')
    server = await spawnServer(['--member', MEMBER, '--org', 'acme', '--jwks', jwksFile, '--client-id', 'hsm-client', '--state-dir', stateDir], home.env)
    Object.assign(env, {
      BKTX_TOKEN_URL: `${server.url}/oauth/token`,
      BKTX_API_URL: server.url,
      BKTX_CLIENT_ID: 'hsm-client',
      BKTX_ORG: 'acme',
      BKTX_SUBJECT: MEMBER,
    })
  }, 60_000)

  afterAll(async () => {
    await server?.stop()
    await home?.cleanup()
  })

  it('keygen made the pair inside the token: private key sensitive and never extractable, nothing on disk, URI and kid recorded', async () => {
    expect(esUri).toMatch(/^pkcs11:token=bktx;object=ci;id=(%[0-9a-f]{2}){16}$/)
    expect(rsUri).toBe('pkcs11:token=bktx;object=ci-rsa;id=%52%53')
    const listed = hsm.tool('bktx', ['--list-objects', '--type', 'privkey']).output
    expect(listed).toMatch(/label:\s+ci\n[\s\S]*?Access:\s+sensitive, always sensitive, never extractable/)
    const config = JSON.parse(await readFile(join(home.env['XDG_CONFIG_HOME'] as string, 'bktx/config.json'), 'utf8'))
    expect(config.profiles.default.key).toBe(esUri)
    expect(config.profiles.rsa.key).toBe(rsUri)
    // No private key reached a file: the config directory holds the config and nothing else.
    expect(await readdir(join(home.env['XDG_CONFIG_HOME'] as string, 'bktx'))).toEqual(['config.json'])
  })

  it('exchanges with ES256 and RS256 keys signing inside the token; the assertion verifies with the printed JWKS', async () => {
    const before = await mints()
    const es = await run(['token'])
    expect(es.stderr).toBe('')
    expect(es.code).toBe(0)
    expect(es.stdout).toMatch(/^bktx_\w+\n$/)
    const rs = await run(['token', '--profile', 'rsa'])
    expect(rs.code).toBe(0)
    expect(await mints()).toBe(before + 2)

    const jwks = JSON.parse((await run(['jwks'])).stdout)
    const jwt = (await run(['sign'])).stdout.trim()
    const [h, p, s] = jwt.split('.') as [string, string, string]
    const header = JSON.parse(Buffer.from(h, 'base64url').toString())
    expect(header).toMatchObject({ alg: 'ES256', typ: 'JWT', kid: jwks.keys[0].kid })
    const publicKey = createPublicKey({ key: jwks.keys[0], format: 'jwk' })
    expect(verify('sha256', Buffer.from(`${h}.${p}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'))).toBe(true)
  })

  it('serves a cached token without loading the module: the module file is gone and token, env and exec still answer', async () => {
    const first = await run(['token'])
    expect(first.code).toBe(0)
    const aside = `${hsm.module}.aside`
    await rename(hsm.module, aside)
    try {
      const hit = await run(['token'])
      expect(hit).toMatchObject({ code: 0, stdout: first.stdout, stderr: '' })
      // That hit left a memo (src/fast/memo.ts) once what it read had settled: the next is
      // answered from it (the memo left as it was) and prints the same token.
      await new Promise((resolve) => setTimeout(resolve, 250))
      expect(await run(['token'])).toMatchObject({ code: 0, stdout: first.stdout })
      const hits = join(home.dir, 'cache', 'bktx', 'hits')
      const [memo] = readdirSync(hits).filter((name) => name.endsWith('.json'))
      const ino = statSync(join(hits, memo as string)).ino
      expect(await run(['token'])).toMatchObject({ code: 0, stdout: first.stdout, stderr: '' })
      expect(statSync(join(hits, memo as string)).ino).toBe(ino)
      const envOut = await run(['env', '--json'])
      expect(JSON.parse(envOut.stdout).BUILDKITE_API_TOKEN).toBe(first.stdout.trim())
      // A miss has to sign: now the missing module is a typed error, exit 10.
      const miss = await run(['token', '--refresh', '--verbose'])
      expect(miss.code).toBe(10)
      expect(miss.stdout).toBe('')
      expect(miss.stderr).toContain(`the PKCS#11 module ${hsm.module} cannot be used`)
      expect(miss.stderr).toContain('code BKTX_PKCS11_MODULE')
    } finally {
      await rename(aside, hsm.module)
    }
  })

  it('a wrong PIN is exit 10 (BKTX_PKCS11_PIN) that names where the PIN came from, never the PIN', async () => {
    const result = await run(['token', '--refresh', '--verbose'], { BKTX_PKCS11_PIN: WRONG_PIN })
    expect(result.code).toBe(10)
    expect(result.stdout).toBe('')
    expect(result.stderr).toContain('CKR_PIN_INCORRECT')
    expect(result.stderr).toContain('the token refused the PIN from BKTX_PKCS11_PIN')
    expect(result.stderr).toContain('code BKTX_PKCS11_PIN')
    expect(result.stderr).not.toContain(WRONG_PIN)
  })

  it('no PIN at all is exit 10 with the ways to give one; a PIN file must be private', async () => {
    const none = await run(['token', '--refresh'], { BKTX_PKCS11_PIN: undefined })
    expect(none.code).toBe(10)
    expect(none.stderr).toContain('the token needs a PIN and none is configured')
    expect(none.stderr).toContain('--pin-source')

    const pinFile = join(home.dir, 'pin')
    await writeFile(pinFile, `${PIN}\n`, { mode: 0o644 })
    await chmod(pinFile, 0o644)
    const loose = await run(['token', '--refresh', '--pin-source', `file:${pinFile}`], { BKTX_PKCS11_PIN: undefined })
    expect(loose.code).toBe(3)
    expect(loose.stderr).toContain(`chmod 600 ${pinFile}`)
    await chmod(pinFile, 0o600)
    const fromFile = await run(['token', '--refresh', '--pin-source', `file:${pinFile}`], { BKTX_PKCS11_PIN: undefined })
    expect(fromFile.code).toBe(0)

    const fromVariable = await run(['token', '--refresh', '--pin-source', 'env:HSM_PIN'], { BKTX_PKCS11_PIN: undefined, HSM_PIN: PIN })
    expect(fromVariable.code).toBe(0)
  })

  it('bktx exec: the PIN variables do not reach the command', async () => {
    const result = await run(
      ['exec', '--pin-source', 'env:HSM_PIN', '--', 'sh', '-c', 'echo "${HSM_PIN:-none} ${BKTX_PKCS11_PIN:-none} ${BUILDKITE_API_TOKEN:+token}"'],
      { HSM_PIN: PIN },
    )
    expect(result.code).toBe(0)
    expect(result.stdout).toBe('none none token\n')
  })

  it('a key made outside bktx (pkcs11-tool) is found by label, its public half read from the token once and recorded', async () => {
    const made = hsm.tool('bktx', ['--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'outside', '--id', '0a0b'])
    expect(made.status, made.output).toBe(0)
    const uri = 'pkcs11:token=bktx;object=outside'
    const jwks = await run(['jwks', '--key', uri])
    expect(jwks.code).toBe(0)
    const jwk = JSON.parse(jwks.stdout).keys[0]
    const signed = await run(['sign', '--key', uri])
    expect(signed.code).toBe(0)
    const [h, p, s] = signed.stdout.trim().split('.') as [string, string, string]
    expect(
      verify('sha256', Buffer.from(`${h}.${p}`), { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url')),
    ).toBe(true)
    const records = await readdir(join(home.env['XDG_CACHE_HOME'] as string, 'bktx/keys'))
    expect(records.length).toBeGreaterThanOrEqual(3)
  })

  it('a key replaced in the token under the same URI is noticed at the next signature, recorded, and used from then on', async () => {
    const uri = 'pkcs11:token=bktx;object=rotated;id=%77'
    expect((await run(['keygen', '--key', uri, '--profile', 'rotated'])).code).toBe(0)
    const before = JSON.parse((await run(['jwks', '--key', uri])).stdout).keys[0]
    for (const type of ['privkey', 'pubkey']) expect(hsm.tool('bktx', ['--delete-object', '--type', type, '--id', '77']).status).toBe(0)
    expect(hsm.tool('bktx', ['--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'rotated', '--id', '77']).status).toBe(0)
    const noticed = await run(['sign', '--key', uri, '--verbose'])
    expect(noticed.code).toBe(10)
    expect(noticed.stderr).toContain('the token now holds another key than the one bktx recorded for this URI')
    expect(noticed.stderr).toContain('code BKTX_PKCS11_TOKEN')
    const again = await run(['sign', '--key', uri, '--json'])
    expect(again.code).toBe(0)
    const after = JSON.parse((await run(['jwks', '--key', uri])).stdout).keys[0]
    expect(after.x).not.toBe(before.x)
    expect(JSON.parse(again.stdout).header.kid).toBe(after.kid)
  })

  it('names what is wrong: a token that is not there, a key that is not there, an existing key keygen will not replace', async () => {
    const noToken = await run(['sign', '--key', 'pkcs11:token=other;object=ci'])
    expect(noToken.code).toBe(10)
    expect(noToken.stderr).toContain('no token matches (tokens present: "bktx")')
    const noKey = await run(['sign', '--key', 'pkcs11:token=bktx;object=nope'])
    expect(noKey.code).toBe(10)
    expect(noKey.stderr).toContain('the token "bktx" holds no private key with this object/id')
    const again = await run(['keygen', '--key', 'pkcs11:token=bktx;object=ci'])
    expect(again.code).toBe(10)
    expect(again.stderr).toContain('bktx never replaces a key in a token')
    const pinInUri = await run(['sign', '--key', 'pkcs11:token=bktx;object=ci?pin-value=1234'])
    expect(pinInUri.code).toBe(2)
    expect(pinInUri.stderr).toContain('pin-value is refused')
  })

  it('where the pkcs11js binding cannot load, a pkcs11: key is exit 10 BKTX_PKCS11_MODULE and a file key still signs', async () => {
    // The built CLI without node_modules: what an install without the optional binding has.
    const copy = join(home.dir, 'no-binding')
    await mkdir(copy)
    for (const entry of ['bin', 'dist', 'package.json']) await cp(join(ROOT, entry), join(copy, entry), { recursive: true })
    const bin = join(copy, 'bin/bktx.js')
    const token = await runBin([], { env, shell: `${JSON.stringify(process.execPath)} ${JSON.stringify(bin)} token --refresh --verbose` })
    expect(token.code).toBe(10)
    expect(token.stderr).toContain('PKCS#11 support is not installed: the optional package pkcs11js did not load')
    expect(token.stderr).toContain('code BKTX_PKCS11_MODULE')
    // status no longer calls the key loadable from its recorded public half (issue 20).
    const status = await runBin([], { env, shell: `${JSON.stringify(process.execPath)} ${JSON.stringify(bin)} status --json` })
    expect(JSON.parse(status.stdout).key).toMatchObject({
      loads: false,
      error: { code: 'BKTX_PKCS11_MODULE', message: expect.stringContaining('PKCS#11 support is not installed') },
    })
    const keyFile = join(home.dir, 'file-key.pem')
    expect((await runBin([], { env, shell: `${JSON.stringify(process.execPath)} ${JSON.stringify(bin)} keygen --out ${keyFile} --profile files` })).code).toBe(
      0,
    )
    const signed = await runBin([], { env, shell: `${JSON.stringify(process.execPath)} ${JSON.stringify(bin)} sign --key ${keyFile}` })
    expect(signed.code).toBe(0)
    expect(signed.stdout.split('.')).toHaveLength(3)
  })
})
