import type { Argument, Command, Option } from 'commander'
import { commandPath } from './command.js'
import { EXIT, EXIT_CODE_HELP, EXIT_CODES_NOTES, type ExitCode } from './exit-codes.js'
import { HELP_EXAMPLES, helpExtras, referenceLink } from './help-examples.js'
import { JSON_FIELDS } from './json-fields.js'
import { buildAllCommands, makeProgram, type ProgramDeps } from './program.js'
import { SETTING_NAMES, SETTINGS } from '../config/settings.js'
import { errorCodesOf } from '../exit-codes.js'
import { MemorySecretStore } from '../secrets/store.js'

// The reference manual, generated from the code as gh generates its manual from its commands:
// the commander program (built as the CLI builds it, nothing run), the settings table, the exit
// code table and the --json field tables. scripts/gen-docs.mjs writes these files
// (`npm run docs:gen`) and test/cli/reference.test.ts fails when the committed ones are stale.

/** The command that rewrites the generated files. */
export const REGENERATE = 'npm run docs:gen'

/** Variables bktx reads besides the settings' own (src/config/settings.ts names those). */
export const OTHER_VARIABLES: ReadonlyArray<readonly [name: string, meaning: string]> = [
  ['BKTX_PROFILE', 'the profile to use when --profile is not given (default "default")'],
  ['BKTX_CONFIG', 'the configuration file when --config is not given (default $XDG_CONFIG_HOME/bktx/config.json)'],
  ['BKTX_QUIET', '1: no notes or warnings on stderr, only errors (as --quiet)'],
  ['BKTX_PKCS11_PIN', 'the PKCS#11 PIN when the pin-source setting is not set'],
  ['NO_COLOR', 'no colour on stderr (as --no-color); FORCE_COLOR forces it'],
  ['HTTPS_PROXY, HTTP_PROXY, NO_PROXY', 'the proxy for outbound requests (either case); loopback hosts never go through a proxy'],
  ['NODE_EXTRA_CA_CERTS', 'more CA certificates to trust (as --ca-file)'],
  ['XDG_CONFIG_HOME', 'where the configuration file and generated keys go (default ~/.config)'],
  ['XDG_RUNTIME_DIR', 'the private directory the file cache prefers (else /dev/shm, else $XDG_CACHE_HOME/bktx)'],
  ['XDG_CACHE_HOME', 'the last place the file cache may go (default ~/.cache)'],
  ['BKTX_CODE_CACHE', 'where the V8 code caches that speed up start-up go: an absolute path, or off for none (default $XDG_CACHE_HOME/bktx/v8)'],
  ['CI', 'set (and not false or 0): the cache mode auto uses files, not the OS keychain'],
  ['SHELL', 'the shell syntax of `bktx env` when the parent shell cannot be told'],
]

/** One option as the reference shows it. */
interface OptionDoc {
  flags: string
  description: string
  env?: string
  default?: string
  choices?: readonly string[]
}

interface ArgumentDoc {
  name: string
  description: string
  required: boolean
  variadic: boolean
  choices?: readonly string[]
}

/** One command as the reference shows it. */
interface CommandDoc {
  path: string
  title: string
  usage: string
  description: string
  arguments: ArgumentDoc[]
  options: OptionDoc[]
  /** The command's own text after its flags (`bktx help COMMAND` prints it). */
  notes: string
  subcommands: string[]
}

/** Dependencies that let the program be built and its help printed, and nothing else. */
function referenceDeps(out: { text: string }): ProgramDeps {
  const refuse = async (): Promise<never> => {
    throw new Error('the reference is generated without running anything')
  }
  return {
    stdout: { write: (chunk) => void (out.text += chunk), isTTY: false },
    stderr: { write: () => undefined, isTTY: false },
    stdinIsTTY: true,
    readStdin: refuse,
    env: {},
    clock: { now: () => new Date(0) },
    signals: { on: () => () => undefined },
    fetch: refuse,
    secrets: new MemorySecretStore(),
    platform: 'linux',
    cwd: '/',
    uid: 1000,
    home: '/home/user',
    version: '0.0.0',
  }
}

