import { describe, expect, it } from 'vitest'
import { buildAllCommands, makeProgram } from '../../../src/cli/program.js'
import { GLOBAL_FLAGS } from '../../../src/fast/args.js'
import { parseFastStatusArgs } from '../../../src/fast/status.js'
import { parseOnlyDeps } from '../../helpers/cli.js'
import { staticInputs } from '../../helpers/import-graph.js'

// The fast path's scan of `bktx status` arguments (src/fast/status.ts); what it prints is
// compared with the full CLI's in test/e2e/status-fast.test.ts.
describe('the fast status path flag table', () => {
  it('agrees with commander: `bktx status` has the global options only, with the same arity', () => {
    const program = buildAllCommands(makeProgram(parseOnlyDeps()))
    const cmd = program.commands.find((c) => c.name() === 'status')
    const commander = new Map<string, 'value' | 'boolean'>()
    for (const option of [...(cmd?.options ?? []), ...program.options]) {
      const arity = option.required || option.optional ? 'value' : 'boolean'
      for (const name of [option.long, option.short]) if (name !== undefined && name !== '-V' && name !== '--version') commander.set(name, arity)
    }
    expect(new Map(Object.entries(GLOBAL_FLAGS).sort())).toEqual(new Map([...commander].sort()))
  })

  it('serves the options it handles, the last value winning as with commander', () => {
    expect(parseFastStatusArgs([])).toEqual({ profile: undefined, config: undefined, json: false, color: true })
    expect(parseFastStatusArgs(['--profile', 'a', '--profile=b', '--config', 'c.json', '--json', '-q', '--quiet', '--no-color'])).toEqual({
      profile: 'b',
      config: 'c.json',
      json: true,
      color: false,
    })
  })

  it.each([
    [['--verbose']],
    [['-v']],
    [['-qv']],
    [['--help']],
    [['-h']],
    [['-V']],
    [['--bogus']],
    [['extra']],
    [['--']],
    [['--profile']],
    [['--profile', '--json']],
    [['--profile=']],
    [['--json=1']],
    [['--color']],
  ])('leaves %j to the full CLI', (argv) => {
    expect(parseFastStatusArgs(argv)).toBeUndefined()
  })
})

describe('what the fast status path loads', () => {
  it('neither commander nor chalk (the cost it exists to spare), nor jose, undici or ora, statically or not', async () => {
    const { statics, dynamics } = await staticInputs('src/fast/status-main.ts')
    const packages = [...statics, ...dynamics].filter((p) => /node_modules\/(commander|chalk|jose|undici|ora)\//.test(p))
    // jose only through src/keys/load.ts, which scripts/build.mjs leaves out of dist/fast-status.cjs.
    expect(packages.filter((p) => !p.includes('node_modules/jose/'))).toEqual([])
    expect(statics.filter((p) => p.includes('node_modules/'))).toEqual([])
    expect(statics).toContain('src/doctor/status-view.ts')
    expect(statics.filter((p) => p.startsWith('src/cli/'))).toEqual([])
  })
})
