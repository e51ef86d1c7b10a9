// Issue 20: a CI host with a read-only HOME and no writable /dev/shm (nor XDG_RUNTIME_DIR). In
// auto, token/env/exec mint uncached with one notice and exit 0; `--cache file` fails with the
// reason and the fixes. The built binary runs in a private mount namespace where /dev/shm and
// HOME are read-only tmpfs mounts: that needs root (unshare, mount), so the test skips without
// it (root can write through any mode bits, so chmod cannot make the directories read-only).
import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MEMBER } from '../helpers/server.js'
import { runBin } from '../helpers/spawn.js'
import { spawnServer, type ServerProcess } from '../helpers/spawn-server.js'

const canUnshare = process.getuid?.() === 0 && spawnSync('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs -o ro none /mnt'], { stdio: 'ignore' }).status === 0
if (!canUnshare) console.warn('skipped: the read-only HOME test needs root and unshare (mount namespaces)')

let root: string
let server: ServerProcess
let env: Record<string, string>

beforeAll(async () => {
  if (!canUnshare) return
  root = await mkdtemp(join(tmpdir(), 'bktx-ro-'))
  const key = join(root, 'key.pem')
  await runBin(['keygen', '--out', key], { env: { HOME: root, XDG_CONFIG_HOME: join(root, 'config') } })
  server = await spawnServer(['--member', MEMBER, '--org', 'acme', '--jwks', key, '--client-id', 'ro-client', '--state-dir', join(root, 'state')], {
    HOME: root,
    XDG_CONFIG_HOME: join(root, 'config'),
  })
  env = {
    HOME: join(root, 'home'),
    BKTX_TOKEN_URL: `${server.url}/oauth/token`,
    BKTX_API_URL: server.url,
    BKTX_CLIENT_ID: 'ro-client',
    BKTX_KEY: key,
    BKTX_ORG: 'acme',
    BKTX_SUBJECT: MEMBER,
    BKTX_CONFIG: join(root, 'no-config.json'),
  }
}, 60_000)
afterAll(async () => {
  if (!canUnshare) return
  await server.stop()
  await rm(root, { recursive: true, force: true })
})

/** `bktx ARGS` with /dev/shm and HOME read-only, no XDG_RUNTIME_DIR: no cache directory can be made. */
function readOnly(args: string) {
  return runBin([], {
    env: { ...env, RO_HOME: env['HOME'] },
    shell: `mkdir -p "$RO_HOME" && exec unshare -m sh -c 'mount -t tmpfs -o ro none /dev/shm && mount -t tmpfs -o ro none "$RO_HOME" && exec $BKTX ${args}'`,
    timeoutMs: 30_000,
  })
}

const mints = async () =>
  (await readFile(join(root, 'state', 'audit.jsonl'), 'utf8').catch(() => '')).split('\n').filter((l) => l.includes('"token.minted"')).length

describe.skipIf(!canUnshare)('no cache directory can be made (read-only HOME, no writable /dev/shm)', () => {
  const notice =
    /^warning: cannot create the cache directory \S+\/home\/\.cache\/bktx: .*; the token is not cached; set XDG_RUNTIME_DIR or XDG_CACHE_HOME to a writable directory of yours to cache, or use --cache none to not see this\n$/

  it('auto: token, env and exec mint uncached, with one notice, and exit 0', async () => {
    const token = await readOnly('token')
    expect([token.code, token.stderr]).toEqual([0, expect.stringMatching(notice)])
    expect(token.stdout).toMatch(/^bktx_\S+\n$/)
    const exported = await readOnly('env')
    expect([exported.code, exported.stderr]).toEqual([0, expect.stringMatching(notice)])
    expect(exported.stdout).toMatch(/BUILDKITE_API_TOKEN=/)
    const ran = await readOnly(`exec -- sh -c "test -n \\"\\$BUILDKITE_API_TOKEN\\" && echo has-token"`)
    expect([ran.code, ran.stdout, ran.stderr]).toEqual([0, 'has-token\n', expect.stringMatching(notice)])
    expect(await mints()).toBe(3)
  })

  it('--cache file fails before exchanging, with the reason and the fixes', async () => {
    const before = await mints()
    const file = await readOnly('token --cache file')
    expect(file.code).toBe(3)
    expect(file.stdout).toBe('')
    expect(file.stderr).toMatch(
      /^error: cannot create the cache directory \S+\/home\/\.cache\/bktx: .*; use --cache none, or set XDG_CACHE_HOME or XDG_RUNTIME_DIR to a writable directory of yours\n$/,
    )
    expect(await mints()).toBe(before)
  })
})
