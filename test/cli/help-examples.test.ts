import type { Command } from 'commander'
import { describe, expect, it } from 'vitest'
import { commandPath, type Runner } from '../../src/cli/command.js'
import { HELP_EXAMPLES } from '../../src/cli/help-examples.js'
import { JSON_FIELDS } from '../../src/cli/json-fields.js'
import { buildAllCommands, makeProgram } from '../../src/cli/program.js'
import { TOKEN_FIELDS } from '../../src/token/document.js'
import { parseOnlyDeps } from '../helpers/cli.js'

// Every command's help has examples and a learn-more line (src/cli/help-examples.ts), and each
// example is a command line the program accepts: every `bktx ...` in it is parsed against the
// real program with the actions replaced (nothing runs), so a renamed flag or command fails here.

/** The guides under docs/ a learn-more line may name (the docs branch writes them). */
const GUIDES = new Set([
  'setup.md',
  'key-sources.md',
  'rotation.md',
  'cache-and-ci.md',
  'daily-use.md',
  'network.md',
  'troubleshooting.md',
  'reference-server.md',
  'library.md',
  'reference/README.md',
])

/** Commands another branch adds: their entries are checked once the command exists. */
const LANDING = new Set(['revoke'])

/** Every command of the program, hidden ones included, with its path. */
function allCommands(program: Command): Map<string, Command> {
  const found = new Map<string, Command>()
  const visit = (cmd: Command): void => {
    found.set(commandPath(cmd), cmd)
    for (const sub of cmd.commands) visit(sub)
  }
  visit(buildAllCommands(program))
  return found
}

const COMMANDS = allCommands(makeProgram(parseOnlyDeps()))
const HIDDEN = new Set(['complete'])

/**
 * The bktx command lines in a shell line, as argv: each `bktx` word up to an unquoted `|`, `)`,
 * `;`, `&`, `>` or the end, split into words as sh would (quotes removed; $VAR kept as written).
 */
function invocations(line: string): string[][] {
  const found: string[][] = []
  const start = /(^|[\s(;|&])bktx(?=\s|$|\))/g
  for (let m = start.exec(line); m !== null; m = start.exec(line)) {
    const words: string[] = []
    let word: string | undefined
    let quote: string | undefined
    let i = m.index + m[0].length
    for (; i < line.length; i++) {
      const c = line[i] as string
      if (quote !== undefined) {
        if (c === quote) quote = undefined
        else word = (word ?? '') + c
      } else if (c === '"' || c === "'") {
        quote = c
        word ??= ''
      } else if ('|);&>'.includes(c)) break
      else if (/\s/.test(c)) {
        if (word !== undefined) words.push(word)
        word = undefined
      } else word = (word ?? '') + c
    }
    if (word !== undefined) words.push(word)
    found.push(words)
  }
  return found
}

/** Parses `argv` against a fresh program whose actions only record which command ran. */
async function parse(argv: string[]): Promise<string> {
  let ran: string | undefined
  const run: Record<string, Runner> = {}
  for (const path of COMMANDS.keys()) run[path] = async () => void (ran = path)
  const out = { text: '' }
  const program = makeProgram(parseOnlyDeps(out), { run })
  try {
    await program.parseAsync(argv, { from: 'user' })
  } catch (error) {
    throw new Error(`bktx ${argv.join(' ')}: ${error instanceof Error ? error.message : String(error)}\n${out.text}`)
  }
  // `bktx help ...` runs its own action (it only prints help): that it parsed is enough.
  if (ran === undefined && argv[0] === 'help' && out.text !== '') return 'help'
  if (ran === undefined) throw new Error(`bktx ${argv.join(' ')} ran no command`)
  return ran
}

async function helpOf(path: string): Promise<string> {
  const out = { text: '' }
  const program = makeProgram(parseOnlyDeps(out))
  await program.parseAsync(['help', ...(path === '' ? [] : path.split(' '))], { from: 'user' })
  return out.text
}

describe('help: examples and learn-more lines', () => {
  it('the table names only commands of the program (or one another branch adds)', () => {
    for (const path of Object.keys(HELP_EXAMPLES)) expect(COMMANDS.has(path) || LANDING.has(path), `"${path}" is no command`).toBe(true)
    for (const path of Object.keys(JSON_FIELDS)) expect(COMMANDS.has(path), `"${path}" is no command`).toBe(true)
  })

  it('finds the bktx command lines of a shell line', () => {
    expect(invocations('eval "$(bktx env --scope read_builds)" && bk build list; bktx revoke')).toEqual([['env', '--scope', 'read_builds'], ['revoke']])
    expect(invocations('bktx keygen --key "pkcs11:token=ci;object=bktx" > jwks.json')).toEqual([['keygen', '--key', 'pkcs11:token=ci;object=bktx']])
    expect(invocations('source <(bktx completion bash)')).toEqual([['completion', 'bash']])
  })

  for (const [path, cmd] of COMMANDS) {
    if (HIDDEN.has(path)) continue
    const title = `bktx ${path}`.trim()
    it(`${title}: two to four examples that parse, and a learn-more line`, async () => {
      const entry = HELP_EXAMPLES[path]
      expect(entry, `${title} has no entry in src/cli/help-examples.ts`).toBeDefined()
      if (entry === undefined) return
      expect(entry.examples.length).toBeGreaterThanOrEqual(2)
      expect(entry.examples.length).toBeLessThanOrEqual(4)
      expect(GUIDES.has(entry.guide), `${entry.guide} is not a guide under docs/`).toBe(true)
      let runsThis = false
      for (const example of entry.examples) {
        const lines = invocations(example.run)
        expect(lines.length, `no bktx command in "${example.run}"`).toBeGreaterThan(0)
        for (const argv of lines) {
          // A line that also calls a command another branch adds is checked once it exists.
          if (LANDING.has(argv[0] ?? '') && !COMMANDS.has(argv[0] ?? '')) continue
          const ran = await parse(argv)
          if (path === '' || ran === path || (ran.startsWith(`${path} `) && cmd.commands.length > 0)) runsThis = true
        }
      }
      expect(runsThis, `no example of ${title} runs it`).toBe(true)
      const help = await helpOf(path)
      expect(help).toContain('\nExamples:\n  # ')
      expect(help).toContain(`  $ ${entry.examples[0]?.run}\n`)
      expect(help).toContain(`Learn more: docs/${entry.guide}; every flag: docs/reference/commands.md#`)
    })
  }

  it('the help of each command with a --json document lists its fields', async () => {
    for (const [path, doc] of Object.entries(JSON_FIELDS)) {
      const help = (await helpOf(path)).replace(/\n/g, ' ')
      expect(help, path).toContain(`--json prints ${doc.shape === 'array' ? '[{' : '{'}${Object.keys(doc.fields).join(', ')}}`)
    }
  })

  it('bktx help token lists every field of the --json document, from the table the document is built from', async () => {
    const help = await helpOf('token')
    const listed = /--json prints \{([^}]*)\}/.exec(help.replace(/\n/g, ' '))?.[1]?.split(', ')
    expect(listed).toEqual(Object.keys(TOKEN_FIELDS))
    expect(listed).toContain('requested_scopes')
    expect(listed).toContain('expires_in')
  })
})
