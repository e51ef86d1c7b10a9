/**
 * Issue 22, finding 1: the configuration file (whose `key` may be `exec:COMMAND`) and the key
 * rotation state are trusted only when the user running bktx (or root) owns them, nobody else
 * can write them, and their directory does not let anyone else replace them, as ssh's
 * StrictModes trusts ~/.ssh/config (src/fs/trust.ts).
 *
 * Tests that need a second uid chown to nobody (65534) and so run as root (CI runs as root);
 * elsewhere they are skipped with a message, and when CI is set they run and fail.
 */
import { generateKeyPairSync } from 'node:crypto'
import { chmodSync, chownSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { getToken } from '../../src/api/index.js'
import { isCI } from '../../src/cache/select.js'
import { runCli, tempHome } from '../helpers/cli.js'
import { runBin } from '../helpers/spawn.js'
import { tokenWorld } from '../helpers/token-setup.js'

const NOBODY = 65534
const asRoot = process.getuid?.() === 0 || isCI(process.env)
if (!asRoot) console.warn('test/security/config-trust.test.ts: not root, so the tests that chown a file to another uid are skipped (CI runs them as root)')

let home: Awaited<ReturnType<typeof tempHome>>
let marker: string
let pub: string
beforeEach(async () => {
  home = await tempHome()
  marker = join(home.dir, 'signer-ran')
  pub = join(home.dir, 'pub.pem')
  writeFileSync(pub, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }))
})
afterEach(async () => {
  await home.cleanup()
})

/** A configuration file whose key is a signer that leaves a marker file when it runs. */
function plant(dir: string, options: { mode: number; owner?: number }): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const path = join(dir, 'config.json')
  const profile = {
    key: `exec:touch ${marker}`,
    'public-key': pub,
    kid: 'k1',
    'client-id': 'c',
    org: 'acme',
    subject: 'dev@acme.test',
    'token-url': 'http://127.0.0.1:9/oauth/token',
  }
  writeFileSync(path, JSON.stringify({ profiles: { default: profile } }))
  chmodSync(path, options.mode)
  if (options.owner !== undefined) chownSync(path, options.owner, options.owner)
  return path
}

const configDir = () => join(home.env.XDG_CONFIG_HOME, 'bktx')
const sign = (config: string) => runCli(['sign', '--config', config], { env: home.env })

describe('a configuration file other users own or can write is refused (exit 3) and its exec: key never runs', () => {
  it.skipIf(!asRoot)('owned by another uid, mode 0666: sign, token, status, the library; the signer never runs', async () => {
    const config = plant(configDir(), { mode: 0o666, owner: NOBODY })
    const signed = await sign(config)
    expect(signed.code).toBe(3)
    expect(signed.stdout).toBe('')
    expect(signed.stderr.split('\n')[0]).toBe(
      `error: config file ${config}: is owned by uid ${NOBODY}, not by you (uid ${process.getuid?.()}) or root (mode 0666), so bktx will not use it; once you have checked what it holds, run \`chown ${process.getuid?.()} ${config}\``,
    )
    expect((await runCli(['token', '--config', config], { env: home.env })).code).toBe(3)
    // The default path and BKTX_CONFIG are the same file to the loader.
    expect((await runCli(['token'], { env: home.env })).code).toBe(3)
    expect((await runCli(['token'], { env: { ...home.env, BKTX_CONFIG: config } })).code).toBe(3)
    await expect(getToken({ config, env: {} })).rejects.toMatchObject({ code: 'BKTX_CONFIG_INVALID', detail: { file: config, reason: 'foreign-owner' } })
    // status says so (it names the file, owner and mode) instead of showing the profile.
    const status = await runCli(['status'], { env: home.env })
    expect(status.code).toBe(3)
    expect(status.stderr).toContain(`config file ${config}: is owned by uid ${NOBODY}`)
    expect(existsSync(marker)).toBe(false)
  })

  it.skipIf(!asRoot)('owned by another uid, mode 0644 (nobody else can write it, but its owner can)', async () => {
    const config = plant(configDir(), { mode: 0o644, owner: NOBODY })
    const signed = await sign(config)
    expect(signed.code).toBe(3)
    expect(signed.stderr).toContain(`is owned by uid ${NOBODY}, not by you`)
    expect(existsSync(marker)).toBe(false)
  })

  it('owned by the user, mode 0666 or 0620: group or others can write it', async () => {
    for (const mode of [0o666, 0o620]) {
      const config = plant(configDir(), { mode })
      const signed = await sign(config)
      expect(signed.code).toBe(3)
      const octal = mode.toString(8).padStart(4, '0')
      expect(signed.stderr.split('\n')[0]).toBe(
        `error: config file ${config}: has mode ${octal} (owner uid ${process.getuid?.()}): group or others can write it, so bktx will not use it; once you have checked what it holds, run \`chmod go-w ${config}\``,
      )
      expect(existsSync(marker)).toBe(false)
    }
  })

  it('a private file in a directory group or others can write (not sticky) is refused; in a sticky one it is not', async () => {
    const open = join(home.dir, 'open')
    const config = plant(open, { mode: 0o600 })
    chmodSync(open, 0o777)
    const refused = await sign(config)
    expect(refused.code).toBe(3)
    expect(refused.stderr.split('\n')[0]).toBe(
      `error: config file ${config}: is in ${open}, which has mode 0777 (owner uid ${process.getuid?.()}): group or others can replace the file, so bktx will not use it; once you have checked what it holds, run \`chmod go-w ${open}\``,
    )
    chmodSync(open, 0o770)
    expect((await sign(config)).code).toBe(3)
    expect(existsSync(marker)).toBe(false)
    // Sticky (as /tmp): others cannot rename or remove a file they do not own. The signer runs
    // (it prints no signature, so signing then fails with exit 10).
    chmodSync(open, 0o1777)
    const sticky = await sign(config)
    expect(sticky.stderr).not.toContain('will not use it')
    expect(existsSync(marker)).toBe(true)
  })

  it('a symbolic link is judged by the file it reaches and by both directories', async () => {
    const open = join(home.dir, 'open')
    const target = plant(open, { mode: 0o600 })
    chmodSync(open, 0o777)
    mkdirSync(configDir(), { recursive: true, mode: 0o700 })
    symlinkSync(target, join(configDir(), 'config.json'))
    const linked = await runCli(['sign'], { env: home.env })
    expect(linked.code).toBe(3)
    expect(linked.stderr).toContain(`is in ${open}, which has mode 0777`)
    expect(existsSync(marker)).toBe(false)
  })

  it.skipIf(!asRoot)("a private file in another user's directory is refused", async () => {
    const theirs = join(home.dir, 'theirs')
    const config = plant(theirs, { mode: 0o600 })
    chmodSync(theirs, 0o755)
    chownSync(theirs, NOBODY, NOBODY)
    const refused = await sign(config)
    expect(refused.code).toBe(3)
    expect(refused.stderr).toContain(`is in ${theirs}, owned by uid ${NOBODY}, not by you`)
    expect(existsSync(marker)).toBe(false)
  })

  it('doctor reports a refused configuration file as a failed check (exit 11)', async () => {
    const config = plant(configDir(), { mode: 0o666 })
    const doctor = await runCli(['doctor', '--json'], { env: home.env })
    expect(doctor.code).toBe(11)
    const checks = JSON.parse(doctor.stdout).checks as Array<{ id: string; status: string; message: string }>
    expect(checks).toHaveLength(1)
    expect(checks[0]).toMatchObject({ id: 'config', status: 'fail' })
    expect(checks[0]?.message).toContain(`config file ${config}: has mode 0666`)
    expect(existsSync(marker)).toBe(false)
  })

  it('a file of the user, mode 0644 in a 0700 directory, is used as before', async () => {
    const config = plant(configDir(), { mode: 0o644 })
    await sign(config)
    expect(existsSync(marker)).toBe(true)
  })
})

