// `bktx env` output is evaluated by real shells here (dash as sh, bash, zsh, fish; .ci/run
// installs zsh and fish) with hostile values, and the environment they end up with is compared
// with the expected one, variable by variable. PowerShell is not installable here: its
// quoting is checked against a model of its tokenizer's rule for verbatim strings.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isCI } from '../../../src/cache/select.js'
import { describeError } from '../../../src/term/describe.js'
import { InputError, SettingInvalidError } from '../../../src/errors.js'
import { parseShell, quotePowerShell, renderEnv, SHELLS, type EnvVar, type ShellKind } from '../../../src/shell/quote.js'

const work = mkdtempSync(join(tmpdir(), 'bktx-shell-'))
const canary = join(work, 'pwned')

/** Values meant to break out of quoting in one shell or another. */
const HOSTILE: string[] = [
  '',
  "'",
  "it's",
  "''",
  "'\\''",
  '"',
  '\\',
  "\\'",
  '\\\\',
  '$HOME',
  '${HOME}',
  `$(touch ${canary})`,
  `\`touch ${canary}\``,
  `'; touch ${canary}; '`,
  `'$(touch ${canary})'`,
  `"; touch ${canary}; "`,
  `(touch ${canary})`,
  `\\'; touch ${canary}; echo \\'`,
  `' ; touch ${canary} #`,
  'a\nb',
  '\n',
  'trailing newlines\n\n',
  '\r\n',
  'tab\there',
  '!!',
  '!$',
  '%PATH%',
  "$'\\x41'",
  '-e',
  '--',
  ' leading and trailing ',
  'é ünïcödé 日本語 😀 \u200b',
  '\u2018\u2019\u201a\u201b',
  '#not a comment',
  '; && || | & > < *? [a] ~ {a,b} ^',
  '\x1b[31mred\x1b[0m',
  '\x01\x02\x7f',
  '$argv (echo) {a,b} $status',
  'x'.repeat(20_000),
  Array.from({ length: 127 }, (_, i) => String.fromCharCode(i + 1)).join(''),
]

const NAMES = ['BUILDKITE_API_TOKEN', 'BUILDKITE_ORGANIZATION_SLUG', 'BKTX_TOKEN_EXPIRES_AT']

function asVars(values: readonly string[]): EnvVar[] {
  return values.map((value, i) => ({ name: `BKTX_T${i}`, value }))
}

interface ShellRunner {
  shell: ShellKind
  command: string
  /** argv for running `script` (the path of the rendered file is in $BKTX_ENV_FILE). */
  args: string[]
}

const RUNNERS: ShellRunner[] = [
  { shell: 'sh', command: 'dash', args: ['-c', 'eval "$(cat "$BKTX_ENV_FILE")" && env -0'] },
  { shell: 'bash', command: 'bash', args: ['--norc', '--noprofile', '-c', 'eval "$(cat "$BKTX_ENV_FILE")" && env -0'] },
  { shell: 'zsh', command: 'zsh', args: ['-f', '-c', 'eval "$(cat "$BKTX_ENV_FILE")" && env -0'] },
  { shell: 'fish', command: 'fish', args: ['--no-config', '-c', 'cat $BKTX_ENV_FILE | source; and env -0'] },
]

function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0
}

let files = 0
/** Evaluates `text` in the shell and returns the exported environment afterwards. */
function evaluate(runner: ShellRunner, text: string, locale: string): Map<string, string> {
  const file = join(work, `env-${files++}`)
  writeFileSync(file, text)
  const result = spawnSync(runner.command, runner.args, {
    env: { PATH: process.env['PATH'], LC_ALL: locale, BKTX_ENV_FILE: file, HOME: work },
    maxBuffer: 64 * 1024 * 1024,
    timeout: 20_000,
  })
  if (result.status !== 0) throw new Error(`${runner.command} failed (${result.status}): ${result.stderr.toString()}`)
  const env = new Map<string, string>()
  for (const entry of result.stdout.toString('utf8').split('\0')) {
    if (entry === '') continue
    const eq = entry.indexOf('=')
    env.set(entry.slice(0, eq), entry.slice(eq + 1))
  }
  // Shell bookkeeping that differs from run to run.
  for (const name of ['_', 'SHLVL', 'PWD', 'OLDPWD', 'BKTX_ENV_FILE']) env.delete(name)
  return env
}

