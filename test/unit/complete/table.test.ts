import { describe, expect, it } from 'vitest'
import { packTable, unpackTable } from '../../../src/complete/pack.js'
import { programTable } from '../../../src/cli/completion-program.js'

// The completion table of the real program (src/cli/completion-table.ts): every value that is a
// path completes file names, and nothing else does.

const table = programTable()
const everyOption = [
  ...table.options.map((option) => ({ path: '', option })),
  ...table.commands.flatMap((c) => c.options.map((option) => ({ path: c.path, option }))),
]

/** Options whose description mentions a file but whose value is not a path. */
const NOT_A_PATH = new Set([
  // env:NAME or file:PATH: a path only after a prefix the shell's file completion cannot add
  'pin-source',
  // a key ID ("default: the key file's own kid")
  'kid',
])

describe('the completion table', () => {
  it('completes file names for every option that takes a file, path or directory', () => {
    const mentions = everyOption.filter(
      ({ option }) => option.value !== undefined && option.value.kind !== 'choices' && /\b(file|path|dir|directory|module)\b/i.test(option.description),
    )
    expect(mentions.length).toBeGreaterThan(10)
    for (const { path, option } of mentions) {
      if (NOT_A_PATH.has(option.long)) continue
      expect({ path, option: option.long, kind: option.value?.kind }).toEqual({ path, option: option.long, kind: expect.stringMatching(/^(files|dirs)$/) })
    }
  })

  it('knows the path options of the issue, in every command that has them', () => {
    const kinds = (long: string) => new Set(everyOption.filter(({ option }) => option.long === long).map(({ path, option }) => `${path}:${option.value?.kind}`))
    for (const long of ['out', 'jwks', 'config', 'public-key', 'ca-file', 'new-key', 'pkcs11-module']) {
      for (const kind of kinds(long)) expect(kind).toMatch(/:files$/)
    }
    expect([...kinds('key')].filter((k) => !k.endsWith(':files'))).toEqual(['keygen:none'])
    expect([...kinds('state-dir')]).toEqual(['server:dirs'])
  })

  it('survives packing for dist/complete.cjs unchanged', () => {
    const packed = packTable(table)
    expect(unpackTable(JSON.parse(JSON.stringify(packed)))).toEqual(table)
    expect(JSON.stringify(packed).length).toBeLessThan(JSON.stringify(table).length / 2)
  })
})
