// The CI recipes of docs/ci/ cannot drift: every fenced block there is either run here, against
// the reference server, or marked `<!-- not-runnable: reason -->`. Shell blocks run in order,
// in one working directory per page, with the variables the CI system would set (its File
// variable, context or bound credential), `bktx` on PATH as the built CLI, and Buildkite's URLs
// replaced by the server's. `<!-- file: NAME -->` writes the block to NAME instead of running
// it; `<!-- script of the block above -->` also checks that each of its lines is in the CI
// configuration just above, so the configuration shows what runs here. There is no KMS here:
// a stand-in `aws` signs with a local key.

import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { calculateJwkThumbprint, exportJWK } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startReferenceServer, type ReferenceServer } from '../../src/api/server.js'
import { runProcess } from '../helpers/spawn.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const DOCS = join(ROOT, 'docs/ci')
const CLIENT_ID = '0123456789abcdef0123'
const SUBJECT = 'release-bot@acme.example'

interface Block {
  lang: string
  body: string
  marker: string | undefined
  line: number
}

/** The fenced blocks of a markdown page, each with the HTML comment on the line(s) before it. */
function blocksOf(markdown: string): Block[] {
  const lines = markdown.split('\n')
  const out: Block[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i] as string)
    if (open === null) continue
    let j = i - 1
    while (j >= 0 && (lines[j] as string).trim() === '') j--
    const marker = /^<!--\s*(.*?)\s*-->$/.exec((lines[j] ?? '').trim())?.[1]
    const body: string[] = []
    let k = i + 1
    for (; k < lines.length && !/^```\s*$/.test(lines[k] as string); k++) body.push(lines[k] as string)
    out.push({ lang: open[1] ?? '', body: `${body.join('\n')}\n`, marker, line: i + 1 })
    i = k
  }
  return out
}

let server: ReferenceServer
let dir: string
let shims: string
let keyPem: string
let kmsKey: KeyObject

async function jwkOf(key: KeyObject) {
  const jwk = await exportJWK(key)
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), use: 'sig', alg: 'ES256' }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bktx-recipes-'))
  const es = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const kms = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  keyPem = es.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string
  kmsKey = kms.privateKey
  await writeFile(join(dir, 'kms-standin.pem'), kms.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, { mode: 0o600 })
  server = await startReferenceServer({
    config: {
      quick: {
        org: 'acme',
        members: [SUBJECT],
        clientId: CLIENT_ID,
        jwks: { keys: [await jwkOf(es.publicKey), await jwkOf(kms.publicKey)] } as never,
        grantable: 'read_builds read_pipelines',
        defaultScopes: 'read_builds',
        maxTtl: 3600,
      },
    },
  })
  shims = join(dir, 'bin')
  await mkdir(shims)
  // The CLI as `npm install --global bktx` would put it on PATH (npm test builds dist/ first).
  await writeFile(join(shims, 'bktx'), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'bin/bktx.js')}" "$@"\n`, { mode: 0o755 })
  // AWS KMS's stand-in: the two calls of kms.md, with the arguments AWS documents; the key is local.
  await writeFile(
    join(shims, 'aws'),
    `#!/bin/sh
set -eu
[ "$1" = kms ] || { echo "aws stand-in: only kms" >&2; exit 2; }
op=$2; shift 2
key_id=""; message=""; type=""; alg=""; output=""; query=""
while [ $# -gt 0 ]; do
  case "$1" in
    --key-id) key_id=$2; shift 2 ;;
    --message) message=$2; shift 2 ;;
    --message-type) type=$2; shift 2 ;;
    --signing-algorithm) alg=$2; shift 2 ;;
    --output) output=$2; shift 2 ;;
    --query) query=$2; shift 2 ;;
    *) echo "aws stand-in: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$key_id" = alias/bktx-release ] && [ "$output" = text ] || { echo "aws stand-in: bad key id or output" >&2; exit 2; }
case "$op" in
  get-public-key) [ "$query" = PublicKey ] && openssl pkey -in "${join(dir, 'kms-standin.pem')}" -pubout -outform DER | base64 -w0 && echo ;;
  sign)
    [ "$query" = Signature ] && [ "$type" = DIGEST ] && [ "$alg" = ECDSA_SHA_256 ] || { echo "aws stand-in: bad sign arguments" >&2; exit 2; }
    file=\${message#fileb://}
    [ "$(wc -c < "$file")" -eq 32 ] || { echo "aws stand-in: a DIGEST message is 32 bytes" >&2; exit 2; }
    openssl pkeyutl -sign -inkey "${join(dir, 'kms-standin.pem')}" -in "$file" | base64 -w0 && echo ;;
  *) echo "aws stand-in: unknown operation $op" >&2; exit 2 ;;
esac
`,
    { mode: 0o755 },
  )
}, 60_000)

afterAll(async () => {
  await server?.close()
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
})

