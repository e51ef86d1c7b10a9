// The scope table is Buildkite's, shared with the token commands' warning about unknown names.
export { KNOWN_SCOPES } from '../exchange/scopes.js'

// RFC 6749 §3.3: scope = scope-token *( SP scope-token ), scope-token = 1*NQCHAR.
// Exactly one space between tokens; no tabs, newlines or leading/trailing space.
const SCOPE_PARAM = /^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/

/** The scope set of a request's `scope` parameter, or undefined when it is malformed. */
export function parseScopeParam(value: string): string[] | undefined {
  if (!SCOPE_PARAM.test(value)) return undefined
  return [...new Set(value.split(' '))].sort()
}
