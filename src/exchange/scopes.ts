// Buildkite's API access token scopes: the one table bktx has of them. The reference server
// grants only these (src/server/), completion offers them, and the token commands warn about a
// scope name not in it before sending it anyway (Buildkite adds scopes; the server decides).
import type { Notice } from '../errors.js'

/**
 * Every REST API scope Buildkite documents, and `graphql`: "Token scopes" in
 * https://buildkite.com/docs/apis/managing-api-tokens#token-scopes (docs/token-exchange.md §7).
 */
export const KNOWN_SCOPES: ReadonlySet<string> = new Set(
  `read_pipelines write_pipelines read_builds write_builds read_build_logs write_build_logs
read_job_env read_artifacts write_artifacts read_agents write_agents read_clusters write_clusters
read_pipeline_templates write_pipeline_templates read_rules write_rules read_organizations
write_organizations read_organization_invitations write_organization_invitations
read_organization_settings write_organization_settings read_organization_repository_connections
read_notification_services write_notification_services read_teams write_teams read_user
read_audit_events read_secrets_details write_secrets read_suites write_suites read_test_plan
write_test_plan read_registries write_registries delete_registries read_packages write_packages
delete_packages read_portals write_portals graphql`.split(/\s+/),
)

/**
 * One warning per requested scope bktx does not know, with the known scope it most likely
 * means (`read_bilds` → `read_builds`). The scope is sent all the same: the token endpoint,
 * not this table, decides what exists.
 */
export function unknownScopeNotices(scopes: readonly string[]): Notice[] {
  return [...new Set(scopes)]
    .filter((scope) => !KNOWN_SCOPES.has(scope))
    .map((scope) => {
      const guess = closestScope(scope)
      if (guess !== undefined) return { kind: 'unknown-scope', message: `unknown scope ${scope} (did you mean ${guess}?); sending it anyway` }
      return {
        kind: 'unknown-scope',
        message: `unknown scope ${scope}; sending it anyway`,
        advice: ['check ', { setting: 'scope' }, " against Buildkite's API token scopes"],
      }
    })
}

/** The known scope nearest to `name`, when it is near enough to be a typo of it; else undefined. */
export function closestScope(name: string): string | undefined {
  // A typo changes a few characters: at most a third of the name, and never more than 3.
  const limit = Math.min(3, Math.floor(name.length / 3))
  let best: string | undefined
  let bestDistance = limit + 1
  for (const scope of KNOWN_SCOPES) {
    const distance = editDistance(name.toLowerCase(), scope)
    if (distance < bestDistance) {
      best = scope
      bestDistance = distance
    }
  }
  return best
}

/**
 * The optimal string alignment distance: insertions, deletions, substitutions and swaps of two
 * adjacent characters each cost 1 (Damerau–Levenshtein without edits of a swapped pair).
 */
export function editDistance(a: string, b: string): number {
  // Three rows of the dynamic programme: the one before the previous is needed for swaps.
  let before: number[] = []
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let value = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, (before[j - 2] as number) + 1)
      current.push(value)
    }
    before = previous
    previous = current
  }
  return previous[b.length] as number
}