/** The environment after evaluating `vars` must be the baseline plus exactly `vars`. */
function expectExactEnv(runner: ShellRunner, vars: EnvVar[], locale: string): void {
  const baseline = evaluate(runner, '', locale)
  const after = evaluate(runner, renderEnv(runner.shell, vars), locale)
  const expected = new Map(baseline)
  for (const v of vars) expected.set(v.name, v.value)
  expect(after.size).toBe(expected.size)
  for (const [name, value] of expected) {
    if (after.get(name) !== value) {
      throw new Error(`${runner.shell} (${locale}): ${name} = ${JSON.stringify(after.get(name))?.slice(0, 200)}, wanted ${JSON.stringify(value).slice(0, 200)}`)
    }
  }
  expect(existsSync(canary)).toBe(false)
}

// Any Unicode text but NUL and lone surrogates, which renderEnv refuses (tested below).
const anyChar = fc.oneof(
  fc.constantFrom("'", '"', '\\', '$', '`', '\n', '\r', '!', '%', '(', ')', '{', '}', '#', ';', ' ', '\u2019', '😀', 'é'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
)
const anyValue = fc.string({ unit: anyChar, maxLength: 40 }).filter((s) => !s.includes('\0') && !/\p{Cs}/u.test(s))

describe.each(RUNNERS)('$shell: eval of the output sets exactly the variables given', (runner) => {
  // In CI every shell must be there (.ci/run installs zsh and fish); elsewhere a missing one is skipped.
  const present = has(runner.command) || isCI(process.env)

  it.skipIf(!present)('for hostile values, in a UTF-8 and in the C locale', () => {
    for (const locale of ['C.UTF-8', 'C']) expectExactEnv(runner, asVars(HOSTILE), locale)
  })

  it.skipIf(!present)('for the real variable names and realistic values', () => {
    const vars = [
      { name: NAMES[0] as string, value: `bktx_${'a1B2'.repeat(10)}` },
      { name: NAMES[1] as string, value: 'acme-inc' },
      { name: NAMES[2] as string, value: '2026-01-01T01:00:00.000Z' },
    ]
    expectExactEnv(runner, vars, 'C.UTF-8')
  })

  it.skipIf(!present)('for arbitrary values (property, 40 values per shell run)', () => {
    fc.assert(
      fc.property(fc.array(anyValue, { minLength: 1, maxLength: 40 }), (values) => expectExactEnv(runner, asVars(values), 'C.UTF-8')),
      { numRuns: 8 },
    )
  })
})

describe('the evaluation harness itself', () => {
  it('notices a quoting bug (naive double quotes)', () => {
    if (!has('bash')) return
    const bash = RUNNERS[1] as ShellRunner
    const naive = (vars: EnvVar[]) => vars.map((v) => `export ${v.name}="${v.value}"\n`).join('')
    const baseline = evaluate(bash, '', 'C.UTF-8')
    const after = evaluate(bash, naive([{ name: 'BKTX_T0', value: '$HOME' }]), 'C.UTF-8')
    expect(baseline.get('BKTX_T0')).toBeUndefined()
    expect(after.get('BKTX_T0')).toBe(work)
  })
})

/**
 * PowerShell's rule for a verbatim (single-quoted) string, after its tokenizer: the string
 * ends at a single-quote character (', U+2018, U+2019, U+201A, U+201B) unless another one
 * follows, in which case the second is taken literally. Returns the value and what is left.
 */
function parsePowerShellVerbatim(text: string): { value: string; rest: string } {
  const isQuote = (c: string | undefined) => c !== undefined && "'\u2018\u2019\u201a\u201b".includes(c)
  const chars = [...text]
  if (!isQuote(chars[0])) throw new Error('not a verbatim string')
  let value = ''
  let i = 1
  for (;;) {
    const c = chars[i]
    if (c === undefined) throw new Error('unterminated')
    if (isQuote(c)) {
      if (!isQuote(chars[i + 1])) return { value, rest: chars.slice(i + 1).join('') }
      i++
      value += chars[i]
    } else {
      value += c
    }
    i++
  }
}

describe('powershell', () => {
  it('writes $env: assignments of verbatim strings', () => {
    expect(renderEnv('powershell', [{ name: 'A', value: "it's $x `n" }])).toBe("$env:A = 'it''s $x `n'\n")
    expect(quotePowerShell('\u2019')).toBe("'\u2019\u2019'")
  })

  it('round-trips any value through the verbatim-string rule (property)', () => {
    for (const value of HOSTILE) expect(parsePowerShellVerbatim(quotePowerShell(value))).toEqual({ value, rest: '' })
    fc.assert(
      fc.property(anyValue, (value) => {
        expect(parsePowerShellVerbatim(quotePowerShell(value))).toEqual({ value, rest: '' })
      }),
    )
  })

  it('the model notices a quoting that forgets the typographic quotes', () => {
    const asciiOnly = (v: string) => `'${v.replaceAll("'", "''")}'`
    expect(parsePowerShellVerbatim(asciiOnly('a\u2019; rm -r ~')).rest).toBe("; rm -r ~'")
  })
})

describe('cmd', () => {
  it('writes quoted set commands with CRLF', () => {
    expect(
      renderEnv('cmd', [
        { name: 'BUILDKITE_API_TOKEN', value: 'bktx_abc' },
        { name: 'X', value: 'a & b | c > d ^ (e)' },
      ]),
    ).toBe('set "BUILDKITE_API_TOKEN=bktx_abc"\r\nset "X=a & b | c > d ^ (e)"\r\n')
  })

  it.each([
    ['%', '100%'],
    ['!', 'wow!'],
    ['"', 'say "hi"'],
    ['a line break', 'a\nb'],
    ['a carriage return', 'a\rb'],
    ['a control character', 'a\x1bb'],
    ['non-ASCII', 'café'],
  ])('refuses values with %s, naming the variable but not the value', (_, value) => {
    const secret = `bktx_SECRET${value}`
    let error: unknown
    try {
      renderEnv('cmd', [{ name: 'BUILDKITE_API_TOKEN', value: secret }])
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(SettingInvalidError)
    expect(error).toMatchObject({ setting: 'shell', source: 'flag', advice: ['use ', { option: 'shell', value: 'powershell' }] })
    expect((error as Error).message).toMatch(/^shell: cmd cannot safely express the value of BUILDKITE_API_TOKEN \(/)
    expect(describeError(error as SettingInvalidError)).toMatch(
      /^--shell: cmd cannot safely express the value of BUILDKITE_API_TOKEN \(.*\); use --shell powershell$/,
    )
    expect(describeError(error as SettingInvalidError)).not.toContain('SECRET')
  })
})

describe('dotenv', () => {
  it('writes NAME=value for values every dotenv reader takes literally', () => {
    expect(
      renderEnv('dotenv', [
        { name: 'BUILDKITE_API_TOKEN', value: 'bktx_a1B2' },
        { name: 'BUILDKITE_ORGANIZATION_SLUG', value: 'acme-inc' },
        { name: 'BKTX_TOKEN_EXPIRES_AT', value: '2026-01-01T01:00:00.000Z' },
        { name: 'E', value: '' },
      ]),
    ).toBe('BUILDKITE_API_TOKEN=bktx_a1B2\nBUILDKITE_ORGANIZATION_SLUG=acme-inc\nBKTX_TOKEN_EXPIRES_AT=2026-01-01T01:00:00.000Z\nE=\n')
  })

  it.each(["it's", 'a b', 'a\nb', '$HOME', '#x', '"q"', 'back\\slash', 'é'])('refuses %j', (value) => {
    let error: unknown
    try {
      renderEnv('dotenv', [{ name: 'A', value }])
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(SettingInvalidError)
    expect(describeError(error as SettingInvalidError)).toMatch(/^--shell: dotenv cannot safely express the value of A \(.*\); use --shell json$/)
  })
})

describe('json', () => {
  it('round-trips every value', () => {
    const vars = asVars(HOSTILE)
    const parsed = JSON.parse(renderEnv('json', vars)) as Record<string, string>
    expect(parsed).toEqual(Object.fromEntries(vars.map((v) => [v.name, v.value])))
  })
})

describe('every shell', () => {
  it.each(SHELLS)('%s refuses invalid names', (shell) => {
    for (const name of ['', '1A', 'A-B', 'A B', 'A=B', '$(x)', 'É', 'A\nB']) {
      expect(() => renderEnv(shell, [{ name, value: 'v' }])).toThrow(InputError)
      expect(() => renderEnv(shell, [{ name, value: 'v' }])).toThrow(/invalid environment variable name/)
    }
  })

  it.each(SHELLS)('%s refuses NUL and lone surrogates, which no environment can hold', (shell) => {
    expect(() => renderEnv(shell, [{ name: 'A', value: 'a\0b' }])).toThrow(/NUL/)
    expect(() => renderEnv(shell, [{ name: 'A', value: 'a\ud800b' }])).toThrow(/not valid Unicode/)
  })

  it('writes nothing when any variable is refused', () => {
    expect(() =>
      renderEnv('sh', [
        { name: 'A', value: 'ok' },
        { name: 'B', value: '\0' },
      ]),
    ).toThrow(SettingInvalidError)
  })

  it('parses shell names', () => {
    expect(parseShell('fish')).toBe('fish')
    expect(parseShell('tcsh')).toBeUndefined()
  })
})
