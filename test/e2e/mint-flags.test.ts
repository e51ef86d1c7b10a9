import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, runProcess } from '../helpers/spawn.js'
import { answerToken, startStubServer, type StubServer } from '../helpers/stub-token-server.js'
import { selfSignedCert } from '../helpers/tls.js'
import { tokenWorld, type TokenWorld } from '../helpers/token-setup.js'

// The token mint (dist/fast-mint.cjs) runs without the full CLI's V8 flag (--liftoff-only): any
// flag set makes V8 reject the code cache Node embeds for its own modules, so node:http,
// node:crypto and the rest an exchange loads were compiled from their source (a fifth of an
// uncached `bktx token`'s instructions). It sets the flag only before it loads undici (a proxy,
// --ca-file), and keeps the code cache of such runs apart, under the flag (bin/bktx.js).
// A probe preloaded into each run records every flag set, and whether undici was loaded then.

const PROBE_DIR = mkdtempSync(join(tmpdir(), 'bktx-mint-flags-'))
const PROBE = join(PROBE_DIR, 'probe.cjs')
const FLAG_LOG = join(PROBE_DIR, 'flags.log')
writeFileSync(
  PROBE,
  `const v8 = require('node:v8')
const set = v8.setFlagsFromString
v8.setFlagsFromString = function (flags) {
  const undici = Object.keys(require.cache).some((file) => /[\\\\/]dist[\\\\/]undici\\.cjs$/.test(file))
  require('node:fs').appendFileSync(${JSON.stringify(FLAG_LOG)}, JSON.stringify({ flags, undici }) + '\\n')
  return set.call(this, flags)
}
`,
)

let world: TokenWorld
let tls: StubServer
let caFile: string
beforeAll(async () => {
  world = await tokenWorld()
  const cert = await selfSignedCert('mint-flags')
  tls = await startStubServer(answerToken, cert)
  caFile = join(PROBE_DIR, 'ca.pem')
  writeFileSync(caFile, cert.cert)
})
const dirs = [PROBE_DIR]
afterAll(async () => {
  await tls?.close()
  await world?.cleanup()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})
/** A code cache directory of a test's own (0700, as mkdtemp makes it). */
const cacheDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'bktx-mint-cc-'))
  dirs.push(dir)
  return dir
}

/** `bktx ARGS` with the probe, its own code cache directory `cache`; the flags it set. */
async function mint(args: string[], cache: string, env: Record<string, string> = {}, { stderr = false } = {}) {
  writeFileSync(FLAG_LOG, '')
  const run = await runProcess(process.execPath, ['-r', PROBE, BIN, ...args], {
    env: { PATH: process.env['PATH'] ?? '', ...world.env, BKTX_CACHE: 'file', BKTX_CODE_CACHE: cache, ...env },
    timeoutMs: 60_000,
  })
  // --verbose writes to stderr; otherwise nothing may.
  if (!stderr) expect(run.stderr).toBe('')
  expect(run.code).toBe(0)
  const flags = readFileSync(FLAG_LOG, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { flags: string; undici: boolean })
  return { flags, stdout: run.stdout }
}

/** The mint's code caches in `cache`, each with its inode (a cache rewritten is renamed into place: a new inode). */
const caches = (cache: string) =>
  Object.fromEntries(
    readdirSync(cache)
      .filter((name) => name.startsWith('fast-mint.cjs-'))
      .map((name) => [name.replace(/v\d+\.\d+\.\d+-.*$/, ''), statSync(join(cache, name)).ino]),
  )

