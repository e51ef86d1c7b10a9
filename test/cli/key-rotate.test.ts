import { generateKeyPairSync } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { fixedClock, runCli, tempHome } from '../helpers/cli.js'
import { serveJwks, type ServedJwks } from '../helpers/jwks-serve.js'

let home: Awaited<ReturnType<typeof tempHome>>
let cleanups: Array<() => Promise<unknown>> = []
beforeEach(async () => {
  home = await tempHome()
})
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
  cleanups = []
  await home.cleanup()
})

const T0 = '2026-11-30T12:00:00Z'

async function kidsIn(path: string): Promise<string[]> {
  return (JSON.parse(await readFile(path, 'utf8')) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid)
}

/** A profile key, its JWKS published to a file that `bktx jwks serve` serves, and jwks-uri pointing there. */
async function published(): Promise<{ kid: string; keyPath: string; pub: string; served: ServedJwks; config: string }> {
  const made = await runCli(['keygen', '--json'], { env: home.env })
  expect(made.code).toBe(0)
  const { kid, path } = JSON.parse(made.stdout) as { kid: string; path: string }
  const pub = join(home.dir, 'public', 'jwks.json')
  expect((await runCli(['jwks', '--out', pub], { env: home.env })).code).toBe(0)
  const served = await serveJwks([pub], home.env)
  cleanups.push(served.stop)
  expect((await runCli(['config', 'set', 'jwks-uri', served.url], { env: home.env })).code).toBe(0)
  return { kid, keyPath: path, pub, served, config: join(home.env.XDG_CONFIG_HOME, 'bktx', 'config.json') }
}

async function profileKey(): Promise<string> {
  return (await runCli(['config', 'get', 'key'], { env: home.env })).stdout.trim()
}

