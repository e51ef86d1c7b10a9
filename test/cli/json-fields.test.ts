import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { JSON_FIELDS } from '../../src/cli/json-fields.js'
import { runCli } from '../helpers/cli.js'
import { tokenWorld, type TokenWorld } from '../helpers/token-setup.js'

// The --json documents carry exactly the fields their table lists (src/cli/json-fields.ts), the
// table `bktx help COMMAND` and docs/reference/json.md print: each command runs for real against
// the reference server on 127.0.0.1 and its document's keys are compared with the table.

let world: TokenWorld
beforeAll(async () => {
  world = await tokenWorld()
})
afterAll(() => world.cleanup())

const FILE = ['--cache', 'file']

/** The command lines to run, by the path of the table entry they check (all of its fields, or `optional` left out). */
const RUNS: ReadonlyArray<{ path: string; argv: string[]; stdin?: () => Promise<string>; optional?: string[] }> = [
  { path: 'token', argv: ['token', '--json', ...FILE] },
  { path: 'env', argv: ['env', '--json', ...FILE] },
  { path: 'whoami', argv: ['whoami', '--json', ...FILE] },
  { path: 'cache list', argv: ['cache', 'list', '--json'] },
  { path: 'status', argv: ['status', '--json'] },
  { path: 'sign', argv: ['sign', '--json'] },
  { path: 'inspect', argv: ['inspect', '--json', '-'], stdin: async () => (await runCli(['sign'], { env: world.env })).stdout, optional: ['verified'] },
  { path: 'config list', argv: ['config', 'list', '--json'] },
  { path: 'config get', argv: ['config', 'get', 'token-url', '--json'] },
  { path: 'config path', argv: ['config', 'path', '--json'] },
  { path: 'config profiles', argv: ['config', 'profiles', '--json'] },
  { path: 'help', argv: ['help', 'exit-codes', '--json'] },
]

describe('--json documents have the fields their table lists', () => {
  it.each(RUNS)('bktx $path', async ({ path, argv, stdin, optional }) => {
    const table = JSON_FIELDS[path]
    expect(table, `no table for ${path}`).toBeDefined()
    const input = stdin === undefined ? {} : { stdin: await stdin() }
    const result = await runCli(argv, { env: world.env, ...input })
    expect(result.code, result.stderr).toBe(0)
    const parsed = JSON.parse(result.stdout) as Record<string, unknown> | Record<string, unknown>[]
    const document = Array.isArray(parsed) ? parsed[0] : parsed
    expect(Array.isArray(parsed)).toBe(table?.shape === 'array')
    expect(document, `${argv.join(' ')} printed an empty list`).toBeDefined()
    const expected = Object.keys(table?.fields ?? {}).filter((name) => !(optional ?? []).includes(name))
    expect(Object.keys(document ?? {}).sort()).toEqual(expected.sort())
  })
})
