import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { unpackTable } from '../../src/complete/pack.js'
import { programTable } from '../../src/cli/completion-program.js'
import { CODE_CACHE } from '../helpers/code-cache.js'

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
  env = { PATH: `${join(dir, 'bin')}:${process.env['PATH']}`, HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), TERM: 'dumb', ...CODE_CACHE }
  // What the interactive shells complete: files and a directory in their working directory,
  // and a command on PATH.
  await mkdir(join(dir, 'work', 'state-here'), { recursive: true })
  await writeFile(join(dir, 'work', 'ci-key.pem'), '')
  await writeFile(join(dir, 'work', 'notes.txt'), '')
  await writeFile(join(dir, 'bin', 'bktx-probe-cmd'), '#!/bin/sh\n')
  await chmod(join(dir, 'bin', 'bktx-probe-cmd'), 0o755)
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
  // Sourced twice, as a re-read ~/.bashrc does: it must say nothing and still work.
  const script = [`source ${BASH_COMPLETION}`, 'source <(bktx completion bash)', 'source <(bktx completion bash)']
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
    // Sourced twice, as a re-read ~/.zshrc does: it must say nothing and still work.
    'source <(bktx completion zsh)',
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
    const [tok, jwks, scopeFlag, scopes, profiles, setting, shell, alg, substituted] = bash(
      ['tok'],
      ['jwks', ''],
      ['token', '--sc'],
      ['token', '--scope', 'read_bu'],
      ['--profile', ''],
      ['config', 'set', 'ca'],
      ['env', '--shell', 'p'],
      ['keygen', '--alg', ''],
      // A word typed on the line is passed on, never run.
      ['token', '--org', `$(touch ${join(dir, 'substituted')})`, '--sc'],
    )
    expect(tok).toEqual(['token'])
    expect(jwks).toEqual(expect.arrayContaining(['print', 'serve']))
    expect(scopeFlag).toEqual(['--scope'])
    expect(scopes).toEqual(expect.arrayContaining(['read_builds', 'read_build_logs']))
    expect(profiles).toEqual(['default', 'ci', 'nightly'])
    expect(setting).toEqual(['cache'])
    expect(shell).toEqual(['powershell'])
    expect(alg).toEqual(['ES256', 'RS256'])
    expect(substituted).toEqual(['--scope'])
    expect(existsSync(join(dir, 'substituted'))).toBe(false)
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

/**
 * A real interactive shell in tmux, as a user has it: keys are typed, TAB pressed, and the
 * command line read back from the screen. Each wait polls the screen, under a kill timer far
 * above what it needs on a loaded machine.
 */
async function interactive(shell: 'bash' | 'zsh' | 'fish', setup: string, lines: Array<{ type: string; expect: RegExp }>): Promise<string[]> {
  const socket = `bktx-completion-${process.pid}-${shell}`
  const tmux = (...args: string[]) => spawnSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8', env: { ...process.env, ...env } })
  const screen = () => tmux('capture-pane', '-p', '-t', 's').stdout
  const waitFor = async (test: (text: string) => boolean): Promise<string> => {
    const until = Date.now() + 20_000
    for (;;) {
      const text = screen()
      if (test(text) || Date.now() > until) return text
      await sleep(100)
    }
  }
  const command = { bash: 'bash --norc --noprofile', zsh: 'zsh -f', fish: 'fish --no-config' }[shell]
  const started = tmux(
    'new-session',
    '-d',
    '-s',
    's',
    '-x',
    '200',
    '-y',
    '50',
    '-c',
    join(dir, 'work'),
    `env -i PATH='${env['PATH']}' HOME='${dir}' XDG_CONFIG_HOME='${env['XDG_CONFIG_HOME']}' TERM=xterm ${command}`,
  )
  expect(started.status, started.stderr).toBe(0)
  try {
    // READY-$((6*7)) is printed as READY-42: the screen shows it only once the setup ran.
    tmux('send-keys', '-t', 's', `${setup}; echo READY-${shell === 'fish' ? '(math 6 \\* 7)' : '$((6*7))'}`, 'Enter')
    const ready = await waitFor((text) => text.includes('READY-42'))
    expect(ready).toContain('READY-42')
    // Sourcing the script (twice, in the setup) said nothing.
    expect(ready).not.toMatch(/readonly|error|not found/i)
    const seen: string[] = []
    for (const line of lines) {
      tmux('send-keys', '-t', 's', 'C-u', line.type, 'Tab')
      const text = await waitFor((t) => line.expect.test(t))
      seen.push(
        text
          .split('\n')
          .filter((l) => l.includes('bktx'))
          .pop() ?? text,
      )
    }
    return seen
  } finally {
    tmux('kill-server')
  }
}

