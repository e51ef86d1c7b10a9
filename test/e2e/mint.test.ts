import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CODE_CACHE } from '../helpers/code-cache.js'
import { BIN, runProcess, type SpawnResult } from '../helpers/spawn.js'
import { startStubServer, type StubServer } from '../helpers/stub-token-server.js'
import { tokenWorld, type TokenWorld } from '../helpers/token-setup.js'

// `bktx token` and `bktx env` that exchange run in dist/fast-mint.cjs (src/mint/main.ts), not in
// the full CLI. Its output, messages and exit codes must be the full CLI's byte for byte: each
// case here runs through bin/bktx.js (the mint) and through the full CLI's bundle with no fast
// path in front (test/fixtures/full-cli.cjs runs dist/cli.cjs) with the same environment, and
// compares. A probe preloaded into the bin/bktx.js run records which bundles it read, so a case
// that the mint declined (and the full CLI answered) fails instead of passing by comparing the
// full CLI with itself.

const FULL = fileURLToPath(new URL('../fixtures/full-cli.cjs', import.meta.url))
const PROBE_DIR = mkdtempSync(join(tmpdir(), 'bktx-mint-probe-'))
const PROBE = join(PROBE_DIR, 'probe.cjs')
// Each case's runs log to a file of their own (MINT_PROBE_LOG, a name bktx does not read): the cases run side by side.
writeFileSync(
  PROBE,
  `const fs = require('node:fs')
const read = fs.readFileSync
fs.readFileSync = function (file, ...rest) {
  if (typeof file === 'string' && /[\\\\/]dist[\\\\/][^\\\\/]+\\.cjs$/.test(file)) fs.appendFileSync(process.env.MINT_PROBE_LOG, file.replace(/.*[\\\\/]/, '') + '\\n')
  return read.call(this, file, ...rest)
}
`,
)
let cases = 0

const CI_CONFIG = join(PROBE_DIR, 'ci.json')
writeFileSync(CI_CONFIG, JSON.stringify({ profiles: { ci: { org: 'acme' } } }))

let world: TokenWorld
let stubs: Record<'error500' | 'hang' | 'garbage', StubServer>
let base: Record<string, string>
beforeAll(async () => {
  world = await tokenWorld()
  base = { PATH: process.env['PATH'] ?? '', ...CODE_CACHE, ...world.env, BKTX_CACHE: 'file' }
  stubs = {
    // Retry-After: 0, so every attempt is made at once and the message (which counts them) does not
    // depend on the random backoff.
    error500: await startStubServer((_req, res) => {
      res.writeHead(500, { 'content-type': 'application/json', 'retry-after': '0' })
      res.end('{"error":"server_error"}')
    }),
    // Never answers: the exchange ends at --timeout.
    hang: await startStubServer(() => undefined),
    garbage: await startStubServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('not json')
    }),
  }
})
afterAll(async () => {
  await Promise.all(Object.values(stubs ?? {}).map((stub) => stub.close()))
  await world?.cleanup()
})

/** Tokens and times differ between two successful mints; everything else must not. */
const normalise = (run: SpawnResult) => ({
  code: run.code,
  signal: run.signal,
  stdout: run.stdout
    .replace(/bktx_[A-Za-z0-9]+/g, 'TOKEN')
    .replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, 'TIME')
    .replace(/"expires_in": \d+/g, '"expires_in": N'),
  // --verbose names each assertion's random jti.
  stderr: run.stderr.replace(/jti [0-9a-f-]{36}/g, 'jti JTI'),
})

/** `bktx ARGS` through the mint and through the full CLI; `shell` wraps each (redirections). */
async function both(args: string[], env: Record<string, string | undefined> = {}, shell?: string) {
  const log = join(PROBE_DIR, `read-${++cases}.log`)
  const environment = { ...base, ...env, MINT_PROBE_LOG: log }
  writeFileSync(log, '')
  const run = (argv: string[]) =>
    shell === undefined
      ? runProcess(process.execPath, argv, { env: environment, timeoutMs: 60_000 })
      : runProcess('sh', ['-c', `"$@" ${shell}`, 'sh', process.execPath, ...argv], { env: environment, timeoutMs: 60_000 })
  const mint = await run(['-r', PROBE, BIN, ...args])
  const read = readFileSync(log, 'utf8').trim().split('\n')
  const full = await run([FULL, ...args])
  return { mint: normalise(mint), full: normalise(full), read }
}

const down = 'http://127.0.0.1:9/oauth/token'

