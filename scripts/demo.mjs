// npm run demo: the setup half of bktx in a throwaway home, each step explained on stderr.
// (Data the commands print goes to stdout, as it would in a script.)
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const bin = fileURLToPath(new URL('../bin/bktx.js', import.meta.url))
const home = mkdtempSync(join(tmpdir(), 'bktx-demo-'))
const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, 'config'), XDG_CACHE_HOME: join(home, 'cache'), BKTX_CONFIG: '', BKTX_PROFILE: '' }
const say = (text) => process.stderr.write(`\n\x1b[1m== ${text}\x1b[0m\n`)

function bktx(args, input) {
  process.stderr.write(`$ bktx ${args.join(' ')}\n`)
  const result = spawnSync(process.execPath, [bin, ...args], { env, input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'inherit'] })
  if (result.status !== 0) {
    process.stderr.write(`demo failed: bktx ${args[0]} exited ${result.status}\n`)
    process.exit(1)
  }
  process.stdout.write(result.stdout)
  return result.stdout
}

try {
  say(`A temporary home: ${home}`)
  say('1. keygen: an ES256 key, private half 0600 on disk, public JWKS on stdout')
  bktx(['keygen'])
  say('2. config: the Client ID Buildkite shows for the token exchange application')
  bktx(['config', 'set', 'client-id', '0123456789abcdef0123'])
  say('3. jwks: publish the public JWKS atomically (for a JWKS URI)')
  const jwks = join(home, 'public', 'jwks.json')
  bktx(['jwks', '--out', jwks])
  say('4. sign: a client assertion: iss = sub = client id, aud = token URL, 60 s, fresh jti')
  const jwt = bktx(['sign'])
  say('5. inspect: decode it and verify it against the published JWKS')
  bktx(['inspect', '--jwks', jwks, '-'], jwt)
  say('Done. Everything lived in the temporary home, now removed.')
} finally {
  rmSync(home, { recursive: true, force: true })
}
