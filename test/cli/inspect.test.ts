import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { fixedClock, runCli, tempHome } from '../helpers/cli.js'
import { writeKeyFiles } from '../helpers/keys.js'

let home: Awaited<ReturnType<typeof tempHome>>
let keyPath: string
let jwksPath: string
const clock = fixedClock('2026-11-28T12:00:00Z')

beforeEach(async () => {
  home = await tempHome()
  keyPath = (await writeKeyFiles(home.dir, 'ES256')).privatePath
  jwksPath = join(home.dir, 'jwks.json')
  await runCli(['jwks', '--key', keyPath, '--out', jwksPath], { env: home.env })
})
afterEach(() => home.cleanup())

async function sign(): Promise<string> {
  const result = await runCli(['sign', '--client-id', 'c1', '--key', keyPath], { env: home.env, clock })
  return result.stdout.trim()
}

describe('bktx inspect', () => {
  it('shows header and claims with dates, and "expires in" on a TTY', async () => {
    const jwt = await sign()
    const plain = await runCli(['inspect', jwt], { env: home.env, clock })
    expect(plain.code).toBe(0)
    expect(plain.stdout).toMatch(/^Header\n {2}alg {2}ES256\n/)
    expect(plain.stdout).toContain('2026-11-28T12:01:00.000Z')
    expect(plain.stdout).not.toContain('expires in')
    const tty = await runCli(['inspect', jwt], { env: home.env, clock, stdoutIsTTY: true })
    expect(tty.stdout).toContain('expires in 1m')
  })

  it('reads stdin and prints raw JSON with --json', async () => {
    const jwt = await sign()
    const result = await runCli(['inspect', '--json', '-'], { env: home.env, clock, stdin: `${jwt}\n` })
    const doc = JSON.parse(result.stdout)
    expect(doc.header).toMatchObject({ alg: 'ES256', typ: 'JWT' })
    expect(doc.payload).toMatchObject({ iss: 'c1', sub: 'c1' })
    expect(doc.verified).toBeUndefined()
  })

  it('verifies signature and time claims with --jwks', async () => {
    const jwt = await sign()
    const ok = await runCli(['inspect', '--json', '--jwks', jwksPath, jwt], { env: home.env, clock })
    expect(ok.code).toBe(0)
    expect(JSON.parse(ok.stdout).verified).toBe(true)
  })

  it('exits 7 with nothing on stdout for a tampered or expired JWT', async () => {
    const jwt = await sign()
    const [h, p, s] = jwt.split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString())
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url')}.${s}`
    const tampered = await runCli(['inspect', '--jwks', jwksPath, forged], { env: home.env, clock })
    expect(tampered).toEqual({ code: 7, stdout: '', stderr: 'error: JWT does not verify: signature verification failed\n' })

    const later = fixedClock('2026-11-28T12:02:00Z')
    const expired = await runCli(['inspect', '--jwks', jwksPath, jwt], { env: home.env, clock: later })
    expect(expired.code).toBe(7)
    expect(expired.stdout).toBe('')
    expect(expired.stderr).toMatch(/expired/)
  })

  it('names --jwks when the JWKS file cannot be used', async () => {
    const missing = join(home.dir, 'missing.json')
    const result = await runCli(['inspect', '--jwks', missing, await sign()], { env: home.env, clock })
    expect(result.code).toBe(3)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(new RegExp(`^error: JWKS ${missing}: cannot read key file ${missing}: .*; check --jwks\n$`))
  })

  it('refuses input that is not a JWT with exit 3', async () => {
    for (const input of ['garbage', 'a.b', 'a.b.c.d', '%%%.x.y']) {
      const result = await runCli(['inspect', input], { env: home.env })
      expect(result.code).toBe(3)
      expect(result.stdout).toBe('')
    }
  })
})
