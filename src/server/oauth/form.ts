import { invalidRequest } from './oauth-error.js'

/**
 * Parses an application/x-www-form-urlencoded body (the WHATWG parser, as curl -d sends it)
 * with RFC 6749 §3.2's rules: a parameter sent twice is invalid_request, and a parameter without
 * a value counts as omitted.
 */
export function parseForm(body: string): Map<string, string> {
  const params = new Map<string, string>()
  const seen = new Set<string>()
  for (const [name, value] of new URLSearchParams(body)) {
    if (seen.has(name)) throw invalidRequest(`Parameter \`${safeName(name)}\` must not be included more than once`)
    seen.add(name)
    if (value !== '') params.set(name, value)
  }
  return params
}

// Parameter names are echoed in a description; keep them short and printable.
function safeName(name: string): string {
  return /^[a-z_]{1,40}$/.test(name) ? name : 'parameter'
}