// "(env BKTX_X; default Y)" at the end of a setting flag's description (src/cli/options.ts).
const ENV_SUFFIX = /\s*\(env ([A-Z0-9_]+)(?:; default ([^)]*))?\)$/

function optionDoc(option: Option): OptionDoc {
  const match = ENV_SUFFIX.exec(option.description)
  const doc: OptionDoc = { flags: option.flags, description: match === null ? option.description : option.description.slice(0, match.index) }
  if (match?.[1] !== undefined) doc.env = match[1]
  if (match?.[2] !== undefined) doc.default = match[2]
  else if (option.defaultValue !== undefined && option.defaultValue !== false && !option.negate)
    doc.default = option.defaultValueDescription ?? String(option.defaultValue)
  if (option.argChoices !== undefined) doc.choices = option.argChoices
  return doc
}

function argumentDoc(arg: Argument): ArgumentDoc {
  const doc: ArgumentDoc = { name: arg.name(), description: arg.description, required: arg.required, variadic: arg.variadic }
  if (arg.argChoices !== undefined) doc.choices = arg.argChoices
  return doc
}

/** Every visible command of the program, parents before their subcommands, as the CLI builds them. */
export function commandDocs(): CommandDoc[] {
  const out = { text: '' }
  const program = buildAllCommands(makeProgram(referenceDeps(out)))
  const docs: CommandDoc[] = []
  const visit = (cmd: Command): void => {
    const path = commandPath(cmd)
    // The text `bktx help COMMAND` prints after commander's own (the command's notes, then the
    // examples of src/cli/help-examples.ts, which the reference shows on their own).
    out.text = ''
    cmd.outputHelp()
    const extras = helpExtras(path)
    let notes = out.text.slice(cmd.helpInformation().length)
    if (extras !== undefined) notes = notes.replace(`${extras}\n`, '')
    const visible = cmd.commands.filter((sub) => !(sub as Command & { _hidden?: boolean })._hidden)
    docs.push({
      path,
      title: ['bktx', ...(path === '' ? [] : path.split(' '))].join(' '),
      usage: `${['bktx', ...(path === '' ? [] : path.split(' '))].join(' ')} ${cmd.usage()}`,
      description: cmd.description(),
      arguments: path === '' ? [] : cmd.registeredArguments.map(argumentDoc),
      options: cmd.options.filter((o) => !o.hidden).map(optionDoc),
      notes: notes.trim(),
      subcommands: visible.map((sub) => commandPath(sub)),
    })
    for (const sub of visible) visit(sub)
  }
  visit(program)
  return docs
}

// ---- Markdown

const HEADER = `<!-- Generated by scripts/gen-docs.mjs from the code: edit the code, then run \`${REGENERATE}\`. -->\n`

/** Text for a Markdown table cell or paragraph: no raw HTML, no cell breaks. */
function md(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

function code(text: string): string {
  return text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``
}

function anchor(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, '')
    .replace(/ /g, '-')
}

function optionTable(options: readonly OptionDoc[]): string {
  const rows = options.map((o) => {
    const choices = o.choices === undefined ? '' : ` (one of ${o.choices.map(code).join(', ')})`
    return `| ${code(o.flags)} | ${md(o.description)}${choices} | ${o.env === undefined ? '' : code(o.env)} | ${o.default === undefined ? '' : code(o.default)} |`
  })
  return ['| Option | Description | Environment | Default |', '| --- | --- | --- | --- |', ...rows].join('\n')
}

