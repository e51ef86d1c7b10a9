import { TOKEN_FIELDS } from '../token/document.js'

// The `--json` documents of the commands, field by field, keyed by command path (`jwks check`).
// `bktx help COMMAND` lists the fields from here (src/cli/help-examples.ts) and
// docs/reference/json.md is generated from it (`npm run docs:gen`). The code that builds a
// document is typed with its entry (JsonFields<'status'>), and test/cli/json-fields.test.ts
// compares the documents commands print with it. The token's fields live with the code that
// builds its document (src/token/document.ts), whose type they define.

export interface JsonDocument {
  /** `array`: the document is an array of objects with these fields. */
  shape: 'object' | 'array'
  fields: Readonly<Record<string, string>>
  /** When the document has another form (a flag that changes it). */
  note?: string
}

const CHECKS = 'each check: {id, status (pass, warn or fail), message, fix}'

const DOCUMENTS = {
  token: { shape: 'object', fields: TOKEN_FIELDS },
  env: {
    shape: 'object',
    fields: {
      BUILDKITE_API_TOKEN: 'the token',
      BUILDKITE_ORGANIZATION_SLUG: 'the organisation slug',
      BKTX_TOKEN_EXPIRES_AT: 'when the token expires (ISO 8601, UTC)',
    },
    note: '`--json` is `--shell json`: the variables as one object.',
  },
  whoami: {
    shape: 'object',
    fields: {
      uuid: "the token's UUID at Buildkite",
      user: 'the user the token acts as: {name, email}',
      scopes: 'the scopes the API reports for the token',
      description: "the token's description",
      created_at: 'when the token was created (ISO 8601)',
      expires_at: 'when it expires (ISO 8601), or null',
      source: 'where the token came from: env:NAME, stdin, cache or exchange (--mint)',
      token_hint: 'the last four characters of the token, or null',
      cached: 'true when the token came from the cache',
      cache: 'where the token is kept: keychain, file or none',
      tokens: 'every token described, each with these fields (a refused one carries error {code, message} instead)',
    },
  },
  'cache list': {
    shape: 'array',
    fields: {
      key: 'the cache key (a hash of the settings that mint the token)',
      scope: 'the cache scope holding it: home-<hash> or job-<hash> (docs/cache-and-ci.md)',
      profile: 'the profile that minted it, or null',
      token_host: "the token endpoint's host",
      token_url: 'the token endpoint that minted it',
      subject: 'the user the token is for',
      subject_type: 'email or uuid',
      org: 'organisation slug',
      client_id: "the token exchange application's Client ID",
      scopes: 'the scopes granted',
      requested_scopes: 'the scopes asked for',
      requested_ttl: "the TTL asked for, in seconds, or null for the application's maximum",
      kid: 'the kid of the signing key, or null',
      key_fingerprint: "the signing key's fingerprint",
      received_at: 'when it was minted (ISO 8601)',
      expires_at: 'when it expires (ISO 8601)',
      expired: 'true once it has expired',
      cache: 'keychain or file',
      token_hint: 'the last four characters of the token, or null',
    },
    note: 'This home or CI job only; --all-scopes adds the others.',
  },
  'cache clear': { shape: 'object', fields: { removed: 'how many cached tokens were removed' } },
  logout: {
    shape: 'object',
    fields: {
      revoked: 'the tokens revoked: a list of {org, subject, scopes, token_url, token_hint, expires_at}',
      already_invalid: 'the tokens the API no longer knew (already revoked or expired), forgotten',
      expired: 'the expired tokens, forgotten without a request',
      forgotten: 'the tokens only removed from the cache (--no-revoke)',
      failed: 'the tokens that could not be revoked and stay cached; each adds error {code, message}',
    },
    note: 'The same document with --all.',
  },
  revoke: {
    shape: 'object',
    fields: {
      revoked: 'true when the API revoked the token (HTTP 204)',
      already_invalid: 'true when the API no longer knew it (HTTP 401: already revoked or expired)',
      token_hint: 'the last four characters of the token, or null for a token under 20 characters',
      removed_from_cache: 'true when a cache entry held the token and was removed',
    },
  },
  status: {
    shape: 'object',
    fields: {
      profile: 'the profile in use',
      profile_explicit: 'true when it was named (--profile or BKTX_PROFILE)',
      config: 'the configuration file and whether it exists',
      settings: 'every setting: {value, source}',
      key: 'the signing key: path, algorithm, kid, and whether it loads; null without one',
      cache: 'the cache: mode, backend, reason, usable, dir, dir_state, dir_error, keychain {state, detail}',
      tokens: 'the cached tokens of this profile: scopes, cache, received_at, expires_at, expires_in, expired, current_key, token_hint; null when unknown',
      rotation: 'a pending key rotation: started_at, old_kid, next_kid, next_path, served_since; null without one',
    },
  },
  doctor: {
    shape: 'object',
    fields: {
      ok: 'true when no check failed (warnings allowed)',
      summary: 'counts: {pass, warn, fail}',
      checks: CHECKS,
      status: 'the status report, as `bktx status --json` prints it (null when the configuration cannot be read)',
    },
  },
  keygen: {
    shape: 'object',
    fields: {
      kid: 'the key ID',
      alg: 'ES256 or RS256',
      path: 'the private key file (with --key pkcs11:...: uri, the key URI, instead)',
      profile: 'the profile that records the key, or null',
      jwks: 'the public JWKS to register with the application',
    },
  },
  'key list': {
    shape: 'array',
    fields: {
      path: 'the key file',
      loads: 'whether it loads as a signing key',
      alg: 'ES256 or RS256 (null when it does not load)',
      kid: 'the key ID (null when it does not load)',
      kid_origin: 'where the kid comes from: the file, or its RFC 7638 thumbprint',
      fingerprint: "the public key's fingerprint",
      mode: 'the file mode, such as 0600',
      error: 'why it does not load: {code, message}, or null',
      used_by: 'the profiles that sign with it: [{profile, kid}]',
      rotations: 'its part in rotations: [{profile, role, started_at, served_since}]',
    },
  },
  'key rotate': {
    shape: 'object',
    fields: {
      profile: 'the profile being rotated',
      old: 'the current key: {path, kid, ...}',
      next: 'the new key: {path, kid, ...}',
      started_at: 'when the rotation started',
      out: 'where the JWKS is published (--out), or null',
      jwks_uri: 'the JWKS URI checked for the new key',
      served_since: 'since when the JWKS URI serves both keys, or null',
      ready_at: 'when --finish may switch (ISO 8601), or null',
      ready: 'true when --finish may switch now',
      switched: 'true when the profile signs with the new key already',
      checks: CHECKS,
      jwks: 'the JWKS to publish (start, --finish, --cancel)',
    },
    note: '--finish adds finished, forced and still_using_old; --cancel prints {profile, cancelled, old, next, out, jwks}.',
  },
  'jwks print': {
    shape: 'object',
    fields: { keys: 'the public keys (RFC 7517 JWK Set)' },
    note: 'The JWKS is JSON already. With --out and --json: {path, kids}.',
  },
  'jwks check': {
    shape: 'object',
    fields: {
      source: 'the URL or file checked',
      ok: 'true when every rule passed',
      http: 'the HTTP answer: {status, content_type, cache_control}, or null for a file',
      bytes: 'the size of the document, or null',
      keys: 'the keys found: [{index, kid, alg}]',
      problems: 'what is wrong, one sentence each',
      kid: 'the --kid asked for: {kid, found}, or null',
      checks: CHECKS,
    },
  },
  sign: {
    shape: 'object',
    fields: { assertion: 'the signed JWT', header: 'its decoded header', claims: 'its decoded claims' },
  },
  inspect: {
    shape: 'object',
    fields: { header: 'the decoded header', payload: 'the decoded claims', verified: 'with --jwks: how the signature and time claims verified' },
  },
  'config list': {
    shape: 'object',
    fields: { file: 'the configuration file', profile: 'the profile in use', settings: 'every set setting: {value, source}' },
  },
  'config get': {
    shape: 'object',
    fields: { key: 'the setting name', value: 'its resolved value', source: 'where it came from: flag, env, profile or default' },
  },
  'config set': {
    shape: 'object',
    fields: { file: 'the configuration file', profile: 'the profile changed', key: 'the setting', value: 'the value stored (normalised)', changed: 'true' },
  },
  'config unset': {
    shape: 'object',
    fields: { file: 'the configuration file', profile: 'the profile', key: 'the setting', changed: 'false when it was not set' },
  },
  'config path': { shape: 'object', fields: { path: 'the configuration file path' } },
  'config profiles': {
    shape: 'object',
    fields: {
      file: 'the configuration file',
      active: 'the profile in use',
      profiles: 'each profile: {name, active, extends, settings, in_file}',
    },
  },
  server: {
    shape: 'object',
    fields: {
      url: 'the base URL the server listens on',
      token_url: 'its token endpoint',
      api_url: 'its REST API base URL',
      organizations: 'the organisation slugs it serves',
      client_ids: 'the Client IDs of its applications',
    },
  },
  help: {
    shape: 'object',
    fields: { exit_codes: '`bktx help exit-codes --json`: [{exit, meaning, errors}]' },
  },
} as const satisfies Readonly<Record<string, JsonDocument>>

/** The tables by command path, for the help and the reference. */
export const JSON_FIELDS: Readonly<Record<string, JsonDocument>> = DOCUMENTS

/**
 * The type of a command's --json document (of each element, for an array): exactly the fields
 * of its table, so the code that builds it and the table cannot drift apart without tsc saying so.
 */
export type JsonFields<P extends keyof typeof DOCUMENTS> = { [K in keyof (typeof DOCUMENTS)[P]['fields']]: unknown }

/** `--json prints {a, b, c}` for the help page of a command (wrapped to `width`), or undefined. */
export function jsonFieldsLine(path: string, width = 88): string | undefined {
  const doc = JSON_FIELDS[path]
  if (doc === undefined) return undefined
  const names = Object.keys(doc.fields).join(', ')
  const text = `--json prints ${doc.shape === 'array' ? `[{${names}}, ...]` : `{${names}}`}${doc.note === undefined ? '' : `. ${doc.note}`}`
  const lines: string[] = []
  let line = ''
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else line = line === '' ? word : `${line} ${word}`
  }
  if (line !== '') lines.push(line)
  return lines.join('\n')
}
