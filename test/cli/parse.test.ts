import { describe, expect, it } from 'vitest'
import type { Runner } from '../../src/cli/command.js'
import { makeProgram } from '../../src/cli/program.js'
import { parseOnlyDeps } from '../helpers/cli.js'

// Commands checked without running them (gh's `NewCmdX(f, runF)`): each command's action is
// replaced by one that records what commander parsed, so a table can say which command line
// gives which options, and that the global options reach the Context.

interface Parsed {
  opts: Record<string, unknown>
  args: unknown[]
  verbose: boolean
  json: boolean
}

async function parse(argv: string[], path = argv[0] as string): Promise<Parsed> {
  let parsed: Parsed | undefined
  const capture: Runner = async (ctx, opts, args) => {
    parsed = { opts, args, verbose: ctx.out.verbose, json: ctx.out.json }
  }
  const program = makeProgram(parseOnlyDeps(), { run: { [path]: capture } })
  await program.parseAsync(argv, { from: 'user' })
  if (parsed === undefined) throw new Error(`${path} did not run`)
  return parsed
}

describe('what command lines parse to', () => {
  it('token: repeated scopes, --no-cache, durations in seconds', async () => {
    const { opts } = await parse(['token', '--scope', 'read_builds', '--scope', 'read_user', '--no-cache', '--ttl', '15m', '--min-ttl', '2m'])
    expect(opts).toMatchObject({ scope: ['read_builds', 'read_user'], cache: false, ttl: '15m', minTtl: 120, timeout: 30 })
  })

  it('global options after the command reach the Context', async () => {
    expect(await parse(['token', '-v', '--json'])).toMatchObject({ verbose: true, json: true })
    expect(await parse(['--verbose', 'token'], 'token')).toMatchObject({ verbose: true, json: false })
  })

  it('exec: everything after -- belongs to the command, -v included', async () => {
    const parsed = await parse(['exec', '--scope', 'read_builds', '--', 'sh', '-c', 'exit 3', '-v'])
    expect(parsed.args).toEqual([['sh', '-c', 'exit 3', '-v']])
    expect(parsed.verbose).toBe(false)
    expect(parsed.opts).toMatchObject({ scope: ['read_builds'] })
  })

  it('jwks serve: repeatable keys, port as a number', async () => {
    const { opts } = await parse(['jwks', 'serve', '--key', 'a.pem', '--key', 'b.pem', '--port', '0'], 'jwks serve')
    expect(opts).toMatchObject({ key: ['a.pem', 'b.pem'], port: 0, host: '127.0.0.1' })
  })

  it('keygen and sign: defaults and parsed values', async () => {
    expect((await parse(['keygen'])).opts).toMatchObject({ alg: 'ES256', force: false })
    expect((await parse(['keygen', '--alg', 'RS256', '--bits', '3072'])).opts).toMatchObject({ alg: 'RS256', bits: 3072 })
    expect((await parse(['sign', '--lifetime', '2m', '--claim', 'a=1', '--claim', 'b=x'])).opts).toMatchObject({ lifetime: 120, claim: ['a=1', 'b=x'] })
  })
})
