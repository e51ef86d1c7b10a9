// Every relative link in README.md and docs/ (and the policy files beside the README) leads
// somewhere: the file or directory exists, and a #anchor names a heading of the file it points
// into (GitHub's anchors). External links (https:, mailto:) are not fetched: no network here.
import { existsSync, statSync } from 'node:fs'
import { dirname, join, normalize } from 'node:path'
import { describe, expect, it } from 'vitest'
import { anchors, links, markdownFiles, ROOT } from './markdown.js'

const FILES = [...markdownFiles(), 'SECURITY.md', 'CONTRIBUTING.md', 'CHANGELOG.md']

function resolve(from: string, target: string): { path: string; anchor: string | undefined } {
  const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined]
  const path = pathPart === '' ? from : normalize(join(dirname(from), decodeURIComponent(pathPart))).replace(/\/$/, '')
  return { path, anchor }
}

describe('docs: relative links resolve', () => {
  it('finds the files and links it checks', () => {
    expect(FILES).toContain('README.md')
    expect(FILES.length).toBeGreaterThan(10)
    expect(FILES.flatMap(links).length).toBeGreaterThan(50)
  })

  for (const file of FILES) {
    it(file, () => {
      const broken: string[] = []
      for (const { target } of links(file)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue
        const { path, anchor } = resolve(file, target)
        if (path.startsWith('..')) {
          broken.push(`${target}: outside the repository`)
          continue
        }
        if (!existsSync(join(ROOT, path))) {
          broken.push(`${target}: no such file (${path})`)
          continue
        }
        if (anchor !== undefined && anchor !== '') {
          if (!path.endsWith('.md') || statSync(join(ROOT, path)).isDirectory()) continue
          if (!anchors(path).has(anchor)) broken.push(`${target}: ${path} has no heading with the anchor #${anchor}`)
        }
      }
      expect(broken.join('\n'), `${file}: broken links`).toBe('')
    })
  }
})
