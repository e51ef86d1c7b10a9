/** Every scope Buildkite documents (docs/token-exchange.md §7). */
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

// RFC 6749 §3.3: scope = scope-token *( SP scope-token ), scope-token = 1*NQCHAR.
// Exactly one space between tokens; no tabs, newlines or leading/trailing space.
const SCOPE_PARAM = /^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/

/** The scope set of a request's `scope` parameter, or undefined when it is malformed. */
export function parseScopeParam(value: string): string[] | undefined {
  if (!SCOPE_PARAM.test(value)) return undefined
  return [...new Set(value.split(' '))].sort()
}
