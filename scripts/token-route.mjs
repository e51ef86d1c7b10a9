// The route of one `bktx token`, measured: which src/ modules run on a cache miss and on the
// hit after it, which run twice (once in dist/fast-token.cjs, once in the full CLI's chunks),
// and which imports climb from a lower layer back up to a higher one (docs/architecture.md,
// "Layers"). Builds an instrumented dist/ (BKTX_TRACE_MODULES=1; run `npm run build` after),
// starts the reference server in-process and runs bin/bktx.js against it.
//   node scripts/token-route.mjs [--json]
import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'
import { generateKeyPairSync, createHash } from 'node:crypto'
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, env: { ...process.env, BKTX_TRACE_MODULES: '1' }, stdio: 'inherit' })
const meta = JSON.parse(readFileSync(join(ROOT, 'dist/metafile.json'), 'utf8'))

// Higher runs first; an import from a lower rank to a higher one is a climb.
const RANKS = [
  [/^src\/(bin|main)\.ts$|^src\/(fast|api)\//, 10, 'entry points'],
  [/^src\/cli\//, 9, 'cli'],
  [/^src\/(doctor|rotation|checks|jwks|jwt|server|setup)\//, 8, 'other use cases'],
  [/^src\/token\//, 7, 'token (the service)'],
  [/^src\/term\//, 6, 'term (renderer)'],
  [/^src\/config\//, 5, 'config'],
  [/^src\/cache\//, 4, 'cache'],
  [/^src\/exchange\//, 3, 'exchange'],
  [/^src\/assertion\//, 2.5, 'assertion'],
  [/^src\/(keys|signers)\//, 2, 'keys (signers)'],
  [/^src\/http\//, 1.5, 'http'],
  [/^src\/secrets\//, 1, 'secrets'],
  [/^src\//, 0, 'leaves (fs, text, time, errors, deps, env, paths, exit-codes)'],
]
const rank = (path) => RANKS.find(([re]) => re.test(path))?.[1] ?? -1

const key = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const jwk = { ...key.publicKey.export({ format: 'jwk' }), use: 'sig', alg: 'ES256' }
jwk.kid = createHash('sha256')
  .update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }))
  .digest('base64url')
const { startReferenceServer } = await import(pathToFileURL(join(ROOT, 'dist/server.js')).href)
const server = await startReferenceServer({
  config: {
    quick: {
      org: 'acme',
      members: ['dev@acme.test'],
      clientId: 'route-app',
      jwks: { keys: [jwk] },
      grantable: 'read_builds',
      defaultScopes: 'read_builds',
      maxTtl: 3600,
    },
  },
})
const dir = mkdtempSync(join(tmpdir(), 'bktx-route-'))
try {
  mkdirSync(join(dir, 'run'), { mode: 0o700 })
  const keyPath = join(dir, 'key.pem')
  writeFileSync(keyPath, key.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
  const dump = join(dir, 'dump.cjs')
  writeFileSync(dump, `process.on('exit', () => require('node:fs').writeFileSync(process.env.ROUTE_OUT, JSON.stringify(globalThis.__bktxTrace ?? [])))\n`)
  const env = {
    PATH: process.env.PATH,
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_CACHE_HOME: join(dir, 'cache'),
    XDG_RUNTIME_DIR: join(dir, 'run'),
    BKTX_TOKEN_URL: server.tokenUrl,
    BKTX_CLIENT_ID: 'route-app',
    BKTX_KEY: keyPath,
    BKTX_KID: jwk.kid,
    BKTX_ORG: 'acme',
    BKTX_SUBJECT: 'dev@acme.test',
    BKTX_CACHE: 'file',
    NODE_OPTIONS: `--require ${dump}`,
  }
  // Asynchronously: the server answers from this process's event loop.
  const run = async (name) => {
    const out = join(dir, `${name}.json`)
    await promisify(execFile)(process.execPath, [join(ROOT, 'bin/bktx.js'), 'token', '--scope', 'read_builds'], { env: { ...env, ROUTE_OUT: out } })
    return JSON.parse(readFileSync(out, 'utf8'))
  }
  const report = {}
  for (const name of ['miss', 'hit']) {
    const loaded = await run(name)
    const counts = new Map()
    for (const path of loaded) counts.set(path, (counts.get(path) ?? 0) + 1)
    const set = new Set(loaded)
    const climbs = []
    for (const from of set) {
      for (const imp of meta.inputs[from]?.imports ?? []) {
        if (set.has(imp.path) && imp.path.startsWith('src/') && rank(imp.path) > rank(from)) climbs.push(`${from} -> ${imp.path}`)
      }
    }
    const unique = [...new Set(climbs)].sort()
    report[name] = {
      runs: loaded.length,
      modules: set.size,
      twice: [...counts]
        .filter(([, n]) => n > 1)
        .map(([p]) => p)
        .sort(),
      climbs: unique,
      climbsOutsideService: unique.filter((c) => !c.startsWith('src/token/')),
    }
  }
  if (process.argv.includes('--json')) console.log(JSON.stringify(report, null, 2))
  else {
    for (const [name, r] of Object.entries(report)) {
      console.log(
        `${name}: ${r.modules} modules, ${r.runs} module runs, ${r.twice.length} run twice; ${r.climbs.length} climbs (${r.climbsOutsideService.length} outside src/token/)`,
      )
      for (const c of r.climbs) console.log(`  climb ${c}`)
    }
  }
} finally {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
}