function commandsMarkdown(docs: readonly CommandDoc[]): string {
  const [root, ...commands] = docs
  if (root === undefined) throw new Error('no program')
  const lines: string[] = [
    HEADER,
    '# Command reference',
    '',
    `Every command and flag of bktx, as \`bktx help COMMAND\` shows them. Settings flags also read an environment variable and the profile (flag > environment > profile > default): see [settings.md](settings.md). \`--json\` documents: [json.md](json.md). Exit codes: [exit-codes.md](exit-codes.md).`,
    '',
    ...commands.map((c) => `${'  '.repeat(c.path.split(' ').length - 1)}- [${c.title}](#${anchor(c.title)}): ${md(c.description)}`),
    '',
    `## ${root.title}`,
    '',
    md(root.description),
    '',
    `Usage: ${code(root.usage)}`,
    '',
    'Global options (they apply to every command, before or after its name):',
    '',
    optionTable(root.options),
    '',
  ]
  if (root.notes !== '') lines.push(md(root.notes), '')
  lines.push(...examplesMarkdown(root.path))
  for (const c of commands) {
    lines.push(`## ${c.title}`, '', md(c.description), '', `Usage: ${code(c.usage)}`, '')
    if (c.subcommands.length > 0) lines.push(`Commands: ${c.subcommands.map((s) => `[${s}](#${anchor(`bktx ${s}`)})`).join(', ')}`, '')
    if (c.arguments.length > 0) {
      lines.push('| Argument | Description |', '| --- | --- |')
      for (const a of c.arguments) {
        const name = `${a.required ? '<' : '['}${a.name}${a.variadic ? '...' : ''}${a.required ? '>' : ']'}`
        const choices = a.choices === undefined ? '' : ` (one of ${a.choices.map(code).join(', ')})`
        lines.push(`| ${code(name)} | ${md(a.description)}${choices} |`)
      }
      lines.push('')
    }
    if (c.options.length > 0) lines.push(optionTable(c.options), '')
    if (c.notes !== '') lines.push('```text', c.notes, '```', '')
    if (JSON_FIELDS[c.path] !== undefined) lines.push(`\`--json\`: [the fields](json.md#${anchor(c.title)}).`, '')
    lines.push(...examplesMarkdown(c.path))
  }
  return `${lines.join('\n').trimEnd()}\n`
}

function examplesMarkdown(path: string): string[] {
  const entry = HELP_EXAMPLES[path]
  if (entry === undefined) return []
  return [
    'Examples:',
    '',
    '```sh',
    ...entry.examples.flatMap((e) => [`# ${e.note}`, e.run]),
    '```',
    '',
    `Learn more: [docs/${entry.guide}](../${entry.guide})`,
    '',
  ]
}

function settingsMarkdown(docs: readonly CommandDoc[]): string {
  const users = (name: string): string[] => docs.filter((c) => c.options.some((o) => o.flags.startsWith(`--${name} `))).map((c) => c.title)
  const lines = [
    HEADER,
    '# Settings and environment variables',
    '',
    'Each setting resolves flag > environment variable > profile (`bktx config set NAME VALUE`, in the configuration file) > default. `bktx config list` shows each value and where it came from.',
    '',
    '| Setting | Flag | Environment | Default | Description |',
    '| --- | --- | --- | --- | --- |',
    ...SETTING_NAMES.map((name) => {
      const spec = SETTINGS[name]
      const derived = spec.derive === undefined ? '' : 'derived'
      return `| ${code(name)} | ${code(`--${name}`)} | ${code(spec.env)} | ${spec.default === undefined ? derived : code(spec.default)} | ${md(spec.description)} |`
    }),
    '',
    '"derived": the default follows the token URL (see the description).',
    '',
    '## Which commands take each setting flag',
    '',
    '| Setting | Commands |',
    '| --- | --- |',
    ...SETTING_NAMES.map((name) => `| ${code(name)} | ${users(name).map(code).join(', ')} |`),
    '',
    '## Other environment variables',
    '',
    '| Variable | Meaning |',
    '| --- | --- |',
    ...OTHER_VARIABLES.map(([name, meaning]) => `| ${code(name)} | ${md(meaning)} |`),
    '',
  ]
  return `${lines.join('\n').trimEnd()}\n`
}

function exitCodes(): ExitCode[] {
  return (Object.values(EXIT) as ExitCode[]).sort((a, b) => a - b)
}

function exitCodesMarkdown(): string {
  const lines = [
    HEADER,
    '# Exit codes',
    '',
    'From the table in src/exit-codes.ts, as `bktx help exit-codes` prints it (`bktx help exit-codes --json` gives it as JSON). With `--json`, a failure is one JSON line on stderr: `{"error": {"code", "message", "exit"}}`, with the error code of the last column.',
    '',
    '| Exit | Meaning | Error codes |',
    '| --- | --- | --- |',
    ...exitCodes().map((exit) => `| ${exit} | ${md(EXIT_CODE_HELP[exit])} | ${errorCodesOf(exit).map(code).join(', ')} |`),
    '',
    md(EXIT_CODES_NOTES.trim()),
    '',
  ]
  return `${lines.join('\n').trimEnd()}\n`
}

function jsonMarkdown(): string {
  const lines = [
    HEADER,
    '# `--json` documents',
    '',
    'With the global `--json`, a command that succeeds prints one JSON document on stdout (`bktx --version --json` gives `{"version": ...}`), and a failure prints one JSON line on stderr: `{"error": {"code", "message", "exit"}}` ([exit-codes.md](exit-codes.md)). The fields below are stable; `bktx help COMMAND` lists them too.',
    '',
  ]
  for (const [path, doc] of Object.entries(JSON_FIELDS)) {
    lines.push(`## bktx ${path}`, '')
    lines.push(doc.shape === 'array' ? 'An array of objects with:' : 'An object with:', '')
    lines.push('| Field | Meaning |', '| --- | --- |')
    for (const [name, meaning] of Object.entries(doc.fields)) lines.push(`| ${code(name)} | ${md(meaning)} |`)
    lines.push('')
    if (doc.note !== undefined) lines.push(md(doc.note), '')
  }
  return `${lines.join('\n').trimEnd()}\n`
}

function indexMarkdown(docs: readonly CommandDoc[]): string {
  const lines = [
    HEADER,
    '# bktx reference',
    '',
    `Generated from the code by \`${REGENERATE}\` (scripts/gen-docs.mjs); a test fails when these files are out of date. The guides are one level up, in [docs/](..).`,
    '',
    '- [commands.md](commands.md): every command and flag, with examples',
    '- [settings.md](settings.md): every setting, its flag, variable and default; the other variables',
    '- [exit-codes.md](exit-codes.md): what each exit code means and the errors that give it',
    '- [json.md](json.md): the fields of each `--json` document',
    '- [man/bktx.1](../../man/bktx.1): the same as a manual page (`man bktx` once installed)',
    '',
    '## Commands',
    '',
    '| Command | What it does |',
    '| --- | --- |',
    ...docs.filter((c) => c.path !== '').map((c) => `| [${c.title}](${referenceLink(c.path).replace('docs/reference/', '')}) | ${md(c.description)} |`),
    '',
  ]
  return `${lines.join('\n').trimEnd()}\n`
}

// ---- roff (man 7 man)

/** Text for a roff line: backslashes escaped, dashes as minus signs, no leading control character. */
function roff(text: string): string {
  const escaped = text.replace(/\\/g, '\\e').replace(/-/g, '\\-')
  return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped
}

/** Paragraph text: one roff line per source line. */
function roffLines(text: string): string[] {
  return text.split('\n').map((line) => (line.trim() === '' ? '.PP' : roff(line)))
}

function roffOption(o: OptionDoc): string[] {
  const [flag, ...rest] = o.flags.split(' ')
  const extra: string[] = []
  if (o.env !== undefined) extra.push(`env ${o.env}`)
  if (o.default !== undefined) extra.push(`default ${o.default}`)
  if (o.choices !== undefined) extra.push(`one of ${o.choices.join(', ')}`)
  return [
    '.TP',
    `\\fB${roff(flag ?? '')}\\fR${rest.length === 0 ? '' : ` \\fI${roff(rest.join(' '))}\\fR`}`,
    roff(`${o.description}${extra.length === 0 ? '' : ` (${extra.join('; ')})`}`),
  ]
}

function roffExamples(path: string): string[] {
  const entry = HELP_EXAMPLES[path]
  if (entry === undefined) return []
  return [
    '.PP',
    'Examples:',
    '.RS 4',
    '.nf',
    ...entry.examples.flatMap((e) => [roff(`# ${e.note}`), roff(`$ ${e.run}`)]),
    '.fi',
    '.RE',
    '.PP',
    roff(`See docs/${entry.guide}.`),
  ]
}

function manPage(docs: readonly CommandDoc[]): string {
  const [root, ...commands] = docs
  if (root === undefined) throw new Error('no program')
  const lines: string[] = [
    `.\\" Generated by scripts/gen-docs.mjs from the code: edit the code, then run ${REGENERATE}.`,
    '.TH BKTX 1 "" "bktx" "User Commands"',
    // URLs and flags read better unbroken: no hyphenation, ragged right.
    '.nh',
    '.ad l',
    '.SH NAME',
    `bktx \\- ${roff(root.description.replace(/^./, (c) => c.toLowerCase()))}`,
    '.SH SYNOPSIS',
    '.B bktx',
    '[\\fIglobal options\\fR] \\fIcommand\\fR [\\fIoptions\\fR] [\\fIarguments\\fR]',
    '.SH DESCRIPTION',
    roff(
      'bktx signs a client assertion (RFC 7523) with your key and exchanges it at the token endpoint (RFC 8693) for a short-lived Buildkite API token, which it caches, prints, exports to a shell or hands to a command.',
    ),
    '.PP',
    roff('Data goes to stdout, messages to stderr. Run bktx help COMMAND for the flags and examples of a command.'),
    '.SH GLOBAL OPTIONS',
    ...root.options.flatMap(roffOption),
    ...roffExamples(''),
    '.SH COMMANDS',
  ]
  for (const c of commands) {
    lines.push(`.SS ${roff(c.usage)}`, ...roffLines(c.description))
    for (const a of c.arguments) {
      lines.push('.TP', `\\fI${roff(a.name)}\\fR`, roff(`${a.description}${a.choices === undefined ? '' : ` (one of ${a.choices.join(', ')})`}`))
    }
    for (const o of c.options) lines.push(...roffOption(o))
    if (c.notes !== '') lines.push('.PP', '.nf', ...c.notes.split('\n').map(roff), '.fi')
    const json = JSON_FIELDS[c.path]
    if (json !== undefined) lines.push('.PP', roff(`--json fields: ${Object.keys(json.fields).join(', ')}.`))
    lines.push(...roffExamples(c.path))
  }
  lines.push('.SH ENVIRONMENT', roff('Each setting resolves flag > environment variable > profile > default.'))
  for (const name of SETTING_NAMES) {
    const spec = SETTINGS[name]
    lines.push('.TP', `.B ${spec.env}`, roff(`${spec.description} (--${name}${spec.default === undefined ? '' : `; default ${spec.default}`})`))
  }
  for (const [name, meaning] of OTHER_VARIABLES) lines.push('.TP', `.B ${roff(name)}`, roff(meaning))
  lines.push(
    '.SH FILES',
    '.TP',
    '.I $XDG_CONFIG_HOME/bktx/config.json',
    roff('the configuration file: named profiles of settings (bktx config path)'),
    '.TP',
    '.I $XDG_CONFIG_HOME/bktx/keys/',
    roff('keys made by bktx keygen and bktx key rotate (mode 0600)'),
    '.TP',
    '.I $XDG_RUNTIME_DIR/bktx/',
    roff('the file cache of tokens (else /dev/shm/bktx-UID, else $XDG_CACHE_HOME/bktx)'),
    '.SH EXIT STATUS',
  )
  for (const exit of exitCodes()) {
    const errors = errorCodesOf(exit)
    lines.push('.TP', `.B ${exit}`, roff(`${EXIT_CODE_HELP[exit]}${errors.length === 0 ? '' : ` (${errors.join(', ')})`}`))
  }
  lines.push('.PP', ...roffLines(EXIT_CODES_NOTES.trim()))
  lines.push(
    '.SH SEE ALSO',
    roff('The guides in docs/ and the reference in docs/reference/ of the bktx package: commands.md, settings.md, exit-codes.md, json.md.'),
  )
  return `${lines.join('\n')}\n`
}

/** Every generated file, by path from the repository root. */
export function generateReference(): Record<string, string> {
  const docs = commandDocs()
  return {
    'docs/reference/README.md': indexMarkdown(docs),
    'docs/reference/commands.md': commandsMarkdown(docs),
    'docs/reference/settings.md': settingsMarkdown(docs),
    'docs/reference/exit-codes.md': exitCodesMarkdown(),
    'docs/reference/json.md': jsonMarkdown(),
    'man/bktx.1': manPage(docs),
  }
}
