import { describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'

// `bktx exec`'s usage messages (issue 20): a nested exec is one sentence with its way out and
// no usage line (the command line was fine); an option meant for the command gets the `--` hint.

describe('bktx exec messages', () => {
  it('inside another bktx exec: one complete sentence with advice, exit 2, no usage line', async () => {
    const result = await runCli(['exec', '--', 'true'], { env: { BKTX_EXEC: '1' } })
    expect(result.code).toBe(2)
    expect(result.stderr).toBe(
      'error: already inside bktx exec (BKTX_EXEC is set), whose token is in BUILDKITE_API_TOKEN; use that token, or pass --allow-nested to run another bktx exec inside this one\n',
    )
    const json = await runCli(['exec', '--json', '--', 'true'], { env: { BKTX_EXEC: '1' } })
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: 'BKTX_USAGE', exit: 2 } })
  })

  it("an option after the command's name: the error says to put -- before the command, quoting as a shell would", async () => {
    const result = await runCli(['exec', 'ls', '-la', 'a b'])
    expect(result.code).toBe(2)
    expect(result.stderr).toBe("error: unknown option '-la'; put `--` before the command: bktx exec -- ls -la 'a b'\nUsage: bktx exec [options] <command...>\n")
  })

  it("keeps commander's message for a mistyped option of exec's own, and for every other command", async () => {
    const typo = await runCli(['exec', '--refersh', '--', 'ls'])
    expect(typo.code).toBe(2)
    expect(typo.stderr).toBe("error: unknown option '--refersh'\n(Did you mean --refresh?)\nUsage: bktx exec [options] <command...>\n")
    const token = await runCli(['token', '-la'])
    expect(token.stderr).toBe("error: unknown option '-la'\nUsage: bktx token [options]\n")
  })
})
