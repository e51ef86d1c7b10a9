import { RootCommand, ShellCompDirective } from '@bomb.sh/tab'
import { describe, expect, it } from 'vitest'
import { answer, DIRECTIVE, formatAnswer, type Answer } from '../../../src/complete/answer.js'
import { programTable } from '../../../src/cli/completion-program.js'
import type { CompletionTable, ValueKind } from '../../../src/complete/types.js'

// The answers of `bktx complete` (src/complete/answer.ts) from the table of the real program.
// They must be those @bomb.sh/tab's matcher gives for the same program, which wrote them
// before (the scripts of the library read them), except the directive where bktx lets the
// shell complete file names or a command line.

const table = programTable()
const PROFILES = ['default', 'ci', 'nightly']
const ask = (...words: string[]): Answer => answer(table, words, { profiles: () => PROFILES })
const values = (...words: string[]): string[] => ask(...words).candidates.map((c) => c.value)

/** The library's own answer for the same table: its RootCommand, built as bktx built it before. */
function library(tableToMap: CompletionTable, words: string[]): { values: string[]; directive: number } {
  const tab = new RootCommand()
  const handler = (value: ValueKind | undefined) => {
    const offered = value?.kind === 'choices' ? value.values : value?.kind === 'profiles' ? PROFILES : []
    return (complete: (value: string, description: string) => void) => {
      for (const v of offered) complete(v, '')
    }
  }
  const addOptions = (target: InstanceType<typeof RootCommand> | ReturnType<RootCommand['command']>, options: CompletionTable['options']) => {
    for (const option of options) {
      if (option.value === undefined) {
        if (option.short === undefined) target.option(option.long, option.description)
        else target.option(option.long, option.description, option.short)
      } else if (option.short === undefined) target.option(option.long, option.description, handler(option.value))
      else target.option(option.long, option.description, handler(option.value), option.short)
    }
  }
  addOptions(tab, tableToMap.options)
  for (const command of tableToMap.commands) {
    const target = tab.command(command.path, command.description)
    addOptions(target, command.options)
    for (const argument of command.arguments) {
      // exec's command: bktx offers `--` there (the one answer the library had no way to give).
      const offered = argument.value.kind === 'command' ? handler({ kind: 'choices', values: ['--'] }) : handler(argument.value)
      target.argument(argument.name, argument.value.kind === 'choices' || argument.value.kind === 'command' ? offered : undefined, argument.variadic)
    }
  }
  const lines: string[] = []
  const log = console.log
  console.log = (text: string) => lines.push(text)
  try {
    tab.parse([...words])
  } finally {
    console.log = log
  }
  const directive = Number(lines.pop()?.slice(1))
  return { values: lines.map((line) => line.split('\t')[0] as string), directive }
}

