import { describe, expect, it } from 'vitest'
import { EXIT_CODES_HELP } from '../../src/cli/exit-codes.js'
import { EXIT, errorCodesOf, exitCodeFor, type ExitCode } from '../../src/exit-codes.js'

describe('bktx help exit-codes', () => {
  it('is generated from the table: every exit code with the error codes that give it', () => {
    const entries = EXIT_CODES_HELP.split('\n\n')[1]?.split(/\n(?= {2}\d)/) ?? []
    const codes = (Object.values(EXIT) as ExitCode[]).sort((a, b) => a - b)
    expect(entries.map((entry) => Number(entry.trim().split(/\s/)[0]))).toEqual(codes)
    for (const [i, exit] of codes.entries()) {
      const named = [...(entries[i] ?? '').matchAll(/BKTX_[A-Z0-9_]+/g)].map((m) => m[0])
      expect(named, `exit ${exit}`).toEqual(errorCodesOf(exit))
      for (const code of named) expect(exitCodeFor(code as Parameters<typeof exitCodeFor>[0])).toBe(exit)
    }
    for (const line of EXIT_CODES_HELP.split('\n')) expect(line.length).toBeLessThanOrEqual(88)
  })
})
