// The cache-hit path of `bktx token`, run before the CLI is loaded at all: `$(bktx token)`
// runs in prompts and loops, and commander, chalk and the command table cost more than the
// cache lookup itself. It serves only a clean hit; anything else (a miss, an option it does not
// handle, any error) returns undefined and the full CLI runs, so behaviour and messages are
// the full CLI's. On a clean miss the request it resolved is handed to the full CLI (onMiss;
// src/fast/main.ts, src/bin.ts), which then neither resolves the settings nor opens the key
// again. It makes one call to the token service's own lookup (src/token/lookup.ts); only the
// argument scan is its own (./args.ts).
import type { Env } from '../deps.js'
import { secretVariables } from '../keys/open.js'
import { parseKeySource } from '../keys/source.js'
import type { SecretStore } from '../secrets/store.js'
import { colorLevel } from '../term/color.js'
import { describeNotice } from '../term/describe.js'
import { quietFromEnv } from '../term/quiet.js'
import type { Clock } from '../time/clock.js'
import { tokenDocument } from '../token/document.js'
import { lookupToken } from '../token/lookup.js'
import type { TokenHandover, TokenRequest } from '../token/request.js'
import { renderEnv, type ShellKind } from '../shell/quote.js'
import { defaultShell, tokenVariables } from '../token/variables.js'
import { parseFastTokenArgs } from './args.js'
import { cacheKey } from '../cache/key.js'
import type { HitMemo } from './memo.js'

export { FAST_ENV_FLAGS, FAST_FLAGS, parseFastTokenArgs } from './args.js'

export interface FastDeps {
  env: Env
  /**
   * Whether stderr is a terminal: warnings are served here only when they would be uncoloured.
   * A function is asked only when that matters (src/fast/main.ts: a quiet hit never opens process.stderr).
   */
  stderrIsTTY: boolean | (() => boolean)
  home: string
  uid: number | undefined
  cwd: string
  clock: Clock
  secrets: SecretStore
  /**
   * `bktx env`: the name of the parent process (the shell that reads the output), undefined
   * when the OS says nothing, null when only the full CLI can ask (not Linux). Without it, env is left to the full CLI.
   */
  parentName?: (() => string | undefined | null) | undefined
}

/** What `bktx token ARGS` prints when the cache answers. */
export interface FastAnswer {
  stdout: string
  /** The stderr lines the full CLI would print with it (a keychain fallback notice). */
  stderr: string
  /** Whether the full CLI would colour an `error:` line (should stdout fail). */
  colour: boolean
  /**
   * Set on a clean hit a memo can answer again (./memo.ts): no notice, an entry whose token is
   * in a file or the keychain, a key read from a file or a variable or a PKCS#11 token. What
   * the memo needs beyond what the run observed (./observe.ts).
   */
  memo?: MemoFacts | undefined
}

/** What a hit memo records of the answer itself (./memo.ts, HitMemo). */
export type MemoFacts = Pick<HitMemo, 'dir' | 'key' | 'params' | 'entry' | 'minTtl' | 'output' | 'color'> & {
  /** Where the token was: a file, or the OS keychain (./main.ts records which item was read). */
  backend: 'file' | 'keychain'
  /** The variables that may hold the key or a PIN (src/keys/open.ts secretVariables): never kept as they are. */
  secret: string[]
  /** Those of them that may hold a PIN: a hit that read one set leaves no memo (./remember.ts memoVariables). */
  pins: string[]
}

/**
 * What `bktx token ARGS` prints when the cache can answer it; else undefined. A notice (no
 * usable keychain, say) is served too, as the full CLI's uncoloured `warning:` line, unless it
 * would be coloured: then the full CLI prints it. With --quiet (or BKTX_QUIET) notices are
 * dropped, as the full CLI drops them, so such a hit is served silently.
 */
export async function cachedToken(argv: readonly string[], deps: FastDeps, onMiss?: (handover: TokenHandover) => void): Promise<FastAnswer | undefined> {
  return cachedAnswer('token', argv, deps, onMiss)
}

/**
 * What `bktx env ARGS` prints when the cache can answer it, as {@link cachedToken}: the export
 * lines of src/token/variables.ts in the syntax the full CLI would choose. Without --shell that
 * is the parent process's shell, known here on Linux only (/proc); elsewhere the full CLI runs.
 */
export async function cachedEnv(argv: readonly string[], deps: FastDeps, onMiss?: (handover: TokenHandover) => void): Promise<FastAnswer | undefined> {
  return cachedAnswer('env', argv, deps, onMiss)
}