/** The variables each CI system gives the job, besides those its configuration sets. */
async function ciVariables(page: string, work: string): Promise<Record<string, string>> {
  const keyFile = async (name: string) => {
    // CI systems write secret files with their own modes: readable by others here, as the worst case.
    await writeFile(join(work, name), keyPem, { mode: 0o644 })
    await chmod(join(work, name), 0o644)
    return join(work, name)
  }
  switch (page) {
    case 'gitlab.md':
      return { BKTX_KEY: await keyFile('gitlab-file-variable') }
    case 'circleci.md':
      return { BKTX_KEY_B64: Buffer.from(keyPem).toString('base64') }
    case 'jenkins.md':
      return { KEY_FILE: await keyFile('jenkins-secret-file') }
    case 'kms.md':
      return { BKTX_KMS_KEY: 'alias/bktx-release', BUILDKITE_ORGANIZATION_SLUG: 'acme', BKTX_ORG: '' }
    default:
      return {}
  }
}

/** A block as a CI job's shell runs it: bash, exiting at the first failing command or pipe stage. */
const sh = (script: string, env: Record<string, string>, cwd: string) => runProcess('bash', ['-eo', 'pipefail', '-c', script], { env, cwd, timeoutMs: 60_000 })

const localUrls = (text: string) => text.replaceAll('https://buildkite.com/oauth/token', server.tokenUrl).replaceAll('https://api.buildkite.com', server.url)
const count = (type: string) => server.auditRecords().filter((r) => r.type === type).length

const pages = (await readdir(DOCS)).filter((f) => f.endsWith('.md')).sort()

describe('docs/ci', () => {
  it('has the recipes the issue asks for', () => {
    expect(pages).toEqual(['README.md', 'circleci.md', 'gitlab.md', 'jenkins.md', 'kms.md'])
  })

  it('every fenced block is run here or marked not-runnable with a reason', async () => {
    for (const page of pages) {
      for (const block of blocksOf(await readFile(join(DOCS, page), 'utf8'))) {
        const where = `docs/ci/${page}:${block.line}`
        if (block.marker?.startsWith('not-runnable:')) expect(block.marker.slice('not-runnable:'.length).trim(), `${where}: say why`).not.toBe('')
        else expect(block.lang, `${where}: a block that is not run must be marked <!-- not-runnable: reason -->`).toBe('sh')
      }
    }
  })

  for (const page of ['gitlab.md', 'circleci.md', 'jenkins.md', 'kms.md']) {
    it(`${page}: its shell blocks run against the reference server; the token is minted, used and revoked, and never printed`, async () => {
      const work = await mkdtemp(join(dir, page.replace('.md', '-')))
      await mkdir(join(work, 'home'), { mode: 0o700 })
      const env: Record<string, string> = {
        PATH: `${shims}:/usr/bin:/bin`,
        HOME: join(work, 'home'),
        XDG_RUNTIME_DIR: join(work, 'home'),
        CI: 'true',
        // Set by the page's CI configuration (its not-runnable block); the token URL is the server's.
        BKTX_TOKEN_URL: server.tokenUrl,
        BKTX_CLIENT_ID: CLIENT_ID,
        BKTX_ORG: 'acme',
        BKTX_SUBJECT: SUBJECT,
        ...(await ciVariables(page, work)),
      }
      const blocks = blocksOf(await readFile(join(DOCS, page), 'utf8'))
      let ran = 0
      for (const [i, block] of blocks.entries()) {
        const where = `docs/ci/${page}:${block.line}`
        if (block.marker?.startsWith('not-runnable:')) continue
        if (block.marker?.startsWith('file:')) {
          const path = join(work, block.marker.slice('file:'.length).trim())
          await writeFile(path, block.body, { mode: 0o755 })
          continue
        }
        if (block.marker === 'script of the block above') {
          const above = blocks[i - 1]?.body ?? ''
          for (const line of block.body.split('\n').map((l) => l.trim()))
            if (line !== '' && !line.startsWith('#')) expect(above.includes(line), `${where}: "${line}" is not in the configuration above`).toBe(true)
        }
        const minted = count('token.minted')
        const revoked = count('token.revoked')
        const r = await sh(localUrls(block.body), env, work)
        expect(r.code, `${where}: ${r.stderr}`).toBe(0)
        ran++
        const output = r.stdout + r.stderr
        expect(output).not.toMatch(/bktx_[A-Za-z0-9]/)
        expect(output).not.toContain('PRIVATE KEY')
        if (block.body.includes('bktx exec --revoke-on-exit')) {
          // The command reached the API with the token, and bktx revoked that one token after it.
          expect(JSON.parse(r.stdout.slice(0, r.stdout.lastIndexOf('}') + 1))).toMatchObject({ scopes: ['read_builds'] })
          expect(r.stderr).toContain('token revoked')
          expect(count('token.minted')).toBe(minted + 1)
          expect(count('token.revoked')).toBe(revoked + 1)
        }
      }
      expect(ran).toBeGreaterThan(0)
    })
  }

  it('kms.md: the stand-in KMS key is what the recipe registered', async () => {
    // The page's working directory, not the stand-in key file beside it: readdir's order is the
    // file system's, so the name alone picked the file on some runs.
    const work = (await readdir(dir, { withFileTypes: true })).find((d) => d.isDirectory() && d.name.startsWith('kms-'))?.name
    expect(work).toBeDefined()
    const pem = await readFile(join(dir, work as string, 'kms-public.pem'), 'utf8')
    expect(pem).toBe(createPublicKey(kmsKey).export({ format: 'pem', type: 'spki' }))
  })
})