describe('shell completions, typed in a terminal', () => {
  const ready = (shell: string) => {
    if (has(shell) && has('tmux') && (shell !== 'bash' || spawnSync('test', ['-f', BASH_COMPLETION]).status === 0)) return true
    if (required) throw new Error(`${shell}, tmux and ${BASH_COMPLETION} are needed in CI`)
    return false
  }
  const cases = [
    // A flag that takes a path completes file names (issue 20: it offered nothing).
    { type: 'bktx jwks --key ci-k', expect: /bktx jwks --key ci-key\.pem/ },
    { type: 'bktx token --config no', expect: /bktx token --config notes\.txt/ },
    // A directory option completes directories.
    { type: 'bktx server --state-dir st', expect: /bktx server --state-dir state-here\// },
    // After `exec --`: command names, then that command's arguments (here file names).
    { type: 'bktx exec -- bktx-pro', expect: /bktx exec -- bktx-probe-cmd/ },
    { type: 'bktx exec --scope read_builds -- bktx-probe-cmd no', expect: /bktx-probe-cmd notes\.txt/ },
    // bktx after `exec --` completes as bktx.
    { type: 'bktx exec -- bktx --prof', expect: /bktx exec -- bktx --profile/ },
    // And still bktx's own words.
    { type: 'bktx --profile nig', expect: /bktx --profile nightly/ },
  ]
  const expected = cases.map((c) => expect.stringMatching(c.expect))

  it("bash: file names, directories, exec's command, and bktx's words", async () => {
    if (!ready('bash')) return
    const setup = `source ${BASH_COMPLETION}; source <(bktx completion bash); source <(bktx completion bash)`
    expect(await interactive('bash', setup, cases)).toEqual(expected)
  }, 240_000)

  it("zsh: file names, directories, exec's command, and bktx's words", async () => {
    if (!ready('zsh')) return
    const setup = 'autoload -U compinit && compinit -u -D; source <(bktx completion zsh); source <(bktx completion zsh)'
    expect(await interactive('zsh', setup, cases)).toEqual(expected)
  }, 240_000)

  it("fish: file names, directories, exec's command, and bktx's words", async () => {
    if (!ready('fish')) return
    expect(await interactive('fish', 'bktx completion fish | source', cases)).toEqual(expected)
  }, 240_000)
})

describe('bktx complete, as built', () => {
  it("answers from a table that is the program's own", () => {
    // dist/complete.cjs holds the table generated when dist/ was built: it must be the table of
    // the program as src/ defines it now (a build that skipped it, or a stale dist/, fails).
    const built = createRequire(import.meta.url)('../../dist/complete.cjs') as { table: unknown }
    expect(built.table).toEqual(programTable())
    expect(unpackTable).toBeTypeOf('function')
  })

  it("answers like the full CLI's complete command", () => {
    for (const words of [['tok'], ['jwks', '--key', 'ci-k'], ['--profile', ''], ['exec', '--', 'l'], ['config', 'set', '']]) {
      const fast = spawnSync(process.execPath, [BIN, 'complete', '--', ...words], { env, encoding: 'utf8' })
      // `--quiet` first: the run reaches the full CLI (commander's `complete` command).
      const full = spawnSync(process.execPath, [BIN, '--quiet', 'complete', '--', ...words], { env, encoding: 'utf8' })
      expect({ words, status: fast.status, stdout: fast.stdout, stderr: fast.stderr }).toEqual({ words, status: 0, stdout: full.stdout, stderr: '' })
    }
  })

  it('writes its answer straight to the descriptor: no stream, so no node:net, for a TAB whose stdout is a pipe', async () => {
    // process.stdout on a pipe is a socket stream; building it loads node:net and the stream
    // modules, which cost a TAB more than finding the answer (src/complete/main.ts).
    const probe = join(dir, 'loaded-modules.cjs')
    await writeFile(probe, "process.on('exit', () => require('node:fs').writeSync(2, `LOADED ${JSON.stringify(process.moduleLoadList)}\\n`))\n")
    const run = spawnSync(process.execPath, [BIN, 'complete', '--', 'tok'], { env: { ...env, NODE_OPTIONS: `--require ${probe}` }, encoding: 'utf8' })
    expect(run.status).toBe(0)
    expect(run.stdout).toMatch(/^token\t/m)
    const loaded = JSON.parse(/^LOADED (.*)$/m.exec(run.stderr)?.[1] ?? 'null') as string[]
    expect(loaded.filter((name) => ['NativeModule net', 'NativeModule internal/stream_base_commons'].includes(name))).toEqual([])
  })

  it('says when the answer could not be written, as every command does (exit 9)', () => {
    const result = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" complete -- tok >/dev/full`], { env, encoding: 'utf8' })
    expect({ status: result.status, stderr: result.stderr }).toEqual({
      status: 9,
      stderr: 'error: cannot write to stdout: no space left on the device (ENOSPC)\n',
    })
    // The same as the full CLI's complete command (src/complete/main.ts keeps its own copy of
    // EXIT.OUTPUT, so that a TAB does not load src/exit-codes.ts).
    const full = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" --quiet complete -- tok >/dev/full`], { env, encoding: 'utf8' })
    expect({ status: full.status, stderr: full.stderr }).toEqual({ status: result.status, stderr: result.stderr })
  })

  it('does not hang on a FIFO named by BKTX_CONFIG', async () => {
    const fifo = join(dir, 'config.fifo')
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0)
    // No writer ever opens the FIFO: a blocking open would never return. Kill timer, not a bound.
    const result = spawnSync(process.execPath, [BIN, 'complete', '--', '--profile', ''], {
      env: { ...env, BKTX_CONFIG: fifo },
      encoding: 'utf8',
      timeout: 30_000,
    })
    expect({ status: result.status, signal: result.signal, stdout: result.stdout }).toEqual({ status: 0, signal: null, stdout: ':4\n' })
  })
})
