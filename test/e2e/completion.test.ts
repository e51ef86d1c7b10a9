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
  await writeFile(join(dir, 'config', 'bktx', 'config.json'), JSON.stringify({ profiles: { default: { org: 'acme' }, ci: { subject: 'ci@acme.test' }, nightly: { extends: 'ci' } } }))
  env = { PATH: `${join(dir, 'bin')}:${process.env['PATH']}`, HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), TERM: 'dumb' }
})
afterAll(() => rm(dir, { recursive: true, force: true }))

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
const BASH_COMPLETION = '/usr/share/bash-completion/bash_completion'
const required = process.env['CI'] !== undefined

/** What bash offers for the words typed so far (the last one may be ''). */
function bash(...words: string[]): string[] {
  const line = ['bktx', ...words].join(' ')
  const script = [
    `source ${BASH_COMPLETION}`,
    'source <(bktx completion bash)',
    `COMP_WORDS=(${['bktx', ...words].map((w) => `'${w}'`).join(' ')})`,
    `COMP_CWORD=${words.length}`,
    `COMP_LINE='${line}'`,
    'COMP_POINT=${#COMP_LINE}',
    '__bktx_complete',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n')
  const result = spawnSync('bash', ['--norc', '--noprofile', '-c', script], { env, encoding: 'utf8' })
  expect(result.status, result.stderr).toBe(0)
  return result.stdout.split('\n').filter((l) => l !== '').map((l) => l.split(/\s+/)[0] as string)
}

/** What fish offers for a command line. */
function fish(line: string): string[] {
  const result = spawnSync('fish', ['--no-config', '-c', `bktx completion fish | source; complete -C '${line}'`], { env, encoding: 'utf8' })
  expect(result.status, result.stderr).toBe(0)
  return result.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t')[0] as string)
}

/** What zsh's completion function hands to _describe/compadd, with those two recorded. */
function zsh(...words: string[]): string[] {
  const script = [
    'autoload -U compinit && compinit -u -D',
    'source <(bktx completion zsh)',
    'typeset -ga offered',
    // Record instead of drawing: _describe gets the name of an array of "value:description".
    '_describe() { offered+=("${completions[@]%%:*}"); return 0 }',
    'compadd() { offered+=("${@[-1]}"); return 0 }',
    `words=(${['bktx', ...words].map((w) => `'${w}'`).join(' ')})`,
    `CURRENT=${words.length + 1}`,
    '_bktx',
    'printf "%s\\n" "${offered[@]}"',
  ].join('\n')
  const result = spawnSync('zsh', ['-f', '-c', script], { env, encoding: 'utf8' })
  expect(result.status, result.stderr).toBe(0)
  return result.stdout.split('\n').filter((l) => l !== '')
}

describe('shell completions', () => {
  it('bash: commands, flags, and values from the config file', () => {
    if (!has('bash') || spawnSync('test', ['-f', BASH_COMPLETION]).status !== 0) {
      if (required) throw new Error(`bash and ${BASH_COMPLETION} (Debian bash-completion) are needed in CI`)
      return
    }
    expect(bash('tok')).toEqual(['token'])
    expect(bash('jwks', '')).toEqual(expect.arrayContaining(['print', 'serve']))
    expect(bash('token', '--sc')).toEqual(['--scope'])
    expect(bash('token', '--scope', 'read_bu')).toEqual(expect.arrayContaining(['read_builds', 'read_build_logs']))
    expect(bash('--profile', '')).toEqual(['default', 'ci', 'nightly'])
    expect(bash('config', 'set', 'ca')).toEqual(['cache'])
    expect(bash('env', '--shell', 'p')).toEqual(['powershell'])
    expect(bash('keygen', '--alg', '')).toEqual(['ES256', 'RS256'])
  })

  it('fish: the same answers', () => {
    if (!has('fish')) {
      if (required) throw new Error('fish is needed in CI')
      return
    }
    expect(fish('bktx tok')).toEqual(['token'])
    // fish sorts what it offers.
    expect(fish('bktx token --cache ')).toEqual(['auto', 'file', 'keychain', 'none'])
    expect(fish('bktx --profile ')).toEqual(['ci', 'default', 'nightly'])
    expect(fish('bktx config get subj')).toEqual(['subject', 'subject-type'])
  })

  it('zsh: the same answers', () => {
    if (!has('zsh')) {
      if (required) throw new Error('zsh is needed in CI')
      return
    }
    expect(zsh('tok')).toEqual(['token'])
    expect(zsh('token', '--cache', '')).toEqual(['auto', 'keychain', 'file', 'none'])
    expect(zsh('completion', '')).toEqual(['bash', 'zsh', 'fish', 'powershell'])
  })
})
