// The licence notices of the packages an esbuild bundle holds (MIT, ISC and others ask for the
// notice to travel with copies), from its metafile: what scripts/build.mjs writes for dist/, for
// the Action's committed bundle and the standalone executable. Sorted, so the text is stable.
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'

export async function thirdPartyNotices(root, metafile, what) {
  const packages = new Map()
  for (const input of Object.keys(metafile.inputs)) {
    const at = input.lastIndexOf('node_modules/')
    if (at === -1) continue
    const match = /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input.slice(at))
    if (match) packages.set(`${input.slice(0, at)}node_modules/${match[1]}`, match[1])
  }
  const notices = []
  for (const [dir, name] of [...packages].sort((a, b) => a[1].localeCompare(b[1]) || a[0].localeCompare(b[0]))) {
    const { version, license } = JSON.parse(await readFile(join(root, dir, 'package.json'), 'utf8'))
    const file = (await readdir(join(root, dir))).sort().find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f))
    const text = file ? await readFile(join(root, dir, file), 'utf8') : `License: ${license}`
    notices.push(`${name}@${version} (${license})\n\n${text.trim()}\n`)
  }
  return `${what} bundles these packages:\n\n${notices.join(`\n${'-'.repeat(72)}\n\n`)}`
}