async function cachedAnswer(
  command: 'token' | 'env',
  argv: readonly string[],
  deps: FastDeps,
  onMiss: ((handover: TokenHandover) => void) | undefined,
): Promise<FastAnswer | undefined> {
  const args = parseFastTokenArgs(argv, command)
  if (args === undefined) return undefined
  let shell: ShellKind | undefined
  if (command === 'env') {
    const parent = args.json || args.shell !== undefined ? undefined : deps.parentName === undefined ? null : deps.parentName()
    if (!args.json && args.shell === undefined && parent === null) return undefined
    shell = args.json ? 'json' : (args.shell ?? defaultShell(parent ?? undefined, deps.env['SHELL']))
  }
  try {
    const { result, notices, request, dir } = await lookupToken(
      { settings: args.settings, profile: args.profile, config: args.config, minTtl: args.minTtl },
      deps,
    )
    if (result === undefined) {
      if (onMiss !== undefined && handsOver(request)) onMiss({ settings: args.settings, profile: args.profile, config: args.config, request })
      return undefined
    }
    const shown = args.quiet || quietFromEnv(deps.env) ? [] : notices
    // Asked only when it matters (a notice to print, stdout failing): whether stderr is a
    // terminal is known once Node has opened process.stderr, which a quiet hit never needs.
    const colour = () =>
      colorLevel({
        flag: args.color,
        env: deps.env,
        isTTY: typeof deps.stderrIsTTY === 'function' ? deps.stderrIsTTY() : deps.stderrIsTTY,
        terminalLevel: () => 1,
      }) !== 0
    if (shown.length > 0 && colour()) return undefined
    return {
      stdout:
        shell !== undefined
          ? renderEnv(shell, tokenVariables(result, request.params.org))
          : args.json
            ? `${JSON.stringify(tokenDocument(result), null, 2)}\n`
            : `${result.accessToken}\n`,
      stderr: shown.map((notice) => `warning: ${describeNotice(notice, { profile: request.explicitProfile })}\n`).join(''),
      get colour() {
        return colour()
      },
      memo:
        notices.length === 0 && (result.cache === 'file' || result.cache === 'keychain') && dir !== undefined && memoKey(request)
          ? {
              backend: result.cache,
              dir,
              key: cacheKey(request.params),
              params: {
                tokenUrl: request.params.tokenUrl,
                org: request.params.org,
                clientId: request.params.clientId,
                keyFingerprint: request.params.key.fingerprint,
                subject: request.params.subject,
                subjectType: request.params.subjectType,
                scopes: [...request.params.scopes],
                ttl: request.params.ttl ?? null,
              },
              entry: {
                receivedAt: result.receivedAt.toISOString(),
                expiresIn: result.expiresIn,
                tokenType: result.tokenType,
                issuedTokenType: result.issuedTokenType ?? null,
                scopes: [...result.scopes],
              },
              ...memoSecrets(request.settings.key?.value ?? '', request.settings['pin-source']?.value),
              minTtl: args.minTtl ?? null,
              output: shell !== undefined ? { env: shell } : { token: args.json ? 'json' : 'text' },
              color: args.color,
            }
          : undefined,
    }
  } catch {
    // Whatever went wrong, the full CLI goes again and reports it properly.
    return undefined
  }
}

/** The variables that may hold the key or a PIN, and those of them that may hold a PIN. */
function memoSecrets(key: string, pinSource: string | undefined): { secret: string[]; pins: string[] } {
  const secret = secretVariables({ key, pinSource })
  let keyVariable: string | undefined
  try {
    const source = parseKeySource(key)
    if (source.kind === 'env') keyVariable = source.name
  } catch {
    // No key variable: every secret variable is a PIN's.
  }
  return { secret, pins: secret.filter((name) => name !== keyVariable) }
}

/**
 * Whether a hit with this request's key may be memoised: a key read from a file or a variable,
 * whose text is all its identity depends on (a file's stat, a variable's value: ./memo.ts), or
 * a PKCS#11 key, whose hit never opens the module or the token: its identity is the recorded
 * public key (src/keys/pkcs11/key.ts), a file read like any other and so replayed by the memo,
 * remembered under the URI and module, which are settings the memo keeps. An exec: key is left
 * to the fast path.
 */
function memoKey(request: TokenRequest): boolean {
  const key = request.settings.key?.value
  return handsOver(request) || (key !== undefined && parseKeySource(key).kind === 'pkcs11')
}

/**
 * Whether the full CLI can use this request as it is: a key read from a file or a variable
 * signs with node:crypto alone. A PKCS#11 or exec: key signs through modules this bundle
 * leaves out (scripts/build.mjs, MISS_ONLY), so the full CLI opens such a key itself.
 */
function handsOver(request: TokenRequest): boolean {
  const key = request.settings.key?.value
  if (key === undefined) return false
  const kind = parseKeySource(key).kind
  return kind === 'file' || kind === 'env'
}
