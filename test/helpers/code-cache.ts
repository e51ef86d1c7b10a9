import { inject } from 'vitest'

/**
 * BKTX_CODE_CACHE for the bktx processes a test starts: the run's shared code cache directory
 * (test/setup/code-cache.ts), so that a start in a fresh home is not a cold one. Empty where no
 * run provides one (the unit project starts no bktx). Tests of the code cache itself pass their own.
 */
export const CODE_CACHE: Record<string, string> = (() => {
  const dir = inject('codeCache') as string | undefined
  const env: Record<string, string> = {}
  if (dir !== undefined) env['BKTX_CODE_CACHE'] = dir
  return env
})()