describe('the token mint and V8 flags', () => {
  it('an exchange sets no V8 flag, and its code cache is accepted by the next', async () => {
    const cache = cacheDir()
    const first = await mint(['token', '--no-cache'], cache)
    expect(first.stdout).toMatch(/^bktx_/)
    expect(first.flags).toEqual([])
    const written = caches(cache)
    expect(Object.keys(written)).toEqual(['fast-mint.cjs-token-'])
    const second = await mint(['token', '--no-cache'], cache)
    expect(second.flags).toEqual([])
    // Not rewritten: V8 accepted it (a rejected cache is written again after the run).
    expect(caches(cache)).toEqual(written)
  })

  it("a miss the mint served leaves no code cache of the cache-hit path's bundle: the next hit, which it served, writes it", async () => {
    const cache = cacheDir()
    const tokenCaches = () => readdirSync(cache).filter((name) => name.startsWith('fast-token.cjs-'))
    // The cache-hit path declines (nothing cached) and the mint exchanges, without the full CLI's flag.
    const miss = await mint(['token', '--scope', 'read_builds'], cache)
    expect(miss.flags).toEqual([])
    expect(Object.keys(caches(cache))).toEqual(['fast-mint.cjs-token-'])
    // Made now, that cache would hold what the miss ran, not what a hit runs.
    expect(tokenCaches()).toEqual([])
    const hit = await mint(['token', '--scope', 'read_builds'], cache)
    expect(hit.stdout).toBe(miss.stdout)
    expect(tokenCaches()).toHaveLength(1)
  })

  it('with --ca-file (undici): the flag before undici loads, and a code cache of its own that the next such run accepts', async () => {
    const cache = cacheDir()
    const args = ['token', '--no-cache', '--token-url', `${tls.origin}/oauth/token`, '--ca-file', caFile]
    const first = await mint(args, cache)
    expect(first.stdout).toMatch(/^bktx_/)
    expect(first.flags).toEqual([{ flags: '--liftoff-only', undici: false }])
    const written = caches(cache)
    expect(Object.keys(written)).toEqual(['fast-mint.cjs-token-liftoff-'])
    // The flag set before the bundle is compiled from that cache, so V8 accepts it.
    const second = await mint(args, cache)
    expect(second.flags).toEqual([{ flags: '--liftoff-only', undici: false }])
    expect(caches(cache)).toEqual(written)
  })
})

// The full CLI (dist/cli.cjs) runs without the flag too: src/bin.ts sets it itself only where
// bin/bktx.js did not run it (dist/bin.js, the standalone executable).
describe('the full CLI and V8 flags', () => {
  /** The full CLI's code caches in `cache`, each with its inode. */
  const cliCaches = (cache: string) =>
    Object.fromEntries(
      readdirSync(cache)
        .filter((name) => name.startsWith('cli.cjs-'))
        .map((name) => [name.replace(/v\d+\.\d+\.\d+-.*$/, ''), statSync(join(cache, name)).ino]),
    )

  it('a command sets no V8 flag, and its code cache is accepted by the next', async () => {
    const cache = cacheDir()
    const first = await mint(['jwks', '--key', world.keyPath], cache)
    expect(JSON.parse(first.stdout).keys).toHaveLength(1)
    expect(first.flags).toEqual([])
    const written = cliCaches(cache)
    expect(Object.keys(written)).toEqual(['cli.cjs-jwks-'])
    const second = await mint(['jwks', '--key', world.keyPath], cache)
    expect(second.flags).toEqual([])
    expect(cliCaches(cache)).toEqual(written)
  })

  it('with --ca-file (undici): the flag before undici loads, and a code cache of its own that the next such run accepts', async () => {
    const cache = cacheDir()
    // --verbose: the mint leaves it to the full CLI.
    const args = ['token', '--no-cache', '--verbose', '--token-url', `${tls.origin}/oauth/token`, '--ca-file', caFile]
    const first = await mint(args, cache, {}, { stderr: true })
    expect(first.stdout).toMatch(/^bktx_/)
    expect(first.flags).toEqual([{ flags: '--liftoff-only', undici: false }])
    const written = cliCaches(cache)
    expect(Object.keys(written)).toEqual(['cli.cjs-token-liftoff-'])
    const second = await mint(args, cache, {}, { stderr: true })
    expect(second.flags).toEqual([{ flags: '--liftoff-only', undici: false }])
    expect(cliCaches(cache)).toEqual(written)
  })
})
