import { describe, expect, it } from 'vitest'
import { EXIT_CODES_HELP } from '../../src/cli/exit-codes.js'
import { runCli } from '../helpers/cli.js'

describe('the CLI frame', () => {
  it('prints the version and help on stdout with exit 0', async () => {
    expect(await runCli(['--version'])).toEqual({ code: 0, stdout: '0.0.0-test\n', stderr: '' })
    const help = await runCli(['--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/^Usage: bktx \[options\] \[command\]/)
    for (const command of ['keygen', 'jwks', 'sign', 'inspect', 'config']) expect(help.stdout).toContain(command)
  })

  it('documents the exit codes in `bktx help exit-codes`', async () => {
    const result = await runCli(['help', 'exit-codes'])
    expect(result).toEqual({ code: 0, stdout: EXIT_CODES_HELP, stderr: '' })
  })

  it('shows help for a command through `bktx help COMMAND`', async () => {
    const result = await runCli(['help', 'jwks', 'serve'])
    expect(result.stdout).toMatch(/^Usage: bktx jwks serve \[options\]/)
  })

  it.each([
    [['--nope'], /unknown option '--nope'/, 'Usage: bktx [options] [command]'],
    [['frobnicate'], /unknown command 'frobnicate'/, 'Usage: bktx [options] [command]'],
    [['sign', '--lifetime'], /argument missing/, 'Usage: bktx sign [options]'],
    [['keygen', '--alg', 'HS256'], /Allowed choices are ES256, RS256/, 'Usage: bktx keygen [options]'],
    [['help', 'nothing'], /no help for "nothing"/, 'Usage: bktx help [options] [topic...]'],
  ])('%j is a usage error: exit 2, message and usage line on stderr, nothing on stdout', async (args, message, usage) => {
    const result = await runCli(args)
    expect(result.code).toBe(2)
    expect(result.stdout).toBe('')
    const lines = result.stderr.trimEnd().split('\n')
    expect(lines[0]).toMatch(message)
    expect(lines[lines.length - 1]).toBe(usage)
  })

  it('prints the cause chain with --verbose', async () => {
    const result = await runCli(['sign', '--verbose', '--client-id', 'x', '--key', '/nonexistent.pem'])
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/debug: code BKTX_KEY_INVALID/)
    expect(result.stderr).toMatch(/debug: caused by .*ENOENT/)
  })
})