describe('the start-up fast path (a cached token) applies the same rule', () => {
  it('a cached token is not served once the configuration file is writable by others', async () => {
    const world = await tokenWorld()
    try {
      const config = join(world.home.env.XDG_CONFIG_HOME, 'bktx', 'config.json')
      mkdirSync(join(world.home.env.XDG_CONFIG_HOME, 'bktx'), { recursive: true, mode: 0o700 })
      writeFileSync(config, JSON.stringify({ profiles: { default: { ttl: '15m' } } }), { mode: 0o600 })
      const first = await runBin(['token', '--cache', 'file'], { env: world.env })
      expect(first.code, first.stderr).toBe(0)
      const token = first.stdout.trim()
      expect((await runBin(['token', '--cache', 'file'], { env: world.env })).stdout.trim()).toBe(token)
      expect(world.mints()).toBe(1)
      chmodSync(config, 0o666)
      const refused = await runBin(['token', '--cache', 'file'], { env: world.env })
      expect(refused.code).toBe(3)
      expect(refused.stdout).toBe('')
      expect(refused.stderr).toContain(`config file ${config}: has mode 0666`)
    } finally {
      await world.cleanup()
    }
  }, 60_000)
})

describe('the key rotation state file', () => {
  async function rotating(): Promise<string> {
    expect((await runCli(['keygen'], { env: home.env })).code).toBe(0)
    expect((await runCli(['key', 'rotate'], { env: home.env })).code).toBe(0)
    return join(configDir(), 'config.rotation.json')
  }

  it('writable by others: key rotate, key list and status refuse it, doctor fails its check', async () => {
    const state = await rotating()
    chmodSync(state, 0o666)
    const status = await runCli(['key', 'rotate', '--status'], { env: home.env })
    expect(status.code).toBe(3)
    expect(status.stderr.split('\n')[0]).toBe(
      `error: config file ${state}: has mode 0666 (owner uid ${process.getuid?.()}): group or others can write it, so bktx will not use it; once you have checked what it holds, run \`chmod go-w ${state}\``,
    )
    expect((await runCli(['key', 'rotate', '--finish', '--force'], { env: home.env })).code).toBe(3)
    expect((await runCli(['key', 'list'], { env: home.env })).code).toBe(3)
    const shown = JSON.parse((await runCli(['status', '--json'], { env: home.env })).stdout)
    expect(shown.rotation.error).toContain(`${state}: has mode 0666`)
    const doctor = JSON.parse((await runCli(['doctor', '--json', '--token-url', 'http://127.0.0.1:9/oauth/token'], { env: home.env })).stdout)
    expect(doctor.checks.find((c: { id: string }) => c.id === 'rotation')).toMatchObject({ status: 'fail' })
  })

  it.skipIf(!asRoot)('owned by another uid: refused', async () => {
    const state = await rotating()
    chownSync(state, NOBODY, NOBODY)
    const status = await runCli(['key', 'rotate', '--status'], { env: home.env })
    expect(status.code).toBe(3)
    expect(status.stderr).toContain(`${state}: is owned by uid ${NOBODY}, not by you`)
  })
})
