import { createWriteStream, existsSync, openSync } from 'node:fs'
import type { Writable } from 'node:stream'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { OutStream } from '../../src/deps.js'
import { guardStream } from '../../src/term/process.js'
import { runCli } from '../helpers/cli.js'
import { tokenWorld, type TokenWorld } from '../helpers/token-setup.js'

// Write failures on stdout, for every command that writes data there: the real guarded
// stream of src/bin.ts (src/term/process.ts) over a real descriptor that fails, with the CLI
// run in-process. README, "Output and exit codes": exit 9 for a run that would have
// succeeded, one line on stderr (none for EPIPE), never a stack trace. The built binary's own
// stdout and stderr, the fast path and a closed descriptor are proven in
// test/e2e/output-errors.test.ts, for a few of these commands.

let world: TokenWorld
let env: Record<string, string>
let jwt: string
let n = 0

beforeAll(async () => {
  world = await tokenWorld()
  env = { ...world.env, BKTX_CACHE: 'file' }
  jwt = (await runCli(['sign'], { env })).stdout.trim()
  expect(jwt).toMatch(/^ey/)
})
afterAll(() => world.cleanup())

/** Every command line that writes data on stdout; each gets a fresh --out where it writes a file. */
const COMMANDS: Record<string, () => string[]> = {
  'token (exchange)': () => ['token', '--no-cache'],
  env: () => ['env', '--no-cache'],
  whoami: () => ['whoami', '--mint'],
  jwks: () => ['jwks'],
  sign: () => ['sign'],
  keygen: () => ['keygen', '--out', join(world.home.dir, `key-${++n}.pem`)],
  inspect: () => ['inspect', jwt],
  'config list': () => ['config', 'list'],
  'cache list': () => ['cache', 'list'],
  '--help': () => ['--help'],
  '--version': () => ['--version'],
  'help exit-codes': () => ['help', 'exit-codes'],
}

const guarded = (stream: Writable): OutStream => guardStream(stream as unknown as NodeJS.WriteStream)

// A pipe whose reader has gone (EPIPE, exit 9 without a word) is the built binary's to prove:
// test/e2e/output-errors.test.ts.
const FAILURES: Array<[string, () => Writable, RegExp]> = [
  ['a full device (/dev/full)', () => createWriteStream('/dev/full'), /^error: cannot write to stdout: no space left on the device \(ENOSPC\)$/],
  [
    'a descriptor open only for reading',
    () => createWriteStream('', { fd: openSync('/dev/null', 'r') }),
    /^error: cannot write to stdout: it is closed or not open for writing \(EBADF\)$/,
  ],
]

describe.skipIf(!existsSync('/dev/full'))('stdout that cannot be written', () => {
  for (const [failure, open, line] of FAILURES) {
    it.each(Object.keys(COMMANDS))(`%s: ${failure} exits 9 with one line`, async (name) => {
      const result = await runCli(COMMANDS[name]?.() ?? [], { env, stdoutStream: guarded(open()) })
      expect(result.code, `${name}: ${result.stderr}`).toBe(9)
      expect(result.stderr).not.toMatch(/^\s+at /m)
      // keygen says on stderr where the key went before stdout fails: only the error line counts.
      const errors = result.stderr.split('\n').filter((l) => l.startsWith('error:'))
      expect(errors).toEqual([expect.stringMatching(line)])
    })
  }
})

describe.skipIf(!existsSync('/dev/full'))('stderr that cannot be written', () => {
  it('keeps the code of the error it could not report', async () => {
    const result = await runCli(['token', '--org', 'BAD'], { env, stderrStream: guarded(createWriteStream('/dev/full')) })
    expect(result).toMatchObject({ code: 2, stdout: '' })
  })

  it('makes a run that had notes to print exit 9, and leaves one that had none alone', async () => {
    const keygen = await runCli(['keygen', '--out', join(world.home.dir, 'stderr-full.pem')], { env, stderrStream: guarded(createWriteStream('/dev/full')) })
    expect(keygen.code).toBe(9)
    expect(keygen.stdout).toMatch(/"keys"/)
    const jwks = await runCli(['jwks'], { env, stderrStream: guarded(createWriteStream('/dev/full')) })
    expect(jwks.code).toBe(0)
  })
})
