// The client benchmarks: bktx token served from the cache (file and keychain backends), a
// full exchange, and 32 parallel cold calls, each against `node -e 0` on the same machine.
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { startListening } from './server.mjs'

const ROOT = new URL('..', import.meta.url).pathname
const BIN = join(ROOT, 'bin', 'bktx.js')

function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

function timeOnce(args, env) {
  const started = process.hrtime.bigint()
  const result = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}: ${result.stderr}`)
  return ms
}

/** Median wall time of each command, run round-robin so that drift hits all of them alike. */
function compare(commands, runs) {
  const times = commands.map(() => [])
  for (const command of commands) timeOnce(command.args, command.env) // warm the page cache
  for (let r = 0; r < runs; r++) commands.forEach((command, i) => times[i].push(timeOnce(command.args, command.env)))
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
  const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, 'config'), XDG_CACHE_HOME: join(home, 'cache'), XDG_RUNTIME_DIR: join(home, 'run'), BKTX_CACHE: 'file', BKTX_PROFILE: '', BKTX_CONFIG: '' }
  bktx(['keygen'], env)
  // State in memory: the exchange is timed, not the server's disk flush. Mints are counted from
  // its request log (one line per request).
  const server = await startListening([BIN, 'server', '--port', '0', '--member', 'dev@acme.test', '--org', 'acme', '--client-id', '0123456789abcdef0123', '--max-ttl', '86400'], env)
  const countMints = () => server.log().split('\n').filter((line) => line.startsWith('POST /oauth/token 200 ')).length
  try {
    for (const [k, v] of [['client-id', '0123456789abcdef0123'], ['org', 'acme'], ['subject', 'dev@acme.test'], ['token-url', `${server.url}/oauth/token`], ['api-url', server.url]]) bktx(['config', 'set', k, v], env)
    const baseline = { args: ['-e', '0'], env }
    bktx(['token'], env)
    const results = {}

    const [nodeFile, cachedFile, uncached] = compare([baseline, { args: [BIN, 'token'], env }, { args: [BIN, 'token', '--no-cache'], env }], runs)
    Object.assign(results, { node: nodeFile, cachedFile, uncached })

    // bktx status (it may run in a shell prompt): the full CLI, plus the key, the keychain's
    // lock probe and the cache metadata; beside `bktx --version`, the full CLI's own floor.
    const [nodeStatus, version, status] = compare([baseline, { args: [BIN, '--version'], env }, { args: [BIN, 'status'], env }], runs)
    Object.assign(results, { nodeStatus, version, status })

    // The keychain backend, when a Secret Service answers (npm run bench starts one if it can).
    const keychainEnv = { ...env, BKTX_CACHE: 'keychain' }
    const probe = spawnSync(process.execPath, [BIN, 'token', '--scope', 'read_builds'], { env: keychainEnv, encoding: 'utf8' })
    if (probe.status === 0) {
      const [nodeKeychain, cachedKeychain] = compare([baseline, { args: [BIN, 'token', '--scope', 'read_builds'], env: keychainEnv }], runs)
      Object.assign(results, { nodeKeychain, cachedKeychain })
      bktx(['logout', '--no-revoke', '--scope', 'read_builds'], keychainEnv)
    } else {
      results.keychainUnavailable = probe.stderr.trim().split('\n')[0]
    }

    // 32 parallel cold processes: one mint expected (the server's audit log counts them).
    const mintsBefore = countMints()
    const started = process.hrtime.bigint()
    const codes = await Promise.all(Array.from({ length: 32 }, () => new Promise((resolve) => {
      const child = spawn(process.execPath, [BIN, 'token', '--scope', 'read_pipelines'], { env, stdio: 'ignore' })
      child.on('exit', resolve)
    })))
    results.singleFlight = {
      processes: 32,
      failures: codes.filter((c) => c !== 0).length,
      mints: countMints() - mintsBefore,
      wallMs: Math.round(Number(process.hrtime.bigint() - started) / 1e6),
    }
    return results
  } finally {
    await server.stop()
  }
}