describe('bktx key rotate', () => {
  it('rotates in full: publishes old + new, enforces the hour from when the new kid is served, then publishes the new key alone', async () => {
    const { kid: oldKid, keyPath: oldPath, pub, config } = await published()
    const clock = fixedClock(T0)
    const run = (args: string[]) => runCli(['key', 'rotate', '--allow-http-jwks', ...args], { env: home.env, clock })

    const start = await run(['--out', pub])
    expect(start.code).toBe(0)
    expect(start.stdout).toBe('')
    const newKid = (/wrote ES256 private key .* \(mode 0600, kid (\S+)\)/.exec(start.stderr) ?? [])[1] as string
    expect(newKid).toBeDefined()
    expect(await kidsIn(pub)).toEqual([oldKid, newKid])
    expect(start.stderr).toContain(`rotation of profile "default" started: it signs with ${oldKid} until the rotation finishes`)
    // `bktx jwks serve` re-read the file at once, so the hour starts now.
    expect(start.stderr).toMatch(/WARN {2}wait {6}first seen serving the new key 2026-11-30T12:00:00Z, 0s ago/)
    expect(start.stderr).toContain('an hour after that (2026-11-30T13:00:00Z), `bktx key rotate --finish` switches')
    expect(await profileKey()).toBe(oldPath)
    expect(existsSync(join(home.env.XDG_CONFIG_HOME, 'bktx', 'config.rotation.json'))).toBe(true)
    // status and doctor show the pending rotation.
    const pending = JSON.parse((await runCli(['status', '--json'], { env: home.env, clock })).stdout)
    expect(pending.rotation).toMatchObject({
      started_at: '2026-11-30T12:00:00.000Z',
      old_kid: oldKid,
      next_kid: newKid,
      served_since: '2026-11-30T12:00:00.000Z',
    })
    expect((await runCli(['status'], { env: home.env, clock })).stdout).toContain(
      `rotation  pending since 2026-11-30T12:00:00Z: ${oldKid} → ${newKid} (new key published since 2026-11-30T12:00:00Z)`,
    )
    const doctor = JSON.parse(
      (await runCli(['doctor', '--json', '--allow-http-jwks', '--token-url', 'http://127.0.0.1:9/oauth/token'], { env: home.env, clock })).stdout,
    )
    expect(doctor.checks.find((c: { id: string }) => c.id === 'rotation')).toMatchObject({
      status: 'warn',
      fix: 'see when it can finish with `bktx key rotate --status`, then run `bktx key rotate --finish`',
    })

    clock.advance(10 * 60)
    const status = await run(['--status'])
    expect(status.code).toBe(0)
    expect(status.stdout).toMatch(/^PASS {2}jwks-old/m)
    expect(status.stdout).toMatch(/^WARN {2}wait .*first seen serving the new key 2026-11-30T12:00:00Z, 10m ago/m)
    expect(status.stdout).toContain('fix: finish at 2026-11-30T13:00:00Z or later (in 50m) with `bktx key rotate --finish`')
    expect(status.stdout.trimEnd().split('\n').at(-1)).toBe('not before 2026-11-30T13:00:00Z')

    const early = await run(['--finish'])
    expect(early.code).toBe(11)
    expect(early.stdout).toMatch(/^FAIL {2}wait/m)
    expect(early.stderr).toBe('error: the rotation cannot finish yet: 1 check failed (wait); the report says how to fix it\n')
    expect(await profileKey()).toBe(oldPath)
    expect(await kidsIn(pub)).toEqual([oldKid, newKid])

    clock.advance(50 * 60 - 1)
    expect((await run(['--finish'])).code).toBe(11)

    clock.advance(1)
    const finish = await run(['--finish', '--json'])
    expect(finish.code).toBe(0)
    const doc = JSON.parse(finish.stdout)
    expect(doc).toMatchObject({
      profile: 'default',
      finished: true,
      forced: false,
      ready: true,
      still_using_old: [],
      out: pub,
      next: { kid: newKid },
      old: { kid: oldKid },
    })
    expect(doc.checks.find((c: { id: string }) => c.id === 'wait')).toMatchObject({ status: 'pass' })
    expect(await profileKey()).toBe(doc.next.path)
    expect(await kidsIn(pub)).toEqual([newKid])
    expect(finish.stderr).toContain(`The old key file ${oldPath} is no longer used`)
    expect(JSON.parse(await readFile(config, 'utf8')).profiles.default.key).toBe(doc.next.path)

    expect(JSON.parse((await runCli(['status', '--json'], { env: home.env })).stdout).rotation).toBeNull()
    const after = await run(['--status'])
    expect(after.code).toBe(3)
    expect(after.stderr).toBe('error: no key rotation is pending for profile "default"; start one with `bktx key rotate`\n')

    const list = JSON.parse((await runCli(['key', 'list', '--json'], { env: home.env })).stdout) as Array<{
      kid: string
      used_by: Array<{ profile: string }>
      rotations: unknown[]
    }>
    expect(list.map((k) => [k.kid, k.used_by.map((u) => u.profile), k.rotations.length]).sort()).toEqual(
      [
        [newKid, ['default'], 0],
        [oldKid, [], 0],
      ].sort(),
    )
  })

  it('starts the hour again when the URI stops serving the new kid', async () => {
    const { kid: oldKid, keyPath: oldPath, pub } = await published()
    const clock = fixedClock(T0)
    const run = (args: string[]) => runCli(['key', 'rotate', '--allow-http-jwks', ...args], { env: home.env, clock })
    expect((await run(['--out', pub])).code).toBe(0)
    const both = await readFile(pub, 'utf8')

    // Someone republishes the old set: the new kid is gone.
    clock.advance(20 * 60)
    expect((await runCli(['jwks', '--out', pub, '--key', oldPath], { env: home.env })).code).toBe(0)
    const gone = await run(['--status'])
    expect(gone.code).toBe(11)
    expect(gone.stdout).toMatch(/^FAIL {2}jwks-kid .*has no key with kid \S+, the new key/m)
    expect(await kidsIn(pub)).toEqual([oldKid])

    clock.advance(20 * 60)
    await writeFile(pub, both)
    const back = await run(['--status'])
    expect(back.code).toBe(0)
    expect(back.stdout).toMatch(/first seen serving the new key 2026-11-30T12:40:00Z, 0s ago/)

    clock.advance(30 * 60)
    expect((await run(['--finish'])).code).toBe(11)
    clock.advance(30 * 60)
    expect((await run(['--finish'])).code).toBe(0)
  })

  // Issue 20: an http:// JWKS URI refused for want of --allow-http-jwks was reported as a JWKS
  // that lacks the old kid. Nothing was fetched: the report says that, and why, and records nothing.
  it('says the JWKS was not fetched, and why, when --allow-http-jwks is missing; it does not judge the kids nor restart the hour', async () => {
    const { pub } = await published()
    const clock = fixedClock(T0)
    expect((await runCli(['key', 'rotate', '--allow-http-jwks', '--out', pub], { env: home.env, clock })).code).toBe(0)
    clock.advance(10 * 60)
    const refused = await runCli(['key', 'rotate', '--status'], { env: home.env, clock })
    expect(refused.code).toBe(11)
    expect(refused.stdout).toMatch(
      /^FAIL {2}jwks +the JWKS at http:\/\/127\.0\.0\.1:\d+\/\S* was not fetched, so neither kid was checked: the URI must be https:\/\//m,
    )
    expect(refused.stdout).toContain('--allow-http-jwks')
    expect(refused.stdout).not.toMatch(/jwks-old|jwks-kid|lacks/)
    // The hour still counts from when the new key was first seen: nothing was recorded.
    const allowed = await runCli(['key', 'rotate', '--allow-http-jwks', '--status'], { env: home.env, clock })
    expect(allowed.code).toBe(0)
    expect(allowed.stdout).toMatch(/^PASS {2}jwks-old/m)
    expect(allowed.stdout).toMatch(/first seen serving the new key 2026-11-30T12:00:00Z, 10m ago/)

    // Fetched but not read (HTTP 404): the jwks check says so; the old kid is not called missing.
    const missingUri = new URL('/missing.json', (await runCli(['config', 'get', 'jwks-uri'], { env: home.env })).stdout.trim())
    expect((await runCli(['config', 'set', 'jwks-uri', missingUri.href], { env: home.env })).code).toBe(0)
    const missing = await runCli(['key', 'rotate', '--allow-http-jwks', '--status'], { env: home.env, clock })
    expect(missing.code).toBe(11)
    expect(missing.stdout).toMatch(/^FAIL {2}jwks +http:\/\/127\.0\.0\.1:\d+\/missing\.json: answered HTTP 404/m)
    expect(missing.stdout).not.toMatch(/jwks-old|lacks/)
  })

  it('with a JWKS registered inline (no jwks-uri): the same steps, the wait explained rather than enforced', async () => {
    const made = await runCli(['keygen', '--json'], { env: home.env })
    const { kid: oldKid } = JSON.parse(made.stdout) as { kid: string }
    const start = await runCli(['key', 'rotate'], { env: home.env })
    expect(start.code).toBe(0)
    const both = JSON.parse(start.stdout) as { keys: Array<{ kid: string; d?: string }> }
    expect(both.keys).toHaveLength(2)
    expect(both.keys[0]?.kid).toBe(oldKid)
    expect(both.keys.some((k) => k.d !== undefined)).toBe(false)
    expect(start.stderr).toMatch(/WARN {2}jwks {2}no jwks-uri is set, so bktx cannot see what the application holds/)
    expect(start.stderr).toContain('register the JWKS on stdout (the old and the new key) with the application')

    const finish = await runCli(['key', 'rotate', '--finish'], { env: home.env })
    expect(finish.code).toBe(0)
    const alone = JSON.parse(finish.stdout) as { keys: Array<{ kid: string }> }
    expect(alone.keys.map((k) => k.kid)).toEqual([both.keys[1]?.kid])
    expect(finish.stderr).toMatch(/a JWKS registered inline is used at once, with no cache to wait out/)
    expect(finish.stderr).toContain('the JWKS on stdout: register it in place of the old one')
    expect(finish.stderr).not.toContain('forced')
  })

  it('--force finishes at once, saying so; --cancel publishes the old key alone again', async () => {
    const { kid: oldKid, keyPath: oldPath, pub } = await published()
    const clock = fixedClock(T0)
    const run = (args: string[]) => runCli(['key', 'rotate', '--allow-http-jwks', ...args], { env: home.env, clock })
    expect((await run(['--out', pub])).code).toBe(0)
    const cancel = await run(['--cancel'])
    expect(cancel.code).toBe(0)
    expect(await kidsIn(pub)).toEqual([oldKid])
    expect(await profileKey()).toBe(oldPath)
    expect(cancel.stderr).toMatch(/The new key file .* is not used; delete it\./)

    expect((await run(['--out', pub])).code).toBe(0)
    const forced = await run(['--finish', '--force'])
    expect(forced.code).toBe(0)
    expect(forced.stderr).toMatch(/^FAIL {2}wait/m)
    expect(forced.stderr).toContain('warning: forced: the profile switched although the checks above did not pass')
    expect(await profileKey()).not.toBe(oldPath)
    expect(await kidsIn(pub)).toHaveLength(1)
  })

  it('refuses a second rotation while one is pending, a key from the environment, and mixed modes', async () => {
    const { keyPath } = await published()
    expect((await runCli(['key', 'rotate'], { env: home.env })).code).toBe(0)
    const again = await runCli(['key', 'rotate'], { env: home.env })
    expect(again.code).toBe(3)
    expect(again.stderr).toMatch(
      /a key rotation of profile "default" is pending since .*; see it with `bktx key rotate --status`, end it with `bktx key rotate --finish` or drop it with `bktx key rotate --cancel`/,
    )
    const fromEnv = await runCli(['key', 'rotate', '--cancel'], { env: { ...home.env, BKTX_KEY: keyPath } })
    expect(fromEnv.code).toBe(0)
    const envKey = await runCli(['key', 'rotate'], { env: { ...home.env, BKTX_KEY: keyPath } })
    expect(envKey.code).toBe(2)
    expect(envKey.stderr).toMatch(/^error: BKTX_KEY: overrides the profile's key, and a rotation switches the profile's key; leave it unset/)
    const mixed = await runCli(['key', 'rotate', '--status', '--finish'], { env: home.env })
    expect(mixed.code).toBe(2)
    expect((await runCli(['key', 'rotate', '--status', '--kid', 'x'], { env: home.env })).code).toBe(2)
    expect((await runCli(['key', 'rotate', '--force'], { env: home.env })).code).toBe(2)
  })

  it('keeps the old key published while another profile still signs with it', async () => {
    const { kid: oldKid, keyPath: oldPath, pub } = await published()
    expect((await runCli(['config', 'set', 'key', oldPath, '--profile', 'ci'], { env: home.env })).code).toBe(0)
    const clock = fixedClock(T0)
    const run = (args: string[]) => runCli(['key', 'rotate', '--allow-http-jwks', ...args], { env: home.env, clock })
    expect((await run(['--out', pub])).code).toBe(0)
    clock.advance(3600)
    const finish = await run(['--finish'])
    expect(finish.code).toBe(0)
    expect(finish.stderr).toContain(`warning: profile "ci" still signs with the old key ${oldKid}, so it stays in the JWKS; rotate that profile too`)
    expect((await kidsIn(pub)).sort()).toEqual([oldKid, (await kidsIn(pub)).find((k) => k !== oldKid)].sort())
    const list = await runCli(['key', 'list'], { env: home.env })
    expect(list.stdout).toMatch(new RegExp(`${oldKid} {2}ES256 {2}\\S+\\n.*\\n {2}used by: ci`))
  })
})

