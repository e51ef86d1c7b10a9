// npm run demo: bktx's main job end to end, in a throwaway home, against the reference server
// running in this process (started through the library API, bktx/server). Each step is explained on stderr; what bktx prints on stdout is
// shown as it would be in a script.
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startReferenceServer } from '../dist/server.js'

const bin = fileURLToPath(new URL('../bin/bktx.js', import.meta.url))
const home = mkdtempSync(join(tmpdir(), 'bktx-demo-'))
mkdirSync(join(home, 'run'), { mode: 0o700 })
// A private home and the file cache: the demo never touches your config or your keychain.
const env = {
  PATH: process.env.PATH,
  HOME: home,
  XDG_CONFIG_HOME: join(home, 'config'),
  XDG_CACHE_HOME: join(home, 'cache'),
  XDG_RUNTIME_DIR: join(home, 'run'),
  BKTX_CACHE: 'file',
  ...(process.env.NO_COLOR ? { NO_COLOR: process.env.NO_COLOR } : {}),
}
const tty = process.stderr.isTTY
const bold = (text) => (tty ? `\x1b[1m${text}\x1b[0m` : text)
const say = (text) => process.stderr.write(`\n${bold(`== ${text}`)}\n`)

function bktx(args, { show = true } = {}) {
  process.stderr.write(`$ bktx ${args.map((a) => (/[\s"'$]/.test(a) ? `'${a}'` : a)).join(' ')}\n`)
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] })
    let stdout = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`bktx ${args[0]} exited ${code}`))
      if (show) process.stdout.write(stdout)
      resolve(stdout)
    })
  })
}

let server
try {
  say(`A temporary home: ${home}`)

  say('1. keygen: an ES256 key; the private half stays on disk (0600), the public JWKS goes to stdout')
  const jwks = JSON.parse(await bktx(['keygen']))

  say('2. the reference server: org "acme", member dev@acme.test, a token exchange app with that JWKS')
  server = await startReferenceServer({
    config: {
      organizations: [{ slug: 'acme', members: [{ email: 'dev@acme.test', name: 'Dev' }] }],
      apps: [
        {
          client_id: '0123456789abcdef0123',
          org: 'acme',
          name: 'demo',
          jwks,
          grantable_scopes: ['read_builds', 'read_pipelines'],
          default_scopes: ['read_builds'],
          max_ttl: 3600,
        },
      ],
    },
    log: (line) => process.stderr.write(`   [server] ${line}\n`),
  })
  const listening = server
  process.stderr.write(`listening on ${listening.url}\n`)

  say('3. config: the Client ID, org slug, subject and the local endpoints, in the default profile')
  for (const [key, value] of [
    ['client-id', '0123456789abcdef0123'],
    ['org', 'acme'],
    ['subject', 'dev@acme.test'],
    ['token-url', `${listening.url}/oauth/token`],
    ['api-url', listening.url],
  ]) {
    await bktx(['config', 'set', key, value])
  }

  say('4. token: signs a 60 s assertion, exchanges it, caches the token; only the token on stdout')
  const token = (await bktx(['token', '--scope', 'read_builds read_pipelines'])).trim()

  say('5. token again: served from the cache, no exchange (see: no new server log line)')
  await bktx(['token', '--scope', 'read_builds read_pipelines', '--json'])

  say('6. env: what `eval "$(bktx env)"` would run')
  await bktx(['env', '--scope', 'read_builds read_pipelines'])

  say('7. whoami: GET /v2/access-token with the cached token')
  await bktx(['whoami', '--scope', 'read_builds read_pipelines'])

  say('8. logout: DELETE /v2/access-token, then drop it from the cache')
  await bktx(['logout', '--scope', 'read_builds read_pipelines'])
  const after = await fetch(`${listening.url}/v2/access-token`, { headers: { Authorization: `Bearer ${token}` } })
  process.stderr.write(`the revoked token now gets HTTP ${after.status} from the API\n`)

  const audit = server.auditRecords().map((record) => record.type)
  say(`Done. The server audited: ${audit.join(', ')}. The temporary home is removed.`)
} catch (error) {
  process.stderr.write(`demo failed: ${error.message}\n`)
  process.exitCode = 1
} finally {
  await server?.close()
  rmSync(home, { recursive: true, force: true })
}
