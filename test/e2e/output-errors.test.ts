import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, runBin } from '../helpers/spawn.js'
import { tokenWorld, type TokenWorld } from '../helpers/token-setup.js'

// Write failures on stdout and stderr, from the built binary: a full device (/dev/full), a
// descriptor open only for reading (EBADF), and a pipe whose reader has gone (EPIPE). docs/daily-use.md,
// "Write failures": exit 9 for a run that would have succeeded, one line on stderr (none
// for EPIPE), never a stack trace; a failed run keeps its own code. A descriptor closed at start
// (`>&-`) is /dev/null to Node, as for a child spawned with stdio 'ignore': output discarded.
// Every command that writes on stdout is run against ENOSPC and EBADF in-process, through the
// same guarded stream (test/cli/output-errors.test.ts); here a few commands of each kind (an
// exchange, a file written before stdout, commander's own help) prove the binary's wiring.

let world: TokenWorld
let env: Record<string, string>
let jwt: string
let n = 0

beforeAll(async () => {
  world = await tokenWorld()
  env = { ...world.env, BKTX_CACHE: 'file' }
  jwt = (await runBin(['sign'], { env })).stdout.trim()
  expect(jwt).toMatch(/^ey/)
})
afterAll(() => world.cleanup())

/** Commands that write data on stdout by different paths; keygen gets a fresh --out each time. */
const COMMANDS: Record<string, () => string[]> = {
  'token (exchange)': () => ['token', '--no-cache'],
  keygen: () => ['keygen', '--out', join(world.home.dir, `key-${++n}.pem`)],
  inspect: () => ['inspect', jwt],
  '--help': () => ['--help'],
}

const quote = (args: string[]) => args.map((a) => `'${a}'`).join(' ')
const noStack = (stderr: string) => expect(stderr).not.toMatch(/^\s+at /m)

describe.skipIf(!existsSync('/dev/full'))('stdout that cannot be written', () => {
  it.each(Object.keys(COMMANDS))('%s: /dev/full and a read-only stdout exit 9 with one line', async (name) => {
    for (const [redirect, reason] of [
      ['>/dev/full', 'no space left on the device \\(ENOSPC\\)'],
      ['1</dev/null', 'it is closed or not open for writing \\(EBADF\\)'],
    ] as const) {
      const result = await runBin([], { env, shell: `$BKTX ${quote(COMMANDS[name]?.() ?? [])} ${redirect}` })
      expect(result.code, `${name} ${redirect}: ${result.stderr}`).toBe(9)
      noStack(result.stderr)
      // keygen says on stderr where the key went before stdout fails: the last line is the error.
      const lines = result.stderr.split('\n').filter(Boolean)
      expect(lines.filter((l) => l.startsWith('error:'))).toEqual([expect.stringMatching(new RegExp(`^error: cannot write to stdout: ${reason}$`))])
    }
  })

  it.each(Object.keys(COMMANDS))('%s: a pipe whose reader has gone exits 9 without a word', async (name) => {
    const child = spawn(process.execPath, [BIN, ...(COMMANDS[name]?.() ?? [])], {
      env: { PATH: process.env['PATH'], ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    // The reader goes away before bktx writes anything.
    child.stdout.destroy()
    let stderr = ''
    child.stderr.on('data', (chunk) => (stderr += chunk))
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])))
    expect({ code, signal }).toEqual({ code: 9, signal: null })
    // No error line (keygen's notes about the key file are its own).
    expect(stderr).not.toMatch(/error/)
    noStack(stderr)
  })

  it('a cached token served by the fast path: the same exit 9 and line', async () => {
    expect((await runBin(['token'], { env })).code).toBe(0)
    const fast = await runBin([], {
      env,
      // dist/fast-token.cjs alone, as bin/bktx.js runs it first: it must serve this hit itself.
      shell: `${process.execPath} -e "require('${join(BIN, '..', '..', 'dist', 'fast-token.cjs')}').serveCachedToken([]).then((served) => { if (!served) process.exit(42) })" >/dev/full`,
    })
    expect(fast.code).toBe(9)
    expect(fast.stderr).toBe('error: cannot write to stdout: no space left on the device (ENOSPC)\n')
    const viaBin = await runBin([], { env, shell: '$BKTX token 1</dev/null' })
    expect(viaBin.code).toBe(9)
    expect(viaBin.stderr).toBe('error: cannot write to stdout: it is closed or not open for writing (EBADF)\n')
  })

  it("a child spawned with stdio 'ignore' (/dev/null, read-write) is not a write failure", async () => {
    // What test harnesses and supervisors built on libuv do; `npm run bench`'s 32 parallel
    // callers run so. A closed stdout (`>&-`) looks exactly the same to bktx.
    for (const args of [['token'], ['token', '--no-cache'], ['jwks']]) {
      const code = await new Promise<number | null>((resolve) =>
        spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env['PATH'], ...env }, stdio: 'ignore' }).on('close', (c) => resolve(c)),
      )
      expect(code, args.join(' ')).toBe(0)
    }
    expect((await runBin([], { env, shell: '$BKTX token >&-' })).code).toBe(0)
  })
})

describe.skipIf(!existsSync('/dev/full'))('stderr that cannot be written', () => {
  it('keeps the code of the error it could not report', async () => {
    const result = await runBin([], { env, shell: `$BKTX token --org BAD 2>/dev/full` })
    expect(result).toMatchObject({ code: 2, stdout: '' })
  })

  it('makes a run that had notes to print exit 9, and leaves one that had none alone', async () => {
    const keygen = await runBin([], { env, shell: `$BKTX keygen --out ${join(world.home.dir, 'stderr-full.pem')} 2>/dev/full` })
    expect(keygen.code).toBe(9)
    expect(keygen.stdout).toMatch(/"keys"/)
    const jwks = await runBin([], { env, shell: `$BKTX jwks 2>/dev/full` })
    expect(jwks.code).toBe(0)
  })
})
