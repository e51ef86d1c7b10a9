// Imports nothing: the CLI's flag definitions load it with every command, the server code only
// when a server starts.

/**
 * What the quick options default to when not given: the same for `bktx server`'s flags and the
 * library's `startReferenceServer({ config: { quick } })`.
 */
export const QUICK_SERVER_DEFAULTS = {
  grantable: 'read_builds read_pipelines read_user',
  defaultScopes: 'read_builds',
  maxTtl: 3600,
} as const
