import { execFile } from 'node:child_process'
import { access, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, inject, it } from 'vitest'
import { commandDocs } from '../../src/cli/reference.js'

// man/bktx.1 is generated (npm run docs:gen; test/cli/reference.test.ts checks it is current
// and its structure): here it goes through the real man, and into the package.

const run = promisify(execFile)
const ROOT = new URL('../..', import.meta.url).pathname
const PAGE = join(ROOT, 'man', 'bktx.1')

async function has(tool: string): Promise<boolean> {
  return run('sh', ['-c', `command -v ${tool}`]).then(
    () => true,
    () => false,
  )
}

describe('man/bktx.1', () => {
  it('renders with man -l, without a warning, with every command and exit code', async (context) => {
    if (!(await has('man'))) return context.skip('man is not installed (test/cli/reference.test.ts checks the roff structure)')
    const { stdout, stderr } = await run('man', ['--warnings', '-l', PAGE], {
      env: { ...process.env, MANWIDTH: '100', MAN_KEEP_FORMATTING: '', MANPAGER: 'cat', PAGER: 'cat' },
    })
    expect(stderr).toBe('')
    // Whatever bold or underlining man leaves in: compare the plain text.
    const text = stdout.replace(/.\x08/g, '')
    for (const heading of ['NAME', 'SYNOPSIS', 'COMMANDS', 'ENVIRONMENT', 'EXIT STATUS', 'SEE ALSO']) expect(text).toMatch(new RegExp(`^${heading}$`, 'm'))
    for (const doc of commandDocs().slice(1)) expect(text).toContain(`   bktx ${doc.path} `)
    expect(text).toContain('BKTX_TOKEN_URL')
    expect(text).toMatch(/^ {7}127\s/m)
    expect(text).toContain('$ bktx exec --scope read_builds -- bk build list')
  })

  it('is named in package.json and packed', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { man?: string[] }
    expect(pkg.man).toEqual(['./man/bktx.1'])
    await access(PAGE)
    // The files of the tarball the e2e project packed once (test/setup/packed.ts, `npm pack --json`).
    const { files } = inject('packed')
    expect(files).toContain('man/bktx.1')
    for (const page of ['README.md', 'commands.md', 'settings.md', 'exit-codes.md', 'json.md']) expect(files).toContain(`docs/reference/${page}`)
  })
})
