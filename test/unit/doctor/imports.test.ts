import { describe, expect, it } from 'vitest'
import { staticInputs } from '../../helpers/import-graph.js'

// `bktx status` may run in a shell prompt: its module graph must not load jose (+44 ms),
// undici (+111 ms) or ora (+69 ms) (docs/dependencies.md). Unusual key files (JWK, errors)
// reach jose through a dynamic import only.
const heavy = (inputs: string[]) => [
  ...new Set(inputs.filter((p) => /node_modules\/(jose|undici|ora)\//.test(p)).map((p) => p.split('node_modules/')[1]?.split('/')[0])),
]

describe('what bktx status loads', () => {
  it.each(['src/doctor/status.ts', 'src/doctor/status-view.ts', 'src/cli/commands/status.ts', 'src/keys/describe.ts', 'src/fast/status-main.ts'])(
    '%s statically imports neither jose, undici nor ora',
    async (entry) => {
      expect(heavy((await staticInputs(entry)).statics)).toEqual([])
    },
  )

  it('src/keys/describe.ts reaches jose only through its fallback for unusual key files (so this test can tell)', async () => {
    expect(heavy((await staticInputs('src/keys/describe.ts')).dynamics)).toContain('jose')
  })
})
