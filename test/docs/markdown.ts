// Reads the project's Markdown the way the docs tests need it: fenced code blocks with the
// line they start on and the marker before them, links, and the anchors GitHub makes of
// headings. A small reader of CommonMark's fences, not a full parser: enough for our own files.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface Block {
  /** The file, relative to the repository root. */
  file: string
  /** 1-based line of the opening fence. */
  line: number
  lang: string
  text: string
  /** The reason of a `<!-- not-runnable: reason -->` marker on the line before the fence. */
  notRunnable: string | undefined
}

/** README.md and every Markdown file under docs/, relative to the root, sorted. */
export function markdownFiles(options: { exclude?: string[] } = {}): string[] {
  const files = ['README.md']
  const walk = (dir: string) => {
    for (const name of readdirSync(join(ROOT, dir)).sort()) {
      const path = join(dir, name)
      if (statSync(join(ROOT, path)).isDirectory()) walk(path)
      else if (name.endsWith('.md')) files.push(path)
    }
  }
  walk('docs')
  return files.filter((file) => !(options.exclude ?? []).some((prefix) => file.startsWith(prefix)))
}

const FENCE = /^( {0,3})(`{3,}|~{3,})\s*([\w+-]*)/
const MARKER = /^<!--\s*not-runnable:\s*(.+?)\s*-->$/

export function blocks(file: string): Block[] {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n')
  const found: Block[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i] ?? '')
    if (!open) continue
    const fence = open[2] ?? '```'
    const body: string[] = []
    let j = i + 1
    for (; j < lines.length; j++) {
      const line = lines[j] ?? ''
      if (line.trimStart().startsWith(fence.charAt(0).repeat(fence.length)) && line.trim().replace(/[`~]/g, '') === '') break
      // Blocks indented under a list item: drop the item's indentation.
      body.push(line.startsWith(open[1] ?? '') ? line.slice((open[1] ?? '').length) : line)
    }
    let k = i - 1
    while (k >= 0 && (lines[k] ?? '').trim() === '') k--
    const marker = MARKER.exec((lines[k] ?? '').trim())
    found.push({ file, line: i + 1, lang: (open[3] ?? '').toLowerCase(), text: body.join('\n'), notRunnable: marker?.[1] })
    i = j
  }
  return found
}

/** The text outside code blocks and inline code, where links are. */
function prose(text: string, keepInlineCode = false): string {
  const out: string[] = []
  let fence: string | undefined
  for (const line of text.split('\n')) {
    const open = FENCE.exec(line)
    if (fence === undefined && open) fence = (open[2] ?? '```')[0]
    else if (fence !== undefined && line.trim().startsWith(fence.repeat(3)) && line.trim().replace(/[`~]/g, '') === '') fence = undefined
    else if (fence === undefined) out.push(keepInlineCode ? line : line.replace(/`[^`]*`/g, '``'))
  }
  return out.join('\n')
}

export interface Link {
  file: string
  target: string
}

/** Inline links `[text](target)` and reference definitions `[ref]: target`, outside code. */
export function links(file: string): Link[] {
  const text = prose(readFileSync(join(ROOT, file), 'utf8'))
  const found: Link[] = []
  for (const match of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) found.push({ file, target: match[1] ?? '' })
  for (const match of text.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm)) found.push({ file, target: match[1] ?? '' })
  return found
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, duplicates numbered. */
export function anchors(file: string): Set<string> {
  const text = prose(readFileSync(join(ROOT, file), 'utf8'), true)
  const seen = new Map<string, number>()
  const result = new Set<string>()
  for (const match of text.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const slug = (match[1] ?? '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/ /g, '-')
    const count = seen.get(slug) ?? 0
    seen.set(slug, count + 1)
    result.add(count === 0 ? slug : `${slug}-${count}`)
  }
  // Explicit anchors: <a id="..."></a>
  for (const match of readFileSync(join(ROOT, file), 'utf8').matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) result.add(match[1] ?? '')
  return result
}

export const fromRoot = (path: string): string => relative(ROOT, path)
