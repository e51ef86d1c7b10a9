import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { EXIT } from '../../src/cli/exit-codes.js'
import { JSON_FIELDS } from '../../src/cli/json-fields.js'
import { SETTING_NAMES, SETTINGS } from '../../src/config/settings.js'
import { commandDocs, generateReference, REGENERATE } from '../../src/cli/reference.js'

// docs/reference/*.md and man/bktx.1 are generated from the code (scripts/gen-docs.mjs, which
// runs src/cli/reference.ts). They are committed so they can be read without building; this
// test regenerates them in memory and fails when a committed file differs.

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const generated = generateReference()

describe('the generated reference', () => {
  it.each(Object.keys(generated))('%s is up to date with the code', async (path) => {
    const committed = await readFile(join(ROOT, path), 'utf8').catch(() => '(missing)')
    expect(committed === generated[path], `${path} is stale: run \`${REGENERATE}\` and commit the result`).toBe(true)
  })

  it('documents every command, flag, setting, exit code and --json document of the code', () => {
    const commands = generated['docs/reference/commands.md'] ?? ''
    const docs = commandDocs()
    expect(docs.map((d) => d.path)).toEqual(expect.arrayContaining(['', 'token', 'env', 'exec', 'jwks serve', 'config set', 'server', 'help']))
    for (const doc of docs) {
      expect(commands).toContain(`## ${doc.title}\n`)
      for (const option of doc.options) expect(commands, `${doc.title} ${option.flags}`).toContain(`| \`${option.flags}\` |`)
    }
    // A setting flag shows its variable and default in their own columns.
    expect(commands).toContain('| `--token-url <url>` | token endpoint URL | `BKTX_TOKEN_URL` | `https://buildkite.com/oauth/token` |')
    const settings = generated['docs/reference/settings.md'] ?? ''
    for (const name of SETTING_NAMES) expect(settings).toContain(`| \`${name}\` | \`--${name}\` | \`${SETTINGS[name].env}\` |`)
    const exits = generated['docs/reference/exit-codes.md'] ?? ''
    for (const exit of Object.values(EXIT)) expect(exits).toMatch(new RegExp(`^\\| ${exit} \\|`, 'm'))
    expect(exits).toContain('`BKTX_OAUTH_REJECTED`')
    const json = generated['docs/reference/json.md'] ?? ''
    for (const path of Object.keys(JSON_FIELDS)) expect(json).toContain(`## bktx ${path}\n`)
    // The token document's fields, all of them (the help once listed 6 of 9).
    for (const field of ['token', 'requested_scopes', 'requested_ttl', 'expires_in']) expect(json).toContain(`| \`${field}\` |`)
  })

  it('man/bktx.1 has the sections of a manual page, every command and every exit code', () => {
    const man = generated['man/bktx.1'] ?? ''
    const sections = [...man.matchAll(/^\.SH (.+)$/gm)].map((m) => m[1])
    expect(sections).toEqual(['NAME', 'SYNOPSIS', 'DESCRIPTION', 'GLOBAL OPTIONS', 'COMMANDS', 'ENVIRONMENT', 'FILES', 'EXIT STATUS', 'SEE ALSO'])
    expect(man).toMatch(/^\.TH BKTX 1 /m)
    const subsections = [...man.matchAll(/^\.SS (.+)$/gm)].map((m) => m[1])
    for (const doc of commandDocs().slice(1)) expect(subsections.some((s) => s?.startsWith(`bktx ${doc.path.replace(/-/g, '\\-')} `))).toBe(true)
    for (const exit of Object.values(EXIT)) expect(man).toContain(`.TP\n.B ${exit}\n`)
    // No text line starts with a control character, and every .nf is closed.
    for (const line of man.split('\n')) if (!line.startsWith('.')) expect(line).not.toMatch(/^'/)
    expect(man.match(/^\.nf$/gm)?.length).toBe(man.match(/^\.fi$/gm)?.length)
    expect(man).not.toMatch(/\\(?![-e&fI"BR])/)
  })
})