describe('bktx complete: the answers', () => {
  it('uses the directive numbers of @bomb.sh/tab', () => {
    expect(DIRECTIVE.ERROR).toBe(ShellCompDirective.ShellCompDirectiveError)
    expect(DIRECTIVE.NO_SPACE).toBe(ShellCompDirective.ShellCompDirectiveNoSpace)
    expect(DIRECTIVE.NO_FILE_COMP).toBe(ShellCompDirective.ShellCompDirectiveNoFileComp)
    expect(DIRECTIVE.FILTER_FILE_EXT).toBe(ShellCompDirective.ShellCompDirectiveFilterFileExt)
    expect(DIRECTIVE.FILTER_DIRS).toBe(ShellCompDirective.ShellCompDirectiveFilterDirs)
    expect(DIRECTIVE.KEEP_ORDER).toBe(ShellCompDirective.ShellCompDirectiveKeepOrder)
    expect(DIRECTIVE.DEFAULT).toBe(ShellCompDirective.ShellCompDirectiveDefault)
    // bktx's own bit is none of the library's, present or reserved.
    expect(DIRECTIVE.COMMAND_LINE).toBeGreaterThan(ShellCompDirective.shellCompDirectiveMaxValue)
  })

  it('offers what the library offers for the same program, for every command, option and value', () => {
    const cases: string[][] = [
      [''],
      ['-'],
      ['--'],
      ['-v'],
      ['--pro'],
      ['--profile', ''],
      ['--profile=n'],
      ['--no-color', ''],
      ['--json', 't'],
      ['--bogus', 'x', ''],
      ['--bogus', 'tok'],
      ['--bogus', ''],
    ]
    for (const command of table.commands) {
      const path = command.path.split(' ')
      cases.push([...path.slice(0, -1), (path[path.length - 1] as string).slice(0, 2)], [...path, ''], [...path, '--'], [...path, '-'])
      for (const option of command.options) {
        cases.push([...path, `--${option.long}`, ''], [...path, `--${option.long}=`], ['--profile', 'ci', ...path, `--${option.long}`, 'x'])
        if (option.value === undefined) cases.push([...path, `--${option.long}`, '--'])
      }
      for (const _ of command.arguments) cases.push([...path, 'a', ''], [...path, ''])
      cases.push([...path, '--bogus', 'x', ''], [...path, '--bogus', ''], ['--bogus', 'v', ...path, ''])
    }
    let compared = 0
    for (const words of cases) {
      const mine = ask(...words)
      const theirs = library(table, words)
      expect({ words, values: mine.candidates.map((c) => c.value) }).toEqual({ words, values: theirs.values })
      // The library always says "no file completion"; bktx does too unless a path or a
      // command line is expected.
      if (mine.directive !== DIRECTIVE.NO_FILE_COMP) expect({ words, candidates: mine.candidates }).toEqual({ words, candidates: [] })
      else expect(theirs.directive).toBe(DIRECTIVE.NO_FILE_COMP)
      compared++
    }
    expect(compared).toBeGreaterThan(500)
  })

  it('lets the shell complete file names where an option takes a path', () => {
    for (const words of [
      ['jwks', '--key', 'ci-k'],
      ['jwks', 'print', '--out', ''],
      ['token', '--key', ''],
      ['token', '--public-key', 'p'],
      ['token', '--ca-file', ''],
      ['--config', ''],
      ['env', '--config', 'c'],
      ['doctor', '--jwks', ''],
      ['keygen', '--out', ''],
      ['keygen', '--pkcs11-module', ''],
      ['key', 'rotate', '--new-key', ''],
      ['server', 'start', '--jwks', ''],
      ['jwks', 'check', ''],
    ]) {
      expect({ words, ...ask(...words) }).toEqual({ words, candidates: [], directive: DIRECTIVE.DEFAULT })
    }
    expect(ask('server', 'start', '--state-dir', '')).toEqual({ candidates: [], directive: DIRECTIVE.FILTER_DIRS })
  })

  it('offers no file names where a value is not a path', () => {
    for (const words of [
      ['token', '--ttl', ''],
      ['keygen', '--key', ''],
      ['token', '--pin-source', ''],
      ['server', 'start', '--port', ''],
      ['tok'],
      ['token', ''],
    ]) {
      expect({ words, directive: ask(...words).directive }).toEqual({ words, directive: DIRECTIVE.NO_FILE_COMP })
    }
  })

  it('hands the command line after `exec --` to the shell', () => {
    for (const words of [
      ['exec', '--', ''],
      ['exec', '--', 'gi'],
      ['exec', '--', 'git', 'st'],
      ['exec', '--scope', 'read_builds', '--', 'ls', '-'],
      ['--profile', 'ci', 'exec', '--', 'ls', ''],
    ]) {
      expect({ words, ...ask(...words) }).toEqual({ words, candidates: [], directive: DIRECTIVE.COMMAND_LINE })
    }
    // Before `--`, exec's own options, and `--` where the command goes.
    expect(values('exec', '')).toEqual(['--'])
    expect(values('exec', '--rev')).toEqual(['--revoke-on-exit'])
    // `--` after another command is not a command line.
    expect(ask('token', '--', '').directive).toBe(DIRECTIVE.NO_FILE_COMP)
  })

  it('offers the profile names, the choices of options and the setting names', () => {
    expect(values('--profile', '')).toEqual(PROFILES)
    expect(values('token', '--profile', 'n')).toEqual(['nightly'])
    expect(values('token', '--cache', '')).toEqual(['auto', 'keychain', 'file', 'none'])
    expect(values('config', 'set', 'ca')).toEqual(['cache'])
    expect(values('keygen', '--alg', '')).toEqual(['ES256', 'RS256'])
    // `bktx jwks --key K` is `bktx jwks print --key K`: the default subcommand's options.
    expect(values('jwks', '--o')).toEqual(['--out'])
  })

  it('writes the protocol: value<TAB>description lines, then :directive', () => {
    expect(formatAnswer(ask('tok'))).toMatch(/^token\t[^\n]+\n:4\n$/)
    expect(formatAnswer(ask('jwks', '--key', 'ci-k'))).toBe(':0\n')
  })
})
