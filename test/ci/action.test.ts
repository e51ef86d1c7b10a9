// The GitHub Action (action.yml, action/dist/) run the way the runner runs it (./runner.ts):
// the committed bundle, copied with action.yml alone into an empty directory (the runner has no
// node_modules), against the reference server (bktx/server) on 127.0.0.1.
// The bundle runs as a process where the process is the point: a mint end to end (what stdout,
// the file commands and the files on disk hold), a failure's exit status and output, a post step
// that revokes, and the post steps that must end by themselves. The other cases (inputs, retries,
// exec: signers, which token the post step revokes) call the step's source in this process
// (runStepInProcess), with the same environment and files: the committed bundle is that source
// built (the second test).
import { execFileSync } from 'node:child_process'
import { createHash, generateKeyPairSync } from 'node:crypto'
import { createServer, request as httpRequest, type Server } from 'node:http'
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net'
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { calculateJwkThumbprint, exportJWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startReferenceServer, type ReferenceServer } from '../../src/api/server.js'
import { INPUTS } from '../../action/src/describe.js'
import { rsaFixture } from '../helpers/rsa-fixtures.js'
import { runStep, runStepInProcess, parseFileCommands, type StepResult } from './runner.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const MEMBER = 'ci@acme.test'
const CLIENT_ID = 'gha-client'

let server: ReferenceServer
let actionDir: string
let dir: string
let pem: string
let rsaPem: string
const keys: object[] = []

async function addKey(keys: object[], publicKey: import('node:crypto').KeyObject) {
  const jwk = await exportJWK(publicKey)
  keys.push({ ...jwk, kid: await calculateJwkThumbprint(jwk), use: 'sig', alg: jwk.kty === 'EC' ? 'ES256' : 'RS256' })
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bktx-action-'))
  const es = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const rs = rsaFixture(2048)
  const signer = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  pem = es.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string
  rsaPem = rs.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string
  await writeFile(join(dir, 'signer.pem'), signer.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, { mode: 0o600 })
  await writeFile(join(dir, 'signer.pub.pem'), signer.publicKey.export({ format: 'pem', type: 'spki' }) as string)
  for (const key of [es.publicKey, rs.publicKey, signer.publicKey]) await addKey(keys, key)
  server = await startReferenceServer({
    config: {
      quick: { org: 'acme', members: [MEMBER], clientId: CLIENT_ID, jwks: { keys } as never, grantable: 'read_builds read_pipelines read_user', maxTtl: 3600 },
    },
  })
  // What the runner has: the repository's action.yml and the committed bundle, nothing else.
  actionDir = join(dir, 'checkout')
  await mkdir(join(actionDir, 'action'), { recursive: true })
  await cp(join(ROOT, 'action.yml'), join(actionDir, 'action.yml'))
  await cp(join(ROOT, 'action/dist'), join(actionDir, 'action/dist'), { recursive: true })
  // The two post steps that meet a dead or silent API spend seconds waiting on the network (the
  // retry backoff; the post step's own revocation bound, REVOKE_BUDGET_MS, not an input): they
  // start here, their main steps minting before any test counts mints, and wait while the
  // other tests run; their tests assert the outcome. The silent one is the bundle as a process
  // (that it ends by itself, exit 0, is the process's); the refused one, which warns the same
  // way sooner, the step's source in this process.
  refusedPost = postAgainst('http://127.0.0.1:9')
  silent = createNetServer((socket) => silentSockets.push(socket))
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  // The post step's own bound is about 12 s; the kill timer is far above it.
  silentPost = postAgainst(`http://127.0.0.1:${(silent.address() as { port: number }).port}`, { killAfterMs: 120_000 })
  await Promise.all([refusedPost, silentPost].map((p) => p.then((r) => r.main)))
}, 120_000)

interface PostRun {
  main: StepResult
  post: Promise<StepResult>
}
let refusedPost: Promise<PostRun>
let silentPost: Promise<PostRun>
let silent: NetServer
const silentSockets: Socket[] = []

/**
 * A main step (in this process), then (not awaited) its post step with the state's api-url
 * pointing at `apiUrl`: a process under a kill timer when `killAfterMs` is given, else in this process.
 */
async function postAgainst(apiUrl: string, process?: { killAfterMs: number }): Promise<PostRun> {
  const main = await runStepInProcess('main', { inputs: baseInputs() })
  const state = { ...main.state, 'api-url': apiUrl }
  const post = process ? runStep(actionDir, 'post', { state, killAfterMs: process.killAfterMs }) : runStepInProcess('post', { state })
  // Awaited in its test; a failure before then is not unhandled.
  post.catch(() => undefined)
  return { main, post }
}

