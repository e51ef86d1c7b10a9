import { spawnSync } from 'node:child_process'
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

// Completions as a user gets them: the script of `bktx completion SHELL` loaded into the real
// shell, which then asks the built `bktx` (on PATH) for completions. Issue 14.

const BIN = new URL('../../bin/bktx.js', import.meta.url).pathname
let dir: string
let env: Record<string, string>

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bktx-completion-'))
  await mkdir(join(dir, 'bin'))
  await writeFile(join(dir, 'bin', 'bktx'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`)
  await chmod(join(dir, 'bin', 'bktx'), 0o755)
  await mkdir(join(dir, 'config', 'bktx'), { recursive: true })
  await writeFile(
    join(dir, 'config', 'bktx', 'config.json'),
    JSON.stringify({ profiles: { default: { org: 'acme' }, ci: { subject: 'ci@acme.test' }, nightly: { extends: 'ci' } } }),
  )
  env = { PATH: `${join(dir, 'bin')}:${process.env['PATH']}`, HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), TERM: 'dumb' }
})
afterAll(() => rm(dir, { recursive: true, force: true }))

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
const BASH_COMPLETION = '/usr/share/bash-completion/bash_completion'
const required = process.env['CI'] !== undefined

// Each shell starts once per test and answers every case of it in turn (a line "@@" between
// them): loading bash-completion or zsh's compinit, and the script from `bktx completion`,
// cost more than the questions, and under load a shell per question outran the test timeout.
// Each answer still asks the built bktx on PATH, as pressing Tab does.
const SEPARATOR = '@@'
const answers = (stdout: string): string[][] => {
  const cases: string[][] = [[]]
  for (const line of stdout.split('\n').filter((l) => l !== '')) {
    if (line === SEPARATOR) cases.push([])
    else cases[cases.length - 1]?.push(line)
  }
  return cases.slice(0, -1)
}
const quoted = (words: string[]) => words.map((w) => `'${w}'`).join(' ')

/** What bash offers for each list of words typed so far (the last one may be ''). */
function bash(...cases: string[][]): string[][] {
  const script = [`source ${BASH_COMPLETION}`, 'source <(bktx completion bash)']
  for (const words of cases) {
    script.push(
      'COMPREPLY=()',
      `COMP_WORDS=(${quoted(['bktx', ...words])})`,
      `COMP_CWORD=${words.length}`,
      `COMP_LINE='${['bktx', ...words].join(' ')}'`,
      'COMP_POINT=${#COMP_LINE}',
      '__bktx_complete',
      'printf "%s\\n" "${COMPREPLY[@]}"',
      `echo ${SEPARATOR}`,
    )
  }
  const result = spawnSync('bash', ['--norc', '--noprofile', '-c', script.join('\n')], { env, encoding: 'utf8' })
  expect(result.status, result.stderr).toBe(0)
  return answers(result.stdout).map((lines) => lines.map((l) => l.split(/\s+/)[0] as string))
}

/** What fish offers for each command line. */
function fish(...lines: string[]): string[][] {
  const script = ['bktx completion fish | source', ...lines.flatMap((line) => [`complete -C '${line}'`, `echo ${SEPARATOR}`])]
  const result = spawnSync('fish', ['--no-config', '-c', script.join('\n')], { env, encoding: 'utf8' })
  expect(result.status, result.stderr).toBe(0)
  return answers(result.stdout).map((lines) => lines.map((l) => l.split('\t')[0] as string))
}

/** What zsh's completion function hands to _describe/compadd for each list of words, with those two recorded. */
function zsh(...cases: string[][]): string[][] {
  const script = [
    // compinit is not needed to run _bktx by hand, only its registration: a stub takes it.
    'compdef() { return 0 }',
    'source <(bktx completion zsh)',
    'typeset -ga offered',
    // Record instead of drawing: _describe gets the name of an array of "value:description".
    '_describe() { offered+=("${completions[@]%%:*}"); return 0 }',
    'compadd() { offered+=("${@[-1]}"); return 0 }',
  ]
  for (const words of cases) {
    script.push(
      'offered=()',
      `words=(${quoted(['bktx', ...words])})`,
      `CURRENT=${words.length + 1}`,
      '_bktx',
      'printf "%s\\n" "${offered[@]}"',
      `echo ${SEPARATOR}`,
    )
  }
  const result = spawnSync('zsh', ['-f', '-c', script.join('\n')], { env, encoding: 'utf8' })
  expect(result.status, result.stderr).toBe(0)
  return answers(result.stdout)
}

describe('shell completions', () => {
  it('bash: commands, flags, and values from the config file', () => {
    if (!has('bash') || spawnSync('test', ['-f', BASH_COMPLETION]).status !== 0) {
      if (required) throw new Error(`bash and ${BASH_COMPLETION} (Debian bash-completion) are needed in CI`)
      return
    }
    const [tok, jwks, scopeFlag, scopes, profiles, setting, shell, alg] = bash(
      ['tok'],
      ['jwks', ''],
      ['token', '--sc'],
      ['token', '--scope', 'read_bu'],
      ['--profile', ''],
      ['config', 'set', 'ca'],
      ['env', '--shell', 'p'],
      ['keygen', '--alg', ''],
    )
    expect(tok).toEqual(['token'])
    expect(jwks).toEqual(expect.arrayContaining(['print', 'serve']))
    expect(scopeFlag).toEqual(['--scope'])
    expect(scopes).toEqual(expect.arrayContaining(['read_builds', 'read_build_logs']))
    expect(profiles).toEqual(['default', 'ci', 'nightly'])
    expect(setting).toEqual(['cache'])
    expect(shell).toEqual(['powershell'])
    expect(alg).toEqual(['ES256', 'RS256'])
  })

  it('fish: the same answers', () => {
    if (!has('fish')) {
      if (required) throw new Error('fish is needed in CI')
      return
    }
    const [tok, cache, profiles, settings] = fish('bktx tok', 'bktx token --cache ', 'bktx --profile ', 'bktx config get subj')
    expect(tok).toEqual(['token'])
    // fish sorts what it offers.
    expect(cache).toEqual(['auto', 'file', 'keychain', 'none'])
    expect(profiles).toEqual(['ci', 'default', 'nightly'])
    expect(settings).toEqual(['subject', 'subject-type'])
  })

  it('zsh: the same answers', () => {
    if (!has('zsh')) {
      if (required) throw new Error('zsh is needed in CI')
      return
    }
    expect(zsh(['tok'], ['token', '--cache', ''], ['completion', ''])).toEqual([
      ['token'],
      ['auto', 'keychain', 'file', 'none'],
      ['bash', 'zsh', 'fish', 'powershell'],
    ])
  })
})