describe('bktx key rotate never strands or swaps the key in use (issue 22)', () => {
  const statePath = () => join(home.env.XDG_CONFIG_HOME, 'bktx', 'config.rotation.json')
  async function recorded(): Promise<{ old: { path: string; kid: string }; next: { path: string; kid: string } }> {
    return JSON.parse(await readFile(statePath(), 'utf8')).rotations.default
  }

  it('a --finish that cannot publish leaves the profile on the old key; a profile on the new key already is finished, never cancelled', async () => {
    const { kid: oldKid, keyPath: oldPath, pub } = await published()
    const clock = fixedClock(T0)
    const run = (args: string[]) => runCli(['key', 'rotate', '--allow-http-jwks', ...args], { env: home.env, clock })
    expect((await run(['--out', pub])).code).toBe(0)
    const { next } = await recorded()
    clock.advance(3600)
    // Publishing fails: the directory of --out is a file.
    const blocked = join(home.dir, 'a-file')
    await writeFile(blocked, '')
    const failed = await run(['--finish', '--out', join(blocked, 'jwks.json')])
    expect(failed.code).toBe(3)
    // Before the fix the profile was on the new key here, and --status said "ready".
    expect(await profileKey()).toBe(oldPath)
    expect(await kidsIn(pub)).toEqual([oldKid, next.kid])
    const ready = await run(['--status'])
    expect(ready.code).toBe(0)
    expect(ready.stdout.trimEnd().split('\n').at(-1)).toBe('ready: `bktx key rotate --finish` switches to the new key')

    // What a switch without an end leaves (an interrupted --finish, or one by an earlier bktx).
    expect((await runCli(['config', 'set', 'key', next.path], { env: home.env })).code).toBe(0)
    const switched = await run(['--status'])
    expect(switched.code).toBe(0)
    expect(switched.stdout).toMatch(
      new RegExp(`^WARN {2}switched .*profile "default" signs with the new key ${next.kid} already, but the rotation did not end`, 'm'),
    )
    expect(switched.stdout.trimEnd().split('\n').at(-1)).toBe('switched already: `bktx key rotate --finish` publishes the new key and ends the rotation')
    const cancel = await run(['--cancel'])
    expect(cancel.code).toBe(3)
    expect(cancel.stderr.split('\n')[0]).toBe(
      `error: profile "default" signs with the new key ${next.kid} (${next.path}) already: cancelling would unpublish the key in use; end the rotation with \`bktx key rotate --finish\`, or point the profile back at the old key (${oldPath}) first`,
    )
    expect(cancel.stderr).not.toContain('delete it')
    expect(await kidsIn(pub)).toEqual([oldKid, next.kid])
    const finish = await run(['--finish', '--json'])
    expect(finish.code).toBe(0)
    expect(JSON.parse(finish.stdout)).toMatchObject({ finished: true, forced: false, switched: true })
    expect(await kidsIn(pub)).toEqual([next.kid])
    expect(await profileKey()).toBe(next.path)
    expect(existsSync(statePath()) && Object.keys(JSON.parse(await readFile(statePath(), 'utf8')).rotations)).toEqual([])
  })

  it('refuses a key file that no longer holds the recorded key, at --status, --finish and --cancel', async () => {
    const { keyPath: oldPath, pub } = await published()
    const clock = fixedClock(T0)
    const run = (args: string[]) => runCli(['key', 'rotate', '--allow-http-jwks', ...args], { env: home.env, clock })
    expect((await run(['--out', pub])).code).toBe(0)
    const { old, next } = await recorded()
    const both = await readFile(pub, 'utf8')
    clock.advance(3600)
    const another = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string

    const nextText = await readFile(next.path, 'utf8')
    await writeFile(next.path, another, { mode: 0o600 })
    const replaced = `the new key file ${next.path} no longer holds the key recorded when the rotation of profile "default" started (kid ${next.kid})`
    for (const args of [['--status'], ['--finish'], ['--finish', '--force'], ['--cancel']]) {
      const refused = await run(args)
      expect(refused.code, args.join(' ')).toBe(3)
      expect(refused.stderr.split('\n')[0]).toContain(`error: ${replaced}: its fingerprint is `)
      // Before the fix --finish --force switched to it and published it under the recorded kid.
      expect(await profileKey()).toBe(oldPath)
      expect(await readFile(pub, 'utf8')).toBe(both)
    }
    await writeFile(next.path, nextText, { mode: 0o600 })

    const oldText = await readFile(old.path, 'utf8')
    await writeFile(old.path, another, { mode: 0o600 })
    for (const args of [['--status'], ['--finish', '--force'], ['--cancel']]) {
      const refused = await run(args)
      expect(refused.code, args.join(' ')).toBe(3)
      expect(refused.stderr.split('\n')[0]).toContain(`error: the old key file ${old.path} no longer holds the key recorded`)
      expect(await readFile(pub, 'utf8')).toBe(both)
    }
    await writeFile(old.path, oldText, { mode: 0o600 })
    expect((await run(['--cancel'])).code).toBe(0)
    expect(await kidsIn(pub)).toEqual([old.kid])
  })
})

describe('bktx keygen, a second time', () => {
  it('says the profile still signs with the old key, and names bktx key rotate (what it writes is unchanged)', async () => {
    const first = await runCli(['keygen', '--json'], { env: home.env })
    const { path } = JSON.parse(first.stdout) as { path: string }
    const second = await runCli(['keygen', '--json'], { env: home.env })
    expect(second.code).toBe(0)
    expect(JSON.parse(second.stdout).profile).toBeNull()
    expect(second.stderr).toContain(`note: profile "default" still signs with ${path}; this key is used by no profile.`)
    expect(second.stderr).toContain('use `bktx key rotate`')
    expect(await profileKey()).toBe(path)
  })
})