afterAll(async () => {
  await Promise.allSettled([refusedPost, silentPost].map(async (p) => (await p)?.post))
  for (const socket of silentSockets) socket.destroy()
  if (silent !== undefined) await new Promise((resolve) => silent.close(resolve))
  await server?.close()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
})

const baseInputs = () => ({ 'client-id': CLIENT_ID, org: 'acme', subject: MEMBER, 'private-key': pem, 'token-url': server.tokenUrl })
const mints = () => server.auditRecords().filter((r) => r.type === 'token.minted').length

async function apiStatus(token: string, url = server.url): Promise<number> {
  const response = await fetch(`${url}/v2/access-token`, { headers: { authorization: `Bearer ${token}` } })
  await response.arrayBuffer()
  return response.status
}

async function filesUnder(path: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(path, { withFileTypes: true, recursive: true })) if (entry.isFile()) out.push(join(entry.parentPath, entry.name))
  return out
}

const errors = (r: StepResult) => r.commands.filter((c) => c.name === 'error')

describe('action.yml', () => {
  it('declares exactly the inputs the bundle reads, the node24 runtime, and a post step that always runs', async () => {
    const yml = await readFile(join(ROOT, 'action.yml'), 'utf8')
    const inputs = yml.slice(yml.indexOf('\ninputs:'), yml.indexOf('\noutputs:'))
    expect([...inputs.matchAll(/^ {2}([a-z-]+):$/gm)].map((m) => m[1])).toEqual([...INPUTS])
    const outputs = yml.slice(yml.indexOf('\noutputs:'), yml.indexOf('\nruns:'))
    expect([...outputs.matchAll(/^ {2}([a-z-]+):$/gm)].map((m) => m[1])).toEqual(['token', 'expires-at', 'expires-in', 'scopes'])
    const runs = yml.slice(yml.indexOf('\nruns:'))
    expect(runs).toMatch(/^ {2}using: 'node24'$/m)
    expect(runs).toMatch(/^ {2}main: 'action\/dist\/main\.cjs'$/m)
    expect(runs).toMatch(/^ {2}post: 'action\/dist\/post\.cjs'$/m)
    expect(runs).toMatch(/^ {2}post-if: 'always\(\)'$/m)
    expect(yml).toMatch(/^ {2}export-env:\n(?: {4}.*\n)*? {4}default: 'true'$/m)
    expect(yml).toMatch(/^ {2}revoke:\n(?: {4}.*\n)*? {4}default: 'true'$/m)
  })

  it('the committed bundle is what scripts/build-action.mjs builds', async () => {
    const out = join(dir, 'fresh-build')
    execFileSync(process.execPath, [join(ROOT, 'scripts/build-action.mjs'), '--outdir', out], { cwd: ROOT, stdio: 'pipe' })
    const fresh = (await readdir(out)).sort()
    expect((await readdir(join(ROOT, 'action/dist'))).sort()).toEqual(fresh)
    for (const name of fresh) {
      const committed = await readFile(join(ROOT, 'action/dist', name))
      expect(createHash('sha256').update(committed).digest('hex'), `action/dist/${name}: run npm run build:action`).toBe(
        createHash('sha256')
          .update(await readFile(join(out, name)))
          .digest('hex'),
      )
    }
  }, 60_000)

  it('the steps run from a directory that holds only action.yml and the bundle', async () => {
    // Every step this file starts as a process runs from it: the mint below proves it is enough.
    const files = (await filesUnder(actionDir)).map((f) => f.slice(actionDir.length + 1)).sort()
    expect(files).toEqual(['action.yml', 'action/dist/THIRD-PARTY-NOTICES.txt', 'action/dist/bktx-action.cjs', 'action/dist/main.cjs', 'action/dist/post.cjs'])
  })
})

