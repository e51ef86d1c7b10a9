// The client benchmarks: bktx token served from the cache (file and keychain backends, and
// with a key in a PKCS#11 token), a full exchange, and 32 parallel cold calls, each against
// `node -e 0` on the same machine.
import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startListening } from './server.mjs'

const ROOT = new URL('..', import.meta.url).pathname
const BIN = join(ROOT, 'bin', 'bktx.js')
const SEA = join(ROOT, 'dist', 'bin', `bktx-${process.platform}-${process.arch}`)

function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

function timeOnce(args, env, file = process.execPath) {
  const started = process.hrtime.bigint()
  const result = spawnSync(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}: ${result.stderr}`)
  return ms
}

/** Median wall time of each command, run round-robin so that drift hits all of them alike. */
function compare(commands, runs) {
  const times = commands.map(() => [])
  for (const command of commands) timeOnce(command.args, command.env, command.file) // warm the page cache
  for (let r = 0; r < runs; r++)
    commands.forEach((command, i) => {
      times[i].push(timeOnce(command.args, command.env, command.file))
    })
  return times.map(median)
}

function bktx(args, env) {
  const result = spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`bktx ${args.join(' ')} exited ${result.status}: ${result.stderr}`)
  return result.stdout
}

export async function benchTokens(tmp, { runs = 30 } = {}) {
  const home = join(tmp, 'home')
  mkdirSync(join(home, 'run'), { recursive: true, mode: 0o700 })
  const env = {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_CACHE_HOME: join(home, 'cache'),
    XDG_RUNTIME_DIR: join(home, 'run'),
    BKTX_CACHE: 'file',
    BKTX_PROFILE: '',
    BKTX_CONFIG: '',
  }
  const fileJwks = JSON.parse(bktx(['keygen'], env))
  // A key in a SoftHSM2 token (profile "hsm"), when SoftHSM2 is installed: its cache hit must
  // cost what a file key's costs. The module is a private copy, moved away before the timing
  // runs: a hit that loaded it would fail, and the benchmark with it.
  const hsm = softHsm(tmp, env)
  const jwksFile = join(tmp, 'jwks.json')
  writeFileSync(jwksFile, JSON.stringify({ keys: [...fileJwks.keys, ...(hsm?.jwks.keys ?? [])] }))
  // State in memory: the exchange is timed, not the server's disk flush. Mints are counted from
  // its request log (one line per request).
  const server = await startListening(
    [
      BIN,
      'server',
      '--port',
      '0',
      '--jwks',
      jwksFile,
      '--member',
      'dev@acme.test',
      '--org',
      'acme',
      '--client-id',
      '0123456789abcdef0123',
      '--max-ttl',
      '86400',
    ],
    env,
  )
  const countMints = () =>
    server
      .log()
      .split('\n')
      .filter((line) => line.startsWith('POST /oauth/token 200 ')).length
  try {
    for (const [k, v] of [
      ['client-id', '0123456789abcdef0123'],
      ['org', 'acme'],
      ['subject', 'dev@acme.test'],
      ['token-url', `${server.url}/oauth/token`],
      ['api-url', server.url],
    ]) {
      bktx(['config', 'set', k, v], env)
      if (hsm !== undefined) bktx(['config', 'set', k, v, '--profile', 'hsm'], env)
    }
    bktx(['token'], env)
    bktx(['env'], env)
    const results = {}
    if (hsm !== undefined) {
      bktx(['token', '--profile', 'hsm'], hsm.env)
      renameSync(hsm.module, `${hsm.module}.aside`)
    } else {
      results.pkcs11Unavailable = 'softhsm2 is not installed'
    }
    // Every command of a set runs round-robin with `node -e 0` in the same environment, so the
    // load of this shared machine hits them alike; the ratios are the figures. Node reads
    // NODE_EXTRA_CA_CERTS at every start (about 45 ms for a system bundle here), which flatters
    // every ratio: the headline set runs without it, users almost never set it.
    const set = (environment, hsmEnv) => {
      const commands = {
        node: { args: ['-e', '0'], env: environment },
        cachedFile: { args: [BIN, 'token'], env: environment },
        env: { args: [BIN, 'env'], env: environment },
        version: { args: [BIN, '--version'], env: environment },
        help: { args: [BIN, 'help'], env: environment },
        status: { args: [BIN, 'status'], env: environment },
        // One TAB of the shell completions (`bktx --profile <TAB>`-like: a command and a partial flag).
        complete: { args: [BIN, 'complete', '--', 'token', '--sc'], env: environment },
        uncached: { args: [BIN, 'token', '--no-cache'], env: environment },
        // The standalone executable (npm run build:binary), when built: beside the Node launcher.
        ...(existsSync(SEA)
          ? { seaCached: { file: SEA, args: ['token'], env: environment }, seaVersion: { file: SEA, args: ['--version'], env: environment } }
          : {}),
        ...(hsmEnv === undefined ? {} : { cachedPkcs11: { args: [BIN, 'token', '--profile', 'hsm'], env: hsmEnv } }),
      }
      const names = Object.keys(commands)
      const medians = compare(Object.values(commands), runs)
      return Object.fromEntries(names.map((name, i) => [name, medians[i]]))
    }
    const bare = { ...env }
    delete bare.NODE_EXTRA_CA_CERTS
    const bareHsm = hsm === undefined ? undefined : { ...hsm.env }
    if (bareHsm !== undefined) delete bareHsm.NODE_EXTRA_CA_CERTS
    results.bare = set(bare, bareHsm)
    if (env.NODE_EXTRA_CA_CERTS) results.withExtraCa = set(env, hsm?.env)

    // The keychain backend, when a Secret Service answers (npm run bench starts one if it can).
    const keychainEnv = { ...bare, BKTX_CACHE: 'keychain' }
    const probe = spawnSync(process.execPath, [BIN, 'token', '--scope', 'read_builds'], { env: keychainEnv, encoding: 'utf8' })
    if (probe.status === 0) {
      const [nodeKeychain, cachedKeychain, cachedFile] = compare(
        [
          { args: ['-e', '0'], env: bare },
          { args: [BIN, 'token', '--scope', 'read_builds'], env: keychainEnv },
          { args: [BIN, 'token'], env: bare },
        ],
        runs,
      )
      results.keychain = { node: nodeKeychain, cachedKeychain, cachedFile }
      bktx(['logout', '--no-revoke', '--scope', 'read_builds'], keychainEnv)
    } else {
      results.keychainUnavailable = probe.stderr.trim().split('\n')[0]
    }

    // 32 parallel cold processes: one mint expected (the server's log counts them), and their
    // wall time beside 32 parallel hits of the same token run the same way right after.
    const parallel = async (scope) => {
      const started = process.hrtime.bigint()
      const codes = await Promise.all(
        Array.from(
          { length: 32 },
          () =>
            new Promise((resolve) => {
              const child = spawn(process.execPath, [BIN, 'token', '--scope', scope], { env: bare, stdio: 'ignore' })
              child.on('exit', resolve)
            }),
        ),
      )
      return { failures: codes.filter((c) => c !== 0).length, wallMs: Math.round(Number(process.hrtime.bigint() - started) / 1e6) }
    }
    const mintsBefore = countMints()
    const cold = await parallel('read_pipelines')
    const mints = countMints() - mintsBefore
    const hits = await parallel('read_pipelines')
    results.singleFlight = { processes: 32, failures: cold.failures + hits.failures, mints, wallMs: cold.wallMs, hitsWallMs: hits.wallMs }
    return results
  } finally {
    await server.stop()
  }
}

/** A SoftHSM2 token in `tmp` with an ES256 key generated by `bktx keygen --key pkcs11:...` in profile "hsm"; undefined without SoftHSM2. */
function softHsm(tmp, env) {
  const system = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so'].find(existsSync)
  if (system === undefined || spawnSync('sh', ['-c', 'command -v softhsm2-util'], { stdio: 'ignore' }).status !== 0) return undefined
  const dir = join(tmp, 'softhsm')
  mkdirSync(join(dir, 'tokens'), { recursive: true, mode: 0o700 })
  writeFileSync(join(dir, 'softhsm2.conf'), `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`)
  const module = join(dir, 'libsofthsm2.so')
  copyFileSync(system, module)
  const hsmEnv = { ...env, SOFTHSM2_CONF: join(dir, 'softhsm2.conf'), BKTX_PKCS11_PIN: '1234' }
  const init = spawnSync('softhsm2-util', ['--init-token', '--free', '--label', 'bench', '--pin', '1234', '--so-pin', '5678'], {
    env: hsmEnv,
    encoding: 'utf8',
  })
  if (init.status !== 0) throw new Error(`softhsm2-util: ${init.stderr}`)
  const jwks = JSON.parse(bktx(['keygen', '--key', 'pkcs11:token=bench;object=bench', '--pkcs11-module', module, '--profile', 'hsm'], hsmEnv))
  return { env: hsmEnv, module, jwks }
}