describe('the token mint (dist/fast-mint.cjs) prints what the full CLI prints', () => {
  // Side by side: the cases that wait out retries or --timeout (about 16 s of the file's run) overlap the rest.
  it.concurrent.for<[string, string[], Record<string, string | undefined>?, string?]>([
    ['a token', ['token', '--no-cache']],
    ['a token as JSON', ['token', '--no-cache', '--json']],
    ['a fresh token over a cached one', ['token', '--refresh', '--scope', 'read_builds']],
    ['env in fish', ['env', '--no-cache', '--shell', 'fish']],
    ['env as JSON', ['env', '--no-cache', '--json']],
    ['a token whose output cannot be written (exit 9)', ['token', '--no-cache'], {}, '>/dev/full'],
    ['a rejected exchange (4xx, exit 4)', ['token', '--no-cache', '--subject', 'nobody@acme.test']],
    ['a rejected exchange as JSON', ['token', '--no-cache', '--subject', 'nobody@acme.test', '--json']],
    [
      'a rejected exchange, quiet and uncoloured under FORCE_COLOR',
      ['env', '--no-cache', '--subject', 'nobody@acme.test', '-q', '--no-color'],
      { FORCE_COLOR: '1' },
    ],
    ['a rejected exchange in colour (FORCE_COLOR)', ['token', '--refresh', '--subject', 'nobody@acme.test'], { FORCE_COLOR: '1' }],
    // Time for every attempt (the backoff is at most 3.5 s in all): the message counts the attempts
    // made, which a tighter --timeout would make depend on the random backoff and the load.
    ['a server that is down (exit 5)', ['token', '--no-cache', '--timeout', '60s'], { BKTX_TOKEN_URL: down }],
    ['a server that answers 500 (exit 5)', ['token', '--no-cache', '--timeout', '60s'], { BKTX_TOKEN_URL: 'ERROR500' }],
    ['a server that never answers (--timeout, exit 5)', ['token', '--no-cache', '--timeout', '1s'], { BKTX_TOKEN_URL: 'HANG' }],
    ['a response outside the protocol (exit 6)', ['token', '--no-cache'], { BKTX_TOKEN_URL: 'GARBAGE' }],
    ['a key that is no key (exit 3)', ['token', '--no-cache', '--key', 'env:CI_SIGNING_KEY'], { CI_SIGNING_KEY: 'bm90IGEga2V5' }],
    ['an unset key variable (exit 3)', ['env', '--no-cache', '--key', 'env:NOT_SET_HERE']],
    ['a profile that does not exist (exit 3)', ['token', '--no-cache', '--profile', 'nosuch'], { BKTX_CONFIG: '/nonexistent/config.json' }],
    // The advice names the profile (src/cli/report.ts passes it to src/term/describe.ts).
    ['a missing setting under a named profile (exit 2)', ['token', '--no-cache', '--profile', 'ci'], { BKTX_SUBJECT: undefined, BKTX_CONFIG: CI_CONFIG }],
    ['a plain-http token URL off loopback (exit 2)', ['token', '--no-cache', '--token-url', 'http://example.com/oauth/token']],
    ['a CA file that is not there (exit 3)', ['token', '--no-cache', '--ca-file', 'no-such-ca.pem']],
    ['a cache miss (through the cache-hit path)', ['token', '--scope', 'read_pipelines']],
    ['a cache miss that fails (through the cache-hit path)', ['env', '--scope', 'read_user', '--subject', 'nobody@acme.test']],
  ])('%s', async ([_name, args, env = {}, shell = undefined], { expect }) => {
    const stub = { ERROR500: stubs.error500, HANG: stubs.hang, GARBAGE: stubs.garbage }[env['BKTX_TOKEN_URL'] ?? '']
    const environment = stub === undefined ? env : { ...env, BKTX_TOKEN_URL: `${stub.origin}/oauth/token` }
    const { mint, full, read } = await both(args, environment, shell)
    // The mint answered, not the full CLI.
    expect(read).toContain('fast-mint.cjs')
    expect(read).not.toContain('cli.cjs')
    expect(mint).toEqual(full)
  })

  it('leaves what it does not take to the full CLI: --verbose, an unknown flag', async () => {
    for (const args of [
      ['token', '--no-cache', '--verbose'],
      ['token', '--no-cache', '--no-such-flag'],
    ]) {
      const { mint, full, read } = await both(args)
      expect(read).toContain('cli.cjs')
      expect(mint).toEqual(full)
    }
  })
})
