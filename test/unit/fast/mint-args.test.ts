import { describe, expect, it } from 'vitest'
import type { Context } from '../../../src/cli/context.js'
import { makeProgram } from '../../../src/cli/program.js'
import { parseMintArgs } from '../../../src/fast/args.js'
import { parseOnlyDeps } from '../../helpers/cli.js'

// The token mint (src/mint/main.ts) scans `bktx token` and `bktx env` arguments itself and hands
// the full CLI's token commands what commander would: the same options object, the same
// global options. Checked here against commander's own parse of the same command lines.

async function commanderParse(argv: string[]): Promise<{ options: Record<string, unknown>; globals: Record<string, unknown> }> {
  let seen: { options: Record<string, unknown>; globals: Record<string, unknown> } | undefined
  const capture = async (ctx: Context, opts: Record<string, unknown>) => {
    const { profile, config, json, quiet, color, verbose } = ctx.globals
    seen = { options: opts, globals: Object.fromEntries(Object.entries({ profile, config, json, quiet, color, verbose }).filter(([, v]) => v !== undefined)) }
  }
  await makeProgram(parseOnlyDeps(), { run: { token: capture, env: capture } }).parseAsync(argv, { from: 'user' })
  if (seen === undefined) throw new Error(`commander ran no action for ${argv.join(' ')}`)
  return seen
}

function mintParse(argv: string[]) {
  const [command, ...args] = argv
  const parsed = parseMintArgs(args, command as 'token' | 'env')
  if (parsed === undefined) return undefined
  const { profile, config, json, quiet, color } = parsed.args
  // As src/mint/main.ts builds them.
  const globals = {
    ...(profile === undefined ? {} : { profile }),
    ...(config === undefined ? {} : { config }),
    ...(json ? { json } : {}),
    ...(quiet ? { quiet } : {}),
    color,
  }
  return { options: parsed.options, globals }
}

describe('the token mint argument scan', () => {
  it.each([
    [['token']],
    [['token', '--no-cache']],
    [['token', '--refresh', '--json', '-q']],
    [['token', '--cache', 'file', '--no-cache']],
    [['token', '--no-cache', '--cache=file']],
    [['token', '--scope', 'read_builds', '--scope=read_user', '--ttl', '15m', '--min-ttl', '5m']],
    [['token', '--timeout', '2m', '--ca-file', 'ca.pem', '--no-color']],
    [['token', '--token-url', 'https://x.test/oauth/token', '--client-id', 'abc', '--subject-type', 'uuid', '--key', 'env:K', '--kid', 'k1']],
    [['token', '--profile', 'ci', '--config=/tmp/c.json', '--org', 'acme', '--subject', 'a@b.c', '--aud', 'https://a.test']],
    [['token', '--pkcs11-module', '/lib/p.so', '--pin-source', 'env:PIN', '--public-key', 'p.pem', '--quiet']],
    [['env', '--no-cache', '--shell', 'fish']],
    [['env', '--shell=powershell', '--refresh', '--json']],
  ])('bktx %j: what commander parses', async (argv) => {
    const mint = mintParse(argv)
    expect(mint).toBeDefined()
    expect(mint).toEqual(await commanderParse(argv))
  })

  it.each([
    [['token', '--verbose']],
    [['token', '-v']],
    [['token', '--help']],
    [['token', 'extra']],
    [['token', '--scope']],
    [['token', '--no-cache=1']],
    [['token', '--timeout', '0']],
    [['token', '--min-ttl', 'soon']],
    [['env', '--shell', 'nosuch']],
    [['token', '--shell', 'fish']],
    [['token', '-qv']],
  ])('leaves bktx %j to the full CLI', (argv) => {
    expect(mintParse(argv)).toBeUndefined()
  })
})