describe('main step', () => {
  it('mints one token: the key masked line by line first, the token masked, outputs and exports set, the key in no file', async () => {
    const before = mints()
    const r = await runStep(actionDir, 'main', { inputs: { ...baseInputs(), scope: 'read_builds, read_user', ttl: '15m' } })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(mints()).toBe(before + 1)
    // Every line of the PEM is registered, before anything else is printed.
    const keyLines = pem.trim().split('\n')
    const printed = r.stdout.split('\n')
    for (const [i, line] of keyLines.entries()) expect(printed[i]).toBe(`::add-mask::${line}`)
    expect(printed[keyLines.length]).toBe(`::add-mask::${pem.trim().replace(/%/g, '%25').replace(/\n/g, '%0A')}`)
    const token = r.outputs['token'] as string
    expect(token).toMatch(/^bktx_/)
    expect(r.commands.filter((c) => c.name === 'add-mask').map((c) => c.data)).toContain(token)
    // Nothing on stdout names the token but its mask.
    expect(r.stdout.split('\n').filter((line) => line.includes(token))).toEqual([`::add-mask::${token}`])
    expect(r.outputs['scopes']).toBe('read_builds read_user')
    expect(Number(r.outputs['expires-in'])).toBeGreaterThan(800)
    expect(Number(r.outputs['expires-in'])).toBeLessThanOrEqual(900)
    expect(Date.parse(r.outputs['expires-at'] as string)).toBeGreaterThan(Date.now() + 800_000)
    expect(r.outputs['expires-at']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    expect(r.exported).toEqual({ BUILDKITE_API_TOKEN: token, BKTX_TOKEN_EXPIRES_AT: r.outputs['expires-at'] })
    expect(r.state['token']).toBe(token)
    expect(await apiStatus(token)).toBe(200)
    // No key text in any file the step could reach: its HOME, RUNNER_TEMP, cwd and file commands.
    const body = keyLines.slice(1, -1).join('')
    for (const file of await filesUnder(r.work)) {
      const text = (await readFile(file, 'utf8')).replace(/\n/g, '')
      expect(text.includes(body), file).toBe(false)
    }
    // Nothing cached: no bktx directory anywhere under HOME.
    expect((await filesUnder(r.work)).map((f) => f.slice(r.work.length + 1)).sort()).toEqual(['env', 'output', 'state'])
  })

  it('export-env: false sets the outputs and exports nothing', async () => {
    const r = await runStepInProcess('main', { inputs: { ...baseInputs(), 'private-key': rsaPem, 'export-env': 'false' } })
    expect(r.code).toBe(0)
    expect(r.raw.env).toBe('')
    expect(r.outputs['token']).toMatch(/^bktx_/)
    expect(r.outputs['scopes']).toBe('read_builds')
  })

  it('revoke: false leaves no state, and the post step has nothing to do', async () => {
    const r = await runStepInProcess('main', { inputs: { ...baseInputs(), revoke: 'false' } })
    expect(r.code).toBe(0)
    expect(r.raw.state).toBe('')
    const post = await runStepInProcess('post', { state: r.state })
    expect(post.code).toBe(0)
    expect(post.stdout).toContain('No token to revoke')
    expect(await apiStatus(r.outputs['token'] as string)).toBe(200)
  })

  it("an exec: signer (key plus public-key) mints a token; the job's variables reach it, bktx's setting variables are not read", async () => {
    const { 'private-key': _, ...inputs } = baseInputs()
    const r = await runStepInProcess('main', {
      inputs: { ...inputs, key: 'exec:openssl dgst -sha256 -sign "$BKTX_TEST_SIGNER"', 'public-key': join(dir, 'signer.pub.pem') },
      env: {
        BKTX_TEST_SIGNER: join(dir, 'signer.pem'),
        BKTX_SCOPE: 'read_pipelines',
        BKTX_TOKEN_URL: 'http://127.0.0.1:9/oauth/token',
        BKTX_CACHE: 'keychain',
      },
    })
    expect(errors(r)).toEqual([])
    expect(r.code).toBe(0)
    expect(r.outputs['scopes']).toBe('read_builds')
    expect(await apiStatus(r.outputs['token'] as string)).toBe(200)
  })

  it('a 503 from the token endpoint is retried once, and one token is minted', async () => {
    let tokenRequests = 0
    let upstream: ReferenceServer | undefined
    // A fault the reference server does not produce: a proxy in front answers the first token request 503.
    const proxy: Server = createServer((req, res) => {
      if (req.url === '/oauth/token' && ++tokenRequests === 1) {
        req.resume()
        res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '0' }).end('unavailable')
        return
      }
      const target = new URL((upstream as ReferenceServer).url)
      const forward = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      })
      req.pipe(forward)
    })
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
    const tokenUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}/oauth/token`
    // The assertion's aud is the URL bktx was given: the server behind the proxy accepts it.
    upstream = await startReferenceServer({
      config: { quick: { org: 'acme', members: [MEMBER], clientId: CLIENT_ID, jwks: { keys } as never, audiences: [tokenUrl] } },
    })
    try {
      const r = await runStepInProcess('main', { inputs: { ...baseInputs(), 'token-url': tokenUrl } })
      expect(errors(r)).toEqual([])
      expect(r.code).toBe(0)
      expect(tokenRequests).toBe(2)
      expect(upstream.auditRecords().filter((a) => a.type === 'token.minted')).toHaveLength(1)
    } finally {
      await new Promise((resolve) => proxy.close(resolve))
      await upstream.close()
    }
  })

  // The bundle as a process for a refusal before any request (the fork) and one from the server;
  // the others in this process: their point is which input is refused, and how it is said.
  const bad: Array<[string, Record<string, string>, RegExp, 'process' | 'in-process']> = [
    [
      'an empty private-key (a fork: no secrets)',
      { 'private-key': '' },
      /^private-key is empty.*GitHub does not pass secrets to workflows triggered from forks/,
      'process',
    ],
    ['both private-key and key', { key: '/some/key.pem' }, /one of private-key or key, not both/, 'in-process'],
    ['a pkcs11: key', { 'private-key': '', key: 'pkcs11:token=x;object=y' }, /pkcs11: key/, 'in-process'],
    ['a ttl that is no duration', { ttl: 'ten minutes' }, /^ttl: must be a duration/, 'in-process'],
    ['export-env that is no boolean', { 'export-env': 'yes' }, /^export-env: must be true or false/, 'in-process'],
    ['no client-id', { 'client-id': '' }, /^client-id is not set; set the client-id input/, 'in-process'],
    ['a private-key that is no key', { 'private-key': 'not a key\nat all' }, /private-key input/, 'in-process'],
    ['a subject the organisation does not have', { subject: 'nobody@acme.test' }, /BKTX_OAUTH_REJECTED/, 'process'],
    ['an http token-url off loopback', { 'token-url': 'http://example.test/oauth/token' }, /BKTX_INSECURE_URL/, 'in-process'],
  ]
  for (const [what, change, message, how] of bad) {
    it(`${what}: one ::error:: line, nothing minted, nothing set (${how})`, async () => {
      const before = mints()
      const inputs = { ...baseInputs(), ...change }
      const r = how === 'process' ? await runStep(actionDir, 'main', { inputs }) : await runStepInProcess('main', { inputs })
      expect(r.code).toBe(1)
      expect(r.stdout.split('\n').filter((line) => line.startsWith('::error'))).toHaveLength(1)
      expect(errors(r)[0]?.data).toMatch(message)
      expect(r.stdout.split('\n').filter((line) => line !== '' && !line.startsWith('::add-mask::') && !line.startsWith('::error::'))).toEqual([])
      expect(r.stderr).toBe('')
      expect(mints()).toBe(before)
      expect(r.raw).toEqual({ output: '', env: '', state: '' })
    })
  }
})

describe('post step', () => {
  it('revokes exactly the token its main step minted, not one a later step put in BUILDKITE_API_TOKEN', async () => {
    const first = await runStepInProcess('main', { inputs: baseInputs() })
    const second = await runStepInProcess('main', { inputs: baseInputs() })
    expect([first.code, second.code]).toEqual([0, 0])
    const post = await runStep(actionDir, 'post', { state: first.state, env: { BUILDKITE_API_TOKEN: second.outputs['token'] as string } })
    expect(post.code).toBe(0)
    expect(post.stdout).toContain('Revoked the Buildkite API token')
    expect(post.commands).toEqual([])
    expect(await apiStatus(first.outputs['token'] as string)).toBe(401)
    expect(await apiStatus(second.outputs['token'] as string)).toBe(200)
    // Run again (a re-run post step): the token is already invalid, which is no warning.
    const again = await runStepInProcess('post', { state: first.state })
    expect(again.code).toBe(0)
    expect(again.stdout).toContain('already invalid')
    expect(again.commands).toEqual([])
  })

  it('with the server gone (connection refused) it warns and exits 0', async () => {
    const { main: r, post: running } = await refusedPost
    const post = await running
    expect(post.signal).toBeNull()
    expect(post.code).toBe(0)
    expect(post.commands.map((c) => c.name)).toEqual(['warning'])
    expect(post.commands[0]?.data).toMatch(/^could not revoke the Buildkite API token; it stays valid until it expires: /)
    expect(post.stdout).not.toContain(r.outputs['token'] as string)
  }, 120_000)

  it('with a server that never answers it warns and ends by itself, exit 0', async () => {
    const { main: r, post: running } = await silentPost
    // Started in beforeAll under a kill timer far above its own bound; the outcome is asserted.
    const post = await running
    expect(post.signal).toBeNull()
    expect(post.code).toBe(0)
    expect(post.commands.map((c) => c.name)).toEqual(['warning'])
    expect(silentSockets.length).toBeGreaterThan(0)
    expect(await apiStatus(r.outputs['token'] as string)).toBe(200)
  }, 150_000)
})

describe('the runner file format', () => {
  it('parses heredocs and NAME=VALUE, skips empty lines, and fails on a missing delimiter', () => {
    expect(parseFileCommands('a<<EOF\nx\ny\nEOF\n\nb=1=2\n')).toEqual([
      ['a', 'x\ny'],
      ['b', '1=2'],
    ])
    expect(() => parseFileCommands('a<<EOF\nx\n')).toThrow(/matching delimiter not found/)
  })
})
