import type { Command } from 'commander'
import { commandPath } from './command.js'
import { jsonFieldsLine } from './json-fields.js'

// What `bktx help COMMAND` prints after the flags: two to four examples, the `--json` fields
// (from the table the code uses, src/cli/json-fields.ts) and where to learn more. One table
// keyed by command path ('' is bktx itself), hooked once in src/cli/program.ts. A test parses
// every example against the program (test/cli/help-examples.test.ts), and
// docs/reference/commands.md and man/bktx.1 print them too (`npm run docs:gen`).

export interface Example {
  /** A shell line, run as written (`$ ` is added when printed). */
  run: string
  /** What it does, printed as a `#` comment above it. */
  note: string
}

export interface CommandHelp {
  examples: readonly Example[]
  /** The guide to read, under docs/ (docs/reference/commands.md has every flag). */
  guide: string
}

const ex = (note: string, run: string): Example => ({ run, note })

export const HELP_EXAMPLES: Readonly<Record<string, CommandHelp>> = {
  '': {
    guide: 'setup.md',
    examples: [
      ex('Make a signing key; register the JWKS it prints with the token exchange application', 'bktx keygen > jwks.json'),
      ex("Record the application's Client ID (then org and subject the same way)", 'bktx config set client-id 0198c7d4-2b1e-7a9f-b5c3-4f2a9e1d8c6b'),
      ex('Mint a token that can read builds (cached until it nears expiry)', 'bktx token --scope read_builds'),
      ex('Export it to this shell as BUILDKITE_API_TOKEN', 'eval "$(bktx env --scope read_builds)"'),
    ],
  },
  token: {
    guide: 'daily-use.md',
    examples: [
      ex('A token that can read builds, from the cache when one has life left', 'bktx token --scope read_builds'),
      ex('Use it in one call to the REST API', 'curl -H "Authorization: Bearer $(bktx token --scope read_builds)" https://api.buildkite.com/v2/access-token'),
      ex(
        'From the ci profile: two scopes for 15 minutes, never from the cache',
        'bktx --profile ci token --scope "read_builds write_builds" --ttl 15m --refresh',
      ),
      ex('The token with its expiry and granted scopes, as JSON', 'bktx token --json | jq .expires_at'),
    ],
  },
  env: {
    guide: 'daily-use.md',
    examples: [
      ex('Set BUILDKITE_API_TOKEN and BUILDKITE_ORGANIZATION_SLUG in this shell (sh, bash, zsh)', 'eval "$(bktx env --scope read_builds)"'),
      ex('The same in fish', 'bktx env --shell fish | source'),
      ex('The same in PowerShell', 'bktx env --shell powershell | Invoke-Expression'),
    ],
  },
  exec: {
    guide: 'daily-use.md',
    examples: [
      ex('Run the Buildkite CLI with a token in its environment', 'bktx exec --scope read_builds -- bk build list'),
      ex("A token of this run's own, revoked when the command ends", 'bktx exec --revoke-on-exit --scope write_builds -- ./scripts/deploy.sh'),
      ex('With the ci profile', 'bktx --profile ci exec -- bk pipeline list'),
    ],
  },
  whoami: {
    guide: 'daily-use.md',
    examples: [
      ex('Who the token acts as, its scopes and expiry', 'bktx whoami'),
      ex('The same for the ci profile, as JSON', 'bktx --profile ci whoami --json'),
    ],
  },
  revoke: {
    guide: 'daily-use.md',
    examples: [
      ex('Revoke the token in $BUILDKITE_API_TOKEN (as eval "$(bktx env)" set it)', 'bktx revoke'),
      ex('Revoke the token held in another variable', 'bktx revoke --token-env MY_TOKEN'),
      ex('Use a token in a script, then revoke it', 'eval "$(bktx env --scope read_builds)" && bk build list; bktx revoke'),
    ],
  },
  cache: {
    guide: 'cache-and-ci.md',
    examples: [ex('The cached tokens: metadata only, no token', 'bktx cache list'), ex('Forget every cached token', 'bktx cache clear --all')],
  },
  'cache list': {
    guide: 'cache-and-ci.md',
    examples: [ex('The cached tokens, their scopes and expiry', 'bktx cache list'), ex('Only the file cache, as JSON', 'bktx cache list --cache file --json')],
  },
  'cache clear': {
    guide: 'cache-and-ci.md',
    examples: [
      ex('Forget the cached read_builds token of the current profile', 'bktx cache clear --scope read_builds'),
      ex('Forget every cached token (no revocation: see bktx logout)', 'bktx cache clear --all'),
    ],
  },
  logout: {
    guide: 'daily-use.md',
    examples: [
      ex('Revoke the cached token of the current settings and forget it', 'bktx logout --scope read_builds'),
      ex('Revoke and forget every cached token', 'bktx logout --all'),
      ex('Forget it without revoking it', 'bktx logout --no-revoke'),
    ],
  },
  status: {
    guide: 'troubleshooting.md',
    examples: [ex('Profile, settings, key and cached tokens, offline', 'bktx status'), ex('The ci profile, as JSON', 'bktx --profile ci status --json')],
  },
  doctor: {
    guide: 'troubleshooting.md',
    examples: [
      ex('Check the setup against the token endpoint and the published JWKS', 'bktx doctor'),
      ex('With the JWKS registered inline, saved to a file', 'bktx doctor --jwks jwks.json'),
      ex('Against the reference server on this machine', 'bktx doctor --token-url http://127.0.0.1:8787/oauth/token --allow-http-jwks'),
    ],
  },
  keygen: {
    guide: 'key-sources.md',
    examples: [
      ex('An ES256 key (0600 file); the JWKS to register goes to stdout', 'bktx keygen > jwks.json'),
      ex('An RSA key for the ci profile, recorded in it', 'bktx --profile ci keygen --alg RS256 --bits 3072'),
      ex('A key generated inside a PKCS#11 token, PIN from $HSM_PIN', 'bktx keygen --key "pkcs11:token=ci;object=bktx" --pin-source env:HSM_PIN'),
    ],
  },
  key: {
    guide: 'rotation.md',
    examples: [
      ex('Every key and the profiles that sign with it', 'bktx key list'),
      ex('Start a rotation and publish old and new keys together', 'bktx key rotate --out site/.well-known/jwks.json'),
    ],
  },
  'key list': {
    guide: 'rotation.md',
    examples: [ex('Every key: kid, algorithm, profiles, rotations', 'bktx key list'), ex('As JSON', 'bktx key list --json')],
  },
  'key rotate': {
    guide: 'rotation.md',
    examples: [
      ex('1. A new key; publish old and new together', 'bktx key rotate --out site/.well-known/jwks.json'),
      ex('2. Check the published JWKS and when the rotation can finish', 'bktx key rotate --status'),
      ex('3. After an hour: sign with the new key and publish it alone', 'bktx key rotate --finish'),
    ],
  },
  jwks: {
    guide: 'key-sources.md',
    examples: [
      ex('The public JWKS of the profile key', 'bktx jwks > jwks.json'),
      ex('Check a published JWKS as Buildkite reads it', 'bktx jwks check https://example.com/.well-known/jwks.json'),
    ],
  },
  'jwks print': {
    guide: 'key-sources.md',
    examples: [
      ex('The public JWKS of the profile key', 'bktx jwks print'),
      ex('Publish old and new keys atomically during a rotation', 'bktx jwks print --key old.pem --key new.pem --out site/.well-known/jwks.json'),
    ],
  },
  'jwks serve': {
    guide: 'key-sources.md',
    examples: [
      ex('Serve the profile key at http://127.0.0.1:8788/.well-known/jwks.json', 'bktx jwks serve'),
      ex('Serve two keys on another port', 'bktx jwks serve --key old.pem --key new.pem --port 9000'),
    ],
  },
  'jwks check': {
    guide: 'key-sources.md',
    examples: [
      ex('Check the JWKS URI of the profile (the jwks-uri setting)', 'bktx jwks check'),
      ex('Check a file before deploying it, for the new kid', 'bktx jwks check site/.well-known/jwks.json --kid "$NEW_KID"'),
      ex('Check what the server publishes', 'bktx jwks check https://example.com/.well-known/jwks.json'),
    ],
  },
  sign: {
    guide: 'key-sources.md',
    examples: [
      ex('A client assertion as Buildkite requires it', 'bktx sign'),
      ex('Short-lived, decoded', 'bktx sign --lifetime 30s | bktx inspect'),
      ex('With an extra claim', 'bktx sign --claim "jti=test-1"'),
    ],
  },
  inspect: {
    guide: 'key-sources.md',
    examples: [
      ex('Decode an assertion from stdin', 'bktx sign | bktx inspect'),
      ex('Verify a JWT against a JWKS file', 'bktx inspect --jwks jwks.json "$JWT"'),
      ex('Verify against a published JWKS', 'bktx inspect --jwks https://example.com/.well-known/jwks.json "$JWT"'),
    ],
  },
  config: {
    guide: 'setup.md',
    examples: [
      ex('Every setting, its value and where it came from', 'bktx config list'),
      ex('Set the organisation slug in the default profile', 'bktx config set org acme'),
    ],
  },
  'config list': {
    guide: 'setup.md',
    examples: [ex('Every setting of the current profile', 'bktx config list'), ex('The ci profile, as JSON', 'bktx --profile ci config list --json')],
  },
  'config get': {
    guide: 'setup.md',
    examples: [ex('The token URL in use', 'bktx config get token-url'), ex('The scopes of the ci profile', 'bktx --profile ci config get scope')],
  },
  'config set': {
    guide: 'setup.md',
    examples: [
      ex("The application's Client ID", 'bktx config set client-id 0198c7d4-2b1e-7a9f-b5c3-4f2a9e1d8c6b'),
      ex('The user to act as, in the ci profile', 'bktx --profile ci config set subject ci@example.com'),
      ex('Default scopes for the ci profile', 'bktx --profile ci config set scope "read_builds read_pipelines"'),
    ],
  },
  'config unset': {
    guide: 'setup.md',
    examples: [ex('Back to the default lifetime', 'bktx config unset ttl'), ex('Remove the scopes of the ci profile', 'bktx --profile ci config unset scope')],
  },
  'config path': {
    guide: 'setup.md',
    examples: [ex('Where the configuration file is', 'bktx config path'), ex('Edit it', '"$EDITOR" "$(bktx config path)"')],
  },
  'config profiles': {
    guide: 'setup.md',
    examples: [ex('The profiles and which is in use', 'bktx config profiles'), ex('As JSON', 'bktx config profiles --json')],
  },
  server: {
    guide: 'reference-server.md',
    examples: [
      ex('A local token endpoint for the profile key and subject', 'bktx server'),
      ex('Another member and port, with an audit log', 'bktx server --port 8787 --member you@example.com --state-dir state'),
      ex('Point bktx at it, in another shell', 'bktx token --token-url http://127.0.0.1:8787/oauth/token --scope read_builds'),
    ],
  },
  completion: {
    guide: 'setup.md',
    examples: [
      ex('bash (needs the bash-completion package)', 'source <(bktx completion bash)'),
      ex('zsh (after compinit)', 'source <(bktx completion zsh)'),
      ex('fish', 'bktx completion fish | source'),
      ex('PowerShell', 'bktx completion powershell | Out-String | Invoke-Expression'),
    ],
  },
  help: {
    guide: 'reference/README.md',
    examples: [ex('The flags and examples of a command', 'bktx help token'), ex('The exit codes, as JSON', 'bktx help exit-codes --json')],
  },
}

/** Where the reference of a command is: docs/reference/commands.md, at its heading. */
export function referenceLink(path: string): string {
  return `docs/reference/commands.md#${['bktx', ...(path === '' ? [] : path.split(' '))].join('-')}`
}

/** The text after the flags in the help of the command at `path`, or undefined when it has none. */
export function helpExtras(path: string): string | undefined {
  const entry = HELP_EXAMPLES[path]
  const json = jsonFieldsLine(path)
  if (entry === undefined && json === undefined) return undefined
  const parts: string[] = []
  if (entry !== undefined) parts.push(`Examples:\n${entry.examples.map((e) => `  # ${e.note}\n  $ ${e.run}`).join('\n')}`)
  if (json !== undefined) parts.push(json)
  if (entry !== undefined) parts.push(`Learn more: docs/${entry.guide}; every flag: ${referenceLink(path)}`)
  return `\n${parts.join('\n\n')}`
}

/** Adds the examples, --json fields and learn-more line to the help of `cmd` (not its subcommands). */
export function addHelpExtras(cmd: Command): void {
  const text = helpExtras(commandPath(cmd))
  if (text !== undefined) cmd.addHelpText('after', text)
}
